"""Metrics shared by every experiment: classification, regression, ranking, calibration, robustness.

Every function accepts torch tensors, numpy arrays or nested sequences, validates them (shape,
finiteness) and returns plain Python floats, numpy arrays or small frozen dataclasses with
``to_dict()``. Undefined results raise :class:`UndefinedMetricError` instead of returning NaN.
See ``docs/tokenize-and-metrics.md`` in the package for definitions and examples.
"""

from .baselines import LinearRegressionBaseline, evaluate_baselines, mean_predictions, random_predictions
from .calibration import (
    CalibrationResult,
    classification_calibration,
    expected_calibration_error,
    ranking_calibration,
)
from .classification import accuracy, confusion_matrix, macro_f1, top_k_accuracy
from .errors import MetricError, MetricInputError, UndefinedMetricError
from .ranking import (
    PairwiseAccuracy,
    PiecePairs,
    pairs_within_pieces,
    pairwise_accuracy,
    pairwise_accuracy_within_pieces,
)
from .regression import (
    ConstantPolicy,
    DifficultyCorrelation,
    RegressionReport,
    difficulty_spearman,
    kendall,
    mae,
    pearson,
    per_dimension,
    r2,
    r2_per_dimension,
    r2_pooled,
    range_accuracy,
    regression_report,
    rmse,
    spearman,
)
from .report import DEFAULT_LOWER_IS_BETTER, MetricsSuite, format_comparison_table
from .robustness import RobustnessResult, robustness_report, score_drop_pct

__all__ = [
    "DEFAULT_LOWER_IS_BETTER",
    "CalibrationResult",
    "ConstantPolicy",
    "DifficultyCorrelation",
    "LinearRegressionBaseline",
    "MetricError",
    "MetricInputError",
    "MetricsSuite",
    "PairwiseAccuracy",
    "PiecePairs",
    "RegressionReport",
    "RobustnessResult",
    "UndefinedMetricError",
    "accuracy",
    "classification_calibration",
    "confusion_matrix",
    "difficulty_spearman",
    "evaluate_baselines",
    "expected_calibration_error",
    "format_comparison_table",
    "kendall",
    "macro_f1",
    "mae",
    "mean_predictions",
    "pairs_within_pieces",
    "pairwise_accuracy",
    "pairwise_accuracy_within_pieces",
    "pearson",
    "per_dimension",
    "r2",
    "r2_per_dimension",
    "r2_pooled",
    "random_predictions",
    "range_accuracy",
    "ranking_calibration",
    "regression_report",
    "rmse",
    "robustness_report",
    "score_drop_pct",
    "spearman",
    "top_k_accuracy",
]
