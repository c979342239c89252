"""S3: continuous MIDI-feature encoder (multi-scale 1D CNN + Transformer) with wav2vec-style pretraining.

Input: frame-wise features from :func:`shared_audio_core.tokenize.extract_continuous_features`
(``[T, C]``: mean pitch, onset velocity, note density, pedal, time since onset, polyphony, onset count).

Pretraining (wav2vec 2.0 recipe): the CNN's local features ``z`` are quantised by a Gumbel-softmax
codebook into targets ``q``; spans of ``z`` are replaced by a learned mask vector before the
Transformer; for every masked frame the context vector must pick its own ``q`` among the quantised
frames of the same sequence (InfoNCE, cosine / temperature), plus a codebook-diversity penalty.
Fine-tuning uses the shared pairwise multi-task objective on the unmasked context vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from shared_audio_core.tokenize import CONTINUOUS_FEATURE_NAMES, extract_continuous_features
from torch import nn

from piano_eval.heads import HeadConfig
from piano_eval.hub import PianoEvalHubMixin
from piano_eval.training import (
    ObjectiveConfig,
    PretrainableModule,
    ScheduleConfig,
    Stage,
    collate_feature_parts,
    feature_part,
    load_part_weights,
)


def features_from_midi(midi: str | Path | Any, frame_rate: float = 50.0) -> torch.Tensor:
    """``[T, C]`` float32 continuous features of a MIDI file or ``symusic.Score``."""
    return torch.from_numpy(np.asarray(extract_continuous_features(midi, frame_rate=frame_rate)))


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x * mask.unsqueeze(-1).to(x.dtype)


class MultiScaleConv(nn.Module):
    """Parallel Conv1d branches (kernels 3, 7, 15 by default) concatenated and projected to ``hidden_size``."""

    def __init__(
        self, input_channels: int, hidden_size: int, kernel_sizes: Sequence[int] = (3, 7, 15)
    ) -> None:
        super().__init__()
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel sizes must be odd (length-preserving), got {list(kernel_sizes)}")
        self.branches = nn.ModuleList(
            nn.Conv1d(input_channels, hidden_size, kernel_size=k, padding=k // 2) for k in kernel_sizes
        )
        self.mix = nn.Conv1d(hidden_size * len(kernel_sizes), hidden_size, kernel_size=1)
        self.refine = nn.Conv1d(hidden_size, hidden_size, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = _masked(x, mask).transpose(1, 2)
        h = F.gelu(self.mix(torch.cat([F.gelu(branch(h)) for branch in self.branches], dim=1)))
        h = h * mask.unsqueeze(1).to(h.dtype)  # masked frames must not feed the next convolution
        h = F.gelu(self.refine(h)).transpose(1, 2)
        return _masked(self.norm(h), mask)


class GumbelCodebook(nn.Module):
    """Product quantiser (``groups`` codebooks of ``entries`` vectors) with straight-through Gumbel softmax."""

    def __init__(self, input_dim: int, code_dim: int, groups: int = 2, entries: int = 32) -> None:
        super().__init__()
        if code_dim % groups:
            raise ValueError(f"code_dim {code_dim} must be divisible by groups {groups}")
        self.groups, self.entries = groups, entries
        self.logits = nn.Linear(input_dim, groups * entries)
        self.codevectors = nn.Parameter(torch.randn(groups, entries, code_dim // groups))

    def forward(
        self, z: torch.Tensor, mask: torch.Tensor, temperature: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(q [B,T,code_dim], diversity_loss)``; diversity is ``1 - perplexity / (G·V)``."""
        batch, frames, _ = z.shape
        logits = self.logits(z).view(batch, frames, self.groups, self.entries)
        if self.training:
            onehot = F.gumbel_softmax(logits.float(), tau=temperature, hard=True, dim=-1).to(z.dtype)
        else:
            onehot = F.one_hot(logits.argmax(-1), self.entries).to(z.dtype)
        q = torch.einsum("btgv,gvd->btgd", onehot, self.codevectors).reshape(batch, frames, -1)
        probs = logits.float().softmax(-1)[mask]  # [N, G, V] over valid frames
        avg = probs.mean(0)
        perplexity = torch.exp(-(avg * torch.log(avg + 1e-7)).sum(-1)).sum()
        total = self.groups * self.entries
        return q, (total - perplexity) / total


