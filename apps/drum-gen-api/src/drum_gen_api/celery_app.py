"""Celery mode: the Celery app the worker runs, its one task, and the API's side (publish, health).

Settings that make a task survive a lost worker: JSON only, ``acks_late`` (the message is acknowledged
after the task, so a worker killed mid-task leaves it unacknowledged and Redis hands it to another
worker after the visibility timeout), ``reject_on_worker_lost`` (a killed prefork child re-queues its
message at once), prefetch 1 (a worker never hoards messages another worker could run). Every task
goes to ``config.queue``, the queue ``drum-gen-worker`` consumes, so "routed where nobody listens"
cannot happen. Celery's result backend is off: status and MIDI live in :class:`RedisStore`.

Each prefork child loads the model once (``worker_process_init``) and announces itself every few
seconds under ``drum-gen-api:worker:*`` with its model status, which is how ``/health`` on the API
knows whether anyone consumes the queue and whether their model loaded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import TimeLimitExceeded

from drum_gen_api.config import ServiceConfig
from drum_gen_api.store import KEY_PREFIX, RedisStore, StoreUnavailable, redact
from drum_gen_api.tasks import describe_failure, load_generator, run_generation

logger = logging.getLogger(__name__)

TASK_NAME = "drum_gen_api.generate"
HEARTBEAT_INTERVAL_S = 3.0
HEARTBEAT_TTL_S = 10


def celery_settings(config: ServiceConfig) -> dict[str, Any]:
    """The Celery configuration derived from the service config (one place, used by API and worker)."""
    timeout = config.redis_timeout_s
    redelivery = config.redelivery_timeout_s
    return {
        "broker_url": config.redis_url,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": config.soft_time_limit_s,
        "task_time_limit": config.time_limit_s,
        "task_default_queue": config.queue,
        "task_routes": {TASK_NAME: {"queue": config.queue}},
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": timeout,
        "broker_transport_options": {
            "visibility_timeout": redelivery,
            "socket_timeout": max(timeout, 1.0),
            "socket_connect_timeout": timeout,
            # look for messages of vanished workers every few seconds, not every 100 s
            "unacked_restore_interval": max(1, min(10, redelivery // 5)),
            "unacked_restore_throttle": 1,
        },
        "worker_send_task_events": False,
        "worker_hijack_root_logger": True,
    }


def make_celery(config: ServiceConfig) -> Celery:
    app = Celery("drum_gen_api")
    app.conf.update(celery_settings(config))
    return app


CONFIG = ServiceConfig.from_env()
app = make_celery(CONFIG)
_store: RedisStore | None = None


def worker_store() -> RedisStore:
    global _store
    if _store is None:
        if not CONFIG.redis_url:
            raise StoreUnavailable("REDIS_URL is not set: a Celery worker needs Redis")
        _store = RedisStore(CONFIG.redis_url, CONFIG.result_ttl_s, CONFIG.redis_timeout_s)
    return _store


class GenerationTask(Task):
    """Records hard time-limit kills, which end the child before ``run_generation`` can."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, TimeLimitExceeded) and args:
            try:
                worker_store().fail(args[0], describe_failure(exc, CONFIG))
            except StoreUnavailable as err:
                logger.error("cannot record the time-limit failure of %s: %s", args[0], err)


@app.task(name=TASK_NAME, base=GenerationTask)
def generate_task(task_id: str, request: dict[str, Any]) -> str:
    return run_generation(task_id, request, worker_store(), CONFIG)


# ---------------------------------------------------------------------- worker process signals
def heartbeat_key(queue: str, hostname: str, pid: int) -> str:
    return f"{KEY_PREFIX}:worker:{queue}:{hostname}:{pid}"


def _heartbeat(stop: threading.Event, started: float, model: dict[str, Any]) -> None:
    key = heartbeat_key(CONFIG.queue, socket.gethostname(), os.getpid())
    body = json.dumps(
        {"name": f"{socket.gethostname()}:{os.getpid()}", "queue": CONFIG.queue, "started_at": started}
        | {"model": model}
    )
    while not stop.is_set():
        try:
            worker_store().client.set(key, body, ex=HEARTBEAT_TTL_S)
        except Exception as err:  # Redis away: the worker keeps going and Celery reconnects
            logger.debug("heartbeat failed: %s", err)
        stop.wait(HEARTBEAT_INTERVAL_S)
    with contextlib.suppress(Exception):
        worker_store().client.delete(key)


