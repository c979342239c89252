"""Reference baselines every experiment table should beat: random, train mean, linear regression."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._convert import ArrayLike, as_2d, as_float
from .errors import MetricInputError
from .regression import regression_report

__all__ = ["LinearRegressionBaseline", "evaluate_baselines", "mean_predictions", "random_predictions"]


def random_predictions(
    n_samples: int, n_dims: int = 1, *, low: float = 0.0, high: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Uniform random scores in ``[low, high)``, ``float64 [n_samples, n_dims]``, reproducible by seed."""
    if n_samples < 1 or n_dims < 1:
        raise MetricInputError(f"need n_samples >= 1 and n_dims >= 1, got {n_samples}, {n_dims}")
    if not low < high:
        raise MetricInputError(f"need low < high, got {low}, {high}")
    return np.random.default_rng(seed).uniform(low, high, size=(n_samples, n_dims))


def mean_predictions(train_targets: ArrayLike, n_samples: int) -> np.ndarray:
    """Predict the per-dimension training mean for every sample: ``[n_samples, D]``."""
    y = as_2d(as_float(train_targets, "train_targets")).numpy()
    if n_samples < 1:
        raise MetricInputError(f"n_samples must be >= 1, got {n_samples}")
    return np.tile(y.mean(axis=0), (n_samples, 1))


@dataclass
class LinearRegressionBaseline:
    """Ordinary least squares with intercept, solved in closed form (``numpy.linalg.lstsq``).

    ``ridge > 0`` adds an L2 penalty on the weights (not the intercept), solving
    ``(XᵀX + ridge·I) w = Xᵀy`` on centred data — useful when features outnumber samples.
    """

    ridge: float = 0.0
    coef_: np.ndarray | None = field(default=None, init=False)
    intercept_: np.ndarray | None = field(default=None, init=False)

    def fit(self, features: ArrayLike, targets: ArrayLike) -> LinearRegressionBaseline:
        if self.ridge < 0:
            raise MetricInputError(f"ridge must be >= 0, got {self.ridge}")
        x = as_2d(as_float(features, "features")).numpy()
        y = as_2d(as_float(targets, "targets")).numpy()
        if x.shape[0] != y.shape[0]:
            raise MetricInputError(
                f"features and targets have different lengths: {x.shape[0]} vs {y.shape[0]}"
            )
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        xc, yc = x - x_mean, y - y_mean
        if self.ridge > 0:
            gram = xc.T @ xc + self.ridge * np.eye(x.shape[1])
            coef = np.linalg.solve(gram, xc.T @ yc)
        else:
            coef = np.linalg.lstsq(xc, yc, rcond=None)[0]
        self.coef_ = coef
        self.intercept_ = y_mean - x_mean @ coef
        return self

    def predict(self, features: ArrayLike) -> np.ndarray:
        if self.coef_ is None or self.intercept_ is None:
            raise MetricInputError("LinearRegressionBaseline.predict called before fit")
        x = as_2d(as_float(features, "features")).numpy()
        if x.shape[1] != self.coef_.shape[0]:
            raise MetricInputError(f"expected {self.coef_.shape[0]} features, got {x.shape[1]}")
        return x @ self.coef_ + self.intercept_


def evaluate_baselines(
    train_features: ArrayLike,
    train_targets: ArrayLike,
    test_features: ArrayLike,
    test_targets: ArrayLike,
    *,
    seed: int = 0,
    alpha: float = 0.1,
    ridge: float = 0.0,
) -> dict[str, dict[str, float]]:
    """Regression metrics of the three baselines on the test set, ready for ``format_comparison_table``.

    Random scores are uniform over the training target range. Correlations of the (constant)
    train-mean baseline are reported as 0.0 (``on_constant="zero"``).
    """
    y_train = as_2d(as_float(train_targets, "train_targets")).numpy()
    y_test = as_2d(as_float(test_targets, "test_targets")).numpy()
    n, d = y_test.shape
    low, high = float(y_train.min()), float(y_train.max())
    if high <= low:  # constant training targets: any unit-wide range is as (un)informative
        high = low + 1.0
    predictions = {
        "random": random_predictions(n, d, low=low, high=high, seed=seed),
        "train_mean": mean_predictions(y_train, n),
        "linear_regression": LinearRegressionBaseline(ridge=ridge)
        .fit(train_features, y_train)
        .predict(test_features),
    }
    return {
        name: regression_report(pred, y_test, alpha=alpha, on_constant="zero").scalars()
        for name, pred in predictions.items()
    }
