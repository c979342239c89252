"""Style-rule violation rates of a trained model, with and without constrained decoding.

    uv run python packages/drum-gen/benchmarks/style_rule_violations.py MODEL [--patterns 40] [--bars 4 32]

Prints, per style and bar count, the fraction of generated bars violating each rule (backbeat,
downbeat kick), unconstrained vs constrained, and the seconds each took (the constraint's cost).
"""

from __future__ import annotations

import argparse
import time

import torch
from drum_gen.generator import DrumGenerator
from drum_gen.loader import load_model
from drum_gen.styles import get_style
from drum_gen.validation import rule_violation_rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--patterns", type=int, default=40)
    parser.add_argument("--bars", type=int, nargs="+", default=[4, 32])
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = DrumGenerator(load_model(args.model, device="cpu"))
    print("| style | bars | rule | unconstrained | constrained | s unconstrained | s constrained |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for bars in args.bars:
        for index, style in enumerate(generator.styles):
            spec = get_style(style)
            rates, seconds = {}, {}
            for enforce in (False, True):
                started = time.monotonic()
                patterns = generator.generate_batch(
                    style,
                    args.patterns,
                    bars=bars,
                    humanize=False,
                    seed=args.seed + 1000 * index,
                    enforce_style_rules=enforce,
                )
                seconds[enforce] = time.monotonic() - started
                rates[enforce] = rule_violation_rates(patterns, spec)
            for rule in rates[True]:
                print(
                    f"| {style} | {bars} | {rule} | {rates[False][rule]:.1%} | {rates[True][rule]:.1%} | "
                    f"{seconds[False]:.0f} | {seconds[True]:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