def span_mask(
    mask: torch.Tensor, mask_prob: float, span: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """wav2vec-style span masking over each sequence's valid frames: ~``mask_prob`` of them, >= one span."""
    chosen = torch.zeros_like(mask, dtype=torch.bool)
    for row in range(mask.shape[0]):
        valid = torch.nonzero(mask[row]).flatten()
        length = valid.numel()
        if length < 2:
            continue
        width = max(1, min(span, length - 1))
        spans = max(1, round(mask_prob * length / width))
        starts = torch.randint(0, length - width + 1, (spans,), generator=generator)
        for start in starts.tolist():
            chosen[row, valid[start : start + width].to(mask.device)] = True
    return chosen & mask.bool()


class ContinuousEncoder(nn.Module, PianoEvalHubMixin, tags=["symbolic", "continuous-features", "s3"]):
    """Multi-scale CNN → (optional masking) → Transformer; returns context and local features.

    Hub-saveable on its own, so :meth:`ContinuousPerformanceModel.save_components` writes it as ``encoder/``.
    """

    model_description = "S3: multi-scale 1D CNN + Transformer encoder over continuous MIDI features."

    def __init__(
        self,
        input_channels: int = len(CONTINUOUS_FEATURE_NAMES),
        hidden_size: int = 256,
        kernel_sizes: Sequence[int] = (3, 7, 15),
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.1,
        max_frames: int = 4096,
    ) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"encoder width {hidden_size} must be divisible by num_heads {num_heads}")
        self.input_channels = input_channels
        self.conv = MultiScaleConv(input_channels, hidden_size, kernel_sizes)
        self.mask_embedding = nn.Parameter(torch.randn(hidden_size) * 0.02)
        self.positions = nn.Embedding(max_frames, hidden_size)
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            num_heads,
            4 * hidden_size,
            dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(hidden_size)

    @staticmethod
    def compress(features: torch.Tensor) -> torch.Tensor:
        """Signed log1p: counts, densities and seconds become comparable to the [0, 1] columns."""
        return torch.sign(features) * torch.log1p(features.abs())

    def forward(
        self, features: torch.Tensor, mask: torch.Tensor, masked_positions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if features.ndim != 3 or features.shape[-1] != self.input_channels:
            raise ValueError(f"features must be [B, T, {self.input_channels}], got {tuple(features.shape)}")
        if features.shape[1] > self.positions.num_embeddings:
            raise ValueError(f"{features.shape[1]} frames exceed max_frames={self.positions.num_embeddings}")
        mask = mask.bool()
        local = self.conv(self.compress(torch.nan_to_num(features)), mask)
        h = local
        if masked_positions is not None:
            h = torch.where(masked_positions.unsqueeze(-1), self.mask_embedding.to(h.dtype), h)
        positions = torch.arange(h.shape[1], device=h.device)
        h = _masked(h + self.positions(positions), mask)
        key_padding = ~(mask | ~mask.any(dim=1, keepdim=True))
        context = self.transformer(h, src_key_padding_mask=key_padding)
        return _masked(self.final_norm(context), mask), local


class ContinuousPerformanceModel(
    PretrainableModule,
    PianoEvalHubMixin,
    tags=["symbolic", "continuous-features", "s3"],
    coders={
        HeadConfig: (HeadConfig.to_dict, HeadConfig.from_dict),
        ObjectiveConfig: (ObjectiveConfig.to_dict, ObjectiveConfig.from_dict),
        ScheduleConfig: (ScheduleConfig.to_dict, ScheduleConfig.from_dict),
    },
):
    """S3: :class:`ContinuousEncoder` + shared head; ``stage="pretrain"`` trains the wav2vec-style objective.

    Parts are ``{"features": [B, T, C], "mask": [B, T]}`` (:func:`collate_feature_parts`).
    ``pretrained_encoder`` starts the encoder from a pretraining run: its Lightning checkpoint (``*.ckpt``) or
    a ``save_pretrained`` folder of this model (the encoder sizes must match it). ``schedule`` and
    ``backbone_lr_ratio`` are the shared recipe of :class:`~piano_eval.training.PerformanceModule`; the
    encoder and the pretraining codebook/projection form the backbone group.

    Hub components (:meth:`hub_components`): ``encoder`` and ``scorer``. The pretraining-only codebook and
    context projection are left out (finetuning and scoring do not use them); ``save_pretrained`` and
    Lightning checkpoints keep the whole model.
    """

    model_description = (
        "S3: multi-scale 1D CNN + Transformer over continuous MIDI features, wav2vec-style pretraining."
    )

    def __init__(
        self,
        input_channels: int = len(CONTINUOUS_FEATURE_NAMES),
        encoder_dim: int = 256,
        kernel_sizes: list[int] | None = None,
        num_layers: int = 4,
        num_heads: int = 4,
        encoder_dropout: float = 0.1,
        max_frames: int = 4096,
        code_dim: int = 128,
        codebook_groups: int = 2,
        codebook_entries: int = 32,
        mask_prob: float = 0.5,
        mask_span: int = 5,
        contrastive_temperature: float = 0.1,
        diversity_weight: float = 0.1,
        gumbel_temperature: tuple[float, float, float] = (2.0, 0.5, 0.999),
        stage: Stage = "finetune",
        pretrained_encoder: str | None = None,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__(
            encoder_dim, stage, head, learning_rate, weight_decay, objective, schedule, backbone_lr_ratio
        )
        self.save_hyperparameters()
        if not 0.0 < mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
        self.encoder = ContinuousEncoder(
            input_channels,
            encoder_dim,
            tuple(kernel_sizes or (3, 7, 15)),
            num_layers,
            num_heads,
            encoder_dropout,
            max_frames,
        )
        if pretrained_encoder is not None:
            load_part_weights(self.encoder, pretrained_encoder)
            # the weights are this model's own now: checkpoints and save_pretrained rebuild without the source
            self.record_init_arg("pretrained_encoder", None)
        self.quantizer = GumbelCodebook(encoder_dim, code_dim, codebook_groups, codebook_entries)
        self.context_projection = nn.Linear(encoder_dim, code_dim)
        self.mask_prob, self.mask_span = mask_prob, mask_span
        self.contrastive_temperature = contrastive_temperature
        self.diversity_weight = diversity_weight
        self.gumbel_start, self.gumbel_end, self.gumbel_decay = (float(t) for t in gumbel_temperature)

    def hub_components(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, **super().hub_components()}

    def encode(self, part: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        features, mask = feature_part(part, type(self).__name__)
        context, _ = self.encoder(features, mask)
        return context, mask

    def gumbel_temperature(self) -> float:
        step = self.global_step if self._trainer is not None else 0
        return max(self.gumbel_end, self.gumbel_start * self.gumbel_decay**step)

    def contrastive_losses(
        self, features: torch.Tensor, mask: torch.Tensor, masked_positions: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """wav2vec 2.0 loss: each masked frame's context must identify its own quantised target.

        Distractors are the quantised targets of every other valid frame of the same sequence; those
        equal to the target (codebook collisions) are excluded as in wav2vec 2.0.
        """
        mask = mask.bool()
        if masked_positions is None:
            masked_positions = span_mask(mask, self.mask_prob, self.mask_span)
        masked_positions = masked_positions & mask
        if not bool(masked_positions.any()):
            raise ValueError("no masked frames: sequences need at least two valid frames")
        context, local = self.encoder(features, mask, masked_positions)
        targets, diversity = self.quantizer(local, mask, self.gumbel_temperature())
        predictions = self.context_projection(context)
        sim = (
            torch.einsum("btd,bsd->bts", F.normalize(predictions, dim=-1), F.normalize(targets, dim=-1))
            / self.contrastive_temperature
        )  # [B, T(query), T(candidate)]
        same = torch.eye(sim.shape[1], dtype=torch.bool, device=sim.device).unsqueeze(0)
        collision = (targets.unsqueeze(2) == targets.unsqueeze(1)).all(-1) & ~same
        valid_candidate = mask.unsqueeze(1) & ~collision
        logits = sim.masked_fill(~valid_candidate, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
        own = log_prob.diagonal(dim1=1, dim2=2)  # [B, T]
        contrastive = -own[masked_positions].mean()
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == torch.arange(sim.shape[1], device=sim.device))[masked_positions]
        total = contrastive + self.diversity_weight * diversity
        return {
            "contrastive": contrastive,
            "diversity": diversity,
            "total": total,
            "accuracy": accuracy.float().mean(),
        }

    def pretrain_losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return self.contrastive_losses(batch["features"], batch["mask"], batch.get("masked_positions"))

    def pretrain_batch_size(self, batch: Mapping[str, Any]) -> int:
        return int(batch["features"].shape[0])


def collate_continuous_features(sequences: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Pad ``[T_i, C]`` feature tensors into a pretraining/encoding batch ``{"features", "mask"}``."""
    return collate_feature_parts(list(sequences))


__all__ = [
    "ContinuousEncoder",
    "ContinuousPerformanceModel",
    "GumbelCodebook",
    "MultiScaleConv",
    "collate_continuous_features",
    "features_from_midi",
    "span_mask",
]
