"""Evaluation on a split of a SOUSA dataset, from the audio: onset detection and the whole pipeline.

Everything here listens to the rendered clips; labels are read only to score the answers.

- :func:`evaluate_onsets` scores blind detections (:func:`~sousa_rudiments.recognition.onsets.detect_onsets`)
  against every stroke of the strokes table, grace notes included, with ``mir_eval.onset.f_measure``.
- :func:`evaluate_pipeline` runs ``pipeline.predict_file`` on every clip of a split and reports top-k
  accuracy, macro-F1, the confusion matrix, per-group accuracies, per-stroke accuracy of the feature
  model and the onset F-measure of the pipeline's own detections.

Two averages appear for onsets, and every table says which: **mean** is the mean of the per-clip
scores (each clip weighs the same), **pooled** sums true positives, references and detections over
the clips first (each stroke weighs the same). The metric helpers (:func:`top_k_accuracy`,
:func:`macro_f1`, :func:`confusion_matrix`, :func:`most_confused_pairs`) are plain numpy so the
package needs no scikit-learn; the tests check them against it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mir_eval
import numpy as np
import pandas as pd
from shared_audio_core.audio import AudioError, load_audio
from tqdm.auto import tqdm

from sousa_rudiments.profiles import SKILL_TIERS
from sousa_rudiments.recognition.cache import RUDIMENT_SLUGS
from sousa_rudiments.recognition.features import STROKE_FEATURES, stroke_targets
from sousa_rudiments.recognition.onsets import DEFAULT_ONSETS, OnsetConfig, detect_onsets

__all__ = [
    "ONSET_WINDOWS_MS",
    "STROKE_ACCURACY_FEATURES",
    "ClipOutcome",
    "EvaluationError",
    "EvaluationReport",
    "OnsetReport",
    "confusion_matrix",
    "evaluate_onsets",
    "evaluate_pipeline",
    "limit_clips",
    "load_split",
    "macro_f1",
    "most_confused_pairs",
    "top_k_accuracy",
]

ONSET_WINDOWS_MS: tuple[int, ...] = (25, 50)
"""Onset tolerance windows (± ms) of :func:`evaluate_pipeline`."""

STROKE_ACCURACY_FEATURES: dict[str, int] = {
    "hand": STROKE_FEATURES.index("is_right_hand"),
    "accent": STROKE_FEATURES.index("is_accent"),
    "grace": STROKE_FEATURES.index("is_grace"),
    "diddle": STROKE_FEATURES.index("is_diddle"),
}
"""The binary stroke features whose per-stroke accuracy is reported, by name → index in ``STROKE_FEATURES``."""

TOP_K: tuple[int, ...] = (1, 3, 5)

_CLASS_INDEX = {slug: i for i, slug in enumerate(RUDIMENT_SLUGS)}


class EvaluationError(ValueError):
    """The dataset or split cannot be evaluated; the message says why."""


# ----------------------------------------------------------------------------------------- metric helpers
def top_k_accuracy(y_true: Sequence[int], rankings: Sequence[Sequence[int]], k: int) -> float:
    """Fraction of samples whose true class is among the first ``k`` entries of its ranking.

    ``rankings[i]`` lists class indices best first; it may be shorter than ``k`` (or empty, which
    is always wrong). Equals ``sklearn.metrics.top_k_accuracy_score`` on the scores the rankings
    were sorted from.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(y_true) != len(rankings):
        raise ValueError(f"{len(y_true)} labels but {len(rankings)} rankings")
    if not len(y_true):
        return 0.0
    hits = sum(int(t) in [int(c) for c in list(r)[:k]] for t, r in zip(y_true, rankings, strict=True))
    return hits / len(y_true)


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], labels: Iterable[int] | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (``sklearn.metrics.f1_score(average="macro")``).

    ``labels`` are the classes averaged over; by default every class in ``y_true`` or ``y_pred``
    (scikit-learn's default). A prediction outside ``labels`` (e.g. ``-1`` for "no answer") is a
    false negative of its true class and a false positive of no class. A class with no true and no
    predicted sample scores 0 (scikit-learn's ``zero_division=0``).
    """
    true = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(y_pred, dtype=np.int64)
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} values but y_pred {pred.size}")
    classes = np.union1d(true, pred) if labels is None else np.asarray(sorted(set(labels)), dtype=np.int64)
    if not classes.size:
        return 0.0
    scores = []
    for c in classes:
        tp = int(np.count_nonzero((true == c) & (pred == c)))
        fp = int(np.count_nonzero((true != c) & (pred == c)))
        fn = int(np.count_nonzero((true == c) & (pred != c)))
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def confusion_matrix(
    y_true: Sequence[int], y_pred: Sequence[int], num_classes: int = len(RUDIMENT_SLUGS)
) -> np.ndarray:
    """``[num_classes, num_classes]`` int64 counts: row = true class, column = predicted class.

    Pairs whose prediction is negative (no answer) are left out.
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if int(p) >= 0:
            matrix[int(t), int(p)] += 1
    return matrix


def most_confused_pairs(matrix: np.ndarray, labels: Sequence[str], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` largest off-diagonal cells, largest first (ties in label order), zero cells left out.

    Each entry: ``true``, ``predicted``, ``count`` and ``rate`` (count over the true class's row total).
    """
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1)
    cells = [
        (int(matrix[i, j]), i, j)
        for i in range(matrix.shape[0])
        for j in range(matrix.shape[1])
        if i != j and matrix[i, j] > 0
    ]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [
        {"true": labels[i], "predicted": labels[j], "count": count, "rate": count / int(rows[i])}
        for count, i, j in cells[:n]
    ]


# --------------------------------------------------------------------------------------------- dataset
def load_split(dataset_dir: str | Path, split: str) -> tuple[pd.DataFrame, dict[str, list[dict]]]:
    """The samples of ``split`` (sorted by ``sample_id``) and each sample's strokes-table rows.

    Raises:
        EvaluationError: not a finished dataset, unknown split, no audio, audio files missing, or
            a split without clips.
    """
    dataset_dir = Path(dataset_dir)
    samples_path = dataset_dir / "labels" / "samples.parquet"
    strokes_path = dataset_dir / "labels" / "strokes.parquet"
    splits_path = dataset_dir / "splits.json"
    for path in (samples_path, strokes_path, splits_path):
        if not path.is_file():
            raise EvaluationError(
                f"{dataset_dir} is not a finished SOUSA dataset (no {path.relative_to(dataset_dir)})"
            )
    splits = json.loads(splits_path.read_text()).get("splits", {})
    if split not in splits:
        raise EvaluationError(
            f"unknown split {split!r}: {dataset_dir} has the splits {', '.join(map(repr, splits)) or 'none'}"
        )
    samples = pd.read_parquet(samples_path)
    if "audio_path" not in samples.columns or samples["audio_path"].isna().all():
        raise EvaluationError(
            f"{dataset_dir} has no audio: evaluation listens to the clips, generate the dataset with --with-audio"
        )
    profiles = list(splits[split].get("profiles", []))
    chosen = samples[samples["profile_id"].isin(profiles)].sort_values("sample_id").reset_index(drop=True)
    if chosen.empty:
        raise EvaluationError(
            f"split {split!r} of {dataset_dir} has no clips (its profiles: {', '.join(profiles) or 'none'})"
        )
    no_audio = chosen["audio_path"].isna()
    if no_audio.any():
        raise EvaluationError(f"{int(no_audio.sum())} clip(s) of split {split!r} have no audio_path")
    missing = [p for p in chosen["audio_path"] if not (dataset_dir / p).is_file()]
    if missing:
        raise EvaluationError(
            f"{len(missing)} audio file(s) of split {split!r} are missing from {dataset_dir}, e.g. {missing[0]}"
        )
    unknown = sorted(set(chosen["rudiment_slug"]) - set(RUDIMENT_SLUGS))
    if unknown:
        raise EvaluationError(f"split {split!r} has clips of unknown rudiments: {', '.join(unknown)}")
    strokes = pd.read_parquet(strokes_path)
    strokes = strokes[strokes["sample_id"].isin(set(chosen["sample_id"]))]
    by_sample = {
        sid: group.sort_values("actual_time_ms").to_dict("records")
        for sid, group in strokes.groupby("sample_id")
    }
    return chosen, {sid: by_sample.get(sid, []) for sid in chosen["sample_id"]}


def limit_clips(samples: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """At most ``limit`` clips, spread over the rudiments (one of each in PAS order, then a second, ...).

    Within a rudiment the clips are drawn in a fixed pseudo-random order, not by ``sample_id``
    (ids sort by player, so the first clips would all be one player's): the same ``limit`` gives the
    same clips every time, a fair subset for comparing models.
    """
    if limit is None or limit >= len(samples):
        return samples
    if limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    shuffled = samples.sample(frac=1.0, random_state=0)
    ordered = shuffled.assign(
        _round=shuffled.groupby("rudiment_slug").cumcount(),
        _class=shuffled["rudiment_slug"].map(_CLASS_INDEX),
    ).sort_values(["_round", "_class"], kind="stable")
    return (
        ordered.head(limit).drop(columns=["_round", "_class"]).sort_values("sample_id").reset_index(drop=True)
    )


def _group_order(key: str, values: Iterable[str]) -> list[str]:
    values = set(values)
    if key == "skill_tier":
        known = [t for t in SKILL_TIERS if t in values]
        return known + sorted(values - set(known))
    if key == "rudiment":
        return sorted(values, key=lambda s: _CLASS_INDEX.get(s, len(_CLASS_INDEX)))
    return sorted(values)


def _grouped(
    rows: Sequence[Any], key: str, get: Callable[[Any], str], summarize: Callable[[list], dict]
) -> dict:
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(str(get(row)), []).append(row)
    return {name: summarize(groups[name]) for name in _group_order(key, groups)}


# ---------------------------------------------------------------------------------------------- onsets
def _onset_scores(
    reference_s: np.ndarray, detected_s: np.ndarray, windows_ms: Sequence[float]
) -> dict[str, Any]:
    """Per-clip onset counts and mir_eval scores at each window (``"25ms"`` keys)."""
    reference = np.sort(np.asarray(reference_s, dtype=np.float64))
    detected = np.sort(np.asarray(detected_s, dtype=np.float64))
    scores: dict[str, Any] = {"reference": int(reference.size), "detected": int(detected.size), "windows": {}}
    for window in windows_ms:
        if reference.size and detected.size:
            f, p, r = mir_eval.onset.f_measure(reference, detected, window=window / 1000.0)
            tp = round(p * detected.size)
        else:
            f = p = r = 0.0
            tp = 0
        scores["windows"][_window_key(window)] = {
            "f_measure": float(f),
            "precision": float(p),
            "recall": float(r),
            "true_positives": int(tp),
        }
    return scores


def _window_key(window_ms: float) -> str:
    return f"{window_ms:g}ms"


def _onset_summary(scores: Sequence[dict[str, Any]], windows_ms: Sequence[float]) -> dict[str, Any]:
    """Mean (over clips) and pooled (over strokes) F/P/R at each window of per-clip ``_onset_scores``."""
    reference = sum(s["reference"] for s in scores)
    detected = sum(s["detected"] for s in scores)
    summary: dict[str, Any] = {"clips": len(scores), "reference": reference, "detected": detected}
    for window in windows_ms:
        key = _window_key(window)
        per_clip = [s["windows"][key] for s in scores]
        tp = sum(w["true_positives"] for w in per_clip)
        summary[key] = {
            "mean": {
                m: float(np.mean([w[m] for w in per_clip])) for m in ("f_measure", "precision", "recall")
            },
            "pooled": {
                "f_measure": 2 * tp / (reference + detected) if reference + detected else 0.0,
                "precision": tp / detected if detected else 0.0,
                "recall": tp / reference if reference else 0.0,
                "true_positives": tp,
            },
        }
    return summary


@dataclass
class OnsetReport:
    """Onset detection scores of one split; see :func:`evaluate_onsets`.

    ``clips`` holds one row per clip (``sample_id``, group columns, ``reference``, ``detected`` and
    per-window scores); the summaries are computed from it.
    """

    dataset_dir: str
    split: str
    windows_ms: tuple[float, ...]
    config: OnsetConfig
    clips: list[dict[str, Any]]
    overall: dict[str, Any] = field(init=False)
    by_skill_tier: dict[str, Any] = field(init=False)
    by_augmentation: dict[str, Any] = field(init=False)
    by_rudiment: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        summarize = lambda rows: _onset_summary([r["scores"] for r in rows], self.windows_ms)  # noqa: E731
        self.overall = summarize(self.clips)
        self.by_skill_tier = _grouped(self.clips, "skill_tier", lambda r: r["skill_tier"], summarize)
        self.by_augmentation = _grouped(self.clips, "augmentation", lambda r: r["augmentation"], summarize)
        self.by_rudiment = _grouped(self.clips, "rudiment", lambda r: r["rudiment"], summarize)

    def f_measure(self, window_ms: float = 50, *, pooled: bool = False) -> float:
        """Overall F-measure at ``window_ms`` (mean over clips, or pooled over strokes)."""
        return float(self.overall[_window_key(window_ms)]["pooled" if pooled else "mean"]["f_measure"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (and every clip's scores)."""
        return _json_clean(
            {
                "split": self.split,
                "dataset_dir": self.dataset_dir,
                "windows_ms": list(self.windows_ms),
                "onset_config": dataclasses.asdict(self.config),
                "averaging": {
                    "mean": "mean of the per-clip scores (each clip weighs the same)",
                    "pooled": "true positives, references and detections summed over clips (each stroke weighs the same)",
                },
                "reference": "every stroke of labels/strokes.parquet (actual_time_ms), grace notes included",
                "overall": self.overall,
                "by_skill_tier": self.by_skill_tier,
                "by_augmentation": self.by_augmentation,
                "by_rudiment": self.by_rudiment,
                "clips": self.clips,
            }
        )

    def _table(self, title: str, groups: dict[str, Any]) -> list[str]:
        headers = [title, "clips", "strokes", "detections"]
        for window in self.windows_ms:
            headers += [f"F ±{window:g} ms", f"P ±{window:g} ms", f"R ±{window:g} ms"]
        rows = []
        for name, summary in groups.items():
            row = [name, str(summary["clips"]), str(summary["reference"]), str(summary["detected"])]
            for window in self.windows_ms:
                scores = summary[_window_key(window)]
                row += [
                    f"{scores['mean'][m]:.3f} / {scores['pooled'][m]:.3f}"
                    for m in ("f_measure", "precision", "recall")
                ]
            rows.append(row)
        return _markdown_table(headers, rows)

    def to_markdown(self) -> str:
        """Tables of F-measure, precision and recall (each cell: mean over clips / pooled over strokes)."""
        lines = [
            f"## Onset detection — split `{self.split}` ({self.overall['clips']} clips)",
            "",
            "Blind detections scored against every labelled stroke, grace notes included (mir_eval). "
            "Each cell: **mean over clips / pooled over strokes**.",
            "",
            *self._table("", {"all": self.overall}),
            "",
            "### By skill tier",
            "",
            *self._table("skill tier", self.by_skill_tier),
            "",
            "### By augmentation preset",
            "",
            *self._table("augmentation", self.by_augmentation),
            "",
            "### By rudiment",
            "",
            *self._table("rudiment", self.by_rudiment),
        ]
        return "\n".join(lines) + "\n"


def evaluate_onsets(
    dataset_dir: str | Path,
    split: str = "test",
    *,
    config: OnsetConfig = DEFAULT_ONSETS,
    windows_ms: Sequence[float] = (25, 50),
    progress: bool = True,
    limit: int | None = None,
) -> OnsetReport:
    """Score blind onset detection on every clip of ``split`` against all its labelled strokes.

    Each clip is loaded at ``config.sample_rate`` and analysed by ``detect_onsets``; the reference
    is every row of the strokes table (``actual_time_ms``, grace notes included). ``limit`` keeps at
    most that many clips, spread over the rudiments.

    Raises:
        EvaluationError (a ``ValueError``): unknown split, no audio, or an empty split.
    """
    windows = tuple(float(w) for w in windows_ms)
    if not windows or any(w <= 0 for w in windows):
        raise ValueError(f"windows_ms must be positive, got {windows_ms}")
    dataset_dir = Path(dataset_dir)
    samples, strokes = load_split(dataset_dir, split)
    samples = limit_clips(samples, limit)
    clips = []
    for row in tqdm(
        samples.itertuples(index=False), total=len(samples), desc="onsets", unit="clip", disable=not progress
    ):
        audio = load_audio(dataset_dir / row.audio_path, config.sample_rate)
        detection = detect_onsets(audio, config)
        reference = np.array([float(s["actual_time_ms"]) / 1000.0 for s in strokes[row.sample_id]])
        clips.append(
            {
                "sample_id": row.sample_id,
                "rudiment": row.rudiment_slug,
                "skill_tier": row.skill_tier,
                "augmentation": row.augmentation_preset,
                "scores": _onset_scores(reference, detection.times, windows),
            }
        )
    return OnsetReport(str(dataset_dir), split, windows, config, clips)


# -------------------------------------------------------------------------------------------- pipeline
@dataclass
class ClipOutcome:
    """What the pipeline answered for one clip, and the clip's labels.

    ``ranking`` is the pipeline's top-k (slug, probability), best first, kept even when ``found`` is
    False; ``error`` is set (and ``ranking`` empty) when ``predict_file`` refused the clip.
    ``onsets`` are per-clip ``_onset_scores`` of the prediction's ``onset_times``; ``strokes`` counts
    per-stroke correctness on detections matched to strokes (``matched``, and per feature
    ``correct``/``positive``).
    """

    sample_id: str
    rudiment: str
    skill_tier: str
    augmentation: str
    soundfont: str
    kit: str
    ranking: list[tuple[str, float]]
    found: bool
    reason: str | None = None
    error: str | None = None
    onsets: dict[str, Any] | None = None
    strokes: dict[str, Any] | None = None

    @property
    def label(self) -> int:
        return _CLASS_INDEX[self.rudiment]

    @property
    def ranked_classes(self) -> list[int]:
        return [_CLASS_INDEX[slug] for slug, _ in self.ranking]

    @property
    def prediction(self) -> int:
        """The answer's class index, or -1 when there is none (not found, or an error)."""
        return self.ranked_classes[0] if self.found and self.ranking else -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "rudiment": self.rudiment,
            "skill_tier": self.skill_tier,
            "augmentation": self.augmentation,
            "soundfont": self.soundfont,
            "kit": self.kit,
            "found": self.found,
            "reason": self.reason,
            "error": self.error,
            "top": [[slug, float(p)] for slug, p in self.ranking],
        }


def _accuracy_summary(outcomes: Sequence[ClipOutcome]) -> dict[str, Any]:
    labels = [o.label for o in outcomes]
    summary: dict[str, Any] = {"clips": len(outcomes)}
    summary["top1"] = sum(o.prediction == o.label for o in outcomes) / len(outcomes) if outcomes else 0.0
    for k in TOP_K[1:]:
        summary[f"top{k}"] = top_k_accuracy(labels, [o.ranked_classes for o in outcomes], k)
    summary["not_found_rate"] = sum(o.prediction < 0 for o in outcomes) / len(outcomes) if outcomes else 0.0
    return summary


def _stroke_counts(prediction: Any, strokes: Sequence[dict], tempo_bpm: float) -> dict[str, Any]:
    times = np.asarray(prediction.onset_times, dtype=np.float64)
    features = np.asarray(prediction.stroke_features, dtype=np.float64).reshape(len(times), -1)
    counts: dict[str, Any] = {"detections": len(times), "reference": len(strokes), "matched": 0}
    p_stroke = np.array([s.p_stroke for s in prediction.strokes], dtype=np.float64)
    if not len(times) or not strokes:
        counts.update({name: {"correct": 0, "positive": 0} for name in STROKE_ACCURACY_FEATURES})
        counts["is_stroke"] = {"correct": int(np.count_nonzero(p_stroke < 0.5)), "positive": 0}
        return counts
    targets, matched = stroke_targets(times, strokes, tempo_bpm)
    counts["matched"] = int(matched.sum())
    # over every detection: does the feature model tell played strokes from spurious detections?
    counts["is_stroke"] = {
        "correct": int(np.count_nonzero((p_stroke >= 0.5) == matched)),
        "positive": int(np.count_nonzero(matched)),
    }
    for name, index in STROKE_ACCURACY_FEATURES.items():
        truth = targets[matched, index] >= 0.5
        guess = features[matched, index] >= 0.5
        counts[name] = {
            "correct": int(np.count_nonzero(truth == guess)),
            "positive": int(np.count_nonzero(truth)),
        }
    return counts


@dataclass
class EvaluationReport:
    """Scores of a pipeline on one split, computed from the per-clip :class:`ClipOutcome` list.

    Definitions (also in :meth:`to_dict` under ``definitions``):

    - **top-1**: the answer is right; a clip with ``found`` False (or a refused clip) is wrong.
    - **top-3/top-5**: the true rudiment is in the first 3/5 of the ranking, which a not-found clip
      still reports; ``top1_ranking`` is top-1 of the ranking ignoring ``found``.
    - **macro-F1**: of the answers (not found = no answer, a false negative of the true class), over
      the classes of the split's truth and answers.
    - **confusion**: 40×40 counts of truth × first-ranked class, not-found clips included, so it
      sums to the number of clips that got a ranking (all but ``errors``).
    """

    outcomes: list[ClipOutcome]
    split: str = "test"
    dataset_dir: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    onset_windows_ms: tuple[float, ...] = tuple(float(w) for w in ONSET_WINDOWS_MS)
    overall: dict[str, Any] = field(init=False)
    per_rudiment: dict[str, Any] = field(init=False)
    by_skill_tier: dict[str, Any] = field(init=False)
    by_augmentation: dict[str, Any] = field(init=False)
    by_soundfont: dict[str, Any] = field(init=False)
    by_kit: dict[str, Any] = field(init=False)
    confusion: np.ndarray = field(init=False)
    most_confused: list[dict[str, Any]] = field(init=False)
    stroke_accuracy: dict[str, Any] = field(init=False)
    onsets: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        outcomes = self.outcomes
        ranked = [o for o in outcomes if o.ranking]
        labels = [o.label for o in outcomes]
        answers = [o.prediction for o in outcomes]
        classes = (set(labels) | set(answers)) - {-1}
        overall = _accuracy_summary(outcomes)
        overall["top1_ranking"] = top_k_accuracy(labels, [o.ranked_classes for o in outcomes], 1)
        overall["macro_f1"] = macro_f1(labels, answers, labels=classes)
        overall["not_found"] = sum(a < 0 for a in answers)
        overall["errors"] = sum(o.error is not None for o in outcomes)
        self.per_rudiment = _grouped(outcomes, "rudiment", lambda o: o.rudiment, _accuracy_summary)
        self.by_skill_tier = _grouped(outcomes, "skill_tier", lambda o: o.skill_tier, _accuracy_summary)
        self.by_augmentation = _grouped(outcomes, "augmentation", lambda o: o.augmentation, _accuracy_summary)
        self.by_soundfont = _grouped(outcomes, "soundfont", lambda o: o.soundfont, _accuracy_summary)
        self.by_kit = _grouped(outcomes, "kit", lambda o: o.kit, _accuracy_summary)
        self.confusion = confusion_matrix([o.label for o in ranked], [o.ranked_classes[0] for o in ranked])
        self.most_confused = most_confused_pairs(self.confusion, RUDIMENT_SLUGS, 10)

        scored = [o.strokes for o in outcomes if o.strokes is not None]
        matched = sum(s["matched"] for s in scored)
        accuracy: dict[str, Any] = {
            "matched_detections": matched,
            "detections": sum(s["detections"] for s in scored),
            "reference_strokes": sum(s["reference"] for s in scored),
        }
        for name in STROKE_ACCURACY_FEATURES:
            correct = sum(s[name]["correct"] for s in scored)
            positive = sum(s[name]["positive"] for s in scored)
            accuracy[name] = {
                "accuracy": correct / matched if matched else math.nan,
                "positive_rate": positive / matched if matched else math.nan,
                "count": matched,
            }
        detections = accuracy["detections"]
        accuracy["is_stroke"] = {
            "accuracy": sum(s["is_stroke"]["correct"] for s in scored) / detections
            if detections
            else math.nan,
            "positive_rate": matched / detections if detections else math.nan,
            "count": detections,
        }
        self.stroke_accuracy = accuracy
        onset_scores = [o.onsets for o in outcomes if o.onsets is not None]
        self.onsets = _onset_summary(onset_scores, self.onset_windows_ms) if onset_scores else {}
        for window in self.onset_windows_ms:
            key = _window_key(window)
            overall[f"onset_f_{key}"] = self.onsets[key]["mean"]["f_measure"] if self.onsets else math.nan
        self.overall = overall

    # ------------------------------------------------------------------ accessors
    @property
    def n_clips(self) -> int:
        return len(self.outcomes)

    def top_k(self, k: int) -> float:
        """Top-``k`` accuracy (top-1 counts a not-found clip as wrong; see the class docstring)."""
        if k == 1:
            return float(self.overall["top1"])
        return top_k_accuracy([o.label for o in self.outcomes], [o.ranked_classes for o in self.outcomes], k)

    @property
    def macro_f1(self) -> float:
        return float(self.overall["macro_f1"])

    @property
    def not_found_rate(self) -> float:
        return float(self.overall["not_found_rate"])

    def headline(self) -> dict[str, float]:
        """The figures a results table shows: clips, top-1/3/5, macro-F1, not-found rate, onset F."""
        overall = self.to_dict()["overall"]
        keys = ("clips", "top1", "top3", "top5", "macro_f1", "not_found_rate", "onset_f_25ms", "onset_f_50ms")
        return {k: overall[k] for k in keys if k in overall}

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable report (NaN, for a metric with nothing to count, becomes ``null``)."""
        data = {
            "split": self.split,
            "dataset_dir": self.dataset_dir,
            "model": self.model,
            "definitions": {
                "top1": "the answer is the true rudiment; a not-found or refused clip is wrong",
                "top3/top5": "the true rudiment is among the first 3/5 of the ranking (not-found clips keep theirs)",
                "top1_ranking": "the first-ranked rudiment is right, ignoring whether the pipeline found one",
                "macro_f1": "unweighted mean F1 of the answers over the classes of the truth and answers "
                "(not found = no answer)",
                "not_found_rate": "fraction of clips without an answer (found False, or refused by predict_file)",
                "confusion": "rows = truth, columns = first-ranked rudiment (not-found clips included), "
                "classes in PAS order",
                "stroke_accuracy": "per detection matched to a labelled stroke (±25 ms), features thresholded at 0.5",
                "onsets": "the prediction's onset_times against every labelled stroke; mean over clips / pooled",
            },
            "overall": self.overall,
            "per_rudiment": self.per_rudiment,
            "by_skill_tier": self.by_skill_tier,
            "by_augmentation": self.by_augmentation,
            "by_soundfont": self.by_soundfont,
            "by_kit": self.by_kit,
            "stroke_accuracy": self.stroke_accuracy,
            "onsets": self.onsets,
            "most_confused": self.most_confused,
            "confusion": {"labels": list(RUDIMENT_SLUGS), "matrix": self.confusion.tolist()},
            "errors": [
                {"sample_id": o.sample_id, "error": o.error} for o in self.outcomes if o.error is not None
            ],
            "clips": [o.to_dict() for o in self.outcomes],
        }
        return _json_clean(data)

    def to_markdown(self, *, confusion_image: str | None = None) -> str:
        """The report as Markdown tables; ``confusion_image`` embeds that (relative) image path."""
        o = self.overall
        model = (
            f" — model `{self.model.get('source')}` ({self.model.get('mode')})"
            if self.model.get("source")
            else ""
        )
        lines = [
            f"## Rudiment recognition — split `{self.split}` ({self.n_clips} clips){model}",
            "",
            "From audio (`predict_file` on every clip). Top-1 counts a clip where no rudiment was found as "
            "wrong; top-3/top-5 read the ranking it still reports.",
            "",
            *_markdown_table(
                ["clips", "top-1", "top-3", "top-5", "top-1 of ranking", "macro-F1", "not found", "errors"]
                + [f"onset F ±{w:g} ms" for w in self.onset_windows_ms],
                [
                    [
                        str(o["clips"]),
                        _pct(o["top1"]),
                        _pct(o["top3"]),
                        _pct(o["top5"]),
                        _pct(o["top1_ranking"]),
                    ]
                    + [f"{o['macro_f1']:.3f}", _pct(o["not_found_rate"]), str(o["errors"])]
                    + [_num(o[f"onset_f_{_window_key(w)}"]) for w in self.onset_windows_ms]
                ],
            ),
            "",
        ]
        for title, groups in (
            ("By skill tier", self.by_skill_tier),
            ("By augmentation preset", self.by_augmentation),
            ("By SoundFont", self.by_soundfont),
            ("By kit", self.by_kit),
            ("Per rudiment", self.per_rudiment),
        ):
            lines += [f"### {title}", "", *self._accuracy_table(groups), ""]
        s = self.stroke_accuracy
        lines += [
            "### Per-stroke accuracy (feature model)",
            "",
            f"{s['matched_detections']} of {s['detections']} detections matched a labelled stroke (±25 ms; "
            f"{s['reference_strokes']} strokes). Positive rate: the share of matched strokes with the "
            "feature (right hand, accented, grace note, diddle); a constant guess scores the baseline "
            "max(rate, 1 − rate).",
            "",
            *_markdown_table(
                ["feature", "accuracy", "positive rate", "constant-guess baseline", "strokes"],
                [
                    [
                        name,
                        _num(s[name]["accuracy"]),
                        _num(s[name]["positive_rate"]),
                        _num(max(s[name]["positive_rate"], 1 - s[name]["positive_rate"])),
                        str(s[name]["count"]),
                    ]
                    for name in (*STROKE_ACCURACY_FEATURES, "is_stroke")
                ],
            ),
            "",
            "`is_stroke` is scored over every detection: is it a played stroke (matched) or a spurious "
            "detection (ring, reflection, noise)?",
            "",
        ]
        if self.onsets:
            lines += [
                "### Onsets of the pipeline",
                "",
                "Each cell: mean over clips / pooled over strokes.",
                "",
                *_markdown_table(
                    ["window", "F-measure", "precision", "recall"],
                    [
                        [f"±{w:g} ms"]
                        + [
                            f"{self.onsets[_window_key(w)]['mean'][m]:.3f} / {self.onsets[_window_key(w)]['pooled'][m]:.3f}"
                            for m in ("f_measure", "precision", "recall")
                        ]
                        for w in self.onset_windows_ms
                    ],
                ),
                "",
            ]
        lines += ["### Most confused pairs (truth → first-ranked)", ""]
        if self.most_confused:
            lines += _markdown_table(
                ["truth", "predicted", "clips", "share of truth's clips"],
                [[p["true"], p["predicted"], str(p["count"]), _pct(p["rate"])] for p in self.most_confused],
            )
        else:
            lines.append("None: every ranking put the true rudiment first.")
        lines.append("")
        if confusion_image:
            lines += ["### Confusion matrix", "", f"![confusion matrix]({confusion_image})", ""]
        errors = [x for x in self.outcomes if x.error is not None]
        if errors:
            lines += ["### Clips the pipeline refused", ""]
            lines += [f"- `{x.sample_id}`: {x.error}" for x in errors]
            lines.append("")
        return "\n".join(lines)

    @staticmethod
    def _accuracy_table(groups: dict[str, Any]) -> list[str]:
        return _markdown_table(
            ["group", "clips", "top-1", "top-3", "top-5", "not found"],
            [
                [
                    name,
                    str(g["clips"]),
                    _pct(g["top1"]),
                    _pct(g["top3"]),
                    _pct(g["top5"]),
                    _pct(g["not_found_rate"]),
                ]
                for name, g in groups.items()
            ],
        )

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and ``confusion.png`` into ``out_dir``; returns their paths by name."""
        from sousa_rudiments.recognition.plots import save_confusion_matrix

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / name for name in ("report.json", "report.md", "confusion.png")}
        paths["report.json"].write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        paths["report.md"].write_text(self.to_markdown(confusion_image="confusion.png"))
        save_confusion_matrix(self.confusion, RUDIMENT_SLUGS, paths["confusion.png"])
        return paths


def _outcome(
    pipeline: Any, dataset_dir: Path, row: Any, strokes: list[dict], refusals: tuple[type[Exception], ...]
) -> ClipOutcome:
    labels = {
        "sample_id": row.sample_id,
        "rudiment": row.rudiment_slug,
        "skill_tier": str(row.skill_tier),
        "augmentation": str(row.augmentation_preset),
        "soundfont": str(row.soundfont),
        "kit": str(row.kit),
    }
    try:
        prediction = pipeline.predict_file(dataset_dir / row.audio_path)
    except (
        refusals
    ) as err:  # the pipeline's typed "cannot analyse this audio" errors; anything else propagates
        return ClipOutcome(
            **labels, ranking=[], found=False, reason=None, error=f"{type(err).__name__}: {err}"
        )
    reference = np.array([float(s["actual_time_ms"]) / 1000.0 for s in strokes])
    return ClipOutcome(
        **labels,
        ranking=[(g.slug, float(g.probability)) for g in prediction.top],
        found=bool(prediction.found),
        reason=prediction.reason,
        onsets=_onset_scores(reference, prediction.onset_times, ONSET_WINDOWS_MS),
        strokes=_stroke_counts(prediction, strokes, float(row.tempo_bpm)),
    )


def evaluate_pipeline(
    pipeline: Any,
    dataset_dir: str | Path,
    split: str = "test",
    *,
    progress: bool = True,
    limit: int | None = None,
) -> EvaluationReport:
    """Run ``pipeline.predict_file`` on every clip of ``split`` and score the answers.

    ``pipeline`` is a :class:`~sousa_rudiments.recognition.pipeline.RudimentPipeline` (anything with a
    ``predict_file(path)`` returning a ``RudimentPrediction``-like object works). ``limit`` keeps at
    most that many clips, spread over the rudiments, for a quick look. A clip the pipeline refuses
    (an ``AudioError``/``RecognitionError``) counts as wrong and is listed under ``errors``.

    Raises:
        EvaluationError (a ``ValueError``): unknown split, no audio, or an empty split.
    """
    from sousa_rudiments.recognition.pipeline import RecognitionError  # imports torch: only when needed

    dataset_dir = Path(dataset_dir)
    samples, strokes = load_split(dataset_dir, split)
    samples = limit_clips(samples, limit)
    refusals = (AudioError, RecognitionError)
    outcomes = [
        _outcome(pipeline, dataset_dir, row, strokes[row.sample_id], refusals)
        for row in tqdm(
            samples.itertuples(index=False),
            total=len(samples),
            desc="evaluating",
            unit="clip",
            disable=not progress,
        )
    ]
    config = getattr(pipeline, "config", None)
    model = {"source": str(getattr(pipeline, "source", "")), "mode": getattr(config, "mode", None)}
    return EvaluationReport(outcomes, split=split, dataset_dir=str(dataset_dir), model=model)


# ------------------------------------------------------------------------------------------ formatting
def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _num(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _json_clean(value: Any) -> Any:
    """Numpy scalars → Python, NaN/inf → None, tuples → lists, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
