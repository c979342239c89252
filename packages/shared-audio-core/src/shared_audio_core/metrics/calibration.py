"""Expected calibration error and reliability-diagram data.

Bins are equal-width over [0, 1] with edges ``e_i = i / n_bins``: bin ``i`` holds confidences in
``[e_i, e_{i+1})`` (left-closed) and the last bin is closed, ``[e_{n-1}, 1]``. A confidence equal to
an edge — compared in the confidences' own precision, so float32 ``0.7`` is on the edge 7/10 —
belongs to the bin that edge opens. Edges are ``i / n_bins`` rounded once, not a float ``linspace``
(whose ``3 · 0.1 = 0.30000000000000004`` would put a confidence of 0.3 into the bin below).
(torchmetrics' ``binary_calibration_error`` puts a confidence of exactly 1.0 into an extra bin of
its own and bins with ``linspace``; otherwise the two agree.)
``ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b|``. Empty bins report confidence and accuracy 0
with count 0 — read ``bin_counts`` before plotting them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._convert import ArrayLike, as_2d, as_float, as_labels, check_same_shape, input_dtype
from .errors import MetricInputError, UndefinedMetricError
from .ranking import decisive

__all__ = [
    "CalibrationResult",
    "classification_calibration",
    "expected_calibration_error",
    "ranking_calibration",
]


@dataclass(frozen=True)
class CalibrationResult:
    """ECE plus everything a reliability diagram needs (arrays have ``n_bins`` entries, edges ``n_bins + 1``)."""

    ece: float
    bin_edges: np.ndarray
    bin_confidence: np.ndarray
    bin_accuracy: np.ndarray
    bin_counts: np.ndarray

    @property
    def n_bins(self) -> int:
        return len(self.bin_counts)

    def to_dict(self) -> dict[str, object]:
        return {
            "ece": self.ece,
            "bin_edges": self.bin_edges.tolist(),
            "bin_confidence": self.bin_confidence.tolist(),
            "bin_accuracy": self.bin_accuracy.tolist(),
            "bin_counts": self.bin_counts.tolist(),
        }


def expected_calibration_error(
    confidences: ArrayLike, correct: ArrayLike, *, n_bins: int = 10
) -> CalibrationResult:
    """ECE of confidences in [0, 1] against 0/1 (or boolean) correctness, same shape, any of ``[N]``/``[N, D]``."""
    return _ece(confidences, correct, n_bins, input_dtype(confidences))


def _ece(confidences: ArrayLike, correct: ArrayLike, n_bins: int, dtype: torch.dtype) -> CalibrationResult:
    if n_bins < 1:
        raise MetricInputError(f"n_bins must be >= 1, got {n_bins}")
    conf = as_float(confidences, "confidences").reshape(-1)
    hit = as_float(correct, "correct").reshape(-1)
    check_same_shape(conf, hit, "confidences/correct")
    if (conf < 0).any() or (conf > 1).any():
        raise MetricInputError("confidences must lie in [0, 1]")
    if not torch.isin(hit, torch.tensor([0.0, 1.0], dtype=hit.dtype)).all():
        raise MetricInputError("correct must be 0/1 or boolean")
    edges = torch.arange(n_bins + 1, dtype=torch.float64) / n_bins  # each edge rounded once
    inner = edges[1:-1].to(dtype).to(torch.float64)  # as the confidences' dtype rounds them
    index = torch.bucketize(conf, inner, right=True)  # number of inner edges <= conf
    counts = torch.zeros(n_bins, dtype=torch.float64).scatter_add_(0, index, torch.ones_like(conf))
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).scatter_add_(0, index, conf)
    hit_sum = torch.zeros(n_bins, dtype=torch.float64).scatter_add_(0, index, hit)
    safe = counts.clamp(min=1)
    bin_conf = torch.where(counts > 0, conf_sum / safe, torch.zeros_like(counts))
    bin_acc = torch.where(counts > 0, hit_sum / safe, torch.zeros_like(counts))
    ece = float(((counts / counts.sum()) * (bin_acc - bin_conf).abs()).sum())
    return CalibrationResult(
        ece=ece,
        bin_edges=edges.numpy(),
        bin_confidence=bin_conf.numpy(),
        bin_accuracy=bin_acc.numpy(),
        bin_counts=counts.to(torch.int64).numpy(),
    )


def classification_calibration(
    probabilities: ArrayLike, target: ArrayLike, *, n_bins: int = 10
) -> CalibrationResult:
    """Top-1 calibration of class probabilities ``[N, C]`` (or binary ``P(class 1)`` as ``[N]``)."""
    probs = as_float(probabilities, "probabilities")
    y = as_labels(target, "target")
    if probs.shape[0] != y.shape[0]:
        raise MetricInputError(
            f"probabilities and target have different lengths: {probs.shape[0]} vs {y.shape[0]}"
        )
    if probs.ndim == 1:
        probs = torch.stack([1 - probs, probs], dim=1)
    if (probs < 0).any() or (probs > 1).any():
        raise MetricInputError("probabilities must lie in [0, 1]")
    if int(y.max()) >= probs.shape[1]:
        raise MetricInputError(f"target labels must be < {probs.shape[1]} (number of classes)")
    confidence, predicted = probs.max(dim=1)
    return _ece(confidence, predicted == y, n_bins, input_dtype(probabilities))


def ranking_calibration(
    logits: ArrayLike, labels_a: ArrayLike, labels_b: ArrayLike, *, threshold: float = 0.05, n_bins: int = 10
) -> CalibrationResult:
    """Calibration of ranking logits: ``P(A > B) = sigmoid(logit)``; confidence ``max(p, 1 - p)``.

    Ambiguous entries (``|Δlabel| < threshold`` or Δ = 0, up to float rounding) are left out, with
    the same rule as :func:`pairwise_accuracy`.
    """
    z = as_2d(as_float(logits, "logits"))
    a = as_2d(as_float(labels_a, "labels_a"))
    b = as_2d(as_float(labels_b, "labels_b"))
    check_same_shape(z, a, "logits/labels_a")
    check_same_shape(a, b, "labels_a/labels_b")
    delta = a - b
    keep = decisive(a, b, threshold, input_dtype(labels_a, labels_b))
    if not keep.any():
        raise UndefinedMetricError(
            f"ranking calibration is undefined: all entries have |Δlabel| < {threshold}"
        )
    p = torch.sigmoid(z[keep])
    confidence = torch.maximum(p, 1 - p)
    correct = torch.sign(z[keep]) == torch.sign(delta[keep])
    return expected_calibration_error(confidence, correct, n_bins=n_bins)
