"""The segments to label, from one of three kinds of dataset folder.

1. ``segments.jsonl`` (seed 001's format, what ``piano-eval pseudo-label`` writes): one JSON object per
   line with ``audio_path``, ``start_time``, ``end_time`` and optionally ``midi_path``, ``score_path``,
   ``piece_id``, ``performance_id`` and ``key``; paths are relative to the file's folder or absolute.
   DATA may name the folder holding it or any ``*.jsonl`` file in that format (the labels file this app
   writes is one too).
2. A rating folder with ``ratings.csv`` (the layout of ``piano_eval.data.folder``: columns ``audio``,
   ``midi``, ``score_midi``, ``piece_id``, ``performance_id``…): each performance is cut into segments.
3. A plain folder of audio files (searched recursively; a ``.mid``/``.midi`` file with the same stem next
   to one is its MIDI), cut into segments.

Cutting gives pieces of ``segment_seconds``; a remainder shorter than half a segment is added to the last
piece instead of becoming a stub (so pieces are 0.5–1.5 segments long, e.g. 20–30 s for 20), and a file
shorter than one segment is a single piece.

A segment's ``key`` (its identity in the labels file) is the ``key`` field when a ``segments.jsonl`` line
has one, else ``<audio path>@<start>-<end>`` with the path relative to the dataset folder: stable across
restarts and machines, so labelling resumes where it stopped.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shared_audio_core.audio import AudioError, audio_info
from shared_audio_core.files import is_temporary

from piano_labeler.jsonl import json_lines

SEGMENTS_FILE = "segments.jsonl"
RATINGS_FILE = "ratings.csv"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
MIDI_SUFFIXES = (".mid", ".midi")
# Writers round times; an end this far past the audio's last sample still counts as "the end".
END_TOLERANCE_S = 0.05

SourceKind = Literal["segments.jsonl", "ratings.csv", "audio folder"]


class SegmentError(ValueError):
    """The dataset cannot be turned into segments; the message names the file (and line or row)."""


class DataFolderError(SegmentError):
    """DATA is missing, not a folder or JSONL file, or holds nothing to label."""


class SegmentFileError(SegmentError):
    """A ``segments.jsonl`` line or ``ratings.csv`` row is unusable (bad JSON, missing field, no file)."""


class SegmentRangeError(SegmentError):
    """A segment's times are impossible: negative, empty, or beyond the end of its audio."""


@dataclass(frozen=True)
class Segment:
    key: str
    audio_path: Path
    start_time: float
    end_time: float
    midi_path: Path | None = None
    score_path: Path | None = None
    piece_id: str | None = None
    performance_id: str | None = None

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


@dataclass(frozen=True)
class SegmentList:
    """The segments of one dataset, in labelling order, and where they came from."""

    root: Path
    kind: SourceKind
    source: Path  # the segments.jsonl / ratings.csv file, or the audio folder
    segments: tuple[Segment, ...]

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self):
        return iter(self.segments)

    def __getitem__(self, index: int) -> Segment:
        return self.segments[index]

    def index(self, key: str) -> int:
        for i, segment in enumerate(self.segments):
            if segment.key == key:
                return i
        raise KeyError(key)


