"""Audio + symbolic fusion (F1 cross-attention, F2 concat, F3 per-dimension gates) and the fused model.

Every fusion takes frame sequences ``audio [B, T, Da]`` and ``symbolic [B, L, Ds]`` with boolean masks
(pooled ``[B, D]`` vectors are accepted as length-1 sequences) and returns a :class:`FusionOutput`: a fused
token sequence plus its mask, which the shared :class:`~piano_eval.heads.PerformanceHead` pools. So the same
head, comparator and objective train every fusion, and all three are comparable.

Score conditioning: the symbolic stream may be *performance* MIDI embeddings conditioned on the *score*
MIDI of the same piece; each performance token attends to the score and is represented by itself and its
deviation from the attended score content (what the player did differently from the text).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from piano_eval.dimensions import NUM_PERCEPIANO_DIMENSIONS
from piano_eval.heads import HeadConfig, HeadOutput, check_sequence_mask, masked_mean
from piano_eval.hub import PianoEvalHubMixin
from piano_eval.training import (
    ObjectiveConfig,
    PerformanceModule,
    ScheduleConfig,
    make_pair_collate,
    pad_sequences,
)

FusionType = Literal["cross_attention", "concat", "gated"]
FUSION_TYPES: tuple[str, ...] = ("cross_attention", "concat", "gated")


class Streams(NamedTuple):
    """Both input streams of a fusion as validated sequences of one batch (masks: True = valid)."""

    audio: torch.Tensor  # [B, T, Da]
    audio_mask: torch.Tensor  # [B, T]
    symbolic: torch.Tensor  # [B, L, Ds]
    symbolic_mask: torch.Tensor  # [B, L]

    def pooled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked means ``([B, Da], [B, Ds])`` of both streams."""
        return masked_mean(self.audio, self.audio_mask), masked_mean(self.symbolic, self.symbolic_mask)


class FusionOutput(NamedTuple):
    features: torch.Tensor  # [B, S, fused_dim]
    mask: torch.Tensor  # [B, S] bool
    gates: torch.Tensor | None = None  # [B, K] audio share per dimension (gated fusion only)


