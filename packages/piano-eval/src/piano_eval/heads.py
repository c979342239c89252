"""Heads shared by every encoder family: pooling, the performance head, the pairwise comparator,
the hierarchical aggregator and the multi-task head with learnable uncertainties.

Masks are boolean with ``True`` marking valid positions. Every pooling is masked so that padded frames
cannot change a result; a row without any valid position is an input error, not a silent NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from piano_eval.dimensions import NUM_PERCEPIANO_DIMENSIONS
from piano_eval.hub import DictConfig, PianoEvalHubMixin, coerce_config


def _check_sizes(config: object) -> None:
    """Every ``*_dim``/``num_*`` field of a size config must be >= 1 and ``dropout`` in [0, 1)."""
    for f in fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        if (f.name.endswith("_dim") or f.name.startswith("num_")) and value < 1:
            raise ValueError(f"{f.name} must be >= 1, got {value}")
    dropout = getattr(config, "dropout", 0.0)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


POOLINGS: tuple[str, ...] = ("attention", "attention_stats")


@dataclass
class HeadConfig(DictConfig):
    """Sizes of the shared performance head (the original's A/S/F defaults: hidden 512, projection 256)."""

    hidden_dim: int = 512
    projection_dim: int = 256
    num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS
    dropout: float = 0.2
    # "attention": the attention-weighted mean of the frames; "attention_stats": that mean and the
    # attention-weighted standard deviation (x-vector statistics pooling), so spread-type qualities
    # (uneven dynamics, irregular timing) reach the head without the encoder having to encode them per frame.
    pooling: str = "attention"

    def __post_init__(self) -> None:
        _check_sizes(self)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")


@dataclass
class HierarchicalConfig(DictConfig):
    """Sizes of the seed-001 hierarchical model: BiLSTM aggregator and per-dimension heads."""

    input_dim: int
    lstm_hidden_dim: int = 256
    num_lstm_layers: int = 2
    num_attention_heads: int = 4
    aggregated_dim: int = 512
    shared_dim: int = 256
    head_hidden_dim: int = 128
    num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS
    dropout: float = 0.1

    def __post_init__(self) -> None:
        _check_sizes(self)


def check_sequence_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Validate ``x [B,T,D]`` against ``mask [B,T]`` and return a bool mask (all valid when ``None``)."""
    if x.dim() != 3:
        raise ValueError(f"expected features [batch, time, dim], got shape {tuple(x.shape)}")
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match features {tuple(x.shape[:2])}")
    mask = mask.to(dtype=torch.bool, device=x.device)
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        rows = torch.nonzero(empty).flatten().tolist()
        raise ValueError(f"mask has no valid positions in batch rows {rows}")
    return mask


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax that gives exactly zero weight to masked positions."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=dim)
    return weights * mask.to(weights.dtype)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x [B,T,D]`` over valid positions of ``mask [B,T]``."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class AttentionPooling(nn.Module):
    """Additive attention pooling over time: ``softmax(w·tanh(Wx))``-weighted sum of frames."""

    def __init__(self, input_dim: int, attention_dim: int | None = None) -> None:
        super().__init__()
        attention_dim = attention_dim or max(input_dim // 2, 1)
        self.score = nn.Sequential(
            nn.Linear(input_dim, attention_dim), nn.Tanh(), nn.Linear(attention_dim, 1, bias=False)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(pooled [B,D], weights [B,T])``; weights sum to one over valid frames."""
        mask = check_sequence_mask(x, mask)
        weights = masked_softmax(self.score(x).squeeze(-1), mask)
        pooled = torch.einsum("bt,btd->bd", weights, x)
        return pooled, weights


class HeadOutput(NamedTuple):
    """What :class:`PerformanceHead` returns for one side of a pair."""

    z: torch.Tensor  # [B, hidden_dim] shared embedding used by the comparator
    projection: torch.Tensor  # [B, projection_dim] embedding for the piece-contrastive loss
    scores: torch.Tensor  # [B, num_dimensions] absolute scores in [0, 1]
    attention: torch.Tensor  # [B, T] pooling weights over input frames
    # [B, K, D] per-dimension tokens, when the model has them (gated fusion reads dimension k from token k)
    tokens: torch.Tensor | None = None


def _mlp_block(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.GELU(), nn.Dropout(dropout))


class PerformanceHead(nn.Module):
    """Masked attention pooling → 2×(Linear, LayerNorm, GELU, Dropout) → z; projection(z); sigmoid regression."""

    def __init__(self, input_dim: int, config: HeadConfig | None = None) -> None:
        super().__init__()
        config = coerce_config(HeadConfig, config) or HeadConfig()
        if input_dim < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        self.input_dim = input_dim
        hidden = config.hidden_dim
        self.pooling = AttentionPooling(input_dim)
        self.with_stats = config.pooling == "attention_stats"
        pooled_dim = 2 * input_dim if self.with_stats else input_dim
        self.encoder = nn.Sequential(
            _mlp_block(pooled_dim, hidden, config.dropout), _mlp_block(hidden, hidden, config.dropout)
        )
        self.projection = nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, config.projection_dim)
        )
        self.regression = nn.Linear(hidden, config.num_dimensions)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        if x.dim() == 3 and x.shape[-1] != self.input_dim:
            raise ValueError(
                f"features have width {x.shape[-1]}, the head expects input_dim={self.input_dim}"
            )
        pooled, attention = self.pooling(x, mask)
        if self.with_stats:
            variance = torch.einsum("bt,btd->bd", attention, (x - pooled.unsqueeze(1)) ** 2)
            pooled = torch.cat([pooled, torch.sqrt(variance + 1e-6)], dim=-1)
        z = self.encoder(pooled)
        return HeadOutput(z, self.projection(z), torch.sigmoid(self.regression(z)), attention)

    def frame_scores(self, frames: torch.Tensor) -> torch.Tensor:
        """Scores ``[T, K]`` of each frame ``[T, D]`` as if the pooling had put all its weight on it (with
        statistics pooling that frame's spread is 0): where the performance sounds weakest to the head."""
        pooled = frames
        if self.with_stats:
            pooled = torch.cat([frames, torch.full_like(frames, 1e-3)], dim=-1)  # sqrt(0 + 1e-6)
        return torch.sigmoid(self.regression(self.encoder(pooled)))


