"""A1: LoRA on the backbone's real attention projections + the shared multi-task heads.

:func:`apply_lora` resolves the query/value projections of the chosen transformer layers to full
module names on the actual backbone (``encoder.layers.8.attention.q_proj`` for wav2vec2/HuBERT/MERT,
``conformer.layers.8.self_attn.linear_q`` for MuQ's Conformer, ``layers.8.q_proj`` for the log-mel
model), freezes the backbone and injects peft LoRA adapters into exactly those modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from peft import LoraConfig, inject_adapter_in_model
from torch import nn

from piano_eval.audio.backbones import Backbone, BackboneConfig
from piano_eval.audio.chunking import ChunkingConfig
from piano_eval.audio.layers import LayerSelection
from piano_eval.audio.models import AUDIO_CODERS, AudioPerformanceModule, check_layer_indices, top_layers
from piano_eval.heads import HeadConfig
from piano_eval.hub import DictConfig, PianoEvalHubMixin, coerce_config
from piano_eval.training import ObjectiveConfig, ScheduleConfig

# Projection names used by the backbone families we support, per logical projection.
PROJECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "q_proj": ("q_proj", "linear_q", "query"),
    "k_proj": ("k_proj", "linear_k", "key"),
    "v_proj": ("v_proj", "linear_v", "value"),
    "out_proj": ("out_proj", "linear_out"),
}


class LoRATargetError(ValueError):
    """The requested projections do not exist in the requested layers."""


@dataclass
class LoRASettings(DictConfig):
    """LoRA hyper-parameters (original: rank 16, alpha 32 on q/v of layers 9-12)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    layers: list[int] | None = None  # 1-based; None = top four layers
    targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if not self.targets:
            raise ValueError("LoRA needs at least one target projection")


torch.serialization.add_safe_globals([LoRASettings])  # Lightning checkpoints store it in the hparams


def find_lora_targets(backbone: Backbone, layers: Sequence[int], targets: Sequence[str]) -> list[str]:
    """Full module names (relative to ``backbone``) of the ``nn.Linear`` projections to adapt."""
    layers = check_layer_indices(layers, backbone.num_layers, "LoRA layers")
    names: list[str] = []
    block = dict(backbone.named_modules())
    for layer in layers:
        prefix = f"{backbone.layers_path}.{layer - 1}."
        for target in targets:
            aliases = PROJECTION_ALIASES.get(target, (target,))
            found = [
                name
                for name, module in block.items()
                if name.startswith(prefix)
                and isinstance(module, nn.Linear)
                and name.split(".")[-1] in aliases
            ]
            if not found:
                raise LoRATargetError(
                    f"no linear projection named {aliases} in layer {layer} ({prefix}*) of {backbone.name!r}"
                )
            names.extend(sorted(found))
    return names


def freeze(module: nn.Module) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(False)


def apply_lora(backbone: Backbone, settings: LoRASettings) -> list[str]:
    """Freeze ``backbone`` and add LoRA adapters to the chosen projections; return their module names."""
    layers = settings.layers if settings.layers is not None else top_layers(backbone.num_layers)
    names = find_lora_targets(backbone, layers, settings.targets)
    freeze(backbone)
    config = LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=names
    )
    inject_adapter_in_model(config, backbone)
    for name, parameter in backbone.named_parameters():
        parameter.requires_grad_("lora_" in name)
    return names


def lora_module_names(module: nn.Module) -> list[str]:
    """Names of modules that carry LoRA adapters (peft ``LoraLayer``s)."""
    from peft.tuners.lora import LoraLayer

    return [name for name, m in module.named_modules() if isinstance(m, LoraLayer)]


def count_trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class LoRAMultitaskModel(
    AudioPerformanceModule,
    PianoEvalHubMixin,
    tags=["audio", "lora", "a1"],
    coders={**AUDIO_CODERS, LoRASettings: (LoRASettings.to_dict, LoRASettings.from_dict)},
):
    """A1: frozen backbone + LoRA adapters + shared head, trained with ranking/contrastive/regression/invariance.

    Only LoRA matrices and head parameters are trainable. Without a backbone (``backbone=None``) the
    model trains the same head and objective on cached embeddings of width ``input_dim``.
    ``schedule`` and ``backbone_lr_ratio``: the shared training recipe, see
    :class:`~piano_eval.training.PerformanceModule`; the backbone group is the LoRA matrices.
    """

    model_description = (
        "A1: audio backbone with LoRA adapters on attention projections and a multi-task head."
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
            schedule=schedule,
            backbone_lr_ratio=backbone_lr_ratio,
        )
        self.save_hyperparameters()
        self.lora_settings = coerce_config(LoRASettings, lora) or LoRASettings()
        self.lora_targets: list[str] = []
        if self.encoder is not None:
            self.lora_targets = apply_lora(self.encoder.backbone, self.lora_settings)
