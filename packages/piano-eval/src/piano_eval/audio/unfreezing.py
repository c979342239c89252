"""A3: gradual unfreezing of the top transformer layers with discriminative learning rates.

``unfreeze_schedule`` maps an epoch to the 1-based layers that become trainable from that epoch on
(default: top layer at epoch 0, then one layer deeper every 10 epochs, four in all). Every scheduled
layer gets its own optimizer param group from the start with
``lr = learning_rate * backbone_lr_ratio * lr_decay ** d``, ``d`` = depth from the top layer, so unfreezing
only flips ``requires_grad`` and no optimizer rebuild is needed (frozen parameters have no gradient and are
skipped by AdamW).

The two rate settings compose, they do not compete: ``backbone_lr_ratio`` (the shared recipe's backbone
rate, relative to the head) sets the top scheduled layer's rate and ``lr_decay`` the step from each layer to
the one below it. The defaults (ratio 1, decay 0.8) are A3's original ladder, whose top layer trains at the
head's rate; seed 001's backbone rate (``backbone_lr_ratio=0.1``) moves the whole ladder down tenfold.

Backbone-free mode trains ``adapter_layers`` Transformer blocks on top of cached embeddings and applies
the same schedule to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn

from piano_eval.audio.backbones import BackboneConfig
from piano_eval.audio.chunking import ChunkingConfig
from piano_eval.audio.layers import LayerSelection
from piano_eval.audio.logmel import SelfAttentionBlock
from piano_eval.audio.lora import freeze
from piano_eval.audio.models import AUDIO_CODERS, AudioPerformanceModule, check_layer_indices
from piano_eval.heads import HeadConfig
from piano_eval.hub import PianoEvalHubMixin
from piano_eval.training import ObjectiveConfig, ScheduleConfig
from piano_eval.training.schedule import configure_optimization


def default_unfreeze_schedule(num_layers: int, every: int = 10, count: int = 4) -> dict[int, list[int]]:
    """``{0: [L], every: [L-1], 2*every: [L-2], ...}`` for the top ``count`` layers."""
    return {i * every: [num_layers - i] for i in range(min(count, num_layers))}


def normalize_schedule(schedule: Mapping[Any, Any], num_layers: int) -> dict[int, list[int]]:
    """Integer epochs (JSON stores keys as text) and validated 1-based layers."""
    result: dict[int, list[int]] = {}
    for epoch, layers in schedule.items():
        epoch = int(epoch)
        if epoch < 0:
            raise ValueError(f"unfreeze epochs must be >= 0, got {epoch}")
        result[epoch] = check_layer_indices(layers, num_layers, f"layers scheduled at epoch {epoch}")
    scheduled = [k for layers in result.values() for k in layers]
    if len(scheduled) != len(set(scheduled)):
        raise ValueError(f"a layer is scheduled twice in {result}")
    return dict(sorted(result.items()))


class GradualUnfreezingModel(
    AudioPerformanceModule, PianoEvalHubMixin, tags=["audio", "gradual-unfreezing", "a3"], coders=AUDIO_CODERS
):
    """A3: backbone (or embedding adapter) layers unfrozen top-down on an epoch schedule.

    ``schedule`` (warmup + cosine) and ``backbone_lr_ratio`` are the shared training recipe of
    :class:`~piano_eval.training.PerformanceModule`; the ratio scales every scheduled layer's rate on top of
    ``lr_decay`` (see the module docs and :meth:`layer_learning_rate`). The warmup + cosine factor multiplies
    every group alike, so the ladder's proportions hold throughout the run.
    """

    model_description = "A3: gradual top-down unfreezing with discriminative per-layer learning rates."

    def __init__(
        self,
        backbone: BackboneConfig | None = None,
        layers: LayerSelection | None = None,
        chunking: ChunkingConfig | None = None,
        input_dim: int | None = None,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        unfreeze_schedule: dict[int, list[int]] | None = None,
        lr_decay: float = 0.8,
        adapter_layers: int = 2,
        adapter_heads: int = 4,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__(
            backbone,
            layers,
            chunking,
            input_dim,
            head,
            learning_rate,
            weight_decay,
            objective,
            schedule,
            backbone_lr_ratio,
        )
        self.save_hyperparameters()
        if not 0.0 < lr_decay <= 1.0:
            raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
        self.lr_decay = lr_decay
        self.adapter: nn.ModuleList | None = None
        if self.encoder is None:
            if adapter_layers < 1:
                raise ValueError("backbone-free A3 needs adapter_layers >= 1 (the layers it unfreezes)")
            heads = adapter_heads if self.feature_dim % adapter_heads == 0 else 1
            self.adapter = nn.ModuleList(
                SelfAttentionBlock(self.feature_dim, heads, self.head_config.dropout)
                for _ in range(adapter_layers)
            )
        else:
            freeze(self.encoder.backbone)
        schedule = (
            unfreeze_schedule if unfreeze_schedule is not None else default_unfreeze_schedule(self.num_layers)
        )
        self.unfreeze_schedule = normalize_schedule(schedule, self.num_layers)
        freeze(self.schedulable_layers)
        self.apply_unfreeze_schedule(0)

    @property
    def schedulable_layers(self) -> nn.ModuleList:
        if self.adapter is not None:
            return self.adapter
        assert self.encoder is not None
        return self.encoder.backbone.transformer_layers

    @property
    def num_layers(self) -> int:
        return len(self.schedulable_layers)

    def layers_due(self, epoch: int) -> list[int]:
        """Layers that must be trainable at ``epoch``."""
        return sorted(k for start, layers in self.unfreeze_schedule.items() if start <= epoch for k in layers)

    def apply_unfreeze_schedule(self, epoch: int) -> list[int]:
        """Unfreeze every layer due by ``epoch`` (never re-freezes); return the newly unfrozen ones."""
        newly = [k for k in self.layers_due(epoch) if k not in self.get_unfrozen_layers()]
        for k in newly:
            for parameter in self.schedulable_layers[k - 1].parameters():
                parameter.requires_grad_(True)
        return newly

    def get_unfrozen_layers(self) -> list[int]:
        return [
            k
            for k, layer in enumerate(self.schedulable_layers, start=1)
            if any(p.requires_grad for p in layer.parameters())
        ]

    def on_train_epoch_start(self) -> None:
        for k in self.apply_unfreeze_schedule(self.current_epoch):
            self.log(f"unfrozen/layer_{k}", float(self.current_epoch))

    def layer_learning_rate(self, layer: int) -> float:
        """``learning_rate * backbone_lr_ratio * lr_decay ** (num_layers - layer)``: the top layer trains at
        the backbone rate (the head's rate when ``backbone_lr_ratio`` is 1), each layer below ``lr_decay``
        times the one above."""
        return self.learning_rate * self.backbone_lr_ratio * self.lr_decay ** (self.num_layers - layer)

    def encode(self, part: Any) -> tuple[torch.Tensor, torch.Tensor]:
        features, mask = super().encode(part)
        if self.adapter is not None:
            keep = mask.unsqueeze(-1).to(features.dtype)
            for block in self.adapter:
                features = block(features, mask) * keep
        return features, mask

    def param_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        """A ``"head"`` group (everything outside the scheduled layers) at ``learning_rate`` and one group per
        scheduled layer, frozen or not yet, at :meth:`layer_learning_rate` rescaled to ``learning_rate``."""
        scheduled = [k for layers in self.unfreeze_schedule.values() for k in layers]
        layer_params = {id(p) for k in scheduled for p in self.schedulable_layers[k - 1].parameters()}
        groups: list[dict[str, Any]] = [
            {
                "params": [
                    p for n, p in self.named_parameters() if p.requires_grad and id(p) not in layer_params
                ],
                "lr": learning_rate,
                "name": "head",
            }
        ]
        scale = learning_rate / self.learning_rate
        for k in sorted(scheduled, reverse=True):
            groups.append(
                {
                    "params": list(self.schedulable_layers[k - 1].parameters()),
                    "lr": self.layer_learning_rate(k) * scale,
                    "name": f"layer_{k}",
                }
            )
        return groups

    def configure_optimizers(self) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
        return configure_optimization(
            self, self.param_groups(self.learning_rate), self.weight_decay, self.schedule
        )
