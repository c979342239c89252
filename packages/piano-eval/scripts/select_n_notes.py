"""Choose the N-notes settings of the FULL benchmark on its validation pieces (the test pieces are not read).

    uv run piano-eval synthesize ...   # or reuse the FULL benchmark's data folder (runs/piano-benchmark/data)
    uv run python packages/piano-eval/scripts/select_n_notes.py runs/piano-benchmark/data --out runs/n-notes-selection

Candidates: the FULL recipe as it is (seeds 0, 1, 2 and their ensemble: the seed noise), an exponential
moving average of the weights, a wider per-note MLP and a longer run. Writes OUT/<candidate>.json and
OUT/report.md; docs/benchmark-results.md quotes the table and says which setting the FULL recipe took.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from pathlib import Path

from piano_eval.benchmark.families import notes_model
from piano_eval.benchmark.runner import FULL
from piano_eval.benchmark.validation_study import Candidate, run_validation_study
from shared_audio_core.cliargs import positive_int

EPOCHS = FULL.epochs["N-notes"]
CANDIDATES = (
    Candidate("base-seed0", run={"seed": 0}),
    Candidate("base-seed1", run={"seed": 1}),
    Candidate("base-seed2", run={"seed": 2}),
    Candidate("ema-0.999", run={"seed": 0, "weight_averaging": {"N-notes": 0.999}}),
    Candidate("wide-256", build=partial(notes_model, encoder_dim=256), run={"seed": 0}),
    Candidate("epochs-100", run={"seed": 0, "epochs": {"N-notes": 100}}),
)
ENSEMBLES = {"ensemble-seeds-0-2": ("base-seed0", "base-seed1", "base-seed2")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="a built FULL synthetic benchmark folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--only", nargs="+", help="run these candidates only (names from the list above)")
    args = parser.parse_args()
    candidates = [c for c in CANDIDATES if not args.only or c.name in args.only]
    ensembles = {k: v for k, v in ENSEMBLES.items() if not args.only}
    base = replace(FULL, threads=args.threads)
    run_validation_study(args.data, args.out, candidates, base, ensembles=ensembles)
    print((args.out / "report.md").read_text())


if __name__ == "__main__":
    main()
