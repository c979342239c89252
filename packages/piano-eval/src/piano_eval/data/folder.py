"""Your own recordings: a folder of audio (+ MIDI) files and a ``ratings.csv``.

``ratings.csv`` has one row per performance::

    audio,midi,piece_id,timing,dynamics,...      (performance_id, split and fold are optional columns)
    takes/anna-1.flac,takes/anna-1.mid,chopin-op28-4,5,6,...

Paths are relative to the folder (``midi`` may be empty or absent). Every other column is a rating
dimension; an empty cell is "not rated" and is masked out of training and evaluation, never read as 0.
Ratings are on ``scale`` — ``"1-7"`` (PercePiano's, divided by 7), ``"0-1"`` (used as is) or ``"0-100"``
(pseudo-labels, expert sliders; divided by 100); a rating
outside the scale is an error naming the file, row and column.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetLayoutError, LabelFileError
from .folds import check_piece_folds

RESERVED_COLUMNS = ("performance_id", "piece_id", "split", "fold", "audio", "midi", "score_midi")
SCALES = {"1-7": (1.0, 7.0), "0-1": (0.0, 1.0), "0-100": (0.0, 100.0)}


@dataclass(frozen=True)
class RatedPerformance:
    performance_id: str
    piece_id: str
    audio_path: Path | None
    midi_path: Path | None
    labels: np.ndarray  # [K] in [0, 1]; NaN where not rated
    split: str | None = None
    fold: int | None = None
    score_midi_path: Path | None = None

    @property
    def mask(self) -> np.ndarray:
        return ~np.isnan(self.labels)


def load_rating_folder(
    root: str | Path,
    *,
    dimensions: Sequence[str] | None = None,
    scale: str = "1-7",
    ratings_file: str = "ratings.csv",
) -> tuple[tuple[str, ...], list[RatedPerformance]]:
    """``(dimension names, performances)``; ``dimensions`` selects and orders columns (all missing → error)."""
    root = Path(root)
    path = root / ratings_file
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    low, high = SCALES[scale]
    if not path.is_file():
        raise DatasetLayoutError(
            f"{root}: no {ratings_file} (one row per performance: audio, midi, piece_id, ratings…)"
        )
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        for required in ("piece_id",):
            if required not in header:
                raise LabelFileError(f"{path}: missing column {required!r}")
        if "audio" not in header and "midi" not in header:
            raise LabelFileError(f"{path}: needs an 'audio' or a 'midi' column")
        available = tuple(c for c in header if c not in RESERVED_COLUMNS)
        if dimensions is None:
            dims = available
        else:
            dims = tuple(dimensions)
            missing = [d for d in dims if d not in header]
            if missing:
                raise LabelFileError(f"{path}: missing dimension columns {missing} (has {list(available)})")
        if not dims:
            raise LabelFileError(
                f"{path}: no rating columns besides {[c for c in header if c in RESERVED_COLUMNS]}"
            )
        performances = []
        for line, row in enumerate(reader, start=2):
            values = np.full(len(dims), np.nan)
            for k, dim in enumerate(dims):
                text = (row.get(dim) or "").strip()
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    raise LabelFileError(f"{path} row {line}, {dim}: {text!r} is not a number") from None
                if not low <= value <= high:
                    raise LabelFileError(
                        f"{path} row {line}, {dim}: rating {value} is outside the {scale} scale"
                    )
                values[k] = value if scale == "0-1" else value / high
            files = {}
            for column in ("audio", "midi", "score_midi"):
                text = (row.get(column) or "").strip()
                files[column] = None
                if text:
                    file = root / text
                    if not file.is_file():
                        raise DatasetLayoutError(f"{path} row {line}, {column}: {file} does not exist")
                    files[column] = file
            if files["audio"] is None and files["midi"] is None:
                raise LabelFileError(f"{path} row {line}: neither audio nor midi is given")
            piece = (row.get("piece_id") or "").strip()
            if not piece:
                raise LabelFileError(f"{path} row {line}, piece_id: empty")
            fold_text = (row.get("fold") or "").strip()
            performances.append(
                RatedPerformance(
                    (row.get("performance_id") or "").strip() or f"row-{line}",
                    piece,
                    files["audio"],
                    files["midi"],
                    values,
                    (row.get("split") or "").strip() or None,
                    int(fold_text) if fold_text else None,
                    files["score_midi"],
                )
            )
    if not performances:
        raise LabelFileError(f"{path}: no rows")
    folded = [p for p in performances if p.fold is not None]
    if folded:
        check_piece_folds([p.piece_id for p in folded], [p.fold for p in folded], source=str(path))
    return dims, performances
