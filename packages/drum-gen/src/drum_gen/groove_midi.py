"""Loader for the Groove MIDI Dataset layout (Magenta, CC BY 4.0): ``info.csv`` plus MIDI files.

``info.csv`` columns: drummer, session, id, style (``primary/secondary`` such as ``funk/groove1``),
bpm, beat_type (beat|fill), time_signature (``4-4``), midi_filename, audio_filename, duration, split
(train|validation|test). The dataset cannot be downloaded here; the loader is tested on a small fixture
in the same layout, and :func:`drum_gen.corpus.write_corpus` writes procedural corpora in it too.

GMD styles are mapped to producer styles with a configurable ``style_map`` (keys: full or primary
GMD style; values: registered style names or aliases). Patterns are read lazily and, by default,
reduced to the 9 drum classes because the Roland TD-11 emits non-GM pitches (22, 26, ...).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tqdm import tqdm

from drum_gen.pattern import Pattern
from drum_gen.styles import StyleRegistry, get_style

SPLITS = ("train", "validation", "test")
BEAT_TYPES = ("beat", "fill")
REQUIRED_COLUMNS = (
    "drummer",
    "session",
    "id",
    "style",
    "bpm",
    "beat_type",
    "time_signature",
    "midi_filename",
    "split",
)

DEFAULT_STYLE_MAP: Mapping[str, str] = {
    "hiphop": "J Dilla",
    "funk": "Questlove",
    "soul": "Questlove",
    "neworleans": "Questlove",
    "latin": "Timbaland",
    "afrocuban": "Timbaland",
    "afrobeat": "Timbaland",
    "dance": "Metro Boomin",
}
"""Approximate GMD primary style -> producer style (GMD has no trap; 'dance' is the closest grid feel)."""


class GrooveMidiLayoutError(ValueError):
    """The directory does not follow the Groove MIDI Dataset layout; the message says what is wrong."""


@dataclass
class GrooveMidiRecord:
    """One ``info.csv`` row; ``pattern`` loads (once) from ``midi_path`` on first access."""

    drummer: str
    session: str
    id: str
    style: str
    bpm: float
    beat_type: str
    time_signature: tuple[int, int]
    midi_path: Path
    split: str
    duration: float | None = None
    mapped_style: str | None = None
    reduce_to_classes: bool = field(default=True, repr=False)

    @property
    def primary_style(self) -> str:
        return self.style.split("/", 1)[0]

    @cached_property
    def pattern(self) -> Pattern:
        return self.load_pattern()

    def load_pattern(self) -> Pattern:
        """Read the MIDI file (uncached); 9-class reduced unless ``reduce_to_classes`` is False."""
        pattern = Pattern.read_midi(self.midi_path)
        return pattern.reduced_to_classes() if self.reduce_to_classes else pattern


def _parse_time_signature(text: str, where: str) -> tuple[int, int]:
    try:
        numerator, denominator = (int(x) for x in text.replace("/", "-").split("-"))
    except ValueError:
        raise GrooveMidiLayoutError(f"{where}: time_signature {text!r} is not of the form '4-4'") from None
    return numerator, denominator


def _map_style(
    full: str, style_map: Mapping[str, str], registry: StyleRegistry | None, where: str
) -> str | None:
    primary = full.split("/", 1)[0]
    target = style_map.get(full, style_map.get(primary))
    if target is None:
        try:  # corpora written by write_corpus use style slugs directly
            return get_style(primary, registry).name
        except ValueError:
            return None
    try:
        return get_style(target, registry).name
    except ValueError as exc:
        raise GrooveMidiLayoutError(f"{where}: style_map sends {full!r} to an unknown style: {exc}") from exc


def load_groove_midi(
    root: str | Path,
    split: str | Iterable[str] | None = None,
    style_map: Mapping[str, str] | None = None,
    beat_type: str | None = None,
    *,
    time_signature: tuple[int, int] | None = None,
    drop_unmapped: bool = False,
    eager: bool = False,
    reduce_to_classes: bool = True,
    registry: StyleRegistry | None = None,
) -> list[GrooveMidiRecord]:
    """Records of ``root/info.csv`` filtered by split(s), beat type and time signature.

    ``style_map`` defaults to :data:`DEFAULT_STYLE_MAP`; rows whose style maps to nothing keep
    ``mapped_style=None`` unless ``drop_unmapped`` removes them. ``eager`` reads every pattern now
    (with a progress bar) so that file errors surface immediately. Missing MIDI files always raise.
    """
    root = Path(root)
    info = root / "info.csv"
    if not info.is_file():
        raise GrooveMidiLayoutError(f"{root} is not a Groove MIDI Dataset directory: {info} not found")
    splits = {split} if isinstance(split, str) else (set(split) if split is not None else set(SPLITS))
    if bad := sorted(splits - set(SPLITS)):
        raise GrooveMidiLayoutError(f"unknown split(s) {bad}; valid splits: {', '.join(SPLITS)}")
    if beat_type is not None and beat_type not in BEAT_TYPES:
        raise GrooveMidiLayoutError(f"unknown beat_type {beat_type!r}; valid: {', '.join(BEAT_TYPES)}")
    mapping = DEFAULT_STYLE_MAP if style_map is None else style_map

    with info.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing_columns = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing_columns:
            raise GrooveMidiLayoutError(
                f"{info}: missing columns {missing_columns}; found {reader.fieldnames}"
            )
        rows = list(reader)

    records = []
    missing_files = []
    for line, row in enumerate(rows, start=2):
        where = f"{info}:{line}"
        if row["split"] not in SPLITS:
            raise GrooveMidiLayoutError(f"{where}: split {row['split']!r} is not one of {SPLITS}")
        if row["split"] not in splits or (beat_type is not None and row["beat_type"] != beat_type):
            continue
        meter = _parse_time_signature(row["time_signature"], where)
        if time_signature is not None and meter != tuple(time_signature):
            continue
        mapped = _map_style(row["style"], mapping, registry, where)
        if mapped is None and drop_unmapped:
            continue
        try:
            bpm = float(row["bpm"])
            duration = float(row["duration"]) if row.get("duration") else None
        except ValueError:
            raise GrooveMidiLayoutError(f"{where}: bpm/duration are not numbers: {row['bpm']!r}") from None
        midi_path = root / row["midi_filename"]
        if not midi_path.is_file():
            missing_files.append(str(midi_path))
            continue
        records.append(
            GrooveMidiRecord(
                drummer=row["drummer"],
                session=row["session"],
                id=row["id"],
                style=row["style"],
                bpm=bpm,
                beat_type=row["beat_type"],
                time_signature=meter,
                midi_path=midi_path,
                split=row["split"],
                duration=duration,
                mapped_style=mapped,
                reduce_to_classes=reduce_to_classes,
            )
        )
    if missing_files:
        raise GrooveMidiLayoutError(
            f"{len(missing_files)} MIDI file(s) listed in {info} are missing, e.g. {missing_files[:3]}"
        )
    if eager:
        for record in tqdm(records, desc="groove-midi", disable=len(records) < 50):
            _ = record.pattern
    return records
