"""The service's configuration: one dataclass read from environment variables.

The API, the embedded runner, the Celery app and the worker all call :meth:`ServiceConfig.from_env`, so a
setting means the same thing in every process (an API and its workers agree on the queue name because
they read the same variable, not because two defaults happen to match).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use; the message names the variable."""


def default_data_dir() -> Path:
    """Where embedded mode keeps its results: ``$XDG_CACHE_HOME/drum-gen-api`` (``~/.cache/drum-gen-api``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drum-gen-api"


def default_concurrency() -> int:
    """Generation processes per server or worker: one per core, at most 4 (each holds its own model copy)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServiceConfig:
    """Every setting of the service; ``ENV`` maps each field to its environment variable."""

    redis_url: str | None = None
    model: str | None = None
    device: str | None = None
    token: str | None = field(default=None, repr=False)
    result_ttl_s: int = 86_400
    concurrency: int = field(default_factory=default_concurrency)
    threads: int | None = None
    soft_time_limit_s: float = 120
    time_limit_s: float = 150
    visibility_timeout_s: int | None = None
    queue: str = "drum-gen"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=default_data_dir)
    max_body_bytes: int = 16_384
    max_pending: int = 1_000
    redis_timeout_s: float = 0.5

    ENV: ClassVar[dict[str, str]] = {
        "redis_url": "REDIS_URL",
        "model": "DRUM_GEN_MODEL",
        "device": "DRUM_GEN_API_DEVICE",
        "token": "DRUM_GEN_API_TOKEN",
        "result_ttl_s": "DRUM_GEN_API_RESULT_TTL",
        "concurrency": "DRUM_GEN_API_CONCURRENCY",
        "threads": "DRUM_GEN_API_THREADS",
        "soft_time_limit_s": "DRUM_GEN_API_SOFT_TIME_LIMIT",
        "time_limit_s": "DRUM_GEN_API_TIME_LIMIT",
        "visibility_timeout_s": "DRUM_GEN_API_VISIBILITY_TIMEOUT",
        "queue": "DRUM_GEN_API_QUEUE",
        "host": "DRUM_GEN_API_HOST",
        "port": "DRUM_GEN_API_PORT",
        "data_dir": "DRUM_GEN_API_DATA_DIR",
        "max_body_bytes": "DRUM_GEN_API_MAX_BODY",
        "max_pending": "DRUM_GEN_API_MAX_PENDING",
        "redis_timeout_s": "DRUM_GEN_API_REDIS_TIMEOUT",
    }

    def __post_init__(self) -> None:
        positive = ("result_ttl_s", "concurrency", "port")
        positive += ("max_body_bytes", "max_pending")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{self.ENV[name]} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.soft_time_limit_s < self.time_limit_s:
            raise ConfigError(
                f"{self.ENV['soft_time_limit_s']} ({self.soft_time_limit_s:g}) must be above 0 and below "
                f"{self.ENV['time_limit_s']} ({self.time_limit_s:g}): the soft limit lets the task record "
                "its failure before the hard limit kills the process"
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"{self.ENV['threads']} must be >= 1, got {self.threads}")
        if self.visibility_timeout_s is not None and self.visibility_timeout_s <= self.time_limit_s:
            raise ConfigError(
                f"{self.ENV['visibility_timeout_s']} ({self.visibility_timeout_s}) must exceed "
                f"{self.ENV['time_limit_s']} ({self.time_limit_s}), or running tasks would be delivered twice"
            )
        if not 0 < self.redis_timeout_s <= 10:
            raise ConfigError(
                f"{self.ENV['redis_timeout_s']} must be in (0, 10] s, got {self.redis_timeout_s}"
            )
        if not self.queue or not self.queue.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(
                f"{self.ENV['queue']} must be letters, digits, '-', '_' or '.', got {self.queue!r}"
            )

    @property
    def mode(self) -> str:
        """``"celery"`` with a Redis URL (API + separate workers), else ``"embedded"`` (one process)."""
        return "celery" if self.redis_url else "embedded"

    @property
    def redelivery_timeout_s(self) -> float:
        """Seconds after which a task taken by a worker that vanished is handed to another worker."""
        return self.visibility_timeout_s or self.time_limit_s + 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServiceConfig:
        """Read every field from its variable (unset or empty: the default); ``overrides`` win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, variable in cls.ENV.items():
            text = environ.get(variable, "").strip()
            if text:
                values[name] = _parse(name, variable, text)
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The variables that reproduce this config in a child process (unset fields left out)."""
        env = {}
        for name, value in asdict(self).items():
            if value is not None:
                env[self.ENV[name]] = str(value)
        return env


_INTS = {"result_ttl_s", "concurrency", "threads"}
_INTS |= {"visibility_timeout_s", "port", "max_body_bytes", "max_pending"}


def _parse(name: str, variable: str, text: str) -> Any:
    try:
        if name in _INTS:
            return int(text)
        if name in ("redis_timeout_s", "soft_time_limit_s", "time_limit_s"):
            return float(text)
    except ValueError:
        raise ConfigError(f"{variable} must be a number, got {text!r}") from None
    if name == "data_dir":
        return Path(text).expanduser()
    return text
