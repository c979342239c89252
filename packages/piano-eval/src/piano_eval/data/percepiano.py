"""PercePiano (Park et al., Sci. Rep. 2024) in its published layout, with the published cleaning rules.

Layout of the authors' repository (github.com/JonghoKimSNU/PercePiano)::

    labels/total_2rounds.csv     one row per annotator rating: user, dataID, filename, then the 19 questions
                                 (Question_1_1_1 … Question_9_1_1) on the 1–7 scale
    labels/label_2round_mean_reg_19_with0_rm_highstd0.json   segment → 19 cleaned means / 7 (+ extras)
    virtuoso/data/all_2rounds/<segment>.mid                  the performance MIDI of each segment

Segment names are ``<piece>_<bars>bars_<performer>_<index>``. Cleaning, as published: a rating row with any
value above 7.1 is a data-entry error and is dropped; 0 or blank means "don't know" and is left out of that
dimension's mean (masked, not zero); the per-segment mean is divided by 7. Anything else outside 1–7 is an
error naming the file, row and question.

The CSV lists the questions in the paper's order, which differs from :data:`PERCEPIANO_DIMENSIONS` (the
models' order) at "sophistication" (the paper's "Dynamic: sophisticated/mellow – raw/crude", question 10):
columns are mapped by name through :data:`PERCEPIANO_QUESTION_ORDER`, never by position.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from piano_eval.dimensions import PERCEPIANO_DIMENSIONS, PERCEPIANO_RATING_CEILING, PERCEPIANO_RATING_MAX

from .errors import DatasetLayoutError, LabelFileError

# The paper's 19 questions, in the order of the CSV columns and of the authors' mean-label JSON.
PERCEPIANO_QUESTION_ORDER: tuple[str, ...] = (
    "timing",  # Timing: stable – unstable
    "articulation_length",  # Articulation: short – long
    "articulation_touch",  # Articulation: soft/cushioned – hard/solid
    "pedal_amount",  # Pedal: sparse/dry – saturated/wet
    "pedal_clarity",  # Pedal: clean – blurred
    "timbre_variety",  # Timbre: even – colorful
    "timbre_depth",  # Timbre: shallow – rich
    "timbre_brightness",  # Timbre: bright – dark
    "timbre_loudness",  # Timbre: soft – loud
    "sophistication",  # Dynamic: sophisticated/mellow – raw/crude
    "dynamic_range",  # Dynamic: little – large range
    "tempo",  # Music making: fast – slow paced
    "space",  # Music making: flat – spacious
    "balance",  # Music making: disproportioned – balanced
    "drama",  # Music making: pure – dramatic/expressive
    "mood_valence",  # Emotion: optimistic/pleasant – dark
    "mood_energy",  # Emotion: low – high energy
    "mood_imagination",  # Emotion: honest – imaginative
    "interpretation",  # Interpretation: unsatisfactory/doubtful – convincing
)
RAW_LABELS = Path("labels/total_2rounds.csv")
MEAN_LABELS = Path("labels/label_2round_mean_reg_19_with0_rm_highstd0.json")
MIDI_DIR = Path("virtuoso/data/all_2rounds")
_SEGMENT = re.compile(r"^(?P<piece>.+)_(?P<bars>\d+)bars_(?P<performer>[^_]+)_(?P<index>\d+)$")
_QUESTION_COLUMNS = 19


@dataclass(frozen=True)
class PercePianoSegment:
    segment_id: str
    piece_id: (
        str  # e.g. "Schubert_D960_mv2" (+ bar count: 4/8/16-bar segmentations are separate pieces' cuts)
    )
    performer: str
    bars: int
    midi_path: Path | None
    labels: np.ndarray  # [19] in PERCEPIANO_DIMENSIONS order, in [0, 1]; NaN where nobody rated
    raters: int  # annotator rows behind the means (0 when read from the mean JSON)

    @property
    def mask(self) -> np.ndarray:
        return ~np.isnan(self.labels)


def parse_segment_name(name: str) -> tuple[str, int, str]:
    """``(piece, bars, performer)`` from a segment name; the score rendition "Score2" is performer "Score"."""
    match = _SEGMENT.match(name)
    if match is None:
        raise LabelFileError(f"segment name {name!r} is not <piece>_<bars>bars_<performer>_<index>")
    performer = "Score" if match["performer"] == "Score2" else match["performer"]
    return match["piece"], int(match["bars"]), performer


def _segment_name(filename: str) -> str:
    """The authors' file-name fixes (labels/map_midi_to_label.py): extension off, ``_score`` → ``_Score``."""
    name = filename.rsplit(".", 1)[0] if "." in filename else filename
    name = name.replace("_score", "_Score")
    index = int(name.rsplit("_", 1)[-1]) if name.rsplit("_", 1)[-1].isdigit() else -1
    if ("Beethoven_WoO80" in name and "Score" in name and 5 <= index <= 16) or (
        "Schubert_" in name and "_no.3_4bars" in name and "_Score_" in name and index == 1
    ):
        name = name.replace("_Score_", "_Score2_")
    return name


