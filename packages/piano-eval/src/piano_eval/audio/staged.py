"""A2: staged domain adaptation — self-supervised first, then supervised.

Stage ``"self_supervised"`` needs no labels: clean/augmented views of each performance are pulled
together (augmentation-invariance MSE on ``z``) while performances of the same piece are positives of
a piece InfoNCE over the projections. Stage ``"supervised"`` is A1's multi-task objective.
:meth:`StagedAdaptationModel.switch_to_supervised` changes stage and, inside a running ``Trainer``,
rebuilds the optimizer so no Adam moments from the label-free stage leak into the supervised one.

Self-supervised batches are either ``{"clean": part, "augmented": part, "piece_ids": [B]}`` or
ordinary pair batches carrying ``"a_aug"``/``"b_aug"`` (labels unused), so one pair loader with
augmentations can feed both stages of a single run (``supervised_start_epoch``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig

from piano_eval.audio.backbones import BackboneConfig
from piano_eval.audio.chunking import ChunkingConfig
from piano_eval.audio.layers import LayerSelection
from piano_eval.audio.lora import LoRAMultitaskModel, LoRASettings
from piano_eval.heads import HeadConfig
from piano_eval.losses import invariance_loss, piece_infonce_loss
from piano_eval.training import ObjectiveConfig, ScheduleConfig
from piano_eval.training.schedule import configure_optimization

Stage = Literal["self_supervised", "supervised"]
STAGES: tuple[str, ...] = ("self_supervised", "supervised")


class StagedAdaptationModel(LoRAMultitaskModel, tags=["audio", "staged-adaptation", "a2"]):
    """A2: A1's encoder (backbone + LoRA, or cached embeddings) trained in two stages.

    ``schedule`` and ``backbone_lr_ratio``: the shared training recipe, see
    :class:`~piano_eval.training.PerformanceModule`. Both stages use them, relative to the stage's rate
    (``self_supervised_learning_rate``, then ``learning_rate``); the schedule restarts at the switch.
    """

    model_description = (
        "A2: staged adaptation — self-supervised invariance/contrastive stage, then supervised."
    )

    def __init__(
        self,
        backbone: BackboneConfig | None = None,
        layers: LayerSelection | None = None,
        chunking: ChunkingConfig | None = None,
        lora: LoRASettings | None = None,
        input_dim: int | None = None,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        stage: Stage = "self_supervised",
        self_supervised_learning_rate: float | None = None,
        self_supervised_contrastive_weight: float = 1.0,
        self_supervised_invariance_weight: float = 1.0,
        supervised_start_epoch: int | None = None,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__(
            backbone,
            layers,
            chunking,
            lora,
            input_dim,
            head,
            learning_rate,
            weight_decay,
            objective,
            schedule,
            backbone_lr_ratio,
        )
        self.save_hyperparameters()
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        if self_supervised_learning_rate is not None and self_supervised_learning_rate <= 0:
            raise ValueError(
                f"self_supervised_learning_rate must be positive, got {self_supervised_learning_rate}"
            )
        if min(self_supervised_contrastive_weight, self_supervised_invariance_weight) < 0:
            raise ValueError("self-supervised loss weights must be >= 0")
        self.stage: str = stage
        self.self_supervised_learning_rate = self_supervised_learning_rate or learning_rate
        self.ssl_weights = {
            "contrastive": self_supervised_contrastive_weight,
            "invariance": self_supervised_invariance_weight,
        }
        self.supervised_start_epoch = supervised_start_epoch

    # ------------------------------------------------------------------------------------------ stages

    def switch_to_supervised(self) -> None:
        """Enter the supervised stage; inside a fit, replace the optimizer (fresh state, supervised lr)."""
        if self.stage == "supervised":
            return
        self.stage = "supervised"
        self.record_init_arg("stage", "supervised")  # checkpoints and save_pretrained keep the stage
        trainer = self._trainer
        if trainer is not None and trainer.training:
            trainer.strategy.setup_optimizers(trainer)

    def on_train_epoch_start(self) -> None:
        start = self.supervised_start_epoch
        if start is not None and self.stage == "self_supervised" and self.current_epoch >= start:
            self.switch_to_supervised()

    def current_learning_rate(self) -> float:
        return self.self_supervised_learning_rate if self.stage == "self_supervised" else self.learning_rate

    def configure_optimizers(self) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
        """The shared recipe at the current stage's rate; a schedule restarts its warmup at the switch."""
        return configure_optimization(
            self, self.param_groups(self.current_learning_rate()), self.weight_decay, self.schedule
        )

    # ------------------------------------------------------------------------------------------ losses

    @staticmethod
    def self_supervised_views(batch: Mapping[str, Any]) -> list[tuple[Any, Any, torch.Tensor]]:
        """``(clean, augmented, piece_ids)`` triples from either self-supervised batch format."""
        if "clean" in batch:
            if "augmented" not in batch or "piece_ids" not in batch:
                raise KeyError("a self-supervised batch needs 'clean', 'augmented' and 'piece_ids'")
            return [(batch["clean"], batch["augmented"], batch["piece_ids"])]
        views = [
            (batch[side], batch[f"{side}_aug"], batch[f"piece_ids_{side}"])
            for side in ("a", "b")
            if f"{side}_aug" in batch
        ]
        if not views:
            raise KeyError(
                "the self-supervised stage needs {'clean','augmented','piece_ids'} or pair batches with "
                "'a_aug'/'b_aug' augmented views"
            )
        return views

    def self_supervised_losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        projections, pieces, invariances = [], [], []
        for clean, augmented, piece_ids in self.self_supervised_views(batch):
            out_clean, out_aug = self(clean), self(augmented)
            projections += [out_clean.projection, out_aug.projection]
            pieces += [piece_ids, piece_ids]
            invariances.append(invariance_loss(out_clean.z, out_aug.z))
        losses = {
            "contrastive": piece_infonce_loss(
                torch.cat(projections), torch.cat(pieces), self.objective.config.temperature
            ),
            "invariance": torch.stack(invariances).mean(),
        }
        losses["total"] = sum(self.ssl_weights[k] * losses[k] for k in ("contrastive", "invariance"))
        return losses

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        if self.stage == "supervised":
            return super().training_step(batch, batch_idx)
        losses = self.self_supervised_losses(batch)
        self.log_losses("train_ssl", losses, len(self.self_supervised_views(batch)[0][2]))
        return losses["total"]

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        if self.stage == "supervised" or "labels_a" in batch:
            return super().validation_step(batch, batch_idx)
        losses = self.self_supervised_losses(batch)
        self.log_losses("val_ssl", losses, len(self.self_supervised_views(batch)[0][2]))
        return losses["total"]
