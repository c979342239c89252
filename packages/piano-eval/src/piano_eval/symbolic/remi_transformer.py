"""S1: a BERT-style Transformer over REMI tokens, pretrained with masked-token prediction (15 %, 80/10/10)
and finetuned with the shared ranking + contrastive + regression objective.

Token ids come from the core's :class:`shared_audio_core.tokenize.PianoTokenizer`; the model only needs its
``vocab_size``, ``pad_id``, ``mask_id`` and ``special_ids`` (:meth:`RemiTransformerModule.from_tokenizer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from piano_eval.heads import HeadConfig
from piano_eval.hub import PianoEvalHubMixin
from piano_eval.training import (
    ObjectiveConfig,
    PretrainableModule,
    ScheduleConfig,
    Stage,
    is_lightning_checkpoint,
    load_part_weights,
    load_pretrained_part,
    make_pair_collate,
)

IGNORE_INDEX = -100


def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int] = (),
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: pick ``mlm_probability`` of the maskable tokens; of those 80 % → MASK, 10 % → a random
    non-special token, 10 % unchanged. Labels hold the original id at picked positions and ``-100`` elsewhere.

    Padding and special tokens (BOS/EOS/PAD/MASK) are never picked.
    """
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
    if input_ids.shape != attention_mask.shape:
        raise ValueError("input_ids and attention_mask must have the same shape")
    specials = torch.tensor(sorted(set(special_ids) | {mask_id}), dtype=torch.long, device=input_ids.device)
    allowed = torch.ones(vocab_size, dtype=torch.bool, device=input_ids.device)
    allowed[specials[specials < vocab_size]] = False
    replacement_pool = torch.nonzero(allowed).flatten()
    if replacement_pool.numel() == 0:
        raise ValueError("vocabulary has no non-special tokens to sample replacements from")

    def rand(shape: torch.Size) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device="cpu").to(input_ids.device)

    maskable = attention_mask.bool() & ~torch.isin(input_ids, specials)
    picked = maskable & (rand(input_ids.shape) < mlm_probability)
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    action = rand(input_ids.shape)
    to_mask = picked & (action < 0.8)
    to_random = picked & (action >= 0.8) & (action < 0.9)
    random_index = torch.randint(
        len(replacement_pool), input_ids.shape, generator=generator, device="cpu"
    ).to(input_ids.device)
    masked = input_ids.clone()
    masked[to_mask] = mask_id
    masked[to_random] = replacement_pool[random_index][to_random]
    return masked, labels


