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
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from drum_gen.corpus import CorpusItem
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


def load_style_map_file(path: str | Path) -> dict[str, str | None]:
    """Read a GMD-style -> producer-style mapping from YAML or TOML.

    The file is either the mapping itself or holds it under ``style_map:``. A null (YAML) or empty
    string (TOML has no null) value *unmaps* a style, so a default entry can be switched off.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"style map file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise GrooveMidiLayoutError(f"{path}: not valid YAML/TOML: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("style_map"), dict):
        data = data["style_map"]
    if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
        raise GrooveMidiLayoutError(f"{path}: a style map must map Groove styles to style names (or null)")
    return {str(k): (v or None) for k, v in data.items()}


def merge_style_map(overrides: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """:data:`DEFAULT_STYLE_MAP` updated by ``overrides`` (None values mark styles to skip)."""
    return {**DEFAULT_STYLE_MAP, **(overrides or {})}


@dataclass
class GrooveCorpus:
    """Training chunks of a Groove directory, split by the dataset's own ``split`` column.

    Using the official split keeps drummers/sessions of the validation set out of training (GMD
    assigns whole sessions to a split); the ``test`` split is never read. ``skipped`` counts files
    left out by reason and ``unmapped_styles`` names the styles behind the ``unmapped style`` count.
    """

    train: list[CorpusItem]
    validation: list[CorpusItem]
    files_used: int
    skipped: dict[str, int]
    unmapped_styles: dict[str, int]


def build_groove_corpus(
    root: str | Path,
    *,
    bars: int,
    styles: Sequence[str],
    style_map: Mapping[str, str | None] | None = None,
    steps_per_beat: int = 4,
    progress: bool = False,
    registry: StyleRegistry | None = None,
) -> GrooveCorpus:
    """Cut the 4/4 performances of ``root`` into ``bars``-bar, quantized :class:`CorpusItem` chunks.

    ``style_map`` (merged over the default, see :func:`merge_style_map`) decides each file's style;
    files whose style maps to nothing, or to a style outside ``styles``, are skipped and counted rather
    than mislabelled. Only 4/4 is kept because the generator writes 4/4. Onsets are quantized to
    ``steps_per_beat`` because the model learns the grid and the style's swing/micro-timing is
    applied once after generation: the drummer's own feel would otherwise be applied twice.
    """
    root = Path(root)
    if not root.is_dir():
        raise GrooveMidiLayoutError(f"Groove MIDI directory not found: {root}")
    merged = merge_style_map(style_map)
    mapping = {k: v for k, v in merged.items() if v is not None}
    explicitly_off = {k for k, v in merged.items() if v is None}
    records = load_groove_midi(root, split=("train", "validation"), style_map=mapping, registry=registry)
    skipped: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    skipped["test split (held out)"] = len(load_groove_midi(root, split="test", style_map=mapping))
    allowed = set(styles)
    out: dict[str, list[CorpusItem]] = {"train": [], "validation": []}
    used = 0
    for record in tqdm(records, desc=f"groove-midi {root.name}", disable=not progress):
        off = record.style in explicitly_off or (
            record.primary_style in explicitly_off and record.style not in mapping
        )
        if off or record.mapped_style is None:
            skipped["unmapped style"] += 1
            unmapped[record.style] += 1
            continue
        if record.mapped_style not in allowed:
            skipped["style not in training styles"] += 1
            continue
        if record.time_signature != (4, 4):
            skipped["not 4/4"] += 1
            continue
        pattern = record.load_pattern().quantized(steps_per_beat)
        chunks = [
            pattern.slice_bars(start, min(start + bars, pattern.num_bars))
            for start in range(0, pattern.num_bars, bars)
        ]
        chunks = [c for c in chunks if c.notes]
        if not chunks:
            skipped["no notes"] += 1
            continue
        used += 1
        out[record.split].extend(CorpusItem(record.mapped_style, c) for c in chunks)
    return GrooveCorpus(out["train"], out["validation"], used, dict(skipped), dict(unmapped))