def _to_model_order(values_in_question_order: np.ndarray) -> np.ndarray:
    position = {name: i for i, name in enumerate(PERCEPIANO_QUESTION_ORDER)}
    return np.array([values_in_question_order[position[name]] for name in PERCEPIANO_DIMENSIONS])


@dataclass(frozen=True)
class CleaningReport:
    rows: int
    dropped_above_ceiling: int
    dont_know: int


def read_raw_ratings(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, int], CleaningReport]:
    """Per-segment cleaned means (question order, 1–7 scale, NaN = nobody rated) and rater counts."""
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or len(header) < 3 + _QUESTION_COLUMNS or header[2] != "filename":
            raise LabelFileError(
                f"{path}: expected columns user, dataID, filename and {_QUESTION_COLUMNS} question columns, got {header}"
            )
        questions = header[3 : 3 + _QUESTION_COLUMNS]
        sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(_QUESTION_COLUMNS))
        counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(_QUESTION_COLUMNS))
        raters: dict[str, int] = defaultdict(int)
        rows = dropped = dont_know = 0
        for line, row in enumerate(reader, start=2):
            rows += 1
            if len(row) < 3 + _QUESTION_COLUMNS:
                raise LabelFileError(f"{path} row {line}: {len(row)} fields, need {3 + _QUESTION_COLUMNS}")
            values = np.empty(_QUESTION_COLUMNS)
            for k, text in enumerate(row[3 : 3 + _QUESTION_COLUMNS]):
                try:
                    values[k] = float(text) if text.strip() else 0.0
                except ValueError:
                    raise LabelFileError(
                        f"{path} row {line}, {questions[k]}: {text!r} is not a number"
                    ) from None
            if np.any(values > PERCEPIANO_RATING_CEILING):
                dropped += 1  # published rule: the whole row is a data-entry error
                continue
            bad = [
                (questions[k], v)
                for k, v in enumerate(values)
                if v != 0 and not 1 <= v <= PERCEPIANO_RATING_MAX + 0.1
            ]
            if bad or not np.all(np.isfinite(values)):
                raise LabelFileError(f"{path} row {line}: ratings outside 1–7 (0 = don't know): {bad}")
            known = values > 0
            dont_know += int((~known).sum())
            segment = _segment_name(row[2])
            sums[segment][known] += values[known]
            counts[segment] += known
            raters[segment] += 1
    means = {s: np.where(counts[s] > 0, sums[s] / np.maximum(counts[s], 1), np.nan) for s in sums}
    return means, dict(raters), CleaningReport(rows, dropped, dont_know)


def read_mean_labels(path: str | Path) -> dict[str, np.ndarray]:
    """The authors' cleaned means (already / 7), question order; values must be in [1/7, 1]."""
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LabelFileError(f"{path}: not JSON ({exc})") from exc
    out = {}
    for segment, values in table.items():
        if not isinstance(values, list) or len(values) < _QUESTION_COLUMNS:
            raise LabelFileError(f"{path}, {segment}: need {_QUESTION_COLUMNS} label values, got {values!r}")
        vector = np.array(values[:_QUESTION_COLUMNS], dtype=float)
        outside = [
            (PERCEPIANO_QUESTION_ORDER[k], float(v))
            for k, v in enumerate(vector)
            if not (
                math.isfinite(v) and 1 / PERCEPIANO_RATING_MAX - 1e-6 <= v <= PERCEPIANO_RATING_CEILING / 7
            )
        ]
        if outside:
            raise LabelFileError(f"{path}, {segment}: labels outside [1/7, 1] (ratings 1–7 / 7): {outside}")
        out[segment] = vector
    return out


def load_percepiano(
    root: str | Path, *, labels: str = "raw", require_midi: bool = True
) -> list[PercePianoSegment]:
    """Segments with labels in [0, 1] (models' dimension order). ``labels="raw"`` recomputes the means from
    every annotator row with the published cleaning; ``"mean"`` reads the authors' JSON."""
    root = Path(root)
    if labels == "raw":
        if not (root / RAW_LABELS).is_file():
            raise DatasetLayoutError(
                f"{root}: {RAW_LABELS} not found (is this the PercePiano repository root?)"
            )
        means, raters, _ = read_raw_ratings(root / RAW_LABELS)
        scaled = {s: v / PERCEPIANO_RATING_MAX for s, v in means.items()}
    elif labels == "mean":
        if not (root / MEAN_LABELS).is_file():
            raise DatasetLayoutError(
                f"{root}: {MEAN_LABELS} not found (is this the PercePiano repository root?)"
            )
        scaled, raters = read_mean_labels(root / MEAN_LABELS), {}
    else:
        raise ValueError(f"labels must be 'raw' or 'mean', got {labels!r}")
    segments = []
    for name in sorted(scaled):
        piece, bars, performer = parse_segment_name(name)
        midi = root / MIDI_DIR / f"{name}.mid"
        if not midi.is_file():
            if require_midi:
                raise DatasetLayoutError(f"{root}: the MIDI of segment {name} is missing ({midi})")
            midi = None
        values = np.clip(_to_model_order(scaled[name]), 0.0, 1.0)
        segments.append(PercePianoSegment(name, piece, performer, bars, midi, values, raters.get(name, 0)))
    return segments
