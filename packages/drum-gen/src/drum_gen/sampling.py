"""Autoregressive sampling: temperature, top-k, top-p, EOS and bar-count stopping, batches, seeds.

Generation normally runs with the model's KV cache (one new token per step); ``use_cache=False``
re-runs the whole prefix every step. Both paths see the same logits, so with the same seed they draw
the same tokens — the cache only changes the cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

import torch

from drum_gen import gm
from drum_gen.model import DrumPatternTransformer, LayerCache
from drum_gen.styles import BarRule


@dataclass
class SamplingConfig:
    """How to turn logits into tokens. ``top_k=0`` and ``top_p=1.0`` disable those filters."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.temperature <= 10.0:
            raise ValueError(f"temperature must be in (0, 10], got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 disables it), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1] (1 disables it), got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set logits outside the top-k and outside the minimal top-p nucleus to ``-inf``.

    The nucleus is the smallest set of highest-probability tokens whose total probability reaches
    ``top_p``; the most likely token is always kept.
    """
    filtered = logits.clone()
    if top_k > 0 and top_k < filtered.shape[-1]:
        kth_value = torch.topk(filtered, top_k, dim=-1).values[..., -1:]
        filtered = filtered.masked_fill(filtered < kth_value, float("-inf"))
    if top_p < 1.0:
        sorted_logits, sorted_index = torch.sort(filtered, dim=-1, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p.
        remove_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        remove_sorted[..., 0] = False
        remove = remove_sorted.scatter(-1, sorted_index, remove_sorted)
        filtered = filtered.masked_fill(remove, float("-inf"))
    return filtered


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token id per row of ``logits`` ``[batch, vocab]``."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    filtered = filter_logits(logits.float() / temperature, top_k=top_k, top_p=top_p)
    probs = torch.softmax(filtered, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


@dataclass
class StopCondition:
    """When a sequence is finished: an EOS token, or the start of bar ``num_bars + 1``.

    ``bar_token_ids`` are the tokens that open a bar (REMI ``Bar_*``); a sequence that asks for
    ``num_bars`` bars ends when the model opens one more bar than that.
    """

    eos_id: int
    pad_id: int
    bar_token_ids: frozenset[int] = frozenset()
    num_bars: int | None = None

    def __post_init__(self) -> None:
        if self.num_bars is not None and self.num_bars < 1:
            raise ValueError(f"num_bars must be >= 1, got {self.num_bars}")
        if self.num_bars is not None and not self.bar_token_ids:
            raise ValueError("bar-count stopping needs the tokenizer's bar token ids")


@torch.no_grad()
def generate(
    model: DrumPatternTransformer,
    prompt_ids: torch.Tensor,
    stop: StopCondition,
    config: SamplingConfig | None = None,
    *,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    suppress_token_ids: Iterable[int] = (),
    constraint: TokenConstraint | None = None,
) -> list[list[int]]:
    """Continue each prompt row of ``prompt_ids`` ``[batch, prompt_len]`` until it stops.

    Returns one token list per row: the prompt followed by the generated tokens, ending with EOS when the
    sequence stopped (on EOS or on the bar limit; the extra bar token is replaced by EOS) and without EOS
    when ``max_new_tokens`` or the model's ``max_seq_len`` ran out. Seeding: pass ``generator`` or set
    ``config.seed``; the same seed gives the same output on the same device.

    PAD is never sampled (it is never a training target, so its logit means nothing), nor is any id in
    ``suppress_token_ids`` (e.g. BOS and the conditioning tokens, which only belong in the prompt).
    A ``constraint`` (e.g. :class:`RemiGrammar`) further restricts each step to well-formed tokens.
    """
    config = config or SamplingConfig()
    if prompt_ids.dim() != 2 or prompt_ids.shape[1] == 0:
        raise ValueError(
            f"prompt_ids must be a non-empty [batch, prompt_len] tensor, got {tuple(prompt_ids.shape)}"
        )
    device = next(model.parameters()).device
    prompt_ids = prompt_ids.to(device)
    if generator is None and config.seed is not None:
        generator = torch.Generator(device=device).manual_seed(config.seed)
    was_training = model.training
    model.eval()
    batch = prompt_ids.shape[0]
    bar_ids = torch.tensor(sorted(stop.bar_token_ids), device=device, dtype=torch.long)
    bars_opened = (
        torch.isin(prompt_ids, bar_ids).sum(dim=1) if len(bar_ids) else torch.zeros(batch, device=device)
    )
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    sequence = prompt_ids
    cache: list[LayerCache] | None = None
    step_input = prompt_ids
    suppressed = torch.tensor(sorted({stop.pad_id, *suppress_token_ids}), device=device, dtype=torch.long)
    if constraint is not None:
        constraint.start(prompt_ids.tolist())
    max_new = min(config.max_new_tokens, model.config.max_seq_len - prompt_ids.shape[1])
    try:
        for _ in range(max_new):
            if use_cache:
                logits, cache = model(step_input, past_key_values=cache)
            else:
                logits, _ = model(sequence)
            step_logits = logits[:, -1, :].index_fill(-1, suppressed, float("-inf"))
            if constraint is not None:
                step_logits = step_logits.masked_fill(~constraint.allowed().to(device), float("-inf"))
            next_token = sample_next_token(
                step_logits, config.temperature, config.top_k, config.top_p, generator
            )
            if stop.num_bars is not None and len(bar_ids):
                opens_bar = torch.isin(next_token, bar_ids)
                bars_opened = bars_opened + opens_bar.long()
                over_limit = opens_bar & (bars_opened > stop.num_bars)
                next_token = torch.where(over_limit, torch.full_like(next_token, stop.eos_id), next_token)
            next_token = torch.where(finished, torch.full_like(next_token, stop.pad_id), next_token)
            sequence = torch.cat([sequence, next_token[:, None]], dim=1)
            if constraint is not None:
                constraint.advance(next_token.tolist())
            step_input = next_token[:, None]
            finished = finished | (next_token == stop.eos_id)
            if bool(finished.all()):
                break
    finally:
        model.train(was_training)
    rows: list[list[int]] = []
    for row in sequence.tolist():
        if stop.eos_id in row[prompt_ids.shape[1] :]:
            row = row[: row.index(stop.eos_id, prompt_ids.shape[1]) + 1]
        rows.append(row)
    return rows


class TokenConstraint(Protocol):
    """Incremental per-row token filter used by :func:`generate`."""

    def start(self, prompts: list[list[int]]) -> None:
        """Reset to one state per row and consume the prompt tokens."""

    def allowed(self) -> torch.Tensor:
        """Boolean ``[batch, vocab]`` mask of tokens allowed at the next step (never all False)."""

    def advance(self, tokens: list[int]) -> None:
        """Consume one sampled token per row."""


@dataclass
class _RowState:
    last: str = "prefix"
    position: int = -1
    pitches: set[int] = field(default_factory=set)
    bars: int = 0
    hits: set[tuple[int, int]] = field(default_factory=set)  # (position, pitch) in the current bar


class RemiGrammar:
    """Only well-formed REMI drum sequences: a small model's syntax slips are masked, not sampled.

    Enforced: the body starts with ``Bar``; ``Position`` values increase within a bar; every
    ``PitchDrum`` follows a ``Position`` or a ``Velocity`` and is followed by a ``Velocity``; a pitch is
    not repeated at one position; at most one hi-hat state (closed/pedal/open) and at most
    ``max_simultaneous`` hits per position. ``EOS`` may follow a completed note or an empty bar.
    This constrains syntax only: which hits, where and how loud is still the model's choice.
    """

    HIHAT_PITCHES = gm.HIHAT_PITCHES

    def __init__(self, vocab: dict[str, int], eos_id: int, max_simultaneous: int = 4) -> None:
        self.vocab_size = max(vocab.values()) + 1
        self.eos_id = eos_id
        self.max_simultaneous = max_simultaneous
        self.kind: dict[int, str] = {}
        self.value: dict[int, int] = {}
        masks = {
            name: torch.zeros(self.vocab_size, dtype=torch.bool)
            for name in ("bar", "timesig", "pitch", "velocity")
        }
        self.position_ids: list[tuple[int, int]] = []
        for token, index in vocab.items():
            kind, _, value = token.partition("_")
            if kind == "Bar":
                self.kind[index] = "bar"
                masks["bar"][index] = True
            elif kind == "TimeSig":
                self.kind[index] = "timesig"
                masks["timesig"][index] = True
            elif kind == "Position":
                self.kind[index] = "position"
                self.value[index] = int(value)
                self.position_ids.append((int(value), index))
            elif kind == "PitchDrum":
                self.kind[index] = "pitch"
                self.value[index] = int(value)
                masks["pitch"][index] = True
            elif kind == "Velocity":
                self.kind[index] = "velocity"
                masks["velocity"][index] = True
        if not self.position_ids or not masks["bar"].any() or not masks["pitch"].any():
            raise ValueError("RemiGrammar needs a REMI drum vocabulary (Bar, Position_*, PitchDrum_* tokens)")
        self.position_ids.sort()
        self.masks = masks
        self.eos_mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        self.eos_mask[eos_id] = True
        self.pitch_by_id = {i: self.value[i] for i in self.kind if self.kind[i] == "pitch"}
        self.rows: list[_RowState] = []
        self._after_cache: dict[int, torch.Tensor] = {}

    def positions_after(self, position: int) -> torch.Tensor:
        cached = self._after_cache.get(position)
        if cached is None:
            cached = torch.zeros(self.vocab_size, dtype=torch.bool)
            for value, index in self.position_ids:
                if value > position:
                    cached[index] = True
            self._after_cache[position] = cached
        return cached

    def _pitch_mask(self, row: _RowState) -> torch.Tensor:
        mask = self.masks["pitch"].clone()
        if len(row.pitches) >= self.max_simultaneous:
            return torch.zeros_like(mask)
        hihat_used = bool(row.pitches & self.HIHAT_PITCHES)
        for index, pitch in self.pitch_by_id.items():
            if pitch in row.pitches or (hihat_used and pitch in self.HIHAT_PITCHES):
                mask[index] = False
        return mask

    def start(self, prompts: list[list[int]]) -> None:
        self.rows = [_RowState() for _ in prompts]
        for position in range(max((len(p) for p in prompts), default=0)):
            for row, prompt in zip(self.rows, prompts, strict=True):
                if position < len(prompt):
                    self._consume(row, prompt[position])

    def _consume(self, row: _RowState, token: int) -> None:
        kind = self.kind.get(token)
        if token == self.eos_id:
            row.last = "eos"
        elif kind == "bar":
            row.last, row.position, row.pitches, row.hits = "bar", -1, set(), set()
            row.bars += 1
        elif kind == "timesig":
            row.last = "timesig"
        elif kind == "position":
            row.last, row.position, row.pitches = "position", self.value[token], set()
        elif kind == "pitch":
            row.last = "pitch"
            row.pitches.add(self.value[token])
            row.hits.add((row.position, self.value[token]))
        elif kind == "velocity":
            row.last = "velocity"

    def allowed(self) -> torch.Tensor:
        out = torch.zeros(len(self.rows), self.vocab_size, dtype=torch.bool)
        for index, row in enumerate(self.rows):
            if row.last == "prefix":
                mask = self.masks["bar"]
            elif row.last == "bar":
                mask = self.masks["timesig"] | self.masks["bar"] | self.positions_after(-1) | self.eos_mask
            elif row.last == "timesig":
                mask = self.masks["bar"] | self.positions_after(-1)
            elif row.last == "position":
                mask = self._pitch_mask(row)
            elif row.last == "pitch":
                mask = self.masks["velocity"]
            elif row.last == "velocity":
                mask = (
                    self._pitch_mask(row)
                    | self.positions_after(row.position)
                    | self.masks["bar"]
                    | self.eos_mask
                )
            else:  # finished rows: anything (generate pads them)
                mask = torch.ones(self.vocab_size, dtype=torch.bool)
            if not mask.any():
                mask = self.masks["bar"] | self.eos_mask
            out[index] = mask
        return out

    def advance(self, tokens: list[int]) -> None:
        for row, token in zip(self.rows, tokens, strict=True):
            self._consume(row, token)


@dataclass(frozen=True)
class _Slot:
    """One required hit in grammar units: any of ``pitches`` at any of ``positions``."""

    rule: str
    pitches: frozenset[int]
    positions: tuple[int, ...]

    @property
    def deadline(self) -> int:
        return max(self.positions)

    def satisfied(self, hits: set[tuple[int, int]]) -> bool:
        return any((p, pitch) in hits for p in self.positions for pitch in self.pitches)


class StyleRuleGrammar(RemiGrammar):
    """:class:`RemiGrammar` plus style rules (:class:`~drum_gen.styles.BarRule`) every bar must satisfy.

    A guarantee, not a hope: while a bar still lacks a required hit, the decoder may not move past that
    hit's last allowed position, close the bar or end the sequence; at that position, once the free
    room for hits shrinks to the number still owed, only the required pitches remain. Nothing is added
    after sampling, so the model still picks velocities, the other hits and, among allowed positions,
    where a hit goes. The meter is pinned to ``time_signature`` (the generator writes that meter and
    the rules are stated in it), and with ``bars`` set EOS waits until that many bars are open, so no
    requested bar is left empty.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        eos_id: int,
        rules: Sequence[BarRule],
        *,
        positions_per_beat: int,
        bars: int | None = None,
        time_signature: tuple[int, int] = (4, 4),
        max_simultaneous: int = 4,
    ) -> None:
        super().__init__(vocab, eos_id, max_simultaneous)
        self.bars = bars
        meter = f"TimeSig_{time_signature[0]}/{time_signature[1]}"
        self.masks["timesig"] = torch.zeros(self.vocab_size, dtype=torch.bool)
        if meter in vocab:
            self.masks["timesig"][vocab[meter]] = True
        quarter_positions = positions_per_beat  # Position tokens count positions_per_beat per quarter
        positions = {value for value, _ in self.position_ids}
        self.slots: list[_Slot] = []
        for rule in rules:
            for ticks in rule.slot_ticks(time_signature, quarter_positions):
                kept = tuple(t for t in ticks if t in positions)
                if kept:
                    self.slots.append(_Slot(rule.name, frozenset(rule.pitches), kept))
        self._pitch_masks: dict[frozenset[int], torch.Tensor] = {}

    def _pitches_mask(self, pitches: frozenset[int]) -> torch.Tensor:
        cached = self._pitch_masks.get(pitches)
        if cached is None:
            cached = torch.zeros(self.vocab_size, dtype=torch.bool)
            for index, pitch in self.pitch_by_id.items():
                cached[index] = pitch in pitches
            self._pitch_masks[pitches] = cached
        return cached

    def _pending(self, row: _RowState) -> list[_Slot]:
        """Unsatisfied slots of the current bar that can still be satisfied."""
        here = row.last in ("position", "velocity")
        return [
            slot
            for slot in self.slots
            if not slot.satisfied(row.hits)
            and (slot.deadline > row.position or (here and slot.deadline == row.position))
        ]

    def allowed(self) -> torch.Tensor:
        out = super().allowed()
        for index, row in enumerate(self.rows):
            if row.last in ("prefix", "eos"):
                continue
            mask = out[index].clone()
            pending = self._pending(row)
            if pending:
                mask &= ~(self.masks["bar"] | self.eos_mask)
                mask &= ~self.positions_after(min(slot.deadline for slot in pending))
                due = [s for s in pending if s.deadline == row.position]
                if due and self.max_simultaneous - len(row.pitches) <= len(due):
                    mask &= self._pitches_mask(frozenset().union(*(s.pitches for s in due)))
            elif self.bars is not None and row.bars < self.bars:
                mask &= ~self.eos_mask
            if mask.any():  # always true for satisfiable rules; never hand the sampler an empty row
                out[index] = mask
        return out
