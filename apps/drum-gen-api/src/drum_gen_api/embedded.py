"""Embedded mode: the API runs tasks itself in a bounded process pool; no Redis, no worker to start.

A process pool rather than threads: decoding a small transformer token by token is Python-bound, so
threads would serialize on the GIL, and a crashed or stuck generation takes down one process, not the
server. Each pool process loads the model once (the same :func:`~drum_gen_api.tasks.load_generator` a
Celery worker uses) and writes status and MIDI straight into the directory store, so results survive
a restart of the server. The guarantees Celery gives the other mode are rebuilt here:

- a pool process that dies mid-task (killed, out of memory) is replaced and its tasks are submitted
  again (like ``acks_late`` + ``reject_on_worker_lost``), at most ``MAX_ATTEMPTS`` times;
- the soft time limit raises inside the task (SIGALRM), the hard one ends the process after recording
  the failure;
- tasks still queued or running when the server stopped are submitted again when it starts.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from typing import IO, Any

from drum_gen_api.config import ServiceConfig
from drum_gen_api.store import FileStore, Status
from drum_gen_api.tasks import describe_failure, load_generator, run_generation

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Starts of one task before a repeatedly dying process marks it failed instead of trying again."""
SWEEP_INTERVAL_S = 60.0
MODEL_LOAD_WAIT_S = 120.0
"""How long startup waits for the first pool process to load the model before serving anyway."""


class QueueFull(RuntimeError):
    """More tasks are waiting than ``max_pending`` allows; the client should retry later."""


class DataDirInUse(RuntimeError):
    """Another embedded server holds the data directory (two would re-run each other's tasks)."""


class SoftTimeLimitExceeded(Exception):
    """Raised inside a pool process when a task passes the soft time limit (Celery's name, reported alike)."""


class TimeLimitExceeded(Exception):
    """Recorded for a task whose process is ended at the hard time limit."""


# ---------------------------------------------------------------------- inside a pool process
_child_store: FileStore | None = None


def _child_init(config: ServiceConfig) -> None:
    """Pool process start: logging, the store, and the model (loaded once; a failure is recorded)."""
    global _child_store
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [pool %(process)d] %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops the pool
    _child_store = FileStore(config.data_dir, config.result_ttl_s)
    load_generator(config)


def _on_soft_limit(_signum: int, _frame: Any) -> None:
    raise SoftTimeLimitExceeded()


def _child_run(task_id: str, request: dict[str, Any], config: ServiceConfig) -> str:
    store = _child_store or FileStore(config.data_dir, config.result_ttl_s)

    def hard_limit() -> None:
        store.fail(task_id, describe_failure(TimeLimitExceeded(), config))
        os._exit(70)  # the parent replaces this process; the record is final, so nobody retries

    killer = threading.Timer(config.time_limit_s, hard_limit)
    killer.daemon = True
    previous = signal.signal(signal.SIGALRM, _on_soft_limit)
    signal.setitimer(signal.ITIMER_REAL, config.soft_time_limit_s)
    killer.start()
    try:
        return run_generation(task_id, request, store, config)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        killer.cancel()


def _child_probe(config: ServiceConfig) -> dict[str, Any]:
    return load_generator(config)[1].to_dict()


