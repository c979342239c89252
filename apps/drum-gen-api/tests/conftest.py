"""Fixtures of the drum-gen-api tests; the helpers live in ``drum_api_helpers`` (this folder, put on sys.path)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from drum_api_helpers import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is missing: apt-get install -y redis-server (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: never let the Celery-mode tests silently disappear
        pytest.skip(message)
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
