"""Benchmark: one 4-bar pattern per style with the shipped default model on 1 CPU thread.

What a user waits for after `drum-gen generate` has loaded the model: sampling, humanization and
validation of one pattern (`DrumGenerator.generate`), timed per call. The model is loaded and warmed
up once first. Prints p50/p95 per style and overall as JSON; `--update-readme` writes the table into
packages/drum-gen/README.md between the bench markers. Target (issue acceptance): p50 < 0.5 s.

    uv run --frozen python packages/drum-gen/benchmarks/bench_generate.py [--repeats 20] [--model DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import datetime as dt
import json
import platform
import re
import statistics
import time
from pathlib import Path

import torch
from drum_gen.generator import DrumGenerator
from drum_gen.loader import load_model
from drum_gen.styles import list_styles

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- bench-generate:start -->", "<!-- bench-generate:end -->"


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=20, help="timed patterns per style (default 20)")
    parser.add_argument("--update-readme", action="store_true", help="write the table into the README")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = DrumGenerator(load_model(args.model, device="cpu"))
    styles = [s.name for s in list_styles()]
    rows, everything = [], []
    for style in styles:
        generator.generate(style, bars=4, seed=10_000)  # warm-up
        times = []
        for seed in range(args.repeats):
            start = time.perf_counter()
            generator.generate(style, bars=4, seed=seed)
            times.append(time.perf_counter() - start)
        everything += times
        rows.append({"style": style, "p50_s": percentile(times, 50), "p95_s": percentile(times, 95)})
    summary = {"p50_s": percentile(everything, 50), "p95_s": percentile(everything, 95), "styles": rows}
    print(json.dumps(summary, indent=2))
    if args.update_readme:
        load = os.getloadavg()[0]
        lines = [
            f"Measured {dt.date.today()} on {os.cpu_count()} cores, Python {platform.python_version()}, 1 torch "
            f"thread, the shipped model, {args.repeats} patterns per style after a warm-up "
            f"(`benchmarks/bench_generate.py`; 1-minute load average {load:.1f}).",
            "",
            "| style | p50 (s) | p95 (s) |",
            "|---|---:|---:|",
            *[f"| {r['style']} | {r['p50_s']:.3f} | {r['p95_s']:.3f} |" for r in rows],
            f"| all | {summary['p50_s']:.3f} | {summary['p95_s']:.3f} |",
        ]
        text = README.read_text()
        block = f"{START}\n" + "\n".join(lines) + f"\n{END}"
        if START in text:
            text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL)
        else:
            text = text.rstrip() + "\n\n## Generation speed\n\n" + block + "\n"
        README.write_text(text)
        print(f"updated {README}")


if __name__ == "__main__":
    main()