# ------------------------------------------------------------------------------------------------ helpers
def relative_or_absolute(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it, else absolute (POSIX separators either way)."""
    path, base = path.resolve(), base.resolve()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def segment_key(audio_path: Path, root: Path, start: float, end: float) -> str:
    return f"{relative_or_absolute(audio_path, root)}@{start:.3f}-{end:.3f}"


def cut_times(duration: float, segment_seconds: float) -> list[tuple[float, float]]:
    """``(start, end)`` pieces covering ``[0, duration]``; see the module docstring for the remainder rule."""
    if not segment_seconds > 0:
        raise ValueError(f"segment_seconds must be positive, got {segment_seconds}")
    if not duration > 0:
        return []
    full = math.floor(duration / segment_seconds + 1e-9)
    if full == 0:
        return [(0.0, duration)]
    bounds = [k * segment_seconds for k in range(full + 1)]
    remainder = duration - bounds[-1]
    if remainder >= segment_seconds / 2:
        bounds.append(duration)
    else:
        bounds[-1] = duration
    return [(round(a, 6), round(b, 6)) for a, b in itertools.pairwise(bounds)]


class _Durations:
    """Audio lengths read from file headers once per file (segments of one recording share it)."""

    def __init__(self) -> None:
        self._seconds: dict[Path, float] = {}

    def __call__(self, path: Path, where: str) -> float:
        if path not in self._seconds:
            try:
                self._seconds[path] = audio_info(path).duration
            except AudioError as error:
                raise SegmentFileError(f"{where}: {error}") from None
        return self._seconds[path]


def _existing_file(root: Path, text: str, where: str, field: str) -> Path:
    path = Path(text).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise SegmentFileError(f"{where}, {field}: {path} does not exist")
    return path


def _same_stem_midi(audio: Path) -> Path | None:
    for suffix in MIDI_SUFFIXES:
        for candidate in (audio.with_suffix(suffix), audio.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def _cut(
    audio: Path,
    root: Path,
    segment_seconds: float,
    durations: _Durations,
    where: str,
    **fields: Any,
) -> list[Segment]:
    duration = durations(audio, where)
    if not duration > 0:
        raise SegmentFileError(f"{where}: {audio} holds no audio samples")
    return [
        Segment(segment_key(audio, root, start, end), audio, start, end, **fields)
        for start, end in cut_times(duration, segment_seconds)
    ]


# ---------------------------------------------------------------------------------------------- segments.jsonl
def _number(obj: Mapping[str, Any], name: str, where: str) -> float:
    if name not in obj:
        raise SegmentFileError(f"{where}: missing {name!r}")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SegmentFileError(f"{where}, {name}: expected a finite number of seconds, got {value!r}")
    return float(value)


def _optional_text(obj: Mapping[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SegmentFileError(f"{where}, {name}: expected a string, got {value!r}")
    return value


def read_segments_jsonl(path: str | Path) -> SegmentList:
    """Segments listed in a seed-001 JSONL file (paths relative to its folder or absolute)."""
    path = Path(path)
    root = path.parent
    durations = _Durations()
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    for number, where, obj in json_lines(path, SegmentFileError):
        if not isinstance(obj, dict):
            raise SegmentFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        audio_text = _optional_text(obj, "audio_path", where)
        if audio_text is None:
            raise SegmentFileError(f"{where}: missing 'audio_path' (the labeler plays the audio)")
        audio = _existing_file(root, audio_text, where, "audio_path")
        midi_text = _optional_text(obj, "midi_path", where)
        score_text = _optional_text(obj, "score_path", where)
        start, end = _number(obj, "start_time", where), _number(obj, "end_time", where)
        if start < 0 or end <= start:
            raise SegmentRangeError(f"{where}: need 0 ≤ start_time < end_time, got {start:g}–{end:g} s")
        duration = durations(audio, where)
        if end > duration + END_TOLERANCE_S:
            raise SegmentRangeError(
                f"{where}: end_time {end:g} s is beyond the end of {audio} ({duration:.3f} s)"
            )
        key = _optional_text(obj, "key", where) or segment_key(audio, root, start, end)
        if key in seen:
            raise SegmentFileError(f"{where}: segment {key!r} is already listed on line {seen[key]}")
        seen[key] = number
        segments.append(
            Segment(
                key,
                audio,
                start,
                min(end, duration),
                midi_path=_existing_file(root, midi_text, where, "midi_path") if midi_text else None,
                score_path=_existing_file(root, score_text, where, "score_path") if score_text else None,
                piece_id=_optional_text(obj, "piece_id", where),
                performance_id=_optional_text(obj, "performance_id", where),
            )
        )
    if not segments:
        raise DataFolderError(f"{path}: no segments (the file is empty)")
    return SegmentList(root, "segments.jsonl", path, tuple(segments))


# -------------------------------------------------------------------------------------------------- ratings.csv
def read_rating_folder(root: str | Path, segment_seconds: float) -> SegmentList:
    """Every performance of a ``ratings.csv`` folder cut into segments.

    Only the file columns are read: a folder being labelled may have no ratings yet, or ratings on
    any scale, and the labeller should not see them anyway.
    """
    root = Path(root)
    path = root / RATINGS_FILE
    durations = _Durations()
    segments: list[Segment] = []
    rows_of: dict[Path, int] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        if "audio" not in header:
            raise SegmentFileError(f"{path}: no 'audio' column (the labeler plays the audio)")
        for row_number, row in enumerate(reader, start=2):
            where = f"{path} row {row_number}"
            text = {k: (row.get(k) or "").strip() for k in ("audio", "midi", "score_midi")}
            if not text["audio"]:
                raise SegmentFileError(f"{where}, audio: empty (the labeler plays the audio)")
            audio = _existing_file(root, text["audio"], where, "audio")
            if audio.resolve() in rows_of:
                raise SegmentFileError(
                    f"{where}, audio: {audio} is already the audio of row {rows_of[audio.resolve()]}"
                )
            rows_of[audio.resolve()] = row_number
            segments += _cut(
                audio,
                root,
                segment_seconds,
                durations,
                where,
                midi_path=_existing_file(root, text["midi"], where, "midi") if text["midi"] else None,
                score_path=(
                    _existing_file(root, text["score_midi"], where, "score_midi")
                    if text["score_midi"]
                    else None
                ),
                piece_id=(row.get("piece_id") or "").strip() or None,
                performance_id=(row.get("performance_id") or "").strip() or None,
            )
    if not segments:
        raise DataFolderError(f"{path}: no performances (only a header)")
    return SegmentList(root, "ratings.csv", path, tuple(segments))


# ------------------------------------------------------------------------------------------------ audio folder
def _audio_files(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative) or is_temporary(path):
            continue
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            yield path


def read_audio_folder(root: str | Path, segment_seconds: float) -> SegmentList:
    """Every audio file under ``root`` (hidden files skipped) cut into segments, with same-stem MIDI."""
    root = Path(root)
    durations = _Durations()
    segments: list[Segment] = []
    for audio in _audio_files(root):
        segments += _cut(
            audio, root, segment_seconds, durations, str(audio), midi_path=_same_stem_midi(audio)
        )
    if not segments:
        raise DataFolderError(
            f"{root}: nothing to label: no {SEGMENTS_FILE}, no {RATINGS_FILE} and no audio files "
            f"({', '.join(AUDIO_SUFFIXES)})"
        )
    return SegmentList(root, "audio folder", root, tuple(segments))


def load_segments(data: str | Path, *, segment_seconds: float = 20.0) -> SegmentList:
    """The segments of ``data``: a ``*.jsonl`` file, or a folder with ``segments.jsonl``, with
    ``ratings.csv``, or with audio files (checked in that order)."""
    data = Path(data).expanduser()
    if not data.exists():
        raise DataFolderError(f"{data}: no such file or folder")
    if data.is_file():
        if data.suffix.lower() != ".jsonl":
            raise DataFolderError(f"{data}: expected a folder or a {SEGMENTS_FILE}-style .jsonl file")
        return read_segments_jsonl(data)
    if (data / SEGMENTS_FILE).is_file():
        return read_segments_jsonl(data / SEGMENTS_FILE)
    if (data / RATINGS_FILE).is_file():
        return read_rating_folder(data, segment_seconds)
    return read_audio_folder(data, segment_seconds)


__all__ = [
    "AUDIO_SUFFIXES",
    "END_TOLERANCE_S",
    "MIDI_SUFFIXES",
    "RATINGS_FILE",
    "SEGMENTS_FILE",
    "DataFolderError",
    "Segment",
    "SegmentError",
    "SegmentFileError",
    "SegmentList",
    "SegmentRangeError",
    "cut_times",
    "load_segments",
    "read_audio_folder",
    "read_rating_folder",
    "read_segments_jsonl",
    "relative_or_absolute",
    "segment_key",
]