class RemiTransformerEncoder(nn.Module, PianoEvalHubMixin, tags=["symbolic", "remi", "transformer"]):
    """Token + learned position embeddings → pre-norm Transformer encoder; tied MLM output layer."""

    model_description = "S1: BERT-style Transformer encoder over REMI piano tokens (MLM-pretrainable)."

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        d_model: int = 256,
        num_heads: int = 4,
        num_layers: int = 4,
        dim_feedforward: int = 1024,
        dropout: float = 0.1,
        max_seq_len: int = 1024,
    ) -> None:
        super().__init__()
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id {pad_id} outside vocabulary of size {vocab_size}")
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} must be divisible by num_heads {num_heads}")
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.max_seq_len = max_seq_len
        self.d_model = d_model
        self.token_embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.position_embedding = nn.Embedding(max_seq_len, d_model)
        self.embedding_norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.mlm_transform = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.LayerNorm(d_model))
        self.mlm_bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Contextual token states ``[B, L, d_model]``; padded positions never influence valid ones."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, length], got {tuple(input_ids.shape)}")
        length = input_ids.shape[1]
        if length > self.max_seq_len:
            raise ValueError(
                f"sequence length {length} exceeds max_seq_len {self.max_seq_len}; truncate first"
            )
        if attention_mask is None:
            attention_mask = input_ids != self.pad_id
        attention_mask = attention_mask.bool()
        if not bool(attention_mask.any(dim=1).all()):
            raise ValueError("every sequence needs at least one valid token")
        if int(input_ids.max()) >= self.vocab_size or int(input_ids.min()) < 0:
            raise ValueError(f"token ids must be in [0, {self.vocab_size})")
        positions = torch.arange(length, device=input_ids.device).unsqueeze(0)
        hidden = self.token_embedding(input_ids) + self.position_embedding(positions)
        hidden = self.dropout(self.embedding_norm(hidden))
        return self.layers(hidden, src_key_padding_mask=~attention_mask)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits, with the output projection tied to the token embedding."""
        return F.linear(self.mlm_transform(hidden), self.token_embedding.weight, self.mlm_bias)


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over positions whose label is not ``-100``."""
    if not bool((labels != IGNORE_INDEX).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


def collate_token_parts(
    sequences: Sequence[Sequence[int] | torch.Tensor], pad_id: int = 0, max_len: int | None = None
) -> dict[str, torch.Tensor]:
    """Right-pad token id sequences into ``{"input_ids": [B, L], "attention_mask": [B, L]}`` (truncating at
    ``max_len``)."""
    if not sequences:
        raise ValueError("empty batch of sequences")
    tensors = [torch.as_tensor(s, dtype=torch.long)[:max_len] for s in sequences]
    if any(t.dim() != 1 or t.numel() == 0 for t in tensors):
        raise ValueError("each sequence must be a non-empty 1-D list of token ids (REMI, not Octuple)")
    input_ids = nn.utils.rnn.pad_sequence(tensors, batch_first=True, padding_value=pad_id)
    lengths = torch.tensor([t.numel() for t in tensors])
    attention_mask = torch.arange(input_ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def make_remi_pair_collate(
    pad_id: int = 0, max_len: int | None = None
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """``collate_fn`` for :class:`~piano_eval.training.PerformancePairDataset` over token sequences."""
    return make_pair_collate(lambda seqs: collate_token_parts(seqs, pad_id, max_len))


def tokenize_midi_files(
    paths: Sequence[str | Path], tokenizer: Any, max_len: int | None = None
) -> list[torch.Tensor]:
    """Encode MIDI files with a core ``PianoTokenizer`` (REMI) into id tensors, with a progress bar."""
    out = []
    for path in tqdm(paths, desc="tokenizing MIDI", unit="file", disable=len(paths) < 10):
        ids = torch.as_tensor(tokenizer.encode(path), dtype=torch.long)
        if ids.dim() != 1:
            raise ValueError(
                f"{path}: expected flat REMI ids, got shape {tuple(ids.shape)} (Octuple tokenizer?)"
            )
        out.append(ids[:max_len])
    return out


class RemiTransformerModule(PretrainableModule):
    """Lightning wrapper for S1 with two stages.

    ``stage="pretrain"``: batches are ``{"input_ids", "attention_mask"}`` (optionally with ``labels``);
    tokens are masked on the fly and the loss is MLM cross-entropy. ``stage="finetune"``: pair batches
    (see :mod:`piano_eval.training.collate`) whose parts are token batches; loss is the shared objective.
    ``pretrained_encoder`` loads a saved :class:`RemiTransformerEncoder` (``save_pretrained`` folder or Hub id)
    or the encoder of a pretraining run's Lightning checkpoint (``*.ckpt``; the sizes must match it).
    ``schedule`` and ``backbone_lr_ratio``: the shared training recipe, see
    :class:`~piano_eval.training.PerformanceModule` (:meth:`from_tokenizer` passes them on with its kwargs).
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        mask_id: int = 3,
        special_ids: list[int] | None = None,
        d_model: int = 256,
        num_heads: int = 4,
        num_layers: int = 4,
        dim_feedforward: int = 1024,
        encoder_dropout: float = 0.1,
        max_seq_len: int = 1024,
        stage: Stage = "finetune",
        mlm_probability: float = 0.15,
        pretrained_encoder: str | None = None,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__(
            d_model, stage, head, learning_rate, weight_decay, objective, schedule, backbone_lr_ratio
        )
        self.save_hyperparameters()
        if not 0 <= mask_id < vocab_size:
            raise ValueError(f"mask_id {mask_id} outside vocabulary of size {vocab_size}")
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        self.mask_id = mask_id
        self.special_ids = sorted(set(special_ids or []) | {pad_id, mask_id})
        self.mlm_probability = mlm_probability
        if pretrained_encoder is not None and not is_lightning_checkpoint(pretrained_encoder):
            self.encoder = load_pretrained_part(
                RemiTransformerEncoder, pretrained_encoder, vocab_size=vocab_size, d_model=d_model
            )
        else:
            self.encoder = RemiTransformerEncoder(
                vocab_size,
                pad_id,
                d_model,
                num_heads,
                num_layers,
                dim_feedforward,
                encoder_dropout,
                max_seq_len,
            )
            if pretrained_encoder is not None:  # a pretrain run's Lightning checkpoint (train fit output)
                load_part_weights(self.encoder, pretrained_encoder)
                # the weights are this module's own now: its checkpoints rebuild without the pretrain file
                self.record_init_arg("pretrained_encoder", None)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, **kwargs: Any) -> RemiTransformerModule:
        """Build with the vocabulary and special ids of a core ``PianoTokenizer``."""
        return cls(
            vocab_size=tokenizer.vocab_size,
            pad_id=tokenizer.pad_id,
            mask_id=tokenizer.mask_id,
            special_ids=sorted(tokenizer.special_ids),
            **kwargs,
        )

    def hub_components(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, **super().hub_components()}

    def encode(self, part: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        mask = part["attention_mask"].bool()
        return self.encoder(part["input_ids"], mask), mask

    def mlm_step(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        input_ids, attention_mask = batch["input_ids"], batch["attention_mask"].bool()
        if "labels" in batch:
            masked, labels = input_ids, batch["labels"]
        else:
            masked, labels = mask_tokens(
                input_ids,
                attention_mask,
                mask_id=self.mask_id,
                vocab_size=self.encoder.vocab_size,
                special_ids=self.special_ids,
                mlm_probability=self.mlm_probability,
            )
        return mlm_loss(self.encoder.mlm_logits(self.encoder(masked, attention_mask)), labels)

    def pretrain_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        loss = self.mlm_step(batch)
        return {"mlm": loss, "total": loss}

    def pretrain_batch_size(self, batch: Mapping[str, torch.Tensor]) -> int:
        return int(batch["input_ids"].shape[0])
