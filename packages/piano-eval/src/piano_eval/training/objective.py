"""The shared multi-task objective: ranking BCE + piece InfoNCE + regression MSE (+ augmentation
invariance, optional ListMLE and CCC), weighted into one ``total`` by fixed lambdas or learned uncertainties.

Missing ratings are masked, never imputed: a ``False`` entry of ``label_mask_a``/``label_mask_b`` removes that
rating from the regression terms and its pair from the ranking term, whatever value sits under the mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
from torch import nn

from piano_eval.heads import HeadOutput
from piano_eval.hub import DictConfig
from piano_eval.losses import (
    UncertaintyWeightedLoss,
    ccc_loss,
    dimension_ranking_loss,
    invariance_loss,
    listmle_loss,
    piece_infonce_loss,
    regression_loss,
)

TASKS: tuple[str, ...] = ("ranking", "contrastive", "regression", "invariance", "listmle", "ccc")


@dataclass
class ObjectiveConfig(DictConfig):
    """Loss weights and hyper-parameters (defaults from the original's A/S/F experiments)."""

    lambda_ranking: float = 1.0
    lambda_contrastive: float = 0.3
    lambda_regression: float = 0.5
    lambda_invariance: float = 0.1
    # Optional extras (off by default): listwise ranking of the batch per dimension, and 1 − CCC.
    lambda_listmle: float = 0.0
    lambda_ccc: float = 0.0
    temperature: float = 0.07
    ambiguity_threshold: float = 0.05
    # Replace the fixed lambdas by learned Kendall & Gal weights over the tasks whose lambda is > 0.
    use_uncertainty_weighting: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("lambda_") and value < 0:
                raise ValueError(f"{f.name} must be >= 0, got {value}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.ambiguity_threshold < 0:
            raise ValueError(f"ambiguity_threshold must be >= 0, got {self.ambiguity_threshold}")

    def weight(self, task: str) -> float:
        return float(getattr(self, f"lambda_{task}"))


class PerformanceObjective(nn.Module):
    """Ranking BCE + piece InfoNCE + regression MSE (+ augmentation invariance), weighted into ``total``."""

    def __init__(self, config: ObjectiveConfig | None = None) -> None:
        super().__init__()
        self.config = config or ObjectiveConfig()
        active = [t for t in TASKS if self.config.weight(t) > 0]
        self.uncertainty = UncertaintyWeightedLoss(active) if self.config.use_uncertainty_weighting else None

    def forward(
        self,
        out_a: HeadOutput,
        out_b: HeadOutput,
        ranking_logits: torch.Tensor,
        labels_a: torch.Tensor,
        labels_b: torch.Tensor,
        piece_ids_a: torch.Tensor,
        piece_ids_b: torch.Tensor,
        *,
        out_a_aug: HeadOutput | None = None,
        out_b_aug: HeadOutput | None = None,
        label_mask_a: torch.Tensor | None = None,
        label_mask_b: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        cfg = self.config
        observed: torch.Tensor | None = None  # [2B, K] rating present, a-side rows then b-side rows
        pair_mask: torch.Tensor | None = None  # [B, K] both ratings of the pair present
        if label_mask_a is not None or label_mask_b is not None:
            ones = torch.ones_like(labels_a, dtype=torch.bool)
            mask_a = ones if label_mask_a is None else label_mask_a.bool()
            mask_b = ones if label_mask_b is None else label_mask_b.bool()
            pair_mask = mask_a & mask_b
            observed = torch.cat([mask_a, mask_b])
        scores = torch.cat([out_a.scores, out_b.scores])
        targets = torch.cat([labels_a, labels_b])
        losses: dict[str, torch.Tensor] = {
            "ranking": dimension_ranking_loss(
                ranking_logits, labels_a, labels_b, cfg.ambiguity_threshold, label_mask=pair_mask
            ),
            "contrastive": piece_infonce_loss(
                torch.cat([out_a.projection, out_b.projection]),
                torch.cat([piece_ids_a, piece_ids_b]),
                cfg.temperature,
            ),
            "regression": regression_loss(scores, targets, observed),
        }
        if cfg.lambda_listmle > 0:
            # One list per dimension over every performance in the batch.
            losses["listmle"] = listmle_loss(scores.T, targets.T, None if observed is None else observed.T)
        if cfg.lambda_ccc > 0:
            if observed is not None and not bool(observed.all()):
                raise ValueError("the CCC loss needs complete labels; set lambda_ccc=0 with label masks")
            losses["ccc"] = ccc_loss(scores, targets)
        augmented = [(o, a) for o, a in ((out_a, out_a_aug), (out_b, out_b_aug)) if a is not None]
        if augmented:
            losses["invariance"] = torch.stack([invariance_loss(o.z, a.z) for o, a in augmented]).mean()
        losses["total"] = self.combine(losses)
        return losses

    def combine(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Fixed-lambda sum, or the uncertainty-weighted sum over the active tasks present."""
        present = {t: losses[t] for t in TASKS if t in losses and self.config.weight(t) > 0}
        if not present:
            raise ValueError("every loss weight is zero; nothing to optimise")
        if self.uncertainty is not None:
            return self.uncertainty(present)
        return torch.stack([self.config.weight(t) * v for t, v in present.items()]).sum()
