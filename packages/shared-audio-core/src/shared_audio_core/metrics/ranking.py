"""Pairwise ranking accuracy for "is performance A better than B on dimension d?" models.

A pair is *correct* when ``sign(logit) == sign(label_a - label_b)``. Pairs whose label difference is
smaller than ``threshold`` (``|Δ| < threshold``), or zero, are *ambiguous* and ignored — the
annotators could not tell them apart, so neither answer is wrong. ``|Δ| == threshold`` counts.
"Equal" allows for float rounding (``1e-9`` plus the labels' own precision, e.g. float32's): in
float64 ``0.55 - 0.50`` lies just above 0.05 and ``0.35 - 0.30`` just below, yet both count at
threshold 0.05, and a ``Δ`` that is only rounding noise (``0.3 - (0.1 + 0.2)``) is a tie. A logit of
exactly 0 is never correct (it does not commit to an order).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ._convert import ABS_TOLERANCE, ArrayLike, as_2d, as_float, check_same_shape, input_dtype
from .errors import MetricInputError, UndefinedMetricError

__all__ = [
    "PairwiseAccuracy",
    "PiecePairs",
    "pairs_within_pieces",
    "pairwise_accuracy",
    "pairwise_accuracy_within_pieces",
]


@dataclass(frozen=True)
class PairwiseAccuracy:
    """Pooled and per-dimension pairwise accuracy with the counts behind them.

    ``per_dimension[d]`` is ``None`` when every pair of dimension ``d`` was ambiguous
    (``n_evaluated[d] == 0``); ``overall`` pools all evaluated (pair, dimension) entries.
    """

    overall: float
    per_dimension: tuple[float | None, ...]
    n_correct: tuple[int, ...]
    n_evaluated: tuple[int, ...]
    n_ignored: tuple[int, ...]
    threshold: float

    def __float__(self) -> float:
        """``float(result)`` is the pooled accuracy, for code that only wants one number."""
        return self.overall

    @property
    def total_correct(self) -> int:
        return sum(self.n_correct)

    @property
    def total_evaluated(self) -> int:
        return sum(self.n_evaluated)

    @property
    def total_ignored(self) -> int:
        return sum(self.n_ignored)

    def to_dict(self, dimension_names: Sequence[str] | None = None) -> dict[str, object]:
        out: dict[str, object] = asdict(self)
        if dimension_names is not None:
            if len(dimension_names) != len(self.per_dimension):
                raise MetricInputError(
                    f"{len(dimension_names)} names for {len(self.per_dimension)} dimensions"
                )
            out["per_dimension"] = dict(zip(dimension_names, self.per_dimension, strict=True))
        return out


def decisive(
    labels_a: torch.Tensor, labels_b: torch.Tensor, threshold: float, dtype: torch.dtype
) -> torch.Tensor:
    """Mask of entries with ``|Δlabel| >= threshold`` and ``Δ != 0``, both up to rounding.

    The slack is ``1e-9`` plus the rounding error ``dtype`` (the labels' input precision) can put
    into ``a - b``, so the outcome at ``|Δ| == threshold`` does not depend on which decimals the
    labels happen to be.
    """
    delta = (labels_a - labels_b).abs()
    slack = ABS_TOLERANCE + torch.finfo(dtype).eps * (labels_a.abs() + labels_b.abs())
    return (delta >= threshold - slack) & (delta > slack)


def pairwise_accuracy(
    logits: ArrayLike, labels_a: ArrayLike, labels_b: ArrayLike, threshold: float = 0.05
) -> PairwiseAccuracy:
    """Accuracy of ranking logits ``[P]`` or ``[P, D]`` against label pairs of the same shape.

    Raises:
        UndefinedMetricError: every entry is ambiguous, so there is nothing to score.
        MetricInputError: shape mismatch, NaN/inf, negative threshold.
    """
    return _pairwise(logits, labels_a, labels_b, threshold, input_dtype(labels_a, labels_b))


def _pairwise(
    logits: ArrayLike, labels_a: ArrayLike, labels_b: ArrayLike, threshold: float, dtype: torch.dtype
) -> PairwiseAccuracy:
    if not threshold >= 0:
        raise MetricInputError(f"threshold must be >= 0, got {threshold}")
    z = as_float(logits, "logits")
    a = as_float(labels_a, "labels_a")
    b = as_float(labels_b, "labels_b")
    check_same_shape(z, a, "logits/labels_a")
    check_same_shape(a, b, "labels_a/labels_b")
    z, a, b = as_2d(z), as_2d(a), as_2d(b)
    delta = a - b
    evaluated = decisive(a, b, threshold, dtype)
    correct = (torch.sign(z) == torch.sign(delta)) & evaluated
    n_eval = evaluated.sum(dim=0).tolist()
    n_corr = correct.sum(dim=0).tolist()
    total = sum(n_eval)
    if total == 0:
        raise UndefinedMetricError(
            f"pairwise accuracy is undefined: all {delta.numel()} entries have |Δlabel| < {threshold}"
        )
    per_dim = tuple((c / e) if e else None for c, e in zip(n_corr, n_eval, strict=True))
    return PairwiseAccuracy(
        overall=sum(n_corr) / total,
        per_dimension=per_dim,
        n_correct=tuple(int(c) for c in n_corr),
        n_evaluated=tuple(int(e) for e in n_eval),
        n_ignored=tuple(int(delta.shape[0] - e) for e in n_eval),
        threshold=threshold,
    )


@dataclass(frozen=True)
class PiecePairs:
    """Indices ``(index_a[k], index_b[k])`` of every unordered pair of samples from the same piece."""

    index_a: np.ndarray
    index_b: np.ndarray

    def __len__(self) -> int:
        return len(self.index_a)


def pairs_within_pieces(piece_ids: Sequence[Hashable] | np.ndarray | torch.Tensor) -> PiecePairs:
    """All pairs ``i < j`` with ``piece_ids[i] == piece_ids[j]`` (ranking only compares performances of one piece)."""
    ids = piece_ids.tolist() if isinstance(piece_ids, np.ndarray | torch.Tensor) else list(piece_ids)
    groups: dict[Hashable, list[int]] = {}
    for i, pid in enumerate(ids):
        groups.setdefault(pid, []).append(i)
    first: list[int] = []
    second: list[int] = []
    for members in groups.values():
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                first.append(i)
                second.append(j)
    return PiecePairs(np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64))


def pairwise_accuracy_within_pieces(
    predictions: ArrayLike,
    labels: ArrayLike,
    piece_ids: Sequence[Hashable] | np.ndarray | torch.Tensor,
    *,
    threshold: float = 0.05,
) -> PairwiseAccuracy:
    """Pairwise accuracy of per-sample scores ``[N, D]``: logit of pair (i, j) is ``pred_i - pred_j``.

    Raises:
        UndefinedMetricError: no piece has two samples, or every pair is ambiguous.
    """
    p = as_float(predictions, "predictions")
    y = as_float(labels, "labels")
    check_same_shape(p, y, "predictions/labels")
    n_ids = len(piece_ids)
    if n_ids != p.shape[0]:
        raise MetricInputError(f"{n_ids} piece ids for {p.shape[0]} samples")
    pairs = pairs_within_pieces(piece_ids)
    if len(pairs) == 0:
        raise UndefinedMetricError("pairwise accuracy is undefined: no piece has two or more samples")
    ia, ib = torch.from_numpy(pairs.index_a), torch.from_numpy(pairs.index_b)
    return _pairwise(p[ia] - p[ib], y[ia], y[ib], threshold, input_dtype(labels))
