"""Does pseudo-label pretraining help a model fine-tuned on a small expert subset? (piano_eval.benchmark.pseudo_pretraining)

    uv run piano-eval synthesize ...   # or reuse the FULL benchmark's data folder
    uv run python packages/piano-eval/scripts/pseudo_pretraining.py runs/piano-benchmark/data --out runs/pseudo-pretraining

Writes OUT/results.json and OUT/report.md (mean ± sd over the subset draws); the docs table comes from it.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from piano_eval.benchmark.pseudo_pretraining import PseudoPretrainingConfig, run_pseudo_pretraining
from shared_audio_core.cliargs import positive_int


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="a built synthetic benchmark folder (ratings.csv, scores/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--expert-pieces", type=positive_int, default=25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=positive_int, default=2)
    args = parser.parse_args()
    config = PseudoPretrainingConfig(expert_pieces=args.expert_pieces, seeds=tuple(args.seeds))
    config = replace(config, run=replace(config.run, threads=args.threads))
    results = run_pseudo_pretraining(args.data, args.out, config)
    print((args.out / "report.md").read_text())
    print(f"{results['expert_performances']} expert performances, {results['test_performances']} test")


if __name__ == "__main__":
    main()
