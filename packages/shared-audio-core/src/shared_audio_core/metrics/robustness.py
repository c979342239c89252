"""Robustness of a model to input augmentation: prediction agreement and score drop.

``score_drop_pct = (clean_metric − augmented_metric) / clean_metric · 100`` — positive when the
augmented input scores worse. The original experiment vetoed a model whose drop exceeded 15 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ._convert import ArrayLike, as_2d, as_float, check_same_shape
from .errors import MetricInputError, UndefinedMetricError
from .regression import ConstantPolicy, pearson, r2

__all__ = ["RobustnessResult", "robustness_report", "score_drop_pct"]


def _finite(value: object, name: str) -> float:
    """Python/numpy/0-d torch number → float, rejecting NaN, inf and non-numbers."""
    if isinstance(value, str | bytes | bool):
        raise MetricInputError(f"{name} must be a finite number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MetricInputError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise MetricInputError(f"{name} must be a finite number, got {value!r}")
    return number


def score_drop_pct(clean_metric: float, augmented_metric: float) -> float:
    """Relative drop of a higher-is-better metric in percent.

    Raises:
        UndefinedMetricError: ``clean_metric <= 0`` (a relative drop from a non-positive baseline has
            no meaningful sign or scale).
        MetricInputError: a non-finite value.
    """
    clean_metric = _finite(clean_metric, "clean_metric")
    augmented_metric = _finite(augmented_metric, "augmented_metric")
    if clean_metric <= 0:
        raise UndefinedMetricError(
            f"score drop is undefined for a non-positive clean metric ({clean_metric})"
        )
    return (clean_metric - augmented_metric) / clean_metric * 100.0


@dataclass(frozen=True)
class RobustnessResult:
    """Per-dimension Pearson between clean and augmented predictions, and (with targets) the score drop."""

    pearson_per_dimension: tuple[float, ...]
    mean_pearson: float
    clean_metric: float | None = None
    augmented_metric: float | None = None
    score_drop_pct: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def robustness_report(
    clean_predictions: ArrayLike,
    augmented_predictions: ArrayLike,
    *,
    targets: ArrayLike | None = None,
    metric: Callable[[ArrayLike, ArrayLike], float] = r2,
    on_constant: ConstantPolicy = "raise",
) -> RobustnessResult:
    """Compare predictions ``[N, D]`` on clean and augmented versions of the same inputs.

    With ``targets``, ``metric(preds, targets)`` (default :func:`r2`, the mean per-dimension R²;
    pooled R² would hide a per-dimension collapse behind differing dimension means) is computed on
    both and the score drop reported. ``on_constant`` applies to the clean-vs-augmented Pearson per
    dimension (``metric`` is any callable and gets no policy).
    """
    clean = as_2d(as_float(clean_predictions, "clean_predictions"))
    aug = as_2d(as_float(augmented_predictions, "augmented_predictions"))
    check_same_shape(clean, aug, "clean/augmented predictions")
    per_dim = []
    for d in range(clean.shape[1]):
        try:
            per_dim.append(pearson(clean[:, d], aug[:, d], on_constant=on_constant))
        except UndefinedMetricError as err:
            raise UndefinedMetricError(f"dimension {d}: {err}") from err
    result = RobustnessResult(pearson_per_dimension=tuple(per_dim), mean_pearson=sum(per_dim) / len(per_dim))
    if targets is None:
        return result
    clean_score = float(metric(clean, as_2d(as_float(targets, "targets"))))
    aug_score = float(metric(aug, as_2d(as_float(targets, "targets"))))
    return RobustnessResult(
        pearson_per_dimension=result.pearson_per_dimension,
        mean_pearson=result.mean_pearson,
        clean_metric=clean_score,
        augmented_metric=aug_score,
        score_drop_pct=score_drop_pct(clean_score, aug_score),
    )
