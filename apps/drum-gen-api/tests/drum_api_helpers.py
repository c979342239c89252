"""Helpers for the service tests (imported by name: conftest.py puts this folder on sys.path).

Real parts for the service tests: a redis-server, drum-gen-api servers and drum-gen-worker processes.

Nothing is mocked: Redis is Debian's redis-server on a free port in a temporary directory, the worker is
the `drum-gen-worker` console script, servers are `drum-gen-api` processes (uvicorn) or, for the quick
embedded checks, the same app in FastAPI's TestClient (its pool processes are real).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import httpx
import pytest
import symusic
from _servers import free_port

BIN = Path(sys.executable).parent
TEST_LIMITS = {
    # short limits so a lost task is redelivered within seconds (the 32-bar test task takes ~2 s)
    "DRUM_GEN_API_SOFT_TIME_LIMIT": "12",
    "DRUM_GEN_API_TIME_LIMIT": "15",
    "DRUM_GEN_API_VISIBILITY_TIMEOUT": "18",
    "DRUM_GEN_API_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}
TOKEN = "test-token-123"
STYLES = ("J Dilla", "Metro Boomin", "Questlove", "Timbaland")


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRUM_GEN_", "REDIS_URL"))}
    return env | TEST_LIMITS | extra


# ---------------------------------------------------------------------------------------------- redis
class RedisServer:
    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        args += ["--dir", str(self.directory)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


# ---------------------------------------------------------------------------------------------- processes
class Proc:
    """A console-script process in its own session (so SIGKILL reaches its children), logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._kill_group()
        self.process = None

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children, mid-whatever."""
        self._kill_group()
        if self.process is not None:
            self.process.wait(10)

    def _kill_group(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        return (
            "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""
        )


class ApiServer(Proc):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        super().__init__([str(BIN / "drum-gen-api"), "--port", str(self.port)], env, log)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"drum-gen-api exited:\n{self.tail()}")
            try:
                httpx.get(f"{self.url}/health", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"drum-gen-api did not answer within {timeout} s:\n{self.tail()}")

    def restart(self) -> None:
        self.stop()
        self.start()


class Worker(Proc):
    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 1) -> None:
        super().__init__([str(BIN / "drum-gen-worker"), "--concurrency", str(concurrency)], env, log)


def wait_for_workers(
    client: Any, exclude: Collection[str] = (), count: int = 1, timeout: float = 60
) -> list[str]:
    """Names of live workers reported by /health (heartbeats), waiting for ``count`` not in ``exclude``."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        workers = client.get("/health").json().get("workers", {})
        names = [n for n in workers.get("names", []) if n not in exclude]
        if len(names) >= count:
            return names
        time.sleep(0.2)
    raise AssertionError(f"no new worker reported within {timeout} s (saw {names})")


# ---------------------------------------------------------------------------------------------- API helpers
def submit(client: Any, **body: Any) -> str:
    response = client.post("/api/v1/generate", json=body)
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    assert response.headers["location"] == f"/api/v1/status/{task_id}"
    return task_id


def wait_done(client: Any, task_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/status/{task_id}").json()
        if status["status"] in ("completed", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} not finished within {timeout} s: {status}")


def wait_status(client: Any, task_id: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/status/{task_id}").json()
        if status["status"] == wanted:
            return status
        assert status["status"] in ("queued", "processing"), status
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} never became {wanted}")


def assert_drum_midi(data: bytes, bars: int | None = None) -> symusic.Score:
    """The download parses as a Standard MIDI File with a drum track of GM drum notes."""
    assert data[:4] == b"MThd", data[:16]
    with tempfile.NamedTemporaryFile(suffix=".mid") as handle:
        handle.write(data)
        handle.flush()
        score = symusic.Score(handle.name)
    drums = [t for t in score.tracks if t.is_drum]
    assert drums and len(drums[0].notes) > 0
    assert all(35 <= n.pitch <= 81 for n in drums[0].notes)
    if bars is not None:
        ticks_per_bar = 4 * score.ticks_per_quarter
        assert max(n.time for n in drums[0].notes) < (bars + 0.5) * ticks_per_bar
    return score


def download(client: Any, task_id: str) -> bytes:
    response = client.get(f"/api/v1/patterns/{task_id}.mid")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/midi"
    return response.content


BAD_REQUESTS = [
    pytest.param({}, "style", id="missing-style"),
    pytest.param({"style": "Skrillex"}, "style", id="unknown-style"),
    pytest.param({"style": "dilla", "bars": 0}, "bars", id="bars-0"),
    pytest.param({"style": "dilla", "bars": 33}, "bars", id="bars-33"),
    pytest.param({"style": "dilla", "tempo": 10}, "tempo", id="tempo-low"),
    pytest.param({"style": "dilla", "tempo": 1000}, "tempo", id="tempo-high"),
    pytest.param({"style": "dilla", "temperature": 0}, "temperature", id="temperature-0"),
    pytest.param({"style": "dilla", "top_k": -1}, "top_k", id="top-k-negative"),
    pytest.param({"style": "dilla", "top_p": 0}, "top_p", id="top-p-0"),
    pytest.param({"style": "dilla", "seed": -1}, "seed", id="seed-negative"),
    pytest.param({"style": "dilla", "bars": "many"}, "bars", id="bars-not-int"),
    pytest.param(
        {"style": "dilla", "time_signature": {"numerator": 3, "denominator": 4}}, "time_signature", id="3-4"
    ),
    pytest.param(
        {"style": "dilla", "time_signature": {"numerator": 4, "denominator": 3}}, "denominator", id="den-3"
    ),
    pytest.param({"style": "dilla", "temprature": 1.0}, "temprature", id="unknown-field"),
]


def assert_422(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(field in [str(part) for part in error["loc"]] for error in errors), errors
