"""Regression metrics for ``[N]`` or ``[N, D]`` predictions, computed in float64.

R² defaults to the *mean of per-dimension R²* (sklearn's ``multioutput="uniform_average"``, what
PercePiano reports): :func:`r2_pooled` centres every column on one grand mean, so merely predicting
each dimension's own mean scores close to 1 whenever the dimension means differ. The correlations,
MAE and RMSE pool every entry ("flattened"); ``per_dimension`` applies any of them column by
column. Correlations and R² are undefined when a series is constant: by default that raises
:class:`UndefinedMetricError`; ``on_constant="zero"`` reports 0.0 instead (no association), which
is what baseline tables and early-training evaluation usually want.

The correlations are computed here rather than with torchmetrics, whose Spearman adds ``1e-6`` to
its denominator and whose Kendall tau is float32-rounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from ._convert import ArrayLike, as_2d, as_float, check_same_shape
from .errors import MetricInputError, UndefinedMetricError

__all__ = [
    "ConstantPolicy",
    "DifficultyCorrelation",
    "RegressionReport",
    "difficulty_spearman",
    "kendall",
    "mae",
    "pearson",
    "per_dimension",
    "r2",
    "r2_per_dimension",
    "r2_pooled",
    "range_accuracy",
    "regression_report",
    "rmse",
    "spearman",
]

ConstantPolicy = Literal["raise", "zero"]
_RANGE_TOLERANCE = 1e-9  # |err| <= alpha must not fail on float rounding (0.3 - 0.2 > 0.1)
_KENDALL_CHUNK = 1 << 22  # pair-matrix entries per block: bounds memory at ~32 MB per temporary


def check_policy(on_constant: object) -> None:
    """Reject a mistyped policy instead of silently treating it as ``"raise"``."""
    if on_constant not in ("raise", "zero"):
        raise MetricInputError(f"on_constant must be 'raise' or 'zero', got {on_constant!r}")


def _pair(preds: ArrayLike, target: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    p = as_float(preds, "preds")
    t = as_float(target, "target")
    check_same_shape(p, t, "preds/target")
    return p, t


def _is_constant(x: torch.Tensor) -> bool:
    return bool(x.max() - x.min() == 0)


def _correlation(
    fn: Callable[[torch.Tensor, torch.Tensor], float],
    name: str,
    preds: ArrayLike,
    target: ArrayLike,
    on_constant: ConstantPolicy,
) -> float:
    check_policy(on_constant)
    p, t = _pair(preds, target)
    p, t = p.reshape(-1), t.reshape(-1)
    if p.numel() < 2:
        raise MetricInputError(f"{name} needs at least 2 values, got {p.numel()}")
    constant = [n for n, x in (("preds", p), ("target", t)) if _is_constant(x)]
    if constant:
        if on_constant == "zero":
            return 0.0
        raise UndefinedMetricError(f"{name} is undefined: {' and '.join(constant)} constant")
    return fn(p, t)


def _pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    xc, yc = xc / xc.abs().max(), yc / yc.abs().max()  # no under/overflow in the sums of squares
    denom = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return max(-1.0, min(1.0, float(xc @ yc) / denom))


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's ``rankdata``)."""
    _, inverse, counts = torch.unique(x, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts  # 0-based position of each distinct value's first copy
    return (first + (counts + 1) / 2).to(torch.float64)[inverse]


def _kendall_tau_b(x: torch.Tensor, y: torch.Tensor) -> float:
    """``(C − D) / sqrt((n0 − n1)(n0 − n2))`` from exact integer pair counts, in blocks of rows."""
    n = x.numel()
    step = max(1, _KENDALL_CHUNK // n)
    concordance = untied_x = untied_y = 0
    for i in range(0, n, step):
        sx = torch.sign(x[i : i + step, None] - x[None, :]).to(torch.int8)
        sy = torch.sign(y[i : i + step, None] - y[None, :]).to(torch.int8)
        concordance += int((sx * sy).sum(dtype=torch.int64))
        untied_x += int(sx.count_nonzero())
        untied_y += int(sy.count_nonzero())
    # Every unordered pair appears twice in the full matrix, which cancels in the ratio.
    return max(-1.0, min(1.0, concordance / math.sqrt(untied_x) / math.sqrt(untied_y)))


def pearson(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Pearson correlation of all entries pooled."""
    return _correlation(_pearson, "Pearson r", preds, target, on_constant)


def spearman(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Spearman rank correlation (ties get average ranks) of all entries pooled."""
    return _correlation(
        lambda p, t: _pearson(_average_ranks(p), _average_ranks(t)),
        "Spearman rho",
        preds,
        target,
        on_constant,
    )


def kendall(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Kendall tau-b (tie-corrected) of all entries pooled; O(N²) time, bounded memory."""
    return _correlation(_kendall_tau_b, "Kendall tau", preds, target, on_constant)


def r2_pooled(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """R² of all entries pooled: ``1 - SS_res / SS_tot`` with ``SS_tot`` about the grand mean.

    Prefer :func:`r2` for ``[N, D]`` input: pooling rewards predicting each dimension's mean. For
    ``[N]`` input both agree. Constant *predictions* are fine (R² is then ≤ 0); a constant *target*
    makes it undefined.
    """
    check_policy(on_constant)
    p, t = _pair(preds, target)
    p, t = p.reshape(-1), t.reshape(-1)
    if p.numel() < 2:
        raise MetricInputError(f"R² needs at least 2 values, got {p.numel()}")
    if _is_constant(t):
        if on_constant == "zero":
            return 0.0
        raise UndefinedMetricError("R² is undefined: target constant (zero variance)")
    tc = t - t.mean()
    return 1.0 - float(((t - p) ** 2).sum()) / float(tc @ tc)


def r2(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Mean of the per-dimension R² of ``[N, D]`` input (plain R² for ``[N]``).

    This is sklearn's ``r2_score(..., multioutput="uniform_average")``; a constant target column
    raises (naming the dimension) or, with ``on_constant="zero"``, contributes 0.0.
    """
    dims = r2_per_dimension(preds, target, on_constant=on_constant)
    return math.fsum(dims) / len(dims)


def r2_per_dimension(
    preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise"
) -> list[float]:
    """R² of each column of ``[N, D]`` inputs (sklearn's ``multioutput="raw_values"``)."""
    return per_dimension(r2_pooled, preds, target, on_constant=on_constant)


def mae(preds: ArrayLike, target: ArrayLike) -> float:
    """Mean absolute error over all entries."""
    p, t = _pair(preds, target)
    return float((p - t).abs().mean())


def rmse(preds: ArrayLike, target: ArrayLike) -> float:
    """Root mean squared error over all entries."""
    p, t = _pair(preds, target)
    return math.sqrt(float(((p - t) ** 2).mean()))


def range_accuracy(preds: ArrayLike, target: ArrayLike, alpha: float = 0.1) -> float:
    """Fraction of entries with ``|pred - target| <= alpha``."""
    if not alpha >= 0:
        raise MetricInputError(f"alpha must be >= 0, got {alpha}")
    p, t = _pair(preds, target)
    return float(((p - t).abs() <= alpha + _RANGE_TOLERANCE).to(torch.float64).mean())


def per_dimension(
    metric: Callable[..., float], preds: ArrayLike, target: ArrayLike, **kwargs: object
) -> list[float]:
    """Apply a flattened metric to each column of ``[N, D]`` inputs (``[N]`` counts as one column).

    Errors name the failing dimension.
    """
    p, t = _pair(preds, target)
    p, t = as_2d(p), as_2d(t)
    values = []
    for d in range(p.shape[1]):
        try:
            values.append(metric(p[:, d], t[:, d], **kwargs))
        except UndefinedMetricError as err:
            raise UndefinedMetricError(f"dimension {d}: {err}") from err
    return values


@dataclass(frozen=True)
class RegressionReport:
    """All regression metrics at once; ``*_per_dimension`` lists follow the columns of the input.

    ``r2`` is the mean of ``r2_per_dimension``; ``r2_pooled`` is R² of all entries pooled.
    """

    r2: float
    r2_pooled: float
    pearson: float
    spearman: float
    kendall: float
    mae: float
    rmse: float
    range_accuracy: float
    r2_per_dimension: tuple[float, ...]
    pearson_per_dimension: tuple[float, ...]
    spearman_per_dimension: tuple[float, ...]
    mae_per_dimension: tuple[float, ...]
    alpha: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def scalars(self) -> dict[str, float]:
        """The scalar numbers only, ready for :func:`format_comparison_table`."""
        return {
            "r2": self.r2,
            "r2_pooled": self.r2_pooled,
            "pearson": self.pearson,
            "spearman": self.spearman,
            "kendall": self.kendall,
            "mae": self.mae,
            "rmse": self.rmse,
            "range_acc": self.range_accuracy,
        }


def regression_report(
    preds: ArrayLike, target: ArrayLike, *, alpha: float = 0.1, on_constant: ConstantPolicy = "raise"
) -> RegressionReport:
    """Pooled and per-dimension regression metrics; ``r2`` is the unweighted mean of per-dim R²."""
    r2_dims = r2_per_dimension(preds, target, on_constant=on_constant)
    return RegressionReport(
        r2=math.fsum(r2_dims) / len(r2_dims),
        r2_pooled=r2_pooled(preds, target, on_constant=on_constant),
        pearson=pearson(preds, target, on_constant=on_constant),
        spearman=spearman(preds, target, on_constant=on_constant),
        kendall=kendall(preds, target, on_constant=on_constant),
        mae=mae(preds, target),
        rmse=rmse(preds, target),
        range_accuracy=range_accuracy(preds, target, alpha),
        r2_per_dimension=tuple(r2_dims),
        pearson_per_dimension=tuple(per_dimension(pearson, preds, target, on_constant=on_constant)),
        spearman_per_dimension=tuple(per_dimension(spearman, preds, target, on_constant=on_constant)),
        mae_per_dimension=tuple(per_dimension(mae, preds, target)),
        alpha=alpha,
    )


@dataclass(frozen=True)
class DifficultyCorrelation:
    """Spearman between difficulty and the mean prediction (``overall_rho``) and each dimension."""

    overall_rho: float
    per_dimension: tuple[float, ...]

    def to_dict(self, dimension_names: Sequence[str] | None = None) -> dict[str, object]:
        if dimension_names is None:
            return asdict(self)
        if len(dimension_names) != len(self.per_dimension):
            raise MetricInputError(f"{len(dimension_names)} names for {len(self.per_dimension)} dimensions")
        return {
            "overall_rho": self.overall_rho,
            "per_dimension": dict(zip(dimension_names, self.per_dimension, strict=True)),
        }


def difficulty_spearman(
    predictions: ArrayLike, difficulties: ArrayLike, *, on_constant: ConstantPolicy = "raise"
) -> DifficultyCorrelation:
    """Does the model's score track piece difficulty? ``predictions [N, D]`` (or ``[N]``), ``difficulties [N]``."""
    p = as_2d(as_float(predictions, "predictions"))
    d = as_float(difficulties, "difficulties", ndim=(1,))
    if p.shape[0] != d.shape[0]:
        raise MetricInputError(
            f"predictions and difficulties have different lengths: {p.shape[0]} vs {d.shape[0]}"
        )
    overall = spearman(p.mean(dim=1), d, on_constant=on_constant)
    dims = [spearman(p[:, k], d, on_constant=on_constant) for k in range(p.shape[1])]
    return DifficultyCorrelation(overall_rho=overall, per_dimension=tuple(dims))
