"""Multiclass classification metrics, computed from integer counts and returned as exact float64.

``preds`` may be class indices ``[N]`` or per-class scores/logits/probabilities ``[N, C]`` (argmax is
taken, ties going to the lowest class index); ``target`` is class indices ``[N]``. Counts are
integers, so e.g. an accuracy of one in three is exactly ``1 / 3`` (torchmetrics returns float32).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from ._convert import ArrayLike, as_float, as_labels
from .errors import MetricInputError

__all__ = ["accuracy", "confusion_matrix", "macro_f1", "top_k_accuracy"]


def _prepare(
    preds: ArrayLike, target: ArrayLike, num_classes: int | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Class-index predictions, targets and the number of classes, all validated."""
    y = as_labels(target, "target")
    p_raw = preds if isinstance(preds, torch.Tensor) else torch.as_tensor(np.asarray(preds))
    if p_raw.ndim == 2:
        scores = as_float(p_raw, "preds", ndim=(2,))
        inferred = scores.shape[1]
        p = scores.argmax(dim=1)
    else:
        p = as_labels(p_raw, "preds")
        inferred = int(max(p.max(), y.max())) + 1
    if p.shape[0] != y.shape[0]:
        raise MetricInputError(f"preds and target have different lengths: {p.shape[0]} vs {y.shape[0]}")
    n = inferred if num_classes is None else num_classes
    if n < 2:
        n = 2  # a one-class problem still gets a 2 x 2 confusion matrix (as before)
    if int(y.max()) >= n or int(p.max()) >= n:
        raise MetricInputError(f"labels must be < num_classes={n}; got max {int(max(y.max(), p.max()))}")
    return p, y, n


def _counts(p: torch.Tensor, y: torch.Tensor, n: int) -> np.ndarray:
    """``[n, n]`` int64 confusion counts, rows = true class, columns = predicted class."""
    return np.bincount((y * n + p).numpy(), minlength=n * n).reshape(n, n).astype(np.int64)


def accuracy(preds: ArrayLike, target: ArrayLike) -> float:
    """Fraction of samples whose predicted class equals the target."""
    p, y, _ = _prepare(preds, target, None)
    return int((p == y).sum()) / y.numel()


def top_k_accuracy(scores: ArrayLike, target: ArrayLike, k: int) -> float:
    """Fraction of samples whose target is among the ``k`` highest-scoring classes.

    Ties are broken by class index, lowest first (as ``argmax`` does, so ``k=1`` equals
    :func:`accuracy`): the target's rank is the number of classes scoring higher plus the number of
    lower-indexed classes scoring the same, and it is a hit when that rank is ``< k``. (``torch.topk``
    breaks ties arbitrarily; sklearn's ``top_k_accuracy_score`` favours the highest index.)
    """
    s = as_float(scores, "scores", ndim=(2,))
    y = as_labels(target, "target")
    if s.shape[0] != y.shape[0]:
        raise MetricInputError(f"scores and target have different lengths: {s.shape[0]} vs {y.shape[0]}")
    c = s.shape[1]
    if not 1 <= k <= c:
        raise MetricInputError(f"k must be in [1, {c}] (number of classes), got {k}")
    if int(y.max()) >= c:
        raise MetricInputError(f"target labels must be < {c} (number of score columns)")
    own = s.gather(1, y[:, None])
    lower_index = torch.arange(c)[None, :] < y[:, None]
    rank = ((s > own) | ((s == own) & lower_index)).sum(dim=1)
    return int((rank < k).sum()) / y.numel()


def macro_f1(preds: ArrayLike, target: ArrayLike, num_classes: int | None = None) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``target`` or ``preds``.

    Classes that never occur in either are left out of the mean (sklearn's and torchmetrics'
    convention), so declaring a larger ``num_classes`` does not deflate the score.
    ``F1 = 2·TP / (2·TP + FP + FN)``.
    """
    p, y, n = _prepare(preds, target, num_classes)
    counts = _counts(p, y, n)
    tp = np.diag(counts)
    support = counts.sum(axis=0) + counts.sum(axis=1)  # 2·TP + FP + FN per class
    present = support > 0
    return float(np.mean(2 * tp[present] / support[present]))


def confusion_matrix(
    preds: ArrayLike,
    target: ArrayLike,
    num_classes: int | None = None,
    normalize: Literal["true", "pred", "all"] | None = None,
) -> np.ndarray:
    """``[C, C]`` matrix, rows = true class, columns = predicted class.

    Counts (int64) without ``normalize``; with it, float64 rates normalised over rows ("true"),
    columns ("pred") or everything ("all"); rows/columns with no samples stay 0.
    """
    p, y, n = _prepare(preds, target, num_classes)
    counts = _counts(p, y, n)
    if normalize is None:
        return counts
    if normalize not in ("true", "pred", "all"):
        raise MetricInputError(f"normalize must be 'true', 'pred', 'all' or None, got {normalize!r}")
    if normalize == "all":
        return counts / counts.sum()
    axis = 1 if normalize == "true" else 0
    totals = counts.sum(axis=axis, keepdims=True).astype(np.float64)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
