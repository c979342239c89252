"""The object the routes talk to: config, result store and runner of the configured mode, and health.

Routes stay mode-agnostic: both runners take ``submit(task_id, request)``, and both stores answer the
same questions, so embedded and Celery mode serve identical routes with identical status codes.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from drum_gen_api.config import ServiceConfig
from drum_gen_api.store import FileStore, RedisStore, ResultStore, StoreUnavailable

logger = logging.getLogger(__name__)


class Runner(Protocol):
    """What a mode provides: run tasks, report its parts for ``/health``, say whether the model failed."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, task_id: str, request: dict[str, Any]) -> None: ...
    def parts(self) -> dict[str, dict[str, Any]]: ...
    def model_error(self) -> dict[str, Any] | None: ...
    def describe(self) -> str: ...


class ServiceUnavailable(RuntimeError):
    """Generation cannot be accepted now; ``detail`` is the JSON body of the 503."""

    def __init__(self, detail: dict[str, Any], retry_after_s: int | None = None) -> None:
        super().__init__(detail.get("error", "service unavailable"))
        self.detail = detail
        self.retry_after_s = retry_after_s


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store: ResultStore
        self.runner: Runner
        if config.redis_url:
            from drum_gen_api.celery_app import CeleryRunner

            self.store = RedisStore(config.redis_url, config.result_ttl_s, config.redis_timeout_s)
            self.runner = CeleryRunner(config, self.store)
        else:
            from drum_gen_api.embedded import EmbeddedRunner

            self.store = FileStore(config.data_dir, config.result_ttl_s)
            self.runner = EmbeddedRunner(config, self.store)

    @property
    def mode(self) -> str:
        return self.config.mode

    def start(self) -> None:
        self.runner.start()
        logger.info("drum-gen-api: %s", self.runner.describe())

    def stop(self) -> None:
        self.runner.stop()

    # ------------------------------------------------------------------ readiness and health
    def check_can_accept(self) -> None:
        """Raise :class:`ServiceUnavailable` (quickly) when a generate request would not be served."""
        try:
            self.store.ping()
        except StoreUnavailable as err:
            raise ServiceUnavailable({"error": str(err), "part": "result_store"}, retry_after_s=5) from err
        model = self.runner.model_error()
        if model is not None:
            raise ServiceUnavailable(
                {
                    "error": f"the model could not be loaded: {model.get('error')}",
                    "fix": model.get("fix"),
                    "part": "model",
                }
            )

    def health(self) -> dict[str, Any]:
        """Each part with its status; ``status`` is ``ok`` only when every part is."""
        parts: dict[str, Any] = {}
        try:
            self.store.ping()
            parts["result_store"] = {"status": "ok", "ttl_s": self.config.result_ttl_s}
        except StoreUnavailable as err:
            parts["result_store"] = {"status": "error", "error": str(err)}
        parts |= self.runner.parts()
        ok = all(part.get("status") == "ok" for part in parts.values())
        return {"status": "ok" if ok else "degraded", "mode": self.mode, **parts}
