"""The labels file: one JSON object per segment, appended line by line, resumable.

Each line is written with a single ``write`` on a file opened for appending and flushed to disk, so an
interrupted run leaves at most one torn last line; :class:`LabelWriter` cuts such a line off when it
reopens the file and skips every segment already written, so rerunning the same command continues
where it stopped and never writes a segment twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import PseudoLabelFileError

RECORD_KEYS = ("audio_path", "midi_path", "score_path", "start_time", "end_time", "labels")


def segment_key(
    audio_path: str | None, midi_path: str | None, score_path: str | None, start: float, end: float
) -> tuple:
    """Identity of a segment: its files and its window (to the millisecond)."""
    return (audio_path, midi_path, score_path, round(float(start), 3), round(float(end), 3))


def _record_key(record: Mapping[str, Any]) -> tuple:
    return segment_key(
        record["audio_path"],
        record["midi_path"],
        record["score_path"],
        record["start_time"],
        record["end_time"],
    )


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a labels file (a torn last line is ignored); typed error for any other bad line."""
    return _scan(Path(path))[0]


def _scan(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(records, byte length of the complete lines)."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    offset = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        if last:  # text after the final newline: an interrupted write, to be cut off
            break
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            raise PseudoLabelFileError(f"{path} line {number}: not JSON ({raw[:60]!r})") from None
        missing = [k for k in RECORD_KEYS if not isinstance(record, dict) or k not in record]
        if missing:
            raise PseudoLabelFileError(f"{path} line {number}: not a label record (missing {missing})")
        records.append(record)
        offset += len(raw) + 1
    return records, offset


class LabelWriter:
    """Append label records to ``path``; :meth:`done` says whether a segment is already there."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        records, complete = _scan(self.path)
        if self.path.exists() and self.path.stat().st_size != complete:
            os.truncate(self.path, complete)
        self._done = {_record_key(r) for r in records}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __len__(self) -> int:
        return len(self._done)

    def done(self, key: tuple) -> bool:
        return key in self._done

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append ``record`` unless its segment is already written; returns whether it was written."""
        key = _record_key(record)
        if key in self._done:
            return False
        line = (json.dumps(dict(record), allow_nan=False) + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"{self.path}: short write ({written} of {len(line)} bytes)")
        os.fsync(self._fd)
        self._done.add(key)
        return True

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> LabelWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
