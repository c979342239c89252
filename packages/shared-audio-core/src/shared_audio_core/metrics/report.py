"""One-call evaluation (``MetricsSuite``) and markdown comparison tables across experiments."""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ._convert import ArrayLike
from .errors import MetricInputError
from .ranking import PairwiseAccuracy, pairwise_accuracy, pairwise_accuracy_within_pieces
from .regression import (
    ConstantPolicy,
    DifficultyCorrelation,
    check_policy,
    difficulty_spearman,
    r2,
    regression_report,
)
from .robustness import robustness_report, score_drop_pct

__all__ = ["DEFAULT_LOWER_IS_BETTER", "MetricsSuite", "format_comparison_table"]

# Columns where a smaller number wins; every other column is higher-is-better.
DEFAULT_LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"mae", "rmse", "mse", "ece", "loss", "score_drop_pct", "gpu_hours", "latency_ms", "params"}
)


def _format(value: float, precision: int) -> str:
    return f"{value:.{precision}f}"


def format_comparison_table(
    results: Mapping[str, Mapping[str, float | None]],
    *,
    columns: Sequence[str] | None = None,
    lower_is_better: Collection[str] = DEFAULT_LOWER_IS_BETTER,
    precision: int = 3,
    row_header: str = "model",
) -> str:
    """Markdown table, one row per experiment, the best value of each column in **bold**.

    Columns default to every metric name in first-seen order. Missing or ``None`` values print as
    "–" and do not compete; ties for best are all marked. A column is lower-is-better when its name
    is in ``lower_is_better``.

    Raises:
        MetricInputError: no results, or a NaN/inf or non-numeric value.
    """
    if not results:
        raise MetricInputError("format_comparison_table needs at least one result row")
    if columns is None:
        seen: dict[str, None] = {}
        for metrics in results.values():
            seen.update(dict.fromkeys(metrics))
        columns = list(seen)
    for name, metrics in results.items():
        for col, value in metrics.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise MetricInputError(f"{name}/{col}: expected a finite number, got {value!r}")
    best: dict[str, float] = {}
    for col in columns:
        values = [m[col] for m in results.values() if m.get(col) is not None]
        if values:
            best[col] = min(values) if col in lower_is_better else max(values)  # type: ignore[type-var]
    lines = [
        "| " + " | ".join([row_header, *columns]) + " |",
        "|" + "|".join(["---", *(["---:"] * len(columns))]) + "|",
    ]
    for name, metrics in results.items():
        cells = [name]
        for col in columns:
            value = metrics.get(col)
            if value is None:
                cells.append("–")
                continue
            text = _format(float(value), precision)
            cells.append(f"**{text}**" if value == best.get(col) else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class MetricsSuite:
    """Shared evaluation settings so every experiment is scored the same way.

    Attributes:
        ambiguous_threshold: pairs with ``|Δlabel|`` below this are ignored by pairwise accuracy
            (``|Δ| == threshold`` counts, up to float rounding).
        range_alpha: tolerance of range accuracy.
        on_constant: policy for correlations/R² of constant series, in every method.

    ``r2`` (here and in ``full_report``) is the mean of per-dimension R²; pooled R² is reported as
    ``r2_pooled``.
    """

    ambiguous_threshold: float = 0.05
    range_alpha: float = 0.1
    on_constant: ConstantPolicy = "zero"

    def __post_init__(self) -> None:
        check_policy(self.on_constant)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def pairwise_accuracy(
        self, logits: ArrayLike, labels_a: ArrayLike, labels_b: ArrayLike
    ) -> PairwiseAccuracy:
        return pairwise_accuracy(logits, labels_a, labels_b, threshold=self.ambiguous_threshold)

    def regression_r2(self, predictions: ArrayLike, targets: ArrayLike) -> float:
        """Mean per-dimension R² under the suite's ``on_constant`` policy."""
        return r2(predictions, targets, on_constant=self.on_constant)

    def difficulty_correlation(
        self, predictions: ArrayLike, difficulties: ArrayLike
    ) -> DifficultyCorrelation:
        return difficulty_spearman(predictions, difficulties, on_constant=self.on_constant)

    def full_report(
        self,
        predictions: ArrayLike,
        targets: ArrayLike,
        *,
        piece_ids: Sequence[Hashable] | np.ndarray | torch.Tensor | None = None,
        pair_logits: ArrayLike | None = None,
        labels_a: ArrayLike | None = None,
        labels_b: ArrayLike | None = None,
        difficulties: ArrayLike | None = None,
        augmented_predictions: ArrayLike | None = None,
    ) -> dict[str, float]:
        """Flat ``{metric: value}`` for one experiment (one row of a comparison table).

        Always: regression metrics of ``predictions [N, D]`` vs ``targets``. ``pairwise`` comes from
        explicit ``pair_logits``/``labels_a``/``labels_b`` when given, else from all within-piece pairs
        of the predictions when ``piece_ids`` is given. ``difficulty_rho`` needs ``difficulties``;
        ``robustness_pearson`` and ``score_drop_pct`` (of the mean per-dimension R², ``r2``; left out
        when the clean R² <= 0) need ``augmented_predictions``.
        """
        row = regression_report(
            predictions, targets, alpha=self.range_alpha, on_constant=self.on_constant
        ).scalars()
        pair_args = (pair_logits, labels_a, labels_b)
        if any(a is not None for a in pair_args):
            if any(a is None for a in pair_args):
                raise MetricInputError("pair_logits, labels_a and labels_b must be given together")
            row["pairwise"] = self.pairwise_accuracy(pair_logits, labels_a, labels_b).overall  # type: ignore[arg-type]
        elif piece_ids is not None:
            row["pairwise"] = pairwise_accuracy_within_pieces(
                predictions, targets, piece_ids, threshold=self.ambiguous_threshold
            ).overall
        if difficulties is not None:
            row["difficulty_rho"] = difficulty_spearman(
                predictions, difficulties, on_constant=self.on_constant
            ).overall_rho
        if augmented_predictions is not None:
            rob = robustness_report(predictions, augmented_predictions, on_constant=self.on_constant)
            row["robustness_pearson"] = rob.mean_pearson
            clean_r2 = row["r2"]
            if clean_r2 > 0:  # a relative drop from R² <= 0 is meaningless; the column is left out
                aug_r2 = r2(augmented_predictions, targets, on_constant=self.on_constant)
                row["score_drop_pct"] = score_drop_pct(clean_r2, aug_r2)
        return row
