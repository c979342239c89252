"""Decoder-only transformer for drum token sequences, with a per-layer KV cache.

The model is conditioned the simplest robust way: the style and tempo are tokens at the start of the
sequence (``[BOS, Style_x, TempoBin_y, ...]``), so a plain causal language model learns to condition on
them. Defaults are small enough to train on a laptop CPU in minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

IGNORE_INDEX = -100
"""Label value that ``F.cross_entropy`` skips; used for PAD positions."""

MODEL_CARD_TEMPLATE = """---
{{ card_data }}
---

# drum-gen DrumPatternTransformer

A small decoder-only transformer that writes General MIDI drum patterns one token at a time.
Sequences start with `[BOS, Style_<name>, TempoBin_<bpm>]`; the model then generates REMI-style drum
tokens (Bar / TimeSig / Position / PitchDrum / Velocity) until EOS or the requested number of bars.

- Library: `drum-gen` (`drum_gen.model.DrumPatternTransformer`)
- Training data: the procedural style corpus of `drum_gen.corpus` (quantized patterns; humanization,
  including swing, is applied after generation by `drum_gen.humanize`).
- Objective: next-token cross-entropy with exactly one shift; PAD positions are ignored (-100).

## Use

```python
from drum_gen.loader import load_model
from drum_gen.generator import DrumGenerator

generator = DrumGenerator(load_model("path/or/hub-repo"))
pattern = generator.generate(style="J Dilla", bars=4, tempo_bpm=90, seed=0)
pattern.write_midi("groove.mid")
```

Or `drum-gen generate --model path/or/hub-repo --style "J Dilla" --bars 4 --tempo 90 -o groove.mid`.

## Limitations

Trained on a procedural corpus of four producer-inspired styles; it imitates those rules, not
recordings of the producers. Evaluation numbers are in the package's `docs/results.md`.
"""


@dataclass
class DrumTransformerConfig:
    """Hyper-parameters of :class:`DrumPatternTransformer` (stored in ``config.json``)."""

    vocab_size: int
    pad_id: int = 0
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    max_seq_len: int = 512
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} outside the vocabulary of size {self.vocab_size}")
        if self.max_seq_len < 2:
            raise ValueError(f"max_seq_len must be >= 2, got {self.max_seq_len}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrumTransformerConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown DrumTransformerConfig keys: {sorted(unknown)}")
        return cls(**data)


LayerCache = tuple[torch.Tensor, torch.Tensor]
"""Keys and values of one layer, each ``[batch, heads, past_len, head_dim]``."""


class CausalSelfAttention(nn.Module):
    def __init__(self, config: DrumTransformerConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.d_model // config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, past: LayerCache | None) -> tuple[torch.Tensor, LayerCache]:
        batch, new_len, d_model = x.shape
        q, k, v = self.qkv(x).split(d_model, dim=-1)
        q, k, v = (t.view(batch, new_len, self.n_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        total_len = k.shape[2]
        past_len = total_len - new_len
        if past_len == 0:
            mask = None
            is_causal = new_len > 1
        elif new_len == 1:
            mask = None  # a single new query may attend to every cached key
            is_causal = False
        else:
            # New query i sits at absolute position past_len + i and may see keys 0..past_len + i.
            query_pos = torch.arange(past_len, total_len, device=x.device)[:, None]
            key_pos = torch.arange(total_len, device=x.device)[None, :]
            mask = key_pos <= query_pos
            is_causal = False
        attended = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
        )
        attended = attended.transpose(1, 2).reshape(batch, new_len, d_model)
        return self.out(attended), (k, v)


class DecoderBlock(nn.Module):
    def __init__(self, config: DrumTransformerConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff),
            nn.GELU(),
            nn.Linear(config.d_ff, config.d_model),
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, past: LayerCache | None) -> tuple[torch.Tensor, LayerCache]:
        attended, cache = self.attn(self.norm1(x), past)
        x = x + self.drop(attended)
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, cache


class DrumPatternTransformer(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="drum-gen",
    tags=["music", "midi", "drums", "symbolic-music-generation"],
    license="apache-2.0",
    model_card_template=MODEL_CARD_TEMPLATE,
):
    """GPT-style pre-norm decoder with learned positions and an optional KV cache.

    ``forward(ids, past_key_values)`` returns ``(logits, cache)``; feeding the cache back with only the
    new tokens gives the same logits as re-running the full sequence, at a fraction of the cost.
    """

    def __init__(self, config: DrumTransformerConfig | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(config, dict):  # from_pretrained passes config.json back as a dict
            config = DrumTransformerConfig.from_dict(config)
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.max_seq_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = (
            self.token_embedding.weight
        )  # weight tying: fewer parameters, better small-data fit
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        input_ids: torch.Tensor,
        past_key_values: list[LayerCache] | None = None,
    ) -> tuple[torch.Tensor, list[LayerCache]]:
        """Logits ``[batch, new_len, vocab]`` for ``input_ids`` ``[batch, new_len]`` and the updated cache."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, seq], got shape {tuple(input_ids.shape)}")
        past_len = 0 if not past_key_values else past_key_values[0][0].shape[2]
        new_len = input_ids.shape[1]
        if past_len + new_len > self.config.max_seq_len:
            raise ValueError(
                f"sequence length {past_len + new_len} exceeds max_seq_len {self.config.max_seq_len}; "
                "use sliding windows for long inputs"
            )
        if past_key_values is not None and len(past_key_values) not in (0, len(self.blocks)):
            raise ValueError(f"cache has {len(past_key_values)} layers, model has {len(self.blocks)}")
        positions = torch.arange(past_len, past_len + new_len, device=input_ids.device)
        x = self.drop(self.token_embedding(input_ids) + self.position_embedding(positions)[None])
        new_cache: list[LayerCache] = []
        for index, block in enumerate(self.blocks):
            layer_past = past_key_values[index] if past_key_values else None
            x, layer_cache = block(x, layer_past)
            new_cache.append(layer_cache)
        return self.lm_head(self.final_norm(x)), new_cache


