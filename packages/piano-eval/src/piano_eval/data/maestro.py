"""MAESTRO v3 in its published layout: ``maestro-v3.0.0.csv`` (or ``.json``) beside the year folders.

Each row pairs a performance MIDI file with its audio; a *piece* is (canonical_composer, canonical_title),
so windows of one piece never straddle folds when grouped by :attr:`MaestroRecording.piece_id`. MAESTRO's own
train/validation/test split keeps compositions apart, and is kept as published.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetLayoutError

_COLUMNS = (
    "canonical_composer",
    "canonical_title",
    "split",
    "year",
    "midi_filename",
    "audio_filename",
    "duration",
)
MAESTRO_SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class MaestroRecording:
    composer: str
    title: str
    split: str
    year: int
    midi_path: Path
    audio_path: Path
    duration: float  # seconds

    @property
    def piece_id(self) -> str:
        return f"{self.composer} — {self.title}"


@dataclass(frozen=True)
class Window:
    """A segment ``[start, end)`` seconds of one recording."""

    recording: MaestroRecording
    start: float
    end: float


def _rows_from_json(path: Path) -> list[dict[str, str]]:
    table = json.loads(path.read_text())
    missing = [c for c in _COLUMNS if c not in table]
    if missing:
        raise DatasetLayoutError(f"{path}: missing columns {missing}")
    keys = sorted(table["midi_filename"], key=int)
    return [{c: table[c][k] for c in _COLUMNS} for k in keys]


def _metadata_rows(root: Path) -> tuple[Path, list[dict[str, str]]]:
    for csv_path in sorted(root.glob("maestro-v*.csv")):
        with csv_path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetLayoutError(f"{csv_path}: missing columns {missing}")
            return csv_path, list(reader)
    for json_path in sorted(root.glob("maestro-v*.json")):
        return json_path, _rows_from_json(json_path)
    raise DatasetLayoutError(
        f"{root}: no maestro-v*.csv or maestro-v*.json metadata file (is this the MAESTRO root?)"
    )


def load_maestro(
    root: str | Path, *, split: str | None = None, check_files: bool = True
) -> list[MaestroRecording]:
    """Recordings listed in the metadata, optionally one split; missing audio/MIDI files are an error."""
    root = Path(root)
    if split is not None and split not in MAESTRO_SPLITS:
        raise ValueError(f"split must be one of {MAESTRO_SPLITS}, got {split!r}")
    meta, rows = _metadata_rows(root)
    recordings = []
    for number, row in enumerate(rows, start=2):
        if row["split"] not in MAESTRO_SPLITS:
            raise DatasetLayoutError(
                f"{meta} row {number}: split {row['split']!r} is not one of {MAESTRO_SPLITS}"
            )
        try:
            duration = float(row["duration"])
            year = int(row["year"])
        except ValueError as exc:
            raise DatasetLayoutError(f"{meta} row {number}: bad year/duration ({exc})") from exc
        recording = MaestroRecording(
            row["canonical_composer"],
            row["canonical_title"],
            row["split"],
            year,
            root / row["midi_filename"],
            root / row["audio_filename"],
            duration,
        )
        if check_files:
            for path, field in (
                (recording.midi_path, "midi_filename"),
                (recording.audio_path, "audio_filename"),
            ):
                if not path.is_file():
                    raise DatasetLayoutError(f"{meta} row {number}: {field} {path} does not exist")
        if split is None or recording.split == split:
            recordings.append(recording)
    return recordings


def windows(recording: MaestroRecording, window_seconds: float, hop_seconds: float) -> Iterator[Window]:
    """Overlapping windows covering the recording; the last one ends at the recording's end."""
    if window_seconds <= 0 or not 0 < hop_seconds <= window_seconds:
        raise ValueError(f"need window > 0 and 0 < hop ≤ window, got {window_seconds}, {hop_seconds}")
    if recording.duration <= window_seconds:
        yield Window(recording, 0.0, recording.duration)
        return
    start = 0.0
    while start + window_seconds < recording.duration:
        yield Window(recording, start, start + window_seconds)
        start += hop_seconds
    yield Window(recording, recording.duration - window_seconds, recording.duration)
