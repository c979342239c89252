"""Evaluate a trained model per style: generated patterns vs the procedural corpus.

Reported per style:

- style-classifier accuracy on generated (quantized) patterns — the classifier only ever saw corpus
  patterns, so this measures "does it sound like the style that was asked for";
- groove consistency, empty-beat rate and density (quantized, generated vs corpus), via
  :func:`drum_gen.analysis.compare`;
- swing after humanization, generated vs corpus vs the style's target. Swing is the off-beat grid
  position, measured back from the MIDI ticks by :func:`drum_gen.analysis.measure_swing_pooled` over all
  the style's patterns with ``instrument_offsets_ms`` set to the style's deliberate per-instrument
  push/drag (e.g. J Dilla's late snare: micro-timing, a separate style parameter that would otherwise
  read as extra swing). The plain per-pattern mean of :func:`drum_gen.analysis.measure_swing` (no
  offsets removed) is reported too;
- style-rule violation rates: per rule, the fraction of generated bars without the hit
  (:func:`drum_gen.validation.rule_violation_rates`), for the corpus, the generated patterns and, with
  ``rules_baseline``, patterns sampled without the rule constraint;
- honest measures (:mod:`drum_gen.honest_eval`), because the classifier accuracy above is circular
  (judge and model learned the same templates): a two-sample classifier test and MGEval-style
  distances against the held-out corpus sample (``corpus_seed``, never the training seed), novelty
  against the regenerated training corpus, diversity, and per-instrument micro-timing/velocity
  against the style's targets.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from drum_gen.analysis import InsufficientDataError, compare, measure_swing_pooled, metric_values
from drum_gen.classifier import StyleClassifier
from drum_gen.corpus import generate_corpus
from drum_gen.defaults import EVALUATION, GENERATION
from drum_gen.generator import DrumGenerator, GenerationError
from drum_gen.honest_eval import HonestMeasures, honest_markdown, honest_measures
from drum_gen.humanize import humanize
from drum_gen.loader import LoadedDrumModel
from drum_gen.pattern import Pattern
from drum_gen.styles import StyleSpec, get_style
from drum_gen.validation import rule_violation_rates

GROOVE_METRICS = ("groove_consistency", "empty_beat_rate", "density")
FEEL_METRICS = ("swing", "microtiming_ms")
ACCURACY_TARGET = 0.8
SWING_TOLERANCE_PP = 2.0


@dataclass(frozen=True)
class EvaluationConfig:
    """What ``evaluate_model`` samples; defaults shared with the CLI via :mod:`drum_gen.defaults`."""

    patterns_per_style: int = EVALUATION.patterns_per_style
    bars: int = GENERATION.bars
    seed: int = EVALUATION.seed
    temperature: float = GENERATION.temperature
    top_k: int = GENERATION.top_k
    top_p: float = GENERATION.top_p
    corpus_seed: int = EVALUATION.corpus_seed
    enforce_style_rules: bool = GENERATION.enforce_style_rules
    rules_baseline: bool = False
    """Also sample without the rule constraint, to report what the model alone does (doubles the time)."""
    novelty_max_patterns_per_style: int = 1000
    """Cap on training-corpus patterns per style regenerated for the novelty measure."""

    def __post_init__(self) -> None:
        if self.patterns_per_style < 2:
            raise ValueError(f"patterns_per_style must be >= 2, got {self.patterns_per_style}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pooled_swing(patterns: Sequence[Pattern], style: StyleSpec) -> float | None:
    """The style's swing as the acceptance defines it: :func:`~drum_gen.analysis.measure_swing_pooled`
    with the style's per-instrument offsets removed; None without patterns or off-beat notes."""
    try:
        return measure_swing_pooled(
            patterns, style.swing_resolution, instrument_offsets_ms=style.per_instrument_offsets_ms
        )
    except InsufficientDataError:
        return None


@dataclass
class StyleResult:
    style: str
    n_generated: int
    classifier_accuracy: float
    classifier_accuracy_corpus: float
    predictions: dict[str, int]
    swing_target: float
    swing_generated: float | None
    swing_corpus: float | None
    swing_generated_per_pattern_mean: float | None
    rejected_samples: int
    seconds: float
    error: str | None = None
    rule_violations: dict[str, float] = field(default_factory=dict)
    rule_violations_corpus: dict[str, float] = field(default_factory=dict)
    rule_violations_unconstrained: dict[str, float] | None = None
    honest: HonestMeasures | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "honest"}
        honest = None if self.honest is None else self.honest.to_dict()
        return {**data, "honest": honest, "swing_error": self.swing_error, "passes": self.passes}

    @property
    def swing_error(self) -> float | None:
        return None if self.swing_generated is None else abs(self.swing_generated - self.swing_target)

    @property
    def passes(self) -> bool:
        error = self.swing_error
        return (
            self.classifier_accuracy >= ACCURACY_TARGET and error is not None and error <= SWING_TOLERANCE_PP
        )


