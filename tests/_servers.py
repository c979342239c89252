"""Helpers for tests that start a real server in a subprocess (the Gradio apps, drum-gen-api) and drive it
with Debian's Chromium through Playwright (installed by .ci/run; no browser download)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# headless, and nothing that reaches the network or writes a profile the test did not ask for
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, name: str, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it exits or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"{name} did not serve {url} within {timeout_s} s:\n{log.read_text()}")


def require_chromium() -> None:
    """Skip without Debian's Chromium on a developer machine; fail in CI, which installs it (.ci/run), so a
    browser test never silently disappears there."""
    if CHROMIUM.is_file():
        return
    message = f"needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