class PairwiseComparator(nn.Module):
    """Per-dimension ranking logits for "a is better than b".

    ``g`` scores the original's features ``[z_a; z_b; z_a−z_b; z_a·z_b]`` and the logit is
    ``g(a, b) − g(b, a)``, so ``f(a, b) = −f(b, a)`` holds exactly (and ``f(a, a) = 0``): swapping the two
    performances flips every decision, which a plain MLP on the concatenation does not guarantee.
    """

    def __init__(
        self, hidden_dim: int, num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.score = nn.Sequential(
            nn.Linear(4 * hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_dimensions),
        )

    def _one_way(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return self.score(torch.cat([z_a, z_b, z_a - z_b, z_a * z_b], dim=-1))

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        if z_a.shape != z_b.shape:
            raise ValueError(f"z_a {tuple(z_a.shape)} and z_b {tuple(z_b.shape)} must have the same shape")
        return self._one_way(z_a, z_b) - self._one_way(z_b, z_a)


class PerformanceScorer(nn.Module, PianoEvalHubMixin, tags=["performance-head"]):
    """:class:`PerformanceHead` + :class:`PairwiseComparator` as one saveable model over frame embeddings."""

    model_description = (
        "Attention-pooled performance head with an antisymmetric pairwise comparator over precomputed "
        "frame embeddings (audio or symbolic)."
    )

    def __init__(self, input_dim: int, head: HeadConfig | None = None) -> None:
        super().__init__()
        config = coerce_config(HeadConfig, head) or HeadConfig()
        self.head = PerformanceHead(input_dim, config)
        self.comparator = PairwiseComparator(config.hidden_dim, config.num_dimensions)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        return self.head(x, mask)

    def compare(self, out_a: HeadOutput, out_b: HeadOutput) -> torch.Tensor:
        """Ranking logits ``[B, K]``; positive means a is rated higher than b on that dimension."""
        return self.comparator(out_a.z, out_b.z)


class MultiHeadAttentionPooling(nn.Module):
    """``num_heads`` learned queries, each producing its own masked softmax over time."""

    def __init__(self, input_dim: int, num_heads: int = 4) -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {num_heads}")
        self.num_heads = num_heads
        self.keys = nn.Linear(input_dim, input_dim)
        self.queries = nn.Parameter(torch.randn(num_heads, input_dim) / input_dim**0.5)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(pooled [B, heads·D], weights [B, heads, T])``."""
        scores = torch.einsum("btd,hd->bht", torch.tanh(self.keys(x)), self.queries)
        weights = masked_softmax(scores, mask.unsqueeze(1))
        pooled = torch.einsum("bht,btd->bhd", weights, x)
        return pooled.flatten(1), weights


class HierarchicalAggregator(nn.Module):
    """BiLSTM over frames, then multi-head attention pooling, then a projection (seed 001, task 2.4).

    Sequences are packed so the backward LSTM never reads padding: padded frames change neither the pooled
    output nor the attention weights. Valid frames must form a prefix of each row (right padding).
    """

    def __init__(
        self,
        input_dim: int,
        lstm_hidden_dim: int = 256,
        num_lstm_layers: int = 2,
        num_heads: int = 4,
        output_dim: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_dim,
            lstm_hidden_dim,
            num_layers=num_lstm_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_lstm_layers > 1 else 0.0,
        )
        self.pooling = MultiHeadAttentionPooling(2 * lstm_hidden_dim, num_heads)
        self.output = nn.Sequential(
            nn.Linear(num_heads * 2 * lstm_hidden_dim, output_dim),
            nn.LayerNorm(output_dim),
            nn.GELU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(aggregated [B, output_dim], attention weights [B, heads, T])``."""
        mask = check_sequence_mask(x, mask)
        lengths = mask.sum(dim=1)
        prefix = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
        if not torch.equal(prefix, mask):
            raise ValueError(
                "HierarchicalAggregator needs right-padded masks (valid frames first in each row)"
            )
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        hidden, _ = self.lstm(packed)
        hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=x.shape[1])
        pooled, weights = self.pooling(hidden, mask)
        return self.output(pooled), weights


class MultiTaskOutput(NamedTuple):
    scores: torch.Tensor  # [B, K] in [0, output_scale]
    log_variances: torch.Tensor  # [K] learnable s_k = log σ_k²

    @property
    def uncertainties(self) -> torch.Tensor:
        """σ_k = exp(s_k / 2), the learned per-dimension noise scale."""
        return torch.exp(0.5 * self.log_variances)


class MultiTaskHead(nn.Module):
    """Shared trunk + one small head per dimension + learnable log-variances (seed 001, task 2.5).

    The log-variances are the ``s_k`` of Kendall & Gal's weighting; pass them to
    :func:`piano_eval.losses.uncertainty_weighted_sum` (or use :class:`UncertaintyWeightedLoss`).
    """

    def __init__(
        self,
        input_dim: int,
        num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS,
        shared_dim: int = 256,
        head_hidden_dim: int = 128,
        dropout: float = 0.1,
        output_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if output_scale <= 0:
            raise ValueError(f"output_scale must be positive, got {output_scale}")
        self.output_scale = output_scale
        self.shared = nn.Sequential(nn.Linear(input_dim, shared_dim), nn.GELU(), nn.Dropout(dropout))
        self.dimension_heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(shared_dim, head_hidden_dim),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(head_hidden_dim, 1),
            )
            for _ in range(num_dimensions)
        )
        self.log_variances = nn.Parameter(torch.zeros(num_dimensions))

    def forward(self, x: torch.Tensor) -> MultiTaskOutput:
        shared = self.shared(x)
        logits = torch.cat([head(shared) for head in self.dimension_heads], dim=-1)
        return MultiTaskOutput(torch.sigmoid(logits) * self.output_scale, self.log_variances)


