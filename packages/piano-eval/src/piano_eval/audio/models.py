"""Shared base for the audio models (A1 LoRA, A2 staged, A3 unfreezing).

A model either owns a backbone (parts are waveforms: :class:`~piano_eval.audio.encoder.Waveforms` or
``{"waveform": [B, N], "mask": [B, N], "sample_rate": int}``) or runs backbone-free on cached frame
embeddings (parts are ``{"features": [B, T, D], "mask": [B, T]}``, as produced by
:mod:`piano_eval.audio.cache`), which makes experiments on precomputed MuQ/MERT features fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from piano_eval.audio.backbones import BackboneConfig
from piano_eval.audio.chunking import ChunkingConfig
from piano_eval.audio.encoder import AudioEncoder, SampleRateMismatchError, Waveforms
from piano_eval.audio.layers import LayerSelection
from piano_eval.heads import HeadConfig
from piano_eval.hub import coerce_config
from piano_eval.training import ObjectiveConfig, PerformanceModule, ScheduleConfig, feature_part

# How the Hub mixin writes/reads the dataclass arguments of the models' __init__ in config.json.
AUDIO_CODERS: dict[type, tuple[Any, Any]] = {
    BackboneConfig: (BackboneConfig.to_dict, BackboneConfig.from_dict),
    LayerSelection: (LayerSelection.to_dict, LayerSelection.from_dict),
    ChunkingConfig: (ChunkingConfig.to_dict, ChunkingConfig.from_dict),
    HeadConfig: (HeadConfig.to_dict, HeadConfig.from_dict),
    ObjectiveConfig: (ObjectiveConfig.to_dict, ObjectiveConfig.from_dict),
    ScheduleConfig: (ScheduleConfig.to_dict, ScheduleConfig.from_dict),
}
# Lightning checkpoints (torch.load(weights_only=True)) rebuild these from the saved hyper-parameters.
torch.serialization.add_safe_globals([BackboneConfig, LayerSelection, ChunkingConfig])


def default_layers(num_layers: int) -> LayerSelection:
    """Mean of the top four layers (MuQ/MERT-95M: layers 9-12, the original's choice)."""
    return LayerSelection.mean_range(max(1, num_layers - 3), num_layers)


def top_layers(num_layers: int, count: int = 4) -> list[int]:
    return list(range(max(1, num_layers - count + 1), num_layers + 1))


def check_layer_indices(layers: Sequence[int], num_layers: int, what: str) -> list[int]:
    """Validate 1-based transformer layer indices (layer ``k`` = hidden state ``k``)."""
    layers = [int(k) for k in layers]
    bad = [k for k in layers if not 1 <= k <= num_layers]
    if bad:
        raise ValueError(f"{what} {bad} out of range: the backbone has layers 1..{num_layers}")
    return layers


def collate_waveform_parts(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Collate ``{"waveform": [N_i], "sample_rate": int}`` items into one padded waveform part."""
    if not parts:
        raise ValueError("empty batch")
    rates = {int(p["sample_rate"]) for p in parts}
    if len(rates) != 1:
        raise SampleRateMismatchError(f"a batch mixes sample rates {sorted(rates)}; resample before batching")
    waves = [torch.as_tensor(p["waveform"], dtype=torch.float32) for p in parts]
    if any(w.ndim != 1 or w.numel() == 0 for w in waves):
        raise ValueError("each waveform must be a non-empty 1-D tensor")
    longest = max(w.numel() for w in waves)
    batch = torch.zeros(len(waves), longest)
    mask = torch.zeros(len(waves), longest, dtype=torch.bool)
    for row, wave in enumerate(waves):
        batch[row, : wave.numel()] = wave
        mask[row, : wave.numel()] = True
    return {"waveform": batch, "mask": mask, "sample_rate": rates.pop()}


class AudioPerformanceModule(PerformanceModule):
    """:class:`PerformanceModule` whose ``encode`` runs an :class:`AudioEncoder` or reads cached features.

    ``schedule`` and ``backbone_lr_ratio``: the shared training recipe, see :class:`PerformanceModule`; the
    ratio applies to the backbone's trainable parameters, so backbone-free it leaves the one head rate.
    """

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
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        backbone = coerce_config(BackboneConfig, backbone)
        layers = coerce_config(LayerSelection, layers)
        chunking = coerce_config(ChunkingConfig, chunking)
        encoder: AudioEncoder | None = None
        if backbone is not None:
            built = backbone.build()
            encoder = AudioEncoder(built, layers or default_layers(built.num_layers), chunking)
            if input_dim is not None and input_dim != encoder.output_dim:
                raise ValueError(
                    f"input_dim={input_dim} disagrees with the backbone features ({encoder.output_dim}); "
                    "leave input_dim unset when a backbone is given"
                )
            input_dim = encoder.output_dim
        elif input_dim is None:
            raise ValueError("backbone-free (cached-embedding) mode needs input_dim, the embedding width")
        super().__init__(input_dim, head, learning_rate, weight_decay, objective, schedule, backbone_lr_ratio)
        # Subclasses save their own (wider) arguments again; this makes the base class checkpointable too.
        self.save_hyperparameters()
        self.feature_dim = input_dim
        self.encoder = encoder

    @property
    def has_backbone(self) -> bool:
        return self.encoder is not None

    def encode(self, part: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.encoder is None:
            return feature_part(part, f"backbone-free {type(self).__name__}")
        if isinstance(part, Waveforms):
            return self.encoder(part)
        if not isinstance(part, Mapping) or "waveform" not in part or "sample_rate" not in part:
            raise TypeError(
                "a model with a backbone expects Waveforms or {'waveform': [B,N], 'mask': [B,N], 'sample_rate': int}"
            )
        return self.encoder(part["waveform"], part.get("mask"), sample_rate=int(part["sample_rate"]))

    def trainable_parameter_names(self) -> list[str]:
        return [name for name, p in self.named_parameters() if p.requires_grad]
