"""Load benchmark of drum-gen-api on loopback: requests/s and submit→completed latency per mode.

Starts everything itself on 127.0.0.1 (a redis-server on a free port in a temporary directory, the
`drum-gen-api` server, `drum-gen-worker` processes) and stops it afterwards. Bounded: ``--requests``
tasks per configuration, ``--max-seconds`` per configuration at most. Each of ``--clients`` client
threads submits a pattern, polls its status every 20 ms until completed, downloads the MIDI and starts
the next one (a closed loop, so the server is never handed more than ``--clients`` tasks at once).

    uv run python apps/drum-gen-api/benchmarks/bench_api.py                  # all four configurations
    uv run python apps/drum-gen-api/benchmarks/bench_api.py --modes embedded-1 --requests 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
MODES = ("embedded-1", "embedded-2", "celery-1", "celery-2")
"""embedded-N: one server with an N-process pool; celery-N: API + N workers of one process each."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready within {timeout} s")


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextlib.contextmanager
def deployment(mode: str, workdir: Path) -> Iterator[str]:
    """Start the processes of ``mode``; yields the API's base URL."""
    kind, count = mode.split("-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRUM_GEN_", "REDIS_URL"))}
    env |= {"OMP_NUM_THREADS": "1", "DRUM_GEN_API_DATA_DIR": str(workdir / f"data-{mode}")}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        if kind == "celery":
            redis_binary = shutil.which("redis-server")
            if redis_binary is None:
                raise SystemExit("redis-server is missing: apt-get install -y redis-server")
            redis_port = _free_port()
            redis_args = [redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
            redis_args += ["--appendonly", "no", "--dir", str(workdir)]
            stack.enter_context(_process(redis_args, env, workdir / f"redis-{mode}.log"))
            env |= {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "DRUM_GEN_API_CONCURRENCY": "1"}
            _wait(lambda: socket.create_connection(("127.0.0.1", redis_port), 0.2), 10, "redis")
            for index in range(int(count)):
                worker = [
                    str(BIN / "drum-gen-worker"),
                    "--concurrency",
                    "1",
                    "--hostname",
                    f"bench{index}@%h",
                ]
                stack.enter_context(_process(worker, env, workdir / f"worker-{mode}-{index}.log"))
        else:
            env["DRUM_GEN_API_CONCURRENCY"] = count
        stack.enter_context(
            _process([str(BIN / "drum-gen-api"), "--port", str(port)], env, workdir / f"api-{mode}.log")
        )

        def ready() -> bool:
            report = httpx.get(f"{url}/health", timeout=2).json()
            workers = report.get("workers", {}).get("processes", int(count))
            return report["status"] == "ok" and workers >= int(count)

        _wait(ready, 180, f"{mode} deployment")
        yield url


@dataclass
class Result:
    mode: str
    completed: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _one(client: httpx.Client, body: dict[str, object], deadline: float) -> float | None:
    started = time.perf_counter()
    task_id = client.post("/api/v1/generate", json=body).raise_for_status().json()["task_id"]
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/status/{task_id}").json()["status"]
        if status == "completed":
            client.get(f"/api/v1/patterns/{task_id}.mid").raise_for_status()
            return time.perf_counter() - started
        if status == "failed":
            return None
        time.sleep(0.02)
    return None


def run_load(mode: str, url: str, requests: int, clients: int, bars: int, max_seconds: float) -> Result:
    styles = ("J Dilla", "Metro Boomin", "Questlove", "Timbaland")
    with httpx.Client(base_url=url, timeout=30) as warm:  # first request per pool process loads nothing new
        _one(warm, {"style": "dilla", "bars": bars, "seed": 0}, time.monotonic() + 60)
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + max_seconds

    def client_loop() -> None:
        nonlocal failed
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.monotonic() < deadline:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                body = {"style": styles[index % 4], "bars": bars, "seed": index + 1}
                latency = _one(client, body, deadline)
                with lock:
                    if latency is None:
                        failed += 1
                    else:
                        latencies.append(latency)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(mode, len(latencies), failed, time.perf_counter() - started, latencies)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--requests", type=int, default=40, help="tasks per configuration (default 40)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--bars", type=int, default=4, help="bars per pattern (default 4)")
    parser.add_argument("--max-seconds", type=float, default=120, help="cap per configuration (default 120)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="drum-gen-api-bench-") as tmp:
        for mode in args.modes:
            with deployment(mode, Path(tmp)) as url:
                result = run_load(mode, url, args.requests, args.clients, args.bars, args.max_seconds)
            results.append(result)
            print(
                f"{mode}: {result.completed} completed, {result.failed} failed in {result.seconds:.1f} s",
                flush=True,
            )
    load = os.getloadavg()[0]
    print()
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, 1 torch thread per "
        f"generation process, {args.requests} requests of {args.bars} bars per mode from {args.clients} "
        f"closed-loop clients, 1-minute load average at the end {load:.1f}"
    )
    print()
    print("| mode | completed | failed | requests/s | p50 latency (s) | p95 latency (s) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.mode} | {r.completed} | {r.failed} | {r.rps:.2f} | {r.percentile(0.5):.2f} | "
            f"{r.percentile(0.95):.2f} |"
        )
    return 0 if all(r.failed == 0 and r.completed == args.requests for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
