"""Swing read back from the humanized procedural corpus, per style, under three readings.

- ``offsets removed``: the acceptance definition (``measure_swing_pooled`` with the style's
  ``per_instrument_offsets_ms``), the value ``drum-gen evaluate`` reports as "swing corpus";
- ``offsets removed, no jitter``: the same with the Gaussian micro-timing switched off, which isolates
  the estimator's bias on loose input from the humanizer;
- ``plain``: no offsets removed (a laid-back snare reads as extra swing).

Usage: ``uv run --frozen python packages/drum-gen/benchmarks/swing_readback.py [--patterns 40]``
(no model needed; uses the same corpus seed and humanize seeds as ``drum-gen evaluate``).
"""

from __future__ import annotations

import argparse
import dataclasses

from drum_gen.analysis import measure_swing_pooled
from drum_gen.corpus import generate_corpus
from drum_gen.evaluate import EvaluationConfig
from drum_gen.humanize import HumanizeConfig, humanize
from drum_gen.styles import list_styles


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patterns", type=int, default=40, help="corpus patterns per style (default 40)")
    parser.add_argument("--bars", type=int, default=4, help="bars per pattern (default 4)")
    args = parser.parse_args()
    seed = EvaluationConfig().corpus_seed
    print("| style | target | offsets removed | offsets removed, no jitter | plain |")
    print("|---|---:|---:|---:|---:|")
    for spec in list_styles()[:4]:
        corpus = [i.pattern for i in generate_corpus(args.patterns, seed, args.bars, [spec.name])]
        full = [humanize(p, spec, seed=seed + n) for n, p in enumerate(corpus)]
        still = dataclasses.replace(HumanizeConfig.from_style(spec), microtiming_ms=0.0)
        no_jitter = [humanize(p, config=still, seed=seed + n) for n, p in enumerate(corpus)]
        res, offsets = spec.swing_resolution, spec.per_instrument_offsets_ms
        print(
            f"| {spec.name} | {spec.swing_percent:.1f} "
            f"| {measure_swing_pooled(full, res, instrument_offsets_ms=offsets):.1f} "
            f"| {measure_swing_pooled(no_jitter, res, instrument_offsets_ms=offsets):.1f} "
            f"| {measure_swing_pooled(full, res):.1f} |"
        )


if __name__ == "__main__":
    main()
