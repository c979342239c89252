"""Regression metrics for ``[N]`` or ``[N, D]`` predictions (torchmetrics functional API underneath).

Scalar functions pool every entry ("flattened"); ``per_dimension`` applies any of them column by
column. Correlations and R² are undefined when a series is constant: by default that raises
:class:`UndefinedMetricError`; ``on_constant="zero"`` reports 0.0 instead (no association), which
is what baseline tables and early-training evaluation usually want.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torchmetrics.functional import (
    kendall_rank_corrcoef,
    mean_absolute_error,
    mean_squared_error,
    pearson_corrcoef,
    r2_score,
    spearman_corrcoef,
)

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
    "range_accuracy",
    "regression_report",
    "rmse",
    "spearman",
]

ConstantPolicy = Literal["raise", "zero"]
_RANGE_TOLERANCE = 1e-9  # |err| <= alpha must not fail on float rounding (0.3 - 0.2 > 0.1)


def _pair(preds: ArrayLike, target: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    p = as_float(preds, "preds")
    t = as_float(target, "target")
    check_same_shape(p, t, "preds/target")
    return p, t


def _is_constant(x: torch.Tensor) -> bool:
    return bool(x.max() - x.min() == 0)


def _correlation(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    name: str,
    preds: ArrayLike,
    target: ArrayLike,
    on_constant: ConstantPolicy,
) -> float:
    p, t = _pair(preds, target)
    p, t = p.reshape(-1), t.reshape(-1)
    if p.numel() < 2:
        raise MetricInputError(f"{name} needs at least 2 values, got {p.numel()}")
    constant = [n for n, x in (("preds", p), ("target", t)) if _is_constant(x)]
    if constant:
        if on_constant == "zero":
            return 0.0
        raise UndefinedMetricError(f"{name} is undefined: {' and '.join(constant)} constant")
    return float(fn(p, t))


def pearson(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Pearson correlation of all entries pooled."""
    return _correlation(pearson_corrcoef, "Pearson r", preds, target, on_constant)


def spearman(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Spearman rank correlation (ties get average ranks) of all entries pooled."""
    return _correlation(spearman_corrcoef, "Spearman rho", preds, target, on_constant)


def kendall(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Kendall tau-b (tie-corrected) of all entries pooled."""
    return _correlation(
        lambda p, t: kendall_rank_corrcoef(p, t, variant="b"), "Kendall tau", preds, target, on_constant
    )


def r2(preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise") -> float:
    """Coefficient of determination over all entries pooled: ``1 - SS_res / SS_tot``.

    Constant *predictions* are fine (R² is then ≤ 0); a constant *target* makes it undefined.
    """
    p, t = _pair(preds, target)
    p, t = p.reshape(-1), t.reshape(-1)
    if p.numel() < 2:
        raise MetricInputError(f"R² needs at least 2 values, got {p.numel()}")
    if _is_constant(t):
        if on_constant == "zero":
            return 0.0
        raise UndefinedMetricError("R² is undefined: target constant (zero variance)")
    return float(r2_score(p, t))


def r2_per_dimension(
    preds: ArrayLike, target: ArrayLike, *, on_constant: ConstantPolicy = "raise"
) -> list[float]:
    """R² of each column of ``[N, D]`` inputs."""
    return per_dimension(r2, preds, target, on_constant=on_constant)


def mae(preds: ArrayLike, target: ArrayLike) -> float:
    """Mean absolute error over all entries."""
    p, t = _pair(preds, target)
    return float(mean_absolute_error(p.reshape(-1), t.reshape(-1)))


def rmse(preds: ArrayLike, target: ArrayLike) -> float:
    """Root mean squared error over all entries."""
    p, t = _pair(preds, target)
    return float(mean_squared_error(p.reshape(-1), t.reshape(-1), squared=False))


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
    """All regression metrics at once; ``*_per_dimension`` lists follow the columns of the input."""

    r2: float
    r2_mean: float
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
        """The pooled numbers only, ready for :func:`format_comparison_table`."""
        return {
            "r2": self.r2,
            "r2_mean": self.r2_mean,
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
    """Pooled and per-dimension regression metrics; ``r2_mean`` is the unweighted mean of per-dim R²."""
    r2_dims = r2_per_dimension(preds, target, on_constant=on_constant)
    return RegressionReport(
        r2=r2(preds, target, on_constant=on_constant),
        r2_mean=float(sum(r2_dims) / len(r2_dims)),
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
