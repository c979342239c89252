"""Validation metrics over a whole validation set, with PercePiano's definitions.

R² is reported per dimension and as the mean of the per-dimension values (what PercePiano and sklearn's
``multioutput="uniform_average"`` report); the pooled R² over every (performance, dimension) entry is only
logged beside it as ``r2_pooled``: pooling centres all dimensions on one grand mean, so merely predicting
each dimension's own mean scores high whenever the dimension means differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from shared_audio_core import metrics

from piano_eval.losses import ambiguity_mask


def r2_metrics(
    scores: torch.Tensor, targets: torch.Tensor, observed: torch.Tensor, names: Sequence[str]
) -> dict[str, float]:
    """``{"r2": mean, "r2_<name>": ..., "r2_pooled": ...}`` over the observed entries of ``[N, K]`` inputs.

    A dimension with fewer than two observed ratings, or a constant target, has no R² and is left out of the
    mean (and not reported); with no dimension left, ``"r2"`` is absent.
    """
    if len(names) != scores.shape[1]:
        raise ValueError(f"{len(names)} dimension names for {scores.shape[1]} score columns")
    scores, targets, observed = scores.double(), targets.double(), observed.bool()
    out: dict[str, float] = {}
    for k, name in enumerate(names):
        column = observed[:, k]
        target = targets[column, k]
        if target.numel() >= 2 and float(target.max() - target.min()) > 0:
            out[f"r2_{name}"] = metrics.r2_pooled(scores[column, k], target)
    if out:
        out["r2"] = sum(out.values()) / len(out)
    target = targets[observed]
    if target.numel() >= 2 and float(target.max() - target.min()) > 0:
        out["r2_pooled"] = metrics.r2_pooled(scores[observed], target)
    return out


class PairValidationMetrics:
    """Collects validation pair batches and computes pairwise accuracy and R² over all of them.

    Missing ratings (``False`` in a label mask) become exact ties for pairwise accuracy (which ignores ties)
    and are dropped from R².
    """

    def __init__(self, names: Sequence[str], ambiguity_threshold: float) -> None:
        self.names = tuple(names)
        self.ambiguity_threshold = ambiguity_threshold
        self.reset()

    def reset(self) -> None:
        self._batches: list[dict[str, torch.Tensor]] = []

    def update(
        self,
        logits: torch.Tensor,
        labels_a: torch.Tensor,
        labels_b: torch.Tensor,
        scores_a: torch.Tensor,
        scores_b: torch.Tensor,
        label_mask_a: torch.Tensor | None = None,
        label_mask_b: torch.Tensor | None = None,
    ) -> None:
        observed_a = (
            torch.ones_like(labels_a, dtype=torch.bool) if label_mask_a is None else label_mask_a.bool()
        )
        observed_b = (
            torch.ones_like(labels_b, dtype=torch.bool) if label_mask_b is None else label_mask_b.bool()
        )
        both = observed_a & observed_b
        tie = torch.zeros_like(labels_a)
        self._batches.append(
            {
                "logits": logits.detach(),
                "labels_a": torch.where(both, labels_a, tie).detach(),
                "labels_b": torch.where(both, labels_b, tie).detach(),
                "scores": torch.cat([scores_a, scores_b]).detach(),
                "targets": torch.cat([labels_a, labels_b]).detach(),
                "observed": torch.cat([observed_a, observed_b]),
            }
        )

    def compute(self) -> dict[str, float]:
        """Metric name → value (``pairwise_accuracy``, ``pairwise_accuracy_<dim>``, ``r2``, ``r2_<dim>``,
        ``r2_pooled``); a metric with nothing to score is absent. Clears the collected batches."""
        if not self._batches:
            return {}
        merged = {k: torch.cat([b[k] for b in self._batches]).cpu() for k in self._batches[0]}
        self.reset()
        out: dict[str, float] = {}
        # Float32 as the labels came: the core's tie tolerance follows the labels' precision.
        labels_a, labels_b = merged["labels_a"].float(), merged["labels_b"].float()
        if bool(ambiguity_mask(labels_a, labels_b, self.ambiguity_threshold).any()):
            accuracy = metrics.pairwise_accuracy(
                merged["logits"].float(), labels_a, labels_b, self.ambiguity_threshold
            )
            out["pairwise_accuracy"] = accuracy.overall
            for name, value in zip(self.names, accuracy.per_dimension, strict=True):
                if value is not None:
                    out[f"pairwise_accuracy_{name}"] = value
        out.update(r2_metrics(merged["scores"], merged["targets"], merged["observed"], self.names))
        return out
