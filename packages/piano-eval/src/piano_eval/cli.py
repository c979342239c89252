"""``piano-eval``: build and run the synthetic benchmark, evaluate and compare models.

Training itself goes through LightningCLI configs (``uv run train fit -c apps/train/configs/piano-eval/…``);
this command covers the jobs around it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from piano_eval.evaluate import EvaluationResult, select_winner, write_report


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def _benchmark(args: argparse.Namespace) -> int:
    import torch

    from piano_eval.benchmark.runner import FULL, QUICK, run_benchmark

    config = QUICK if args.quick else FULL
    config = replace(config, threads=args.threads, seed=args.seed)
    if args.families:
        config = replace(config, families=tuple(args.families))
    torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / ("piano-benchmark-quick" if args.quick else "piano-benchmark")
    report = run_benchmark(out, config, progress=not args.no_progress)
    print(f"report: {report}")
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark

    config = SyntheticBenchmarkConfig(
        generated_pieces=args.pieces,
        corpus=tuple(args.corpus),
        bars=args.bars,
        performances_per_piece=args.performances,
        augmentation=args.augmentation,
        soundfont=args.soundfont,
        seed=args.seed,
    )
    entries = build_benchmark(args.out, config, progress=not args.no_progress)
    counts = {split: sum(e.split == split for e in entries) for split in ("train", "val", "test")}
    print(f"{len(entries)} performances in {args.out} ({counts}); ratings in {args.out / 'ratings.csv'}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    results = []
    for path in args.results:
        payload = json.loads(Path(path).read_text())
        items = payload["results"] if "results" in payload else [payload.get("result", payload)]
        results += [EvaluationResult.from_dict(item) for item in items]
    if not results:
        raise SystemExit("no results in the given files")
    dims = {r.dimensions for r in results}
    if len(dims) > 1:
        raise SystemExit(f"results score different dimensions: {sorted(dims)}")
    candidates = [r for r in results if r.name not in args.baseline]
    report = write_report(
        args.out,
        results,
        title="piano-eval comparison",
        winner=select_winner(candidates) if candidates else None,
    )
    print(report.read_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="piano-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser(
        "benchmark",
        help="build the synthetic benchmark, train S1, S3 and the log-mel audio model, write the comparison report",
        description="Scores → expressive performances with labelled degradations → audio; train each model family on "
        "the training pieces, score the held-out test pieces, compare with baselines (random, train mean, linear "
        "regression on audio features). Rerunning with the same --out resumes: finished families are kept.",
    )
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small benchmark, ≤ 10 min on 2 CPU cores")
    size.add_argument("--full", action="store_true", help="the docs recipe (default): more pieces and epochs")
    bench.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/piano-benchmark[-quick])"
    )
    bench.add_argument(
        "--families",
        nargs="+",
        default=None,
        metavar="NAME",
        help="subset of S1-remi, S3-continuous, A-logmel",
    )
    bench.add_argument("--threads", type=_positive_int, default=2, help="torch threads (default: 2)")
    bench.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.set_defaults(run=_benchmark)

    synth = sub.add_parser(
        "synthesize",
        help="build a synthetic dataset folder (ratings.csv + MIDI + audio) without training anything",
        description="Generated (and optionally music21-corpus) scores played by an expressive-performance model "
        "with labelled degradations (timing, dynamics, articulation, pedal, notes), rendered through a piano "
        "SoundFont. Splits are by piece. Resumable: rerun the same command after an interruption.",
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--pieces", type=_positive_int, default=24, help="generated pieces (default: 24)")
    synth.add_argument(
        "--corpus",
        nargs="*",
        default=[],
        metavar="PATH",
        help="music21 corpus paths, e.g. bach/bwv66.6 (needs piano-eval[corpus])",
    )
    synth.add_argument("--bars", type=_positive_int, default=4, help="bars per piece (default: 4)")
    synth.add_argument(
        "--performances",
        type=_positive_int,
        default=6,
        help="performances per piece (default: 6, at least 2)",
    )
    synth.add_argument(
        "--augmentation",
        default=None,
        help="a shared_audio_core.augment preset applied to the audio (default: none)",
    )
    synth.add_argument(
        "--soundfont", default=None, help="piano SoundFont (default: the core synth's default)"
    )
    synth.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    synth.add_argument("--no-progress", action="store_true", help="no progress bar")
    synth.set_defaults(run=_synthesize)

    compare = sub.add_parser("compare", help="one comparison report from several results.json files")
    compare.add_argument(
        "results", nargs="+", type=Path, help="results.json files written by benchmark/evaluate"
    )
    compare.add_argument("--out", type=Path, required=True, help="folder for report.md and the figures")
    compare.add_argument(
        "--baseline",
        nargs="*",
        default=["random", "train_mean", "linear_audio_features"],
        help="names that are listed but never win (default: the three baselines)",
    )
    compare.set_defaults(run=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    from piano_eval.data.errors import DatasetLayoutError, FoldLeakError, LabelFileError
    from piano_eval.data.synthetic import ScoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (DatasetLayoutError, LabelFileError, FoldLeakError, ScoreError, FileNotFoundError) as exc:
        print(f"piano-eval {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad settings (e.g. fewer than two performances per piece)
        print(f"piano-eval {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