@dataclass
class EvaluationReport:
    config: EvaluationConfig
    styles: list[StyleResult]
    groove_table: list[dict[str, Any]]
    feel_table: list[dict[str, Any]]
    groove_markdown: str
    feel_markdown: str
    model_source: str
    seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def overall_accuracy(self) -> float:
        total = sum(r.n_generated for r in self.styles)
        return sum(r.classifier_accuracy * r.n_generated for r in self.styles) / max(total, 1)

    @property
    def passes(self) -> bool:
        return bool(self.styles) and all(r.passes for r in self.styles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "model_source": self.model_source,
            "seconds": self.seconds,
            "overall_classifier_accuracy": self.overall_accuracy,
            "passes": self.passes,
            "styles": [r.to_dict() for r in self.styles],
            "groove": self.groove_table,
            "feel": self.feel_table,
            "metadata": self.metadata,
        }

    def to_markdown(self) -> str:
        def fmt(x: float | None, digits: int = 1) -> str:
            return "n/a" if x is None else f"{x:.{digits}f}"

        lines = [
            f"Model: `{self.model_source}`; {self.config.patterns_per_style} generated {self.config.bars}-bar "
            f"patterns per style (temperature {self.config.temperature}, top-p {self.config.top_p}, "
            f"seed {self.config.seed}); evaluation took {self.seconds:.0f} s.",
            "",
            "| style | classifier acc. (generated) | classifier acc. (corpus) | swing target | swing generated "
            "| swing corpus | swing error (pp) | per-pattern swing mean (offsets kept) | resampled | pass |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
        ]
        for r in self.styles:
            lines.append(
                f"| {r.style} | {r.classifier_accuracy:.1%} | {r.classifier_accuracy_corpus:.1%} | "
                f"{r.swing_target:.1f} | {fmt(r.swing_generated)} | {fmt(r.swing_corpus)} | "
                f"{fmt(r.swing_error)} | {fmt(r.swing_generated_per_pattern_mean)} | {r.rejected_samples} | "
                f"{'yes' if r.passes else 'NO'} |"
            )
        lines += ["", *self._rules_markdown()]
        honest = {r.style: r.honest for r in self.styles if r.honest is not None}
        if honest:
            lines += ["", *honest_markdown(honest)]
        lines += [
            "",
            f"Overall classifier accuracy on generated patterns: {self.overall_accuracy:.1%} "
            f"(target >= {ACCURACY_TARGET:.0%}); swing tolerance {SWING_TOLERANCE_PP:g} pp; "
            f"all styles pass: {'yes' if self.passes else 'NO'}. Swing generated/corpus: off-beat grid "
            "position pooled over the style's patterns, its fixed per-instrument offsets removed "
            "(drum_gen.analysis.measure_swing_pooled).",
            "",
            "Groove (quantized patterns, generated vs corpus):",
            "",
            self.groove_markdown,
            "",
            "Feel after humanization (generated vs corpus; swing here is the plain per-pattern measure):",
            "",
            self.feel_markdown,
        ]
        return "\n".join(lines)

    def _rules_markdown(self) -> list[str]:
        baseline = self.config.rules_baseline
        mode = "constrained" if self.config.enforce_style_rules else "unconstrained"
        lines = [
            f"Style rules: fraction of bars violating each rule (generated: {mode} decoding).",
            "",
            "| style | rule | corpus | generated |" + (" generated, unconstrained |" if baseline else ""),
            "|---|---|---:|---:|" + ("---:|" if baseline else ""),
        ]
        for r in self.styles:
            for rule, rate in r.rule_violations.items():
                extra = ""
                if baseline and r.rule_violations_unconstrained is not None:
                    extra = f" {r.rule_violations_unconstrained.get(rule, 0.0):.1%} |"
                lines.append(
                    f"| {r.style} | {rule} | {r.rule_violations_corpus.get(rule, 0.0):.1%} | {rate:.1%} |{extra}"
                )
        return lines


