"""Score a set of predictions against ratings: every metric per dimension and its mean, as PercePiano reports.

Pairwise accuracy is computed over within-piece pairs only (comparing two performances of different pieces
says nothing about playing); pairs whose ratings differ by less than the ambiguity threshold are skipped.
Missing ratings (NaN) are left out of that dimension's metrics, never read as a value.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from shared_audio_core import metrics
from shared_audio_core.metrics import MetricsSuite, UndefinedMetricError


@dataclass(frozen=True)
class EvaluationResult:
    """One model (or baseline) on one evaluation set. ``r2`` is the mean of per-dimension R²."""

    name: str
    dimensions: tuple[str, ...]
    n_performances: int
    n_pairs: int
    pairwise: float
    pairwise_per_dimension: dict[str, float | None]
    r2: float
    r2_per_dimension: dict[str, float]
    r2_pooled: float
    pearson: float
    spearman: float
    kendall: float
    mae: float
    rmse: float
    range_accuracy: float
    ece: float | None = None
    reliability: dict[str, list[float]] | None = None
    robustness_pearson: float | None = None
    robustness_drop_pct: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, float | None]:
        """The scalars of a comparison-table row."""
        return {
            "pairwise": self.pairwise,
            "r2": self.r2,
            "r2_pooled": self.r2_pooled,
            "pearson": self.pearson,
            "spearman": self.spearman,
            "kendall": self.kendall,
            "mae": self.mae,
            "rmse": self.rmse,
            "range_acc": self.range_accuracy,
            "ece": self.ece,
            "robust_drop_pct": self.robustness_drop_pct,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        data = dict(data)
        data["dimensions"] = tuple(data["dimensions"])
        return cls(**data)


def _per_dimension(fn, predictions: np.ndarray, targets: np.ndarray, **kwargs) -> list[float]:
    values = []
    for d in range(targets.shape[1]):
        observed = ~np.isnan(targets[:, d])
        if observed.sum() < 2:
            raise UndefinedMetricError(f"dimension {d}: fewer than two rated performances")
        values.append(float(fn(predictions[observed, d], targets[observed, d], **kwargs)))
    return values


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def evaluate_scores(
    name: str,
    predictions: np.ndarray,
    targets: np.ndarray,
    piece_ids: Sequence[Hashable],
    dimensions: Sequence[str],
    *,
    pair_logits: np.ndarray | None = None,
    augmented_predictions: np.ndarray | None = None,
    suite: MetricsSuite | None = None,
) -> EvaluationResult:
    """Metrics of ``predictions [N, K]`` (scores in [0, 1]) against ``targets [N, K]`` (NaN = not rated).

    ``pair_logits [P, K]`` are a comparator's logits for the within-piece pairs in
    :func:`shared_audio_core.metrics.pairs_within_pieces` order; without them a pair's logit is the score
    difference (and ECE, which needs probabilities, is not reported). ``augmented_predictions`` are the
    same performances after audio augmentation, for the robustness drop of the mean per-dimension R².
    """
    suite = suite or MetricsSuite()
    predictions = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    dims = tuple(dimensions)
    if predictions.shape != targets.shape or predictions.ndim != 2 or predictions.shape[1] != len(dims):
        raise ValueError(
            f"need predictions and targets [N, {len(dims)}], got {predictions.shape}, {targets.shape}"
        )
    if len(piece_ids) != len(predictions):
        raise ValueError(f"{len(piece_ids)} piece ids for {len(predictions)} predictions")
    if not np.all(np.isfinite(predictions)):
        raise ValueError(f"{name}: predictions contain NaN or inf")
    pairs = metrics.pairs_within_pieces(list(piece_ids))
    if len(pairs) == 0:
        raise UndefinedMetricError(
            "no piece has two performances: pairwise accuracy needs within-piece pairs"
        )
    a, b = pairs.index_a, pairs.index_b
    labels_a, labels_b = targets[a], targets[b]
    unrated = np.isnan(labels_a) | np.isnan(labels_b)
    labels_a, labels_b = np.where(unrated, 0.0, labels_a), np.where(unrated, 0.0, labels_b)  # ties: skipped
    logits = pair_logits if pair_logits is not None else predictions[a] - predictions[b]
    if logits.shape != labels_a.shape:
        raise ValueError(
            f"pair_logits must be [{len(a)}, {len(dims)}] (within-piece pairs), got {logits.shape}"
        )
    pairwise = suite.pairwise_accuracy(logits, labels_a, labels_b)
    ece = reliability = None
    if pair_logits is not None:
        calibration = metrics.ranking_calibration(
            pair_logits, labels_a, labels_b, threshold=suite.ambiguous_threshold
        )
        ece = calibration.ece
        reliability = {k: v for k, v in calibration.to_dict().items() if k != "ece"}
    policy = {"on_constant": suite.on_constant}
    r2_dims = _per_dimension(metrics.r2, predictions, targets, **policy)
    observed = ~np.isnan(targets)
    flat_p, flat_t = predictions[observed], targets[observed]
    robustness_pearson = robustness_drop = None
    if augmented_predictions is not None:
        augmented = np.asarray(augmented_predictions, dtype=np.float64)
        if augmented.shape != predictions.shape:
            raise ValueError(f"augmented_predictions must be {predictions.shape}, got {augmented.shape}")
        robustness_pearson = _mean(_per_dimension(metrics.pearson, augmented, predictions, **policy))
        augmented_r2 = _mean(_per_dimension(metrics.r2, augmented, targets, **policy))
        if _mean(r2_dims) > 0:
            robustness_drop = metrics.score_drop_pct(_mean(r2_dims), augmented_r2)
    return EvaluationResult(
        name=name,
        dimensions=dims,
        n_performances=len(predictions),
        n_pairs=len(a),
        pairwise=pairwise.overall,
        pairwise_per_dimension=dict(zip(dims, pairwise.per_dimension, strict=True)),
        r2=_mean(r2_dims),
        r2_per_dimension=dict(zip(dims, r2_dims, strict=True)),
        r2_pooled=float(metrics.r2_pooled(flat_p, flat_t, **policy)),
        pearson=_mean(_per_dimension(metrics.pearson, predictions, targets, **policy)),
        spearman=_mean(_per_dimension(metrics.spearman, predictions, targets, **policy)),
        kendall=_mean(_per_dimension(metrics.kendall, predictions, targets, **policy)),
        mae=float(metrics.mae(flat_p, flat_t)),
        rmse=float(metrics.rmse(flat_p, flat_t)),
        range_accuracy=float(metrics.range_accuracy(flat_p, flat_t, suite.range_alpha)),
        ece=ece,
        reliability=reliability,
        robustness_pearson=robustness_pearson,
        robustness_drop_pct=robustness_drop,
    )