def as_sequence(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept ``[B, D]`` (one token) or ``[B, T, D]`` and return a validated sequence and bool mask."""
    if x.dim() == 2:
        if mask is not None:
            raise ValueError("a pooled [B, D] input takes no mask")
        x = x.unsqueeze(1)
    return x, check_sequence_mask(x, mask)


def paired_sequences(
    first: torch.Tensor,
    second: torch.Tensor,
    first_mask: torch.Tensor | None,
    second_mask: torch.Tensor | None,
    names: tuple[str, str] = ("audio", "symbolic"),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two streams as validated sequences of one batch: ``(first, first_mask, second, second_mask)``."""
    first, first_mask = as_sequence(first, first_mask)
    second, second_mask = as_sequence(second, second_mask)
    if first.shape[0] != second.shape[0]:
        raise ValueError(f"{names[0]} batch {first.shape[0]} != {names[1]} batch {second.shape[0]}")
    return first, first_mask, second, second_mask


class Fusion(nn.Module):
    """Base of F1–F3: validates both streams (pooled ``[B, D]`` inputs become one-token sequences) and hands
    them to :meth:`fuse`."""

    def forward(
        self,
        audio: torch.Tensor,
        symbolic: torch.Tensor,
        audio_mask: torch.Tensor | None = None,
        symbolic_mask: torch.Tensor | None = None,
    ) -> FusionOutput:
        return self.fuse(Streams(*paired_sequences(audio, symbolic, audio_mask, symbolic_mask)))

    @abc.abstractmethod
    def fuse(self, x: Streams) -> FusionOutput:
        """Combine the paired audio and symbolic streams (each subclass is one fusion strategy)."""


class CrossAttentionFusion(Fusion):
    """F1: bidirectional cross-attention. Audio frames attend to symbolic tokens and vice versa (pre-norm,
    residual, feed-forward); the two updated streams are concatenated along time with modality embeddings."""

    def __init__(
        self,
        audio_dim: int,
        symbolic_dim: int,
        fused_dim: int = 256,
        num_heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if fused_dim % num_heads:
            raise ValueError(f"fused_dim {fused_dim} must be divisible by num_heads {num_heads}")
        self.audio_in = nn.Linear(audio_dim, fused_dim)
        self.symbolic_in = nn.Linear(symbolic_dim, fused_dim)
        self.audio_norm = nn.LayerNorm(fused_dim)
        self.symbolic_norm = nn.LayerNorm(fused_dim)
        self.audio_to_symbolic = nn.MultiheadAttention(
            fused_dim, num_heads, dropout=dropout, batch_first=True
        )
        self.symbolic_to_audio = nn.MultiheadAttention(
            fused_dim, num_heads, dropout=dropout, batch_first=True
        )
        self.feed_forward = nn.Sequential(
            nn.LayerNorm(fused_dim),
            nn.Linear(fused_dim, 2 * fused_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * fused_dim, fused_dim),
        )
        self.modality = nn.Parameter(torch.zeros(2, fused_dim))
        self.dropout = nn.Dropout(dropout)

    def fuse(self, x: Streams) -> FusionOutput:
        a = self.audio_in(x.audio)
        s = self.symbolic_in(x.symbolic)
        a_n, s_n = self.audio_norm(a), self.symbolic_norm(s)
        a_ctx, _ = self.audio_to_symbolic(
            a_n, s_n, s_n, key_padding_mask=~x.symbolic_mask, need_weights=False
        )
        s_ctx, _ = self.symbolic_to_audio(s_n, a_n, a_n, key_padding_mask=~x.audio_mask, need_weights=False)
        a = a + self.dropout(a_ctx)
        s = s + self.dropout(s_ctx)
        tokens = torch.cat([a + self.modality[0], s + self.modality[1]], dim=1)
        tokens = tokens + self.dropout(self.feed_forward(tokens))
        return FusionOutput(tokens, torch.cat([x.audio_mask, x.symbolic_mask], dim=1))


class ConcatFusion(Fusion):
    """F2: masked means of both streams, concatenated and projected to a single fused token."""

    def __init__(self, audio_dim: int, symbolic_dim: int, fused_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.project = nn.Sequential(
            nn.Linear(audio_dim + symbolic_dim, fused_dim),
            nn.LayerNorm(fused_dim),
            nn.GELU(),
            nn.Dropout(dropout),
        )

    def fuse(self, x: Streams) -> FusionOutput:
        fused = self.project(torch.cat(x.pooled(), dim=-1))
        return FusionOutput(
            fused.unsqueeze(1), torch.ones(fused.shape[0], 1, dtype=torch.bool, device=fused.device)
        )


class GatedFusion(Fusion):
    """F3: one sigmoid gate per perceptual dimension decides how much of that dimension's token comes from
    audio (``g``) versus symbolic (``1 − g``). Output: ``K`` dimension tokens ``g_k·a + (1−g_k)·s + e_k``.

    :meth:`get_gates` exposes the gates, e.g. to check that pedalling leans on audio and timing on MIDI.
    In :class:`FusedPerformanceModule` both per-dimension outputs read dimension ``k`` from token ``k``
    only: the score (:class:`DimensionReadout`) and the ranking logit (:class:`DimensionComparator`), so
    gate ``k`` is exactly the audio share of everything the model says about dimension ``k``. Only the
    whole-performance embeddings (piece-contrastive projection, invariance ``z``) pool all ``K`` gated
    tokens; they carry piece identity, which has no per-dimension meaning.
    """

    def __init__(
        self,
        audio_dim: int,
        symbolic_dim: int,
        fused_dim: int = 256,
        num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.audio_in = nn.Sequential(nn.Linear(audio_dim, fused_dim), nn.LayerNorm(fused_dim))
        self.symbolic_in = nn.Sequential(nn.Linear(symbolic_dim, fused_dim), nn.LayerNorm(fused_dim))
        self.gate = nn.Linear(2 * fused_dim, num_dimensions)
        self.dimension_embedding = nn.Parameter(torch.zeros(num_dimensions, fused_dim))
        self.dropout = nn.Dropout(dropout)

    def get_gates(
        self,
        audio: torch.Tensor,
        symbolic: torch.Tensor,
        audio_mask: torch.Tensor | None = None,
        symbolic_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Audio share per dimension ``[B, K]`` in (0, 1)."""
        gates = self(audio, symbolic, audio_mask, symbolic_mask).gates
        assert gates is not None
        return gates

    def fuse(self, x: Streams) -> FusionOutput:
        audio, symbolic = x.pooled()
        a, s = self.audio_in(audio), self.symbolic_in(symbolic)
        gates = torch.sigmoid(self.gate(torch.cat([a, s], dim=-1)))
        g = gates.unsqueeze(-1)
        tokens = g * a.unsqueeze(1) + (1 - g) * s.unsqueeze(1) + self.dimension_embedding
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return FusionOutput(self.dropout(tokens), mask, gates)


class DimensionReadout(nn.Module):
    """Score ``k`` read from dimension token ``k`` only: ``sigmoid(w_k · LayerNorm(t_k) + b_k)``.

    Used with :class:`GatedFusion` so that each dimension's score depends on its own audio/symbolic gate.
    """

    def __init__(self, fused_dim: int, num_dimensions: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(fused_dim)
        self.weight = nn.Parameter(torch.randn(num_dimensions, fused_dim) / fused_dim**0.5)
        self.bias = nn.Parameter(torch.zeros(num_dimensions))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 3 or tokens.shape[1] != self.weight.shape[0]:
            raise ValueError(
                f"expected [B, {self.weight.shape[0]}, D] dimension tokens, got {tuple(tokens.shape)}"
            )
        return torch.sigmoid(torch.einsum("bkd,kd->bk", self.norm(tokens), self.weight) + self.bias)


class DimensionComparator(nn.Module):
    """Ranking logit ``k`` from dimension token ``k`` of each side only, antisymmetric by construction.

    ``g_k(a, b) = w_k · MLP([t_a; t_b; t_a−t_b; t_a·t_b])`` on layer-normed tokens (MLP shared, ``w_k`` per
    dimension) and ``logit_k = g_k(a, b) − g_k(b, a)``. Used with :class:`GatedFusion` so that the ranking of
    dimension ``k`` depends on its own gate, like its score.
    """

    def __init__(self, fused_dim: int, num_dimensions: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(fused_dim)
        self.hidden = nn.Sequential(nn.Linear(4 * fused_dim, fused_dim), nn.GELU())
        self.weight = nn.Parameter(torch.randn(num_dimensions, fused_dim) / fused_dim**0.5)

    def _one_way(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = self.hidden(torch.cat([a, b, a - b, a * b], dim=-1))
        return torch.einsum("bkd,kd->bk", h, self.weight)

    def forward(self, tokens_a: torch.Tensor, tokens_b: torch.Tensor) -> torch.Tensor:
        expected = (self.weight.shape[0], self.weight.shape[1])
        for tokens in (tokens_a, tokens_b):
            if tokens.dim() != 3 or tuple(tokens.shape[1:]) != expected:
                raise ValueError(
                    f"expected [B, {expected[0]}, {expected[1]}] tokens, got {tuple(tokens.shape)}"
                )
        if tokens_a.shape != tokens_b.shape:
            raise ValueError(f"token shapes differ: {tuple(tokens_a.shape)} vs {tuple(tokens_b.shape)}")
        a, b = self.norm(tokens_a), self.norm(tokens_b)
        return self._one_way(a, b) - self._one_way(b, a)


class ScoreConditioner(nn.Module):
    """Conditions performance-MIDI tokens on score-MIDI tokens: ``out = p + MLP([p; p − attend(p, score)])``."""

    def __init__(self, symbolic_dim: int, num_heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        if symbolic_dim % num_heads:
            raise ValueError(f"symbolic_dim {symbolic_dim} must be divisible by num_heads {num_heads}")
        self.norm = nn.LayerNorm(symbolic_dim)
        self.attend = nn.MultiheadAttention(symbolic_dim, num_heads, dropout=dropout, batch_first=True)
        self.combine = nn.Sequential(
            nn.Linear(2 * symbolic_dim, symbolic_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(symbolic_dim, symbolic_dim),
        )

    def forward(
        self,
        performance: torch.Tensor,
        score: torch.Tensor,
        performance_mask: torch.Tensor | None = None,
        score_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        performance, performance_mask, score, score_mask = paired_sequences(
            performance, score, performance_mask, score_mask, ("performance", "score")
        )
        p, sc = self.norm(performance), self.norm(score)
        aligned, _ = self.attend(p, sc, sc, key_padding_mask=~score_mask, need_weights=False)
        return performance + self.combine(torch.cat([p, p - aligned], dim=-1)), performance_mask


class FusedPerformanceModel(nn.Module, PianoEvalHubMixin, tags=["fusion", "multimodal"]):
    """Optional score conditioning followed by F1/F2/F3 fusion; the saveable fusion part of a fused model."""

    model_description = (
        "Audio + symbolic fusion (cross-attention, concat or per-dimension gates) for piano evaluation."
    )

    def __init__(
        self,
        audio_dim: int,
        symbolic_dim: int,
        fusion_type: str = "cross_attention",
        fused_dim: int = 256,
        num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS,
        num_heads: int = 4,
        dropout: float = 0.1,
        use_score_conditioning: bool = False,
    ) -> None:
        super().__init__()
        if fusion_type not in FUSION_TYPES:
            raise ValueError(f"fusion_type must be one of {FUSION_TYPES}, got {fusion_type!r}")
        self.fusion_type = fusion_type
        self.fused_dim = fused_dim
        self.audio_dim, self.symbolic_dim = audio_dim, symbolic_dim
        self.conditioner = (
            ScoreConditioner(symbolic_dim, num_heads, dropout) if use_score_conditioning else None
        )
        if fusion_type == "cross_attention":
            self.fusion: nn.Module = CrossAttentionFusion(
                audio_dim, symbolic_dim, fused_dim, num_heads, dropout
            )
        elif fusion_type == "concat":
            self.fusion = ConcatFusion(audio_dim, symbolic_dim, fused_dim, dropout)
        else:
            self.fusion = GatedFusion(audio_dim, symbolic_dim, fused_dim, num_dimensions, dropout)
        # Gated fusion reads each dimension's score and ranking logit from its own gated token.
        gated = fusion_type == "gated"
        self.readout = DimensionReadout(fused_dim, num_dimensions) if gated else None
        self.comparator = DimensionComparator(fused_dim, num_dimensions) if gated else None

    def forward(
        self,
        audio: torch.Tensor,
        symbolic: torch.Tensor,
        audio_mask: torch.Tensor | None = None,
        symbolic_mask: torch.Tensor | None = None,
        score: torch.Tensor | None = None,
        score_mask: torch.Tensor | None = None,
    ) -> FusionOutput:
        streams = (("audio", audio, self.audio_dim), ("symbolic", symbolic, self.symbolic_dim))
        streams += (("score", score, self.symbolic_dim),) if score is not None else ()
        for name, x, width in streams:
            if x.shape[-1] != width:
                raise ValueError(f"{name} features have width {x.shape[-1]}, the fusion expects {width}")
        if self.conditioner is not None:
            if score is None:
                raise ValueError("score conditioning is on: pass the score MIDI embeddings (score=...)")
            symbolic, symbolic_mask = self.conditioner(symbolic, score, symbolic_mask, score_mask)
        elif score is not None:
            raise ValueError("score embeddings given but use_score_conditioning=False")
        return self.fusion(audio, symbolic, audio_mask, symbolic_mask)


class CheckpointEncoder(nn.Module):
    """The ``encode`` of a trained :class:`PerformanceModule` loaded from its Lightning checkpoint (``best.ckpt``
    of a ``train fit`` run): how a YAML config gives :class:`FusedPerformanceModule` its frozen encoders::

        audio_encoder:
          class_path: piano_eval.fusion.CheckpointEncoder
          init_args: {module: piano_eval.audio.LoRAMultitaskModel, checkpoint: runs/.../best.ckpt}

    ``output_dim`` is the encoder's feature width (checked against the fusion's ``audio_dim``/``symbolic_dim``).
    """

    def __init__(self, module: str, checkpoint: str) -> None:
        super().__init__()
        import importlib

        module_path, _, class_name = module.rpartition(".")
        try:
            module_class = getattr(importlib.import_module(module_path), class_name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(
                f"cannot import {module!r}: give a class path such as piano_eval.audio.LoRAMultitaskModel"
            ) from None
        if not (isinstance(module_class, type) and issubclass(module_class, PerformanceModule)):
            raise ValueError(
                f"{module} is not a PerformanceModule; a frozen encoder must be one of the pair models"
            )
        if not Path(checkpoint).is_file():
            raise ValueError(f"encoder checkpoint not found: {checkpoint} (train {class_name} first)")
        self.module: PerformanceModule = module_class.load_from_checkpoint(
            checkpoint, map_location="cpu", weights_only=True
        )
        self.output_dim = int(self.module.scorer.head.input_dim)

    def forward(self, part: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.module.encode(part)


def _run_frozen(encoder: nn.Module, inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Call a frozen encoder: a :class:`PerformanceModule` via ``encode``, anything else via ``__call__``."""
    with torch.no_grad():
        out = encoder.encode(inputs) if isinstance(encoder, PerformanceModule) else encoder(inputs)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{type(encoder).__name__} must return (features [B,T,D], mask [B,T])")
    return out[0].detach(), out[1].bool()


class FusedPerformanceModule(PerformanceModule):
    """Fusion + shared head/comparator/objective over frozen encoders or cached embeddings.

    A part is a mapping with, for each stream, either cached embeddings (``"audio"``/``"audio_mask"``,
    ``"symbolic"``/``"symbolic_mask"``, ``"score"``/``"score_mask"``) or raw encoder inputs
    (``"audio_input"``, ``"symbolic_input"``, ``"score_input"``) when the matching frozen encoder was given.
    Frozen encoders return ``(features, mask)``; the score stream uses the symbolic encoder.

    With ``fusion_type="gated"`` the scores and ranking logits come from the fusion's per-dimension
    readout and comparator (dimension ``k`` from gated token ``k``); the shared scorer then only supplies
    the pooled ``z``/projection, and its own comparator is frozen (unused).

    ``schedule``: the shared warmup + cosine of :class:`~piano_eval.training.PerformanceModule`. There is no
    ``backbone_lr_ratio``: the encoders are frozen (no trainable backbone to slow down) and the fusion layers
    are freshly initialised like the head, so every trainable parameter shares ``learning_rate``. Give an
    encoder its lower rate when training it, before fusion.
    """

    def __init__(
        self,
        audio_dim: int,
        symbolic_dim: int,
        fusion_type: FusionType = "cross_attention",
        fused_dim: int = 256,
        fusion_heads: int = 4,
        fusion_dropout: float = 0.1,
        use_score_conditioning: bool = False,
        audio_encoder: nn.Module | None = None,
        symbolic_encoder: nn.Module | None = None,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
    ) -> None:
        super().__init__(fused_dim, head, learning_rate, weight_decay, objective, schedule)
        self.save_hyperparameters(ignore=["audio_encoder", "symbolic_encoder"])
        self.fusion = FusedPerformanceModel(
            audio_dim,
            symbolic_dim,
            fusion_type,
            fused_dim,
            self.num_dimensions,
            fusion_heads,
            fusion_dropout,
            use_score_conditioning,
        )
        if self.fusion.comparator is not None:
            self.scorer.comparator.requires_grad_(False)  # replaced by the per-dimension comparator
        for name, encoder, width in (
            ("audio", audio_encoder, audio_dim),
            ("symbolic", symbolic_encoder, symbolic_dim),
        ):
            found = getattr(encoder, "output_dim", None)
            if isinstance(found, int) and found != width:
                raise ValueError(f"the {name} encoder gives {found}-wide features but {name}_dim is {width}")
        self.audio_encoder = audio_encoder
        self.symbolic_encoder = symbolic_encoder
        for encoder in (audio_encoder, symbolic_encoder):
            if encoder is not None:
                encoder.requires_grad_(False)
                encoder.eval()

    def train(self, mode: bool = True) -> FusedPerformanceModule:
        """Frozen encoders stay in eval mode (no dropout, fixed norm statistics) while the rest trains."""
        super().train(mode)
        for encoder in (self.audio_encoder, self.symbolic_encoder):
            if encoder is not None:
                encoder.eval()
        return self

    def _stream(
        self, part: Mapping[str, Any], name: str, encoder: nn.Module | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        if f"{name}_input" in part:
            if encoder is None:
                raise ValueError(f"part has '{name}_input' but no frozen encoder was given for it")
            return _run_frozen(encoder, part[f"{name}_input"])
        if name in part:
            return part[name], part.get(f"{name}_mask")
        return None

    def fuse(self, part: Mapping[str, Any]) -> FusionOutput:
        audio = self._stream(part, "audio", self.audio_encoder)
        symbolic = self._stream(part, "symbolic", self.symbolic_encoder)
        if audio is None or symbolic is None:
            raise KeyError("a fused part needs both audio ('audio' or 'audio_input') and symbolic streams")
        score = self._stream(part, "score", self.symbolic_encoder)
        score_features, score_mask = score if score is not None else (None, None)
        return self.fusion(audio[0], symbolic[0], audio[1], symbolic[1], score_features, score_mask)

    def hub_components(self) -> dict[str, nn.Module]:
        return {"fusion": self.fusion, **super().hub_components()}

    def encode(self, part: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.fuse(part)
        return fused.features, fused.mask

    def forward(self, part: Mapping[str, Any]) -> HeadOutput:
        """Shared head over the fused tokens; with gated fusion, scores come from the per-dimension readout."""
        fused = self.fuse(part)
        out = self.scorer(fused.features, fused.mask)
        if self.fusion.readout is not None:
            out = out._replace(scores=self.fusion.readout(fused.features), tokens=fused.features)
        return out

    def ranking_logits(self, out_a: HeadOutput, out_b: HeadOutput) -> torch.Tensor:
        """Gated fusion: per-dimension comparator on the gated tokens; otherwise the scorer's comparator."""
        if self.fusion.comparator is None:
            return super().ranking_logits(out_a, out_b)
        if out_a.tokens is None or out_b.tokens is None:
            raise ValueError("gated fusion ranks dimension tokens: pass outputs of this module's forward")
        return self.fusion.comparator(out_a.tokens, out_b.tokens)

    def gates(self, part: Mapping[str, Any]) -> torch.Tensor:
        """Per-dimension audio share ``[B, K]`` (gated fusion only)."""
        fused = self.fuse(part)
        if fused.gates is None:
            raise ValueError(f"fusion_type {self.fusion.fusion_type!r} has no gates; use 'gated'")
        return fused.gates


def collate_fused_parts(parts: list[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad per-performance streams (``"audio"`` ``[T, Da]``, ``"symbolic"`` ``[L, Ds]``, optional ``"score"``)
    into batched tensors with ``<stream>_mask`` entries."""
    if not parts:
        raise ValueError("empty batch")
    streams = [name for name in ("audio", "symbolic", "score") if name in parts[0]]
    batch: dict[str, torch.Tensor] = {}
    for name in streams:
        if any(name not in p for p in parts):
            raise KeyError(f"stream {name!r} missing from some parts")
        batch[name], batch[f"{name}_mask"] = pad_sequences([p[name] for p in parts])
    return batch


collate_fused_pairs = make_pair_collate(collate_fused_parts)