# ---------------------------------------------------------------------- in the API process
class EmbeddedRunner:
    """Runs tasks in ``config.concurrency`` pool processes, replacing the pool when a process dies."""

    def __init__(self, config: ServiceConfig, store: FileStore) -> None:
        self.config = config
        self.store = store
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._generation = 0
        self._inflight: dict[str, concurrent.futures.Future[str]] = {}
        self._lost: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: IO[str] | None = None
        self._probe: concurrent.futures.Future[dict[str, Any]] | None = None
        self.restarts = 0

    # -------------------------------------------------------------- life cycle
    def start(self) -> None:
        self._hold_data_dir()
        self._executor = self._new_executor()
        # One probe per process: the pool starts all of them now (each loads the model) instead of on
        # demand under the first burst of requests; the first answer is the model status.
        probes = [self._executor.submit(_child_probe, self.config) for _ in range(self.config.concurrency)]
        self._probe = probes[0]
        requeued = 0
        for record in self.store.records():
            if not record.finished:
                self.store.update(record.task_id, status=Status.QUEUED, progress=0)
                self.submit(record.task_id, record.request, bounded=False)
                requeued += 1
        if requeued:
            logger.info("re-queued %d task(s) left unfinished by the previous run", requeued)
        self._thread = threading.Thread(target=self._maintain, name="drum-gen-api-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            # Unfinished tasks stay queued in the store and run after a restart: end the processes now
            # instead of waiting for the running generations, then let the executor clean up after them.
            for process in list((getattr(executor, "_processes", None) or {}).values()):
                process.terminate()
            executor.shutdown(wait=True, cancel_futures=True)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def wait_for_model(self, timeout_s: float) -> dict[str, Any]:
        """The pool's model status (waiting up to ``timeout_s`` for the first process to load it)."""
        if self._probe is None:
            return {"status": "error", "error": "the generation pool is not running"}
        try:
            return self._probe.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            return {"status": "loading", "error": "the generation pool is still loading the model"}
        except Exception as err:  # the probe's process died
            return {"status": "error", "error": f"the generation pool failed to start: {err}"}

    # -------------------------------------------------------------- what the API asks
    def parts(self) -> dict[str, dict[str, Any]]:
        pool = {"status": "ok", "kind": "in-process pool", "processes": self.config.concurrency}
        pool |= {"pending": len(self._inflight), "pool_restarts": self.restarts}
        return {"broker": pool, "model": self.wait_for_model(0)}

    def model_error(self) -> dict[str, Any] | None:
        model = self.wait_for_model(0)
        return model if model.get("status") == "error" else None

    def describe(self) -> str:
        model = self.wait_for_model(MODEL_LOAD_WAIT_S)
        loaded = model.get("source") if model.get("status") == "ok" else f"NOT LOADED ({model.get('error')})"
        return (
            f"embedded mode (REDIS_URL not set): {self.config.concurrency} generation process(es), results "
            f"in {self.config.data_dir}, model {loaded}"
        )

    # -------------------------------------------------------------- tasks

    def submit(self, task_id: str, request: dict[str, Any], *, bounded: bool = True) -> None:
        with self._lock:
            if self._executor is None:
                raise RuntimeError("the embedded runner is stopped")
            if bounded and len(self._inflight) >= self.config.max_pending:
                raise QueueFull(
                    f"{len(self._inflight)} tasks are waiting (limit {self.config.max_pending}, "
                    f"{self.config.ENV['max_pending']}); retry later"
                )
            future = self._executor.submit(_child_run, task_id, request, self.config)
            self._inflight[task_id] = future
            generation = self._generation
        future.add_done_callback(lambda f: self._done(task_id, generation, f))

    def _done(self, task_id: str, generation: int, future: concurrent.futures.Future[str]) -> None:
        with self._lock:
            if self._inflight.get(task_id) is future:
                del self._inflight[task_id]
        if future.cancelled() or self._stopping.is_set():
            return
        error = future.exception()
        if error is None:
            return
        if isinstance(error, BrokenProcessPool):
            self._lost.put((task_id, generation))
        else:  # a failure outside run_generation (it catches its own): record it, never leave it queued
            logger.error("task %s crashed the pool call: %r", task_id, error)
            self.store.fail(task_id, describe_failure(error, self.config))
        self._wake.set()

    # -------------------------------------------------------------- maintenance thread
    def _maintain(self) -> None:
        next_sweep = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._recover_lost()
                now = time.monotonic()
                if now >= next_sweep:
                    self.store.sweep()
                    next_sweep = now + SWEEP_INTERVAL_S
            except Exception:
                logger.exception("embedded pool maintenance failed; retrying")

    def _recover_lost(self) -> None:
        lost: list[tuple[str, int]] = []
        while not self._lost.empty():
            lost.append(self._lost.get())
        if not lost:
            return
        with self._lock:
            if any(generation == self._generation for _, generation in lost) and self._executor is not None:
                old, self._executor = self._executor, self._new_executor()
                self._generation += 1
                self.restarts += 1
                old.shutdown(wait=False, cancel_futures=True)
                logger.warning("a generation process died; started a new pool (restart %d)", self.restarts)
        for task_id, _ in lost:
            record = self.store.get(task_id)
            if record is None or record.finished:
                continue
            if record.attempts >= MAX_ATTEMPTS:
                self.store.fail(task_id, f"the generation process died {record.attempts} times on this task")
                continue
            self.store.update(task_id, status=Status.QUEUED, progress=0)
            self.submit(task_id, record.request, bounded=False)

    # -------------------------------------------------------------- helpers
    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        # spawn: a fork of a process running an event loop and threads can inherit held locks
        context = multiprocessing.get_context("spawn")
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.config.concurrency,
            mp_context=context,
            initializer=_child_init,
            initargs=(self.config,),
        )

    def _hold_data_dir(self) -> None:
        directory = self.config.data_dir
        directory.mkdir(parents=True, exist_ok=True)
        handle = (directory / "server.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirInUse(
                f"another embedded drum-gen-api server uses {directory}; stop it, or give this one its own "
                f"{self.config.ENV['data_dir']}"
            ) from None
        self._lock_file = handle