def shift_labels(input_ids: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token labels for teacher forcing: exactly one shift, PAD labels set to -100.

    Position t of the inputs predicts token t + 1; the last token has nothing to predict and is dropped.
    """
    inputs = input_ids[:, :-1]
    labels = input_ids[:, 1:].clone()
    labels[labels == pad_id] = IGNORE_INDEX
    return inputs, labels


def next_token_loss(model: DrumPatternTransformer, input_ids: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting each next token, ignoring PAD targets."""
    inputs, labels = shift_labels(input_ids, model.config.pad_id)
    if not (labels != IGNORE_INDEX).any():
        raise ValueError("batch has no non-PAD target tokens; the loss would be NaN")
    logits, _ = model(inputs)
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


def sliding_windows(
    ids: list[int], window: int, stride: int | None = None, prefix_len: int = 0
) -> list[list[int]]:
    """Split a long token sequence into training windows of at most ``window`` tokens.

    The first ``prefix_len`` tokens (the BOS/style/tempo conditioning) are repeated at the start of every
    window so that each window remains conditioned. Consecutive windows overlap by ``window - stride``
    body tokens; the last window always reaches the end of the sequence.
    """
    if window <= prefix_len + 1:
        raise ValueError(f"window ({window}) must exceed prefix_len + 1 ({prefix_len + 1})")
    if len(ids) <= window:
        return [list(ids)]
    prefix, body = list(ids[:prefix_len]), list(ids[prefix_len:])
    body_window = window - prefix_len
    stride = body_window // 2 if stride is None else stride
    if not 0 < stride <= body_window:
        raise ValueError(f"stride must be in 1..{body_window}, got {stride}")
    starts = list(range(0, len(body) - body_window + 1, stride))
    if starts[-1] + body_window < len(body):
        starts.append(len(body) - body_window)
    return [prefix + body[start : start + body_window] for start in starts]