class HierarchicalMultiTaskModel(nn.Module, PianoEvalHubMixin, tags=["hierarchical", "multi-task"]):
    """Seed-001 composition: :class:`HierarchicalAggregator` → :class:`MultiTaskHead` over frame features."""

    model_description = (
        "BiLSTM + multi-head attention aggregator with per-dimension heads and learned (Kendall & Gal) "
        "uncertainties, regressing perceptual scores from frame embeddings."
    )

    def __init__(self, config: HierarchicalConfig) -> None:
        super().__init__()
        c = coerce_config(HierarchicalConfig, config)
        if c is None:
            raise ValueError("HierarchicalMultiTaskModel needs a HierarchicalConfig (at least input_dim)")
        self.aggregator = HierarchicalAggregator(
            c.input_dim,
            c.lstm_hidden_dim,
            c.num_lstm_layers,
            c.num_attention_heads,
            c.aggregated_dim,
            c.dropout,
        )
        self.head = MultiTaskHead(
            c.aggregated_dim, c.num_dimensions, c.shared_dim, c.head_hidden_dim, c.dropout
        )

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[MultiTaskOutput, torch.Tensor]:
        """Return the multi-task output and the aggregator's attention weights ``[B, heads, T]``."""
        aggregated, weights = self.aggregator(x, mask)
        return self.head(aggregated), weights
