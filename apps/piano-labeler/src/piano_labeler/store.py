"""The labels file: one JSON object per labelled segment, rewritten atomically on every change.

A record::

    {"key": "audio/a.flac@0.000-20.000", "audio_path": "audio/a.flac", "midi_path": "midi/a.mid",
     "start_time": 0.0, "end_time": 20.0, "labels": {"note_accuracy": 72, ...},
     "uncertain": {"note_accuracy": false, ...}, "comment": "", "labeller": "anna",
     "updated_at": "2025-01-31T10:04:12+00:00", "pass": "main"}

(plus ``piece_id``, ``performance_id`` and ``score_path`` when the dataset gives them). Paths are relative
to the labels file's folder when inside it, else absolute, so a labels file is itself a valid
``segments.jsonl``. The whole file is rewritten through a temporary sibling and ``os.replace``
(:func:`shared_audio_core.files.atomic_write_text`): a crash or a full disk leaves the previous version,
never half a line. At a few hundred segments a rewrite takes about a millisecond.

A file that cannot be read is an error naming the file and line, and is never overwritten: the labels in
it are hours of work.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared_audio_core.files import atomic_write_text

from piano_labeler.config import SCALE_MAX, SCALE_MIN
from piano_labeler.jsonl import json_lines

MAIN_PASS = "main"
CALIBRATION_PASS = "calibration"
_KNOWN = (
    "key",
    "audio_path",
    "midi_path",
    "score_path",
    "piece_id",
    "performance_id",
    "start_time",
    "end_time",
    "labels",
    "uncertain",
    "comment",
    "labeller",
    "updated_at",
    "pass",
)


class LabelFileError(ValueError):
    """The labels file is malformed; the message names the file, the line and the field."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Annotation:
    """One segment's ratings on one pass (``main`` or ``calibration``)."""

    key: str
    audio_path: str
    start_time: float
    end_time: float
    labels: dict[str, float]
    uncertain: dict[str, bool]
    comment: str = ""
    labeller: str = ""
    updated_at: str = field(default_factory=now_iso)
    pass_name: str = MAIN_PASS
    midi_path: str | None = None
    score_path: str | None = None
    piece_id: str | None = None
    performance_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields written by someone else, kept as they are

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"key": self.key, "audio_path": self.audio_path, "midi_path": self.midi_path}
        for name in ("score_path", "piece_id", "performance_id"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        record |= {
            "start_time": self.start_time,
            "end_time": self.end_time,
            "labels": dict(self.labels),
            "uncertain": dict(self.uncertain),
            "comment": self.comment,
            "labeller": self.labeller,
            "updated_at": self.updated_at,
            "pass": self.pass_name,
        }
        return record | self.extra

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Annotation:
        """Parse one record; ``where`` ("file line N") starts every error message."""
        if not isinstance(obj, dict):
            raise LabelFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")

        def text(name: str, *, required: bool = False) -> str | None:
            value = obj.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, str) or (required and not value):
                raise LabelFileError(f"{where}, {name}: expected a non-empty string, got {value!r}")
            return value

        def number(name: str) -> float:
            value = obj.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise LabelFileError(f"{where}, {name}: expected a number, got {value!r}")
            return float(value)

        labels = obj.get("labels")
        if not isinstance(labels, dict):
            raise LabelFileError(f"{where}, labels: expected an object {{dimension: value}}, got {labels!r}")
        for dim, value in labels.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise LabelFileError(f"{where}, labels.{dim}: expected a number, got {value!r}")
            if not SCALE_MIN <= value <= SCALE_MAX:
                raise LabelFileError(
                    f"{where}, labels.{dim}: {value} is outside the {SCALE_MIN:g}–{SCALE_MAX:g} scale"
                )
        uncertain = obj.get("uncertain", {})
        if not isinstance(uncertain, dict) or not all(isinstance(v, bool) for v in uncertain.values()):
            raise LabelFileError(f"{where}, uncertain: expected an object {{dimension: true/false}}")
        comment = obj.get("comment", "")
        if not isinstance(comment, str):
            raise LabelFileError(f"{where}, comment: expected a string, got {comment!r}")
        return cls(
            key=text("key", required=True) or "",
            audio_path=text("audio_path", required=True) or "",
            start_time=number("start_time"),
            end_time=number("end_time"),
            labels={str(k): v for k, v in labels.items()},  # ints stay ints: 72, not 72.0
            uncertain={str(k): bool(v) for k, v in uncertain.items()},
            comment=comment,
            labeller=text("labeller") or "",
            updated_at=text("updated_at") or "",
            pass_name=text("pass") or MAIN_PASS,
            midi_path=text("midi_path"),
            score_path=text("score_path"),
            piece_id=text("piece_id"),
            performance_id=text("performance_id"),
            extra={k: v for k, v in obj.items() if k not in _KNOWN},
        )


def read_labels(path: str | Path) -> dict[str, Annotation]:
    """The records of a labels file by key, in file order; a missing file has none."""
    path = Path(path)
    if not path.exists():
        return {}
    records: dict[str, Annotation] = {}
    lines_of: dict[str, int] = {}
    for number, where, obj in json_lines(path, LabelFileError):
        record = Annotation.from_json(obj, where)
        if record.key in records:
            raise LabelFileError(f"{where}: segment {record.key!r} is already on line {lines_of[record.key]}")
        records[record.key] = record
        lines_of[record.key] = number
    return records


class LabelStore:
    """The labels file of one pass, held in memory and written through on every :meth:`put`.

    Thread-safe (Gradio runs handlers in worker threads). Before each write the file is re-read if it
    changed on disk since this store last read or wrote it, so an edit made meanwhile is not clobbered.
    """

    def __init__(self, path: str | Path, *, pass_name: str = MAIN_PASS) -> None:
        self.path = Path(path)
        self.pass_name = pass_name
        self._lock = threading.RLock()
        self._records: dict[str, Annotation] = {}
        self._stamp: tuple[int, int, int] | None = None
        self.reload()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def reload(self) -> None:
        with self._lock:
            stamp = self._file_stamp()
            self._records = read_labels(self.path)
            self._stamp = stamp

    def refresh(self) -> bool:
        """Re-read the file if it changed on disk; True when it did."""
        with self._lock:
            if self._file_stamp() == self._stamp:
                return False
            self.reload()
            return True

    def get(self, key: str) -> Annotation | None:
        with self._lock:
            return self._records.get(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._records

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._records))

    def records(self) -> Mapping[str, Annotation]:
        with self._lock:
            return dict(self._records)

    def put(self, annotation: Annotation) -> None:
        """Store ``annotation`` (replacing the segment's previous one in place) and rewrite the file."""
        with self._lock:
            self.refresh()
            self._records[annotation.key] = annotation
            text = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in self._records.values())
            atomic_write_text(self.path, text)
            self._stamp = self._file_stamp()


__all__ = [
    "CALIBRATION_PASS",
    "MAIN_PASS",
    "Annotation",
    "LabelFileError",
    "LabelStore",
    "now_iso",
    "read_labels",
]
