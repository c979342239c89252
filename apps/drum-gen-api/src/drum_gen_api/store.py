"""Where task status and finished MIDI live: Redis (Celery mode) or a directory (embedded mode).

Both keep a record (status, progress, timestamps, error, the request) and the MIDI bytes, and both expire
them ``ttl_s`` seconds after their last change. The store is the single source of truth for status: the
API never asks Celery for a task's state, so an id nobody submitted is simply absent (404) instead of
Celery's eternal "PENDING", and a finished pattern outlives the API process that accepted it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from shared_audio_core.files import atomic_write_bytes, atomic_write_text

TASK_ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
"""A lowercase UUID4, the only ids the service hands out; checked before any lookup (no path tricks)."""

KEY_PREFIX = "drum-gen-api"


class Status(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED})


class StoreUnavailable(RuntimeError):
    """The result store cannot be reached (Redis down, directory unwritable); the message says which."""


def new_task_id() -> str:
    return str(uuid.uuid4())


def is_task_id(text: str) -> bool:
    return bool(TASK_ID_PATTERN.match(text))


@dataclass
class TaskRecord:
    """One generation task as the status endpoint reports it (timestamps are Unix seconds)."""

    task_id: str
    request: dict[str, Any]
    status: str = Status.QUEUED
    progress: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    attempts: int = 0
    """How often a process started this task: above 1 only after a worker was lost mid-task."""
    worker: str | None = None
    result: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_json_fields(self) -> dict[str, str]:
        return {name: json.dumps(value) for name, value in asdict(self).items()}

    @classmethod
    def from_json_fields(cls, data: dict[str, str]) -> TaskRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: json.loads(v) for k, v in data.items() if k in known})


class ResultStore(ABC):
    """Task records plus MIDI bytes, each expiring ``ttl_s`` seconds after its last write."""

    def __init__(self, ttl_s: int) -> None:
        self.ttl_s = ttl_s

    @abstractmethod
    def ping(self) -> None:
        """Return quietly when the store works; raise :class:`StoreUnavailable` (fast) when not."""

    @abstractmethod
    def create(self, record: TaskRecord) -> None: ...

    @abstractmethod
    def get(self, task_id: str) -> TaskRecord | None: ...

    @abstractmethod
    def update(self, task_id: str, **changes: Any) -> bool:
        """Change fields of an existing record; False (and nothing written) if it does not exist."""

    @abstractmethod
    def get_midi(self, task_id: str) -> bytes | None: ...

    @abstractmethod
    def complete(self, task_id: str, midi: bytes, result: dict[str, Any]) -> bool:
        """Store the MIDI and mark the record completed, MIDI first: a completed record always has it."""

    @abstractmethod
    def delete(self, task_id: str) -> None: ...

    def start(self, task_id: str, worker: str) -> TaskRecord | None:
        """Mark a task processing and count the attempt; None if the record is gone (expired)."""
        record = self.get(task_id)
        if record is None:
            return None
        changes = {
            "status": Status.PROCESSING,
            "progress": 10,
            "started_at": time.time(),
            "worker": worker,
            "attempts": record.attempts + 1,
            "error": None,
        }
        if not self.update(task_id, **changes):
            return None
        for name, value in changes.items():
            setattr(record, name, value)
        return record

    def fail(self, task_id: str, error: str) -> bool:
        return self.update(task_id, status=Status.FAILED, error=error, completed_at=time.time())


class RedisStore(ResultStore):
    """A hash per task (``drum-gen-api:task:<id>``) and a string with the MIDI (``...:midi:<id>``).

    Socket timeouts are short and redis-py's retries are off, so a dead Redis costs the caller at most
    about one timeout instead of redis-py's default backoff of several seconds.
    """

    _UPDATE = """
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    redis.call('HSET', KEYS[1], unpack(ARGV, 2))
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    return 1
    """
    _COMPLETE = """
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
    redis.call('HSET', KEYS[1], unpack(ARGV, 3))
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    return 1
    """

    def __init__(self, url: str, ttl_s: int, timeout_s: float = 0.5) -> None:
        super().__init__(ttl_s)
        self.url = url
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._update = self.client.register_script(self._UPDATE)
        self._complete = self.client.register_script(self._COMPLETE)

    @staticmethod
    def _key(kind: str, task_id: str) -> str:
        return f"{KEY_PREFIX}:{kind}:{task_id}"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as err:
            raise StoreUnavailable(f"Redis at {redact(self.url)} is unavailable: {err}") from err

    def ping(self) -> None:
        with self._errors():
            self.client.ping()

    def create(self, record: TaskRecord) -> None:
        key = self._key("task", record.task_id)
        with self._errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping=record.to_json_fields())
            pipe.expire(key, self.ttl_s)
            pipe.execute()

    def get(self, task_id: str) -> TaskRecord | None:
        with self._errors():
            data = self.client.hgetall(self._key("task", task_id))
        if not data:
            return None
        return TaskRecord.from_json_fields({k.decode(): v.decode() for k, v in data.items()})

    def update(self, task_id: str, **changes: Any) -> bool:
        args = [self.ttl_s, *_flatten(changes)]
        with self._errors():
            return bool(self._update(keys=[self._key("task", task_id)], args=args))

    def get_midi(self, task_id: str) -> bytes | None:
        with self._errors():
            return self.client.get(self._key("midi", task_id))  # type: ignore[return-value]

    def complete(self, task_id: str, midi: bytes, result: dict[str, Any]) -> bool:
        changes = {"status": Status.COMPLETED, "progress": 100, "completed_at": time.time(), "result": result}
        args = [self.ttl_s, midi, *_flatten(changes)]
        with self._errors():
            keys = [self._key("task", task_id), self._key("midi", task_id)]
            return bool(self._complete(keys=keys, args=args))

    def delete(self, task_id: str) -> None:
        with self._errors():
            self.client.delete(self._key("task", task_id), self._key("midi", task_id))


class FileStore(ResultStore):
    """``<dir>/tasks/<id>.json`` and ``<id>.mid``, written atomically, shared by the embedded pool's processes.

    Read-modify-write updates hold an ``flock`` on one lock file, so the API process and a pool process
    never interleave their changes to a record. Expired files are removed by :meth:`sweep` and never read.
    """

    def __init__(self, directory: str | Path, ttl_s: int) -> None:
        super().__init__(ttl_s)
        self.directory = Path(directory) / "tasks"
        self._lock_path = self.directory / ".write.lock"

    def _json(self, task_id: str) -> Path:
        return self.directory / f"{task_id}.json"

    def _midi(self, task_id: str) -> Path:
        return self.directory / f"{task_id}.mid"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = self._lock_path.open("a")
        except OSError as err:
            raise StoreUnavailable(f"result directory {self.directory} is not writable: {err}") from err
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def ping(self) -> None:
        with self._locked():
            if not os.access(self.directory, os.W_OK):
                raise StoreUnavailable(f"result directory {self.directory} is not writable")

    def _write(self, record: TaskRecord) -> None:
        data = asdict(record) | {"expires_at": time.time() + self.ttl_s}
        atomic_write_text(self._json(record.task_id), json.dumps(data))

    def _read(self, task_id: str) -> TaskRecord | None:
        try:
            data = json.loads(self._json(task_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if data.pop("expires_at", 0) < time.time():
            return None
        return TaskRecord(**data)

    def create(self, record: TaskRecord) -> None:
        with self._locked():
            self._write(record)

    def get(self, task_id: str) -> TaskRecord | None:
        return self._read(task_id)

    def update(self, task_id: str, **changes: Any) -> bool:
        with self._locked():
            record = self._read(task_id)
            if record is None:
                return False
            for name, value in changes.items():
                setattr(record, name, value)
            self._write(record)
            return True

    def get_midi(self, task_id: str) -> bytes | None:
        if self._read(task_id) is None:
            return None
        try:
            return self._midi(task_id).read_bytes()
        except FileNotFoundError:
            return None

    def complete(self, task_id: str, midi: bytes, result: dict[str, Any]) -> bool:
        with self._locked():
            record = self._read(task_id)
            if record is None:
                return False
            atomic_write_bytes(self._midi(task_id), midi)
            record.status, record.progress, record.result = Status.COMPLETED, 100, result
            record.completed_at = time.time()
            self._write(record)
            return True

    def delete(self, task_id: str) -> None:
        self._json(task_id).unlink(missing_ok=True)
        self._midi(task_id).unlink(missing_ok=True)

    def records(self) -> list[TaskRecord]:
        """Every live record (for re-queueing unfinished tasks after a restart)."""
        found = []
        for path in sorted(self.directory.glob("*.json")):
            record = self._read(path.stem) if is_task_id(path.stem) else None
            if record is not None:
                found.append(record)
        return found

    def sweep(self) -> int:
        """Delete expired records and their MIDI; returns how many."""
        removed = 0
        with self._locked():
            for path in self.directory.glob("*.json"):
                if is_task_id(path.stem) and self._read(path.stem) is None:
                    self.delete(path.stem)
                    removed += 1
        return removed


def _flatten(changes: dict[str, Any]) -> list[str]:
    return [item for name, value in changes.items() for item in (name, json.dumps(value))]


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def open_store(redis_url: str | None, data_dir: Path, ttl_s: int, timeout_s: float = 0.5) -> ResultStore:
    """The store of a mode: Redis when a URL is configured, else the directory store."""
    if redis_url:
        return RedisStore(redis_url, ttl_s, timeout_s)
    return FileStore(data_dir, ttl_s)
