"""Generation pipeline: style + bars + tempo → tokens → quantized Pattern → humanize once → validate.

Patterns longer than the model was trained on are written in blocks: each block is prompted with the
conditioning tokens plus the last bar of the previous block, so the groove continues across blocks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from drum_gen.defaults import GENERATION, MAX_BARS, TEMPO_RANGE
from drum_gen.humanize import humanize as humanize_pattern
from drum_gen.loader import LoadedDrumModel, fall_back_to_cpu, is_out_of_memory, load_model
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.sampling import RemiGrammar, SamplingConfig, StopCondition, StyleRuleGrammar, generate
from drum_gen.styles import BarRule, StyleSpec, UnknownStyleError, get_style, normalize_style_key
from drum_gen.tokenizer import PREFIX_LENGTH
from drum_gen.validation import validate


class GenerationError(RuntimeError):
    """The model could not produce a valid pattern for the request (after retries)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One request, checked up front so bad input fails before any sampling.

    Defaults come from :data:`drum_gen.defaults.GENERATION`, which the CLI reads too.
    """

    style: str
    bars: int = GENERATION.bars
    tempo_bpm: float | None = GENERATION.tempo_bpm
    humanize: bool = GENERATION.humanize
    temperature: float = GENERATION.temperature
    top_k: int = GENERATION.top_k
    top_p: float = GENERATION.top_p
    seed: int | None = None
    enforce_style_rules: bool = GENERATION.enforce_style_rules

    def __post_init__(self) -> None:
        if not 1 <= self.bars <= MAX_BARS:
            raise ValueError(f"bars must be in 1..{MAX_BARS}, got {self.bars}")
        if self.tempo_bpm is not None and not TEMPO_RANGE[0] <= self.tempo_bpm <= TEMPO_RANGE[1]:
            raise ValueError(
                f"tempo must be in {TEMPO_RANGE[0]:g}-{TEMPO_RANGE[1]:g} BPM, got {self.tempo_bpm}"
            )
        SamplingConfig(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)  # validates


class DrumGenerator:
    """Turns requests into validated patterns with a loaded model.

    ``bars_per_block`` defaults to the bar count the model was trained on (from its metadata).
    ``grammar`` masks syntactically impossible REMI tokens while sampling (see
    :class:`~drum_gen.sampling.RemiGrammar`); the musical choices stay the model's. A request with
    ``enforce_style_rules`` also gets the style's bar rules as a decoding constraint
    (:class:`~drum_gen.sampling.StyleRuleGrammar`, which includes the grammar).
    """

    def __init__(
        self,
        loaded: LoadedDrumModel,
        *,
        bars_per_block: int | None = None,
        max_attempts: int = 8,
        grammar: bool = True,
    ) -> None:
        self.loaded = loaded
        tokenizer = loaded.tokenizer
        self.grammar = RemiGrammar(tokenizer.core.vocab, tokenizer.eos_id) if grammar else None
        trained_bars = int(loaded.metadata.get("training", {}).get("bars", 4))
        self.bars_per_block = bars_per_block or trained_bars
        if self.bars_per_block < 1:
            raise ValueError(f"bars_per_block must be >= 1, got {self.bars_per_block}")
        self.max_attempts = max_attempts
        self.rejected_samples = 0
        """Sampled patterns that failed validation and were drawn again (a model-quality signal)."""

    @classmethod
    def from_pretrained(cls, path_or_repo: str | Path, device: str | None = None) -> DrumGenerator:
        return cls(load_model(path_or_repo, device))

    @property
    def styles(self) -> list[str]:
        return self.loaded.tokenizer.styles

    def resolve_style(self, style: str) -> StyleSpec:
        """Registry style for ``style`` (aliases accepted), checked against the model's styles.

        A style the model was trained on but that is not registered in this process (a user style
        from a file) raises :class:`UnknownStyleError` saying how to register it.
        """
        try:
            spec = get_style(style)
        except UnknownStyleError as err:
            trained = [s for s in self.styles if normalize_style_key(s) == normalize_style_key(str(style))]
            if trained:
                raise UnknownStyleError(
                    f"this model was trained on style {trained[0]!r}, but its humanization settings are not "
                    "registered here: pass the style file it was trained with (`--style-file`, or "
                    "drum_gen.styles.load_style_file) or install the package that provides it"
                ) from err
            raise
        self.loaded.tokenizer.resolve_style(spec.name)
        return spec

    # ------------------------------------------------------------------ public API
    def generate(
        self,
        style: str,
        bars: int = GENERATION.bars,
        tempo_bpm: float | None = GENERATION.tempo_bpm,
        **options: object,
    ) -> Pattern:
        """One pattern; ``options`` are the other :class:`GenerationRequest` fields."""
        request = GenerationRequest(style=style, bars=bars, tempo_bpm=tempo_bpm, **options)  # type: ignore[arg-type]
        return self.generate_requests([request])[0]

    def generate_batch(
        self,
        style: str,
        count: int,
        bars: int = GENERATION.bars,
        tempo_bpm: float | None = GENERATION.tempo_bpm,
        **options: object,
    ) -> list[Pattern]:
        """``count`` independent patterns of one style, sampled as one batch."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        request = GenerationRequest(style=style, bars=bars, tempo_bpm=tempo_bpm, **options)  # type: ignore[arg-type]
        return self.generate_requests([request] * count, batch_seed=request.seed)

    def generate_requests(
        self, requests: Sequence[GenerationRequest], batch_seed: int | None = None
    ) -> list[Pattern]:
        """Patterns for requests (sampled together when they share style/bars/tempo/sampling)."""
        if not requests:
            return []
        first = requests[0]
        same = all(dataclasses.replace(r, seed=first.seed) == first for r in requests)
        if len(requests) > 1 and not same:
            return [p for r in requests for p in self.generate_requests([r])]
        spec = self.resolve_style(first.style)
        tempo = first.tempo_bpm if first.tempo_bpm is not None else round(sum(spec.tempo_range) / 2, 1)
        seed = batch_seed if batch_seed is not None else first.seed
        if seed is None:  # unseeded: fresh sampling and humanization; seeded: reproducible end to end
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        sampling = SamplingConfig(temperature=first.temperature, top_k=first.top_k, top_p=first.top_p)
        rules = spec.rules if first.enforce_style_rules else ()
        patterns = self._sample_on_device(spec, first.bars, tempo, sampling, len(requests), seed, rules)
        if not first.humanize:
            return patterns
        return [humanize_pattern(p, spec, seed=seed + index) for index, p in enumerate(patterns)]

    # ------------------------------------------------------------------ internals
    def _sample_on_device(
        self,
        spec: StyleSpec,
        bars: int,
        tempo: float,
        sampling: SamplingConfig,
        count: int,
        seed: int,
        rules: Sequence[BarRule] = (),
    ) -> list[Pattern]:
        """:meth:`_sample_valid` on the model's device; on CUDA out-of-memory, move to the CPU and retry.

        The retry restarts the request with a fresh CPU generator and the same seed, so the result is
        what a CPU run would have given. After the move every later request runs on the CPU, so the
        warning (logged and added to ``loaded.warnings``) appears once.
        """
        device = self.loaded.device
        generator = torch.Generator(device=device).manual_seed(seed)
        try:
            return self._sample_valid(spec, bars, tempo, sampling, count, generator, rules)
        except RuntimeError as err:  # torch.OutOfMemoryError is one
            if not (device.startswith("cuda") and is_out_of_memory(err)):
                raise
            message = (
                f"CUDA out of memory while sampling on {device}; moved the model to the CPU and retried "
                f"({type(err).__name__}: {err})"
            )
            self.loaded.device = fall_back_to_cpu(self.loaded.model, self.loaded.warnings, message)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        return self._sample_valid(spec, bars, tempo, sampling, count, generator, rules)

    def _sample_valid(
        self,
        spec: StyleSpec,
        bars: int,
        tempo: float,
        sampling: SamplingConfig,
        count: int,
        generator: torch.Generator,
        rules: Sequence[BarRule] = (),
    ) -> list[Pattern]:
        """Quantized patterns with exactly ``bars`` bars that pass validation; invalid ones are resampled."""
        accepted: list[Pattern] = []
        last_problem = ""
        for _attempt in range(self.max_attempts):
            for pattern in self._sample_quantized(
                spec, bars, tempo, sampling, count - len(accepted), generator, rules
            ):
                report = validate(pattern)
                if report.ok and pattern.notes:
                    accepted.append(pattern)
                else:
                    self.rejected_samples += 1
                    last_problem = "; ".join(f.message for f in report.errors) or "no notes"
            if len(accepted) == count:
                return accepted
        raise GenerationError(
            f"the model produced no valid {bars}-bar {spec.name} pattern in {self.max_attempts} attempts "
            f"(last problem: {last_problem}); try a lower temperature or a better-trained model"
        )

    def _sample_quantized(
        self,
        spec: StyleSpec,
        bars: int,
        tempo: float,
        sampling: SamplingConfig,
        count: int,
        generator: torch.Generator,
        rules: Sequence[BarRule] = (),
    ) -> list[Pattern]:
        tokenizer = self.loaded.tokenizer
        prefix = tokenizer.prompt_ids(spec.name, tempo)
        bar_id = next(iter(tokenizer.bar_token_ids))
        notes: list[list[DrumNote]] = [[] for _ in range(count)]
        contexts: list[list[int]] = [[] for _ in range(count)]  # previous block's last bar, per row
        bars_done = 0
        while bars_done < bars:
            new_bars = min(self.bars_per_block - (1 if bars_done else 0), bars - bars_done)
            new_bars = max(new_bars, 1)
            context_bars = 1 if bars_done else 0
            stop = StopCondition(
                eos_id=tokenizer.eos_id,
                pad_id=tokenizer.pad_id,
                bar_token_ids=tokenizer.bar_token_ids,
                num_bars=context_bars + new_bars,
            )
            constraint = self._constraint(rules, stop.num_bars)
            rows = self._generate_rows(
                [prefix + ctx for ctx in contexts], stop, sampling, generator, constraint
            )
            for index, row in enumerate(rows):
                block = tokenizer.decode_pattern(row, tempo_bpm=tempo, bars=context_bars + new_bars)
                if context_bars:
                    block = block.slice_bars(context_bars, context_bars + new_bars)
                offset = bars_done * block.ticks_per_bar
                notes[index].extend(dataclasses.replace(n, time=n.time + offset) for n in block.notes)
                body = row[PREFIX_LENGTH:]
                bar_starts = [i for i, token in enumerate(body) if token == bar_id]
                last_bar = body[bar_starts[-1] :] if bar_starts else []
                contexts[index] = [t for t in last_bar if t != tokenizer.eos_id]
            bars_done += new_bars
        return [
            Pattern(
                tuple(row_notes), tempo_bpm=tempo, ticks_per_beat=tokenizer.config.ticks_per_beat, bars=bars
            )
            for row_notes in notes
        ]

    def _constraint(self, rules: Sequence[BarRule], bars: int | None) -> RemiGrammar | None:
        """The grammar, or with ``rules`` a fresh rule grammar for this block's bar count."""
        if not rules:
            return self.grammar
        tokenizer = self.loaded.tokenizer
        return StyleRuleGrammar(
            tokenizer.core.vocab,
            tokenizer.eos_id,
            rules,
            positions_per_beat=tokenizer.config.positions_per_beat,
            bars=bars,
        )

    def _generate_rows(
        self,
        prompts: list[list[int]],
        stop: StopCondition,
        sampling: SamplingConfig,
        generator: torch.Generator,
        constraint: RemiGrammar | None = None,
    ) -> list[list[int]]:
        tokenizer = self.loaded.tokenizer
        # Rows of one block share a prompt length except after the first block; group by length.
        by_length: dict[int, list[int]] = {}
        for index, prompt in enumerate(prompts):
            by_length.setdefault(len(prompt), []).append(index)
        rows: list[list[int]] = [[] for _ in prompts]
        for indices in by_length.values():
            batch = torch.tensor([prompts[i] for i in indices], dtype=torch.long)
            out = generate(
                self.loaded.model,
                batch,
                stop,
                sampling,
                generator=generator,
                suppress_token_ids=tokenizer.conditioning_token_ids,
                constraint=constraint,
            )
            for i, row in zip(indices, out, strict=True):
                rows[i] = row
        return rows
