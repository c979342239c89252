"""Generation defaults and limits: the one place the CLI, the Python API and ``evaluate`` read them from.

Kept free of torch imports so ``drum-gen --help`` can build its parser from these values cheaply.
With one source, ``drum-gen generate --seed 7`` and ``DrumGenerator.generate(style, seed=7)`` write
the same file.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BARS = 32
"""Longest request; longer patterns are better written as several files."""

TEMPO_RANGE: tuple[float, float] = (30.0, 300.0)
"""BPM a request may ask for, and the range validation accepts without a warning."""


@dataclass(frozen=True)
class GenerationDefaults:
    """Defaults of one generation request (``tempo_bpm=None``: the middle of the style's range)."""

    bars: int = 4
    tempo_bpm: float | None = None
    humanize: bool = True
    temperature: float = 0.9
    top_k: int = 0
    top_p: float = 0.95
    enforce_style_rules: bool = True
    """Constrained decoding of the style's bar rules (backbeat, downbeat kick): see ``StyleRuleGrammar``."""


@dataclass(frozen=True)
class EvaluationDefaults:
    """Defaults of ``drum-gen evaluate`` / :class:`~drum_gen.evaluate.EvaluationConfig`."""

    patterns_per_style: int = 40
    seed: int = 1234
    corpus_seed: int = 777


GENERATION = GenerationDefaults()
EVALUATION = EvaluationDefaults()