_heartbeat_stop = threading.Event()


@signals.worker_process_init.connect
def _init_prefork_child(**_: Any) -> None:
    """Each prefork child loads the model once, before its first task, and starts its heartbeat."""
    _init_generation_process()


@signals.worker_ready.connect
def _init_solo_worker(sender: Any = None, **_: Any) -> None:
    """With ``--pool solo`` tasks run in the worker process itself, which then loads the model."""
    if type(getattr(sender, "pool", None)).__module__.endswith(".solo"):
        _init_generation_process()


def _init_generation_process() -> None:
    _, status = load_generator(CONFIG)
    thread = threading.Thread(
        target=_heartbeat, args=(_heartbeat_stop, time.time(), status.to_dict()), daemon=True
    )
    thread.start()


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _heartbeat_stop.set()


# ---------------------------------------------------------------------- the API's side
class CeleryRunner:
    """What the API does in Celery mode: publish tasks to the queue and report broker and workers."""

    def __init__(self, config: ServiceConfig, store: RedisStore) -> None:
        self.config = config
        self.store = store
        self.app = make_celery(config)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.app.close()

    def submit(self, task_id: str, request: dict[str, Any]) -> None:
        """Publish (at most one quick retry, for a pooled connection Redis dropped); raises on failure."""
        self.app.send_task(
            TASK_NAME,
            args=[task_id, request],
            task_id=task_id,
            queue=self.config.queue,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1},
        )

    def workers(self) -> list[dict[str, Any]]:
        pattern = heartbeat_key(self.config.queue, "*", 0)[:-2] + "*"
        client = self.store.client
        keys = sorted(client.scan_iter(match=pattern, count=100))
        values = client.mget(keys) if keys else []
        return [json.loads(v) for v in values if v]

    def queued_messages(self) -> int:
        return int(self.store.client.llen(self.config.queue))

    def describe(self) -> str:
        return (
            f"Celery mode, broker and results in Redis at {redact(self.config.redis_url or '')}, queue "
            f"{self.config.queue!r} (start workers with `uv run drum-gen-worker`)"
        )

    def parts(self) -> dict[str, dict[str, Any]]:
        """Broker, workers and model as ``/health`` reports them."""
        try:
            return self._parts()
        except Exception as err:
            error = f"Redis broker at {redact(self.config.redis_url or '')} is unavailable: {err}"
            return {
                "broker": {"status": "error", "error": error},
                "workers": {"status": "unknown", "error": "the broker is unreachable"},
                "model": {"status": "unknown", "error": "reported by the workers, through the broker"},
            }

    def _parts(self) -> dict[str, dict[str, Any]]:
        broker = {"status": "ok", "queue": self.config.queue, "queued_messages": self.queued_messages()}
        workers = self.workers()
        models = [w["model"] for w in workers]
        if not workers:
            worker_part = {
                "status": "error",
                "processes": 0,
                "error": f"no worker consumes queue {self.config.queue!r}: start one with `uv run "
                "drum-gen-worker` (same REDIS_URL); tasks wait in the queue until then",
            }
            model = {"status": "unknown", "error": "reported by the workers, and none is running"}
        else:
            # one heartbeat per generation process (a worker with --concurrency 2 shows two)
            worker_part = {"status": "ok", "processes": len(workers), "names": [w["name"] for w in workers]}
            good = [m for m in models if m.get("status") == "ok"]
            model = good[0] if good else models[0]
        return {"broker": broker, "workers": worker_part, "model": model}

    def model_error(self) -> dict[str, Any] | None:
        """The model failure to refuse requests with: every live worker failed to load it."""
        try:
            models = [w["model"] for w in self.workers()]
        except Exception:
            return None
        if models and all(m.get("status") == "error" for m in models):
            return models[0]
        return None