def evaluate_model(
    loaded: LoadedDrumModel, config: EvaluationConfig | None = None, *, progress: bool = True
) -> EvaluationReport:
    """Generate ``patterns_per_style`` patterns per trained style and compare them with the corpus."""
    config = config or EvaluationConfig()
    started = time.monotonic()
    generator = DrumGenerator(loaded)
    styles = generator.styles
    classifier = loaded.classifier
    if classifier is None:
        fit_items = generate_corpus(100, config.corpus_seed + 1, config.bars, styles)
        classifier = StyleClassifier(styles).fit([i.pattern for i in fit_items], [i.style for i in fit_items])
    training_by_style = training_corpus(loaded, styles, config.novelty_max_patterns_per_style)
    results: list[StyleResult] = []
    generated_q: dict[str, list[Pattern]] = {}
    generated_h: dict[str, list[Pattern]] = {}
    corpus_q: dict[str, list[Pattern]] = {}
    corpus_h: dict[str, list[Pattern]] = {}
    for index, style in enumerate(tqdm(styles, desc="evaluate", disable=not progress)):
        spec = get_style(style)
        style_started = time.monotonic()
        corpus = [
            i.pattern
            for i in generate_corpus(config.patterns_per_style, config.corpus_seed, config.bars, [style])
        ]
        corpus_q[style] = corpus
        corpus_h[style] = [humanize(p, spec, seed=config.corpus_seed + i) for i, p in enumerate(corpus)]
        rejected_before = generator.rejected_samples
        error = None
        options = {
            "bars": config.bars,
            "humanize": False,
            "temperature": config.temperature,
            "top_k": config.top_k,
            "top_p": config.top_p,
            "seed": config.seed + 1000 * index,
        }
        try:
            patterns = generator.generate_batch(
                style, config.patterns_per_style, enforce_style_rules=config.enforce_style_rules, **options
            )
        except GenerationError as err:
            patterns, error = [], str(err)
        unconstrained = None
        if config.rules_baseline:
            rejected = generator.rejected_samples
            try:
                baseline = generator.generate_batch(
                    style, config.patterns_per_style, enforce_style_rules=False, **options
                )
                unconstrained = rule_violation_rates(baseline, spec)
            except GenerationError:
                unconstrained = None
            generator.rejected_samples = rejected  # the baseline's resampling is not this run's
        generated_q[style] = patterns
        generated_h[style] = [humanize(p, spec, seed=config.seed + i) for i, p in enumerate(patterns)]
        predictions = classifier.predict(patterns) if patterns else []
        corpus_predictions = classifier.predict(corpus)
        per_pattern = metric_values(generated_h[style], "swing")
        results.append(
            StyleResult(
                style=style,
                n_generated=len(patterns),
                classifier_accuracy=float(np.mean([p == style for p in predictions])) if predictions else 0.0,
                classifier_accuracy_corpus=float(np.mean([p == style for p in corpus_predictions])),
                predictions={s: predictions.count(s) for s in styles if predictions.count(s)},
                swing_target=spec.swing_percent,
                swing_generated=pooled_swing(generated_h[style], spec),
                swing_corpus=pooled_swing(corpus_h[style], spec),
                swing_generated_per_pattern_mean=float(per_pattern.mean()) if per_pattern.size else None,
                rejected_samples=generator.rejected_samples - rejected_before,
                seconds=round(time.monotonic() - style_started, 1),
                error=error,
                rule_violations=rule_violation_rates(patterns, spec),
                rule_violations_corpus=rule_violation_rates(corpus, spec),
                rule_violations_unconstrained=unconstrained,
                honest=honest_measures(
                    spec,
                    patterns,
                    corpus,
                    training_by_style.get(style, []),
                    generated_h[style],
                    corpus_h[style],
                ),
            )
        )
    groove = compare(generated_q, corpus_q, GROOVE_METRICS)
    feel = compare(generated_h, corpus_h, FEEL_METRICS)
    return EvaluationReport(
        config=config,
        styles=results,
        groove_table=groove.to_dicts(),
        feel_table=feel.to_dicts(),
        groove_markdown=groove.to_markdown(),
        feel_markdown=feel.to_markdown(),
        model_source=loaded.source,
        seconds=round(time.monotonic() - started, 1),
        metadata={"training_results": loaded.metadata.get("results", {})},
    )


def training_corpus(loaded: LoadedDrumModel, styles: Sequence[str], cap: int) -> dict[str, list[Pattern]]:
    """The procedural part of the model's training corpus, regenerated from its recorded config
    (``patterns_per_style``, ``seed``, ``bars``; train and validation split together), per style.

    Groove MIDI sources are not reproduced (empty when the model used none of the procedural corpus);
    without a recorded config the training defaults (seed 0, 4 bars) are assumed.
    """
    training = loaded.metadata.get("training") or {}
    if "procedural" not in (training.get("data") or ["procedural"]):
        return {}
    n = min(int(training.get("patterns_per_style", 200)), cap)
    seed, bars = int(training.get("seed", 0)), int(training.get("bars", 4))
    by_style: dict[str, list[Pattern]] = {}
    for item in generate_corpus(n, seed, bars, styles):
        by_style.setdefault(item.style, []).append(item.pattern)
    return by_style
