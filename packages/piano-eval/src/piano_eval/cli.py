"""``piano-eval``: build and run the synthetic benchmark, cache embeddings, evaluate, score and compare models.

Training itself goes through LightningCLI configs (``uv run train fit -c apps/train/configs/piano-eval/…``);
this command covers the jobs around it. A MODEL is a folder written by
``piano_eval.scoring.save_model_folder`` (components + piano_eval_model.json recording the class, the input
kind and the dimension names).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from shared_audio_core.cliargs import positive_int

from piano_eval.evaluate import EvaluationResult, select_winner, write_report


def _layers(text: str):
    from piano_eval.audio.extract import parse_layers

    return parse_layers(text)


def _benchmark(args: argparse.Namespace) -> int:
    import torch

    from piano_eval.benchmark.runner import FULL, QUICK, run_benchmark

    config = QUICK if args.quick else FULL
    config = replace(config, threads=args.threads, seed=args.seed)
    if args.families:
        config = config.with_families(args.families)
    torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / ("piano-benchmark-quick" if args.quick else "piano-benchmark")
    report = run_benchmark(out, config, progress=not args.no_progress)
    print(f"report: {report}")
    return 0


# What each experiment compares (``piano_eval.benchmark.experiments.EXPERIMENTS``; kept here as text so that
# ``piano-eval --help`` does not import the models; a test checks the two agree).
EXPERIMENT_HELP: dict[str, str] = {
    "audio-track": "A1 LoRA vs A2 staged adaptation vs A3 gradual unfreezing, on the log-mel backbone",
    "symbolic-track": "S1 REMI Transformer vs S2 note-graph GAT vs S3 continuous features (each pretrained) "
    "vs the note-level model",
    "fusion": "F1 cross-attention vs F2 concat vs F3 gated over the two track winners (default A-logmel + "
    "N-notes)",
    "robustness": "the winners on clean vs every augmentation preset: R² drop % per preset, 15 % veto",
    "ablations": "audio-only vs fused; with vs without pretraining, uncertainty weighting, training-audio "
    "augmentation",
}


def _experiment(args: argparse.Namespace) -> int:
    import torch

    from piano_eval.benchmark.experiments import FULL_SIZE, QUICK_SIZE, get_experiment, run_experiment

    get_experiment(args.name)  # an unknown name fails before anything is built
    torch.set_num_threads(args.threads)
    root = args.out or Path("runs") / ("piano-experiments-quick" if args.quick else "piano-experiments")
    report = run_experiment(
        args.name,
        root,
        QUICK_SIZE if args.quick else FULL_SIZE,
        threads=args.threads,
        seed=args.seed,
        progress=not args.no_progress,
    )
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


def _weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"weight of {name!r} is not a number: {value!r}") from None


def _split(performances: list, split: str, root: Path) -> list:
    if split == "all":
        return performances
    chosen = [p for p in performances if p.split == split]
    if not chosen:
        found = sorted({str(p.split) for p in performances})
        raise ValueError(f"{root}: no performances in split {split!r} (splits present: {found})")
    return chosen


def _extract(args: argparse.Namespace) -> int:
    import torch
    from shared_audio_core.files import atomic_write_text

    from piano_eval.audio.backbones import BackboneConfig
    from piano_eval.audio.cache import extract_embeddings
    from piano_eval.audio.chunking import ChunkingConfig
    from piano_eval.audio.encoder import AudioEncoder
    from piano_eval.audio.models import default_layers
    from piano_eval.data.folder import load_rating_folder
    from piano_eval.scoring import SIDECAR, load_model_folder

    _, performances = load_rating_folder(args.data, scale=args.scale)
    performances = _split(performances, args.split, args.data)
    with_audio = [p for p in performances if p.audio_path is not None]
    if not with_audio:
        raise ValueError(f"{args.data}: no performance has an audio file to embed")
    model_dir = Path(args.model)
    if (model_dir / SIDECAR).is_file():
        encoder = getattr(load_model_folder(model_dir).model, "encoder", None)
        if not isinstance(encoder, AudioEncoder):
            raise ValueError(f"{model_dir}: the model has no audio encoder to extract embeddings with")
    else:  # a backbone: registry name or Hugging Face id / directory; seeded so random init is reproducible
        torch.manual_seed(args.seed)
        backbone = BackboneConfig(name=args.model).build()
        layers = args.layers or default_layers(backbone.num_layers)
        encoder = AudioEncoder(backbone, layers, ChunkingConfig(args.chunk_seconds, args.max_chunks))
    encoder = encoder.to(args.device)
    entries = extract_embeddings(
        [p.audio_path for p in with_audio],
        encoder,
        args.out,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    root = entries[0].path.parent
    index_path = root / "performances.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    for performance, entry in zip(with_audio, entries, strict=True):
        index[performance.performance_id] = {
            "key": entry.content_hash,
            "piece_id": performance.piece_id,
            "split": performance.split,
            "audio": str(performance.audio_path),
        }
    atomic_write_text(index_path, json.dumps(index, indent=2, sort_keys=True) + "\n")
    skipped = len(performances) - len(with_audio)
    print(
        f"{len(entries)} performances cached in {root}"
        + (f" ({skipped} without audio skipped)" if skipped else "")
        + f"; keys by performance in {index_path}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    from shared_audio_core.files import atomic_write_text

    from piano_eval.benchmark.runner import predict
    from piano_eval.data.folder import load_rating_folder
    from piano_eval.data.inputs import input_loader, part_collate, reads
    from piano_eval.evaluate import evaluate_scores
    from piano_eval.scoring import load_model_folder

    saved = load_model_folder(args.model)
    dims, performances = load_rating_folder(args.data, dimensions=saved.dimensions, scale=args.scale)
    performances = _split(performances, args.split, args.data)
    source = reads(saved.input_kind)
    paths = [p.midi_path if source == "midi" else p.audio_path for p in performances]
    missing = [p.performance_id for p, path in zip(performances, paths, strict=True) if path is None]
    if missing:
        raise ValueError(f"{saved.name} reads {source}; no {source} file for {missing[:5]}")
    inputs = input_loader(saved.input_kind)(paths)
    pieces = [p.piece_id for p in performances]
    scores, logits = predict(
        saved.model, inputs, part_collate(saved.input_kind), pieces, batch_size=args.batch_size
    )
    targets = np.stack([p.labels for p in performances])
    result = evaluate_scores(saved.name, scores, targets, pieces, dims, pair_logits=logits)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    predictions = {
        "predictions": {
            p.performance_id: dict(zip(dims, map(float, row), strict=True))
            for p, row in zip(performances, scores, strict=True)
        },
    }
    report = write_report(
        out,
        [result],
        title=f"piano-eval evaluation: {saved.name}",
        predictions={saved.name: (scores, targets)},
        notes=[
            f"{len(performances)} performances of split '{args.split}' in {args.data} "
            f"({len(set(pieces))} pieces); model {args.model} reads '{saved.input_kind}' inputs.",
            "Pairwise accuracy over within-piece pairs (|Δ| ≥ 0.05) from the model's comparator logits; "
            "R² = mean of per-dimension R².",
        ],
    )
    # write_report's results.json ({"title", "results"}) plus each performance's predicted scores
    payload = {**json.loads((out / "results.json").read_text()), **predictions}
    atomic_write_text(out / "results.json", json.dumps(payload, indent=2) + "\n")
    print(f"{saved.name}: pairwise {result.pairwise:.3f}, R² {result.r2:.3f}; report {report}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from piano_eval.scoring import load_model, score_performance

    saved = load_model(args.model)
    result = score_performance(
        saved,
        args.audio,
        args.midi,
        args.score,
        weights=dict(args.weights or []),
        samples=args.samples,
        seed=args.seed,
        window=args.window,
        passages=args.passages,
    )
    if args.plot is not None:
        from piano_eval.scoring.plot import plot_score

        plot_score(result, args.plot)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    width = max(len(d) for d in result.dimensions)
    print(f"{result.source} ({result.duration:.1f} s) scored by {result.model}")
    for k, name in enumerate(result.dimensions):
        spread = "" if result.std is None else f" ± {result.std[k]:.3f}"
        print(f"  {name:<{width}}  {result.scores[k]:.3f}{spread}  (weight {result.weights[k]:.2f})")
    spread = "" if result.aggregate_std is None else f" ± {result.aggregate_std:.3f}"
    print(f"  {'aggregate':<{width}}  {result.aggregate:.3f}{spread}")
    print(f"uncertainty: {result.uncertainty}")
    for passage in result.timeline.weakest:
        print(f"weak passage: {passage.start:.1f}–{passage.end:.1f} s (local score {passage.score:.3f})")
    if args.plot is not None:
        print(f"plot: {args.plot}")
    return 0


def _pseudo_label(args: argparse.Namespace) -> int:
    from piano_eval.pseudo_labels import pseudo_label_folder

    if args.rating_folder is not None and not args.whole_performances:
        raise ValueError(
            "--rating-folder needs --whole-performances: a rating folder rates whole performances"
        )
    summary = pseudo_label_folder(
        args.data,
        args.out,
        None if args.whole_performances else args.segment_seconds,
        args.hop_seconds,
        scale=args.scale,
        progress=not args.no_progress,
    )
    print(
        f"{summary.written} segments of {summary.performances} performances written to {summary.out}"
        + (f" ({summary.already} already there)" if summary.already else "")
    )
    if args.rating_folder is not None:
        from piano_eval.pseudo_labels import write_pseudo_rating_folder

        ratings = write_pseudo_rating_folder(args.data, args.out, args.rating_folder, scale=args.scale)
        print(f"rating folder for train fit (scale 0-100): {ratings}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="piano-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser(
        "benchmark",
        help="build the synthetic benchmark, train S1, S3, the note-level model and the log-mel audio model, "
        "write the comparison report",
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
        help="subset of S1-remi, S3-continuous, N-notes, A-logmel",
    )
    bench.add_argument("--threads", type=positive_int, default=2, help="torch threads (default: 2)")
    bench.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.set_defaults(run=_benchmark)

    experiment = sub.add_parser(
        "experiment",
        help="one seed-004 comparison or the seed-001 ablations on the synthetic benchmark, with its report",
        description="Run a named experiment: its model families trained on the synthetic benchmark's training "
        "pieces and compared on the held-out pieces, in OUT/NAME/report/report.md. The experiments of one OUT "
        "share the built data (OUT/data); fusion, robustness and ablations use the winners of the earlier "
        "ones found in OUT (defaults otherwise). Rerunning with the same --out resumes.\n\nexperiments:\n"
        + "\n".join(f"  {name:<15} {text}" for name, text in EXPERIMENT_HELP.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    experiment.add_argument("name", metavar="NAME", help=f"one of: {', '.join(EXPERIMENT_HELP)}")
    experiment.add_argument(
        "--quick", action="store_true", help="the quick size (CPU minutes); default: the full size"
    )
    experiment.add_argument(
        "--out",
        type=Path,
        default=None,
        help="experiments folder (default: runs/piano-experiments[-quick])",
    )
    experiment.add_argument("--threads", type=positive_int, default=2, help="torch threads (default: 2)")
    experiment.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    experiment.add_argument("--no-progress", action="store_true", help="no progress bars")
    experiment.set_defaults(run=_experiment)

    synth = sub.add_parser(
        "synthesize",
        help="build a synthetic dataset folder (ratings.csv + MIDI + audio) without training anything",
        description="Generated (and optionally music21-corpus) scores played by an expressive-performance model "
        "with labelled degradations (timing, dynamics, articulation, pedal, notes), rendered through a piano "
        "SoundFont. Splits are by piece. Resumable: rerun the same command after an interruption.",
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--pieces", type=positive_int, default=24, help="generated pieces (default: 24)")
    synth.add_argument(
        "--corpus",
        nargs="*",
        default=[],
        metavar="PATH",
        help="music21 corpus paths, e.g. bach/bwv66.6 (needs piano-eval[corpus])",
    )
    synth.add_argument("--bars", type=positive_int, default=4, help="bars per piece (default: 4)")
    synth.add_argument(
        "--performances",
        type=positive_int,
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

    extract = sub.add_parser(
        "extract",
        help="embedding cache of every performance's audio in a dataset folder (resumable)",
        description="Embed the audio of every performance listed in DATA/ratings.csv with a frozen encoder into "
        "the safetensors cache of piano_eval.audio.cache (CACHE/<config-key>/<sha256 of the file>.safetensors), "
        "with a progress bar. Resumable: finished entries are kept and every write is atomic, so rerunning after "
        "an interruption only embeds what is missing. CACHE/<config-key>/performances.json maps each "
        "performance id to its cache key.",
    )
    extract.add_argument(
        "data",
        type=Path,
        metavar="DATA",
        help="dataset folder with ratings.csv (piano-eval synthesize writes one)",
    )
    extract.add_argument(
        "--model",
        required=True,
        help="a saved model folder whose audio encoder to use, or a backbone: registry name (muq, mert, "
        "mert-330m, logmel) or Hugging Face id / local checkpoint directory",
    )
    extract.add_argument("--out", type=Path, required=True, metavar="CACHE", help="cache root folder")
    extract.add_argument(
        "--split", default="all", choices=["all", "train", "val", "test"], help="which split (default: all)"
    )
    extract.add_argument(
        "--scale", default="0-1", choices=["0-1", "1-7"], help="rating scale of ratings.csv (default: 0-1)"
    )
    extract.add_argument(
        "--layers",
        type=_layers,
        default=None,
        help="backbone layers: '12' single, '9-12' mean (default: top four), '6,12' concat",
    )
    extract.add_argument(
        "--chunk-seconds", type=float, default=30.0, help="chunk length for long audio (default: 30)"
    )
    extract.add_argument(
        "--max-chunks", type=positive_int, default=8, help="chunks per backbone call (default: 8)"
    )
    extract.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    extract.add_argument(
        "--seed", type=int, default=0, help="seed of a randomly initialised backbone (default: 0)"
    )
    extract.add_argument("--overwrite", action="store_true", help="recompute entries that already exist")
    extract.add_argument("--no-progress", action="store_true", help="no progress bar")
    extract.set_defaults(run=_extract)

    evaluate = sub.add_parser(
        "evaluate",
        help="score one split of a dataset folder with a saved model; write results.json and the report",
        description="Load a saved model folder, predict every performance of the split from the file its input "
        "kind reads (MIDI or audio), compute the metrics suite of piano_eval.evaluate.evaluate_scores "
        "(within-piece pairwise accuracy from the model's comparator logits, R² per dimension, correlations, "
        "errors, calibration) and write OUT/results.json (the format 'piano-eval compare' reads) with "
        "OUT/report.md and its figures.",
    )
    evaluate.add_argument(
        "model", type=Path, help="saved model folder (piano_eval.scoring.save_model_folder)"
    )
    evaluate.add_argument("data", type=Path, help="dataset folder with ratings.csv")
    evaluate.add_argument(
        "--split", default="test", choices=["all", "train", "val", "test"], help="which split (default: test)"
    )
    evaluate.add_argument(
        "--scale", default="0-1", choices=["0-1", "1-7"], help="rating scale of ratings.csv (default: 0-1)"
    )
    evaluate.add_argument(
        "--out", type=Path, required=True, help="folder for results.json, report.md, figures"
    )
    evaluate.add_argument("--batch-size", type=positive_int, default=16, help="inference batch (default: 16)")
    evaluate.set_defaults(run=_evaluate)

    score = sub.add_parser(
        "score",
        help="score one performance: per-dimension scores ± uncertainty, aggregate, weakest passages",
        description="Score one recording with a saved model. Prints each dimension's score in [0, 1] with its "
        "Monte-Carlo-dropout spread, a weighted aggregate (equal weights unless --weight is given) and the "
        "lowest-scoring passages; --plot draws the scores and the model's attention over time with those "
        "passages shaded. Symbolic models read --midi; when audio and MIDI are both given their lengths must "
        "agree (within 2 s or 10 %). Bad files (no notes, corrupt or silent audio, mismatched lengths) "
        "stop with a one-line error and exit code 2.",
    )
    score.add_argument("audio", type=Path, help="the performance's audio file (wav, flac, …)")
    score.add_argument(
        "--midi", type=Path, default=None, help="the performance's MIDI (needed by symbolic models)"
    )
    score.add_argument(
        "--score",
        type=Path,
        default=None,
        help="the piece's score MIDI (checked; no saved input kind reads it yet)",
    )
    score.add_argument(
        "--model",
        default=None,
        metavar="DIR_OR_HUB_ID",
        help="saved model folder or Hugging Face Hub repo id (default: the model shipped in the wheel, the "
        "synthetic benchmark's note-level model; it reads --midi and scores timing, dynamics, "
        "articulation, pedal and notes)",
    )
    score.add_argument(
        "--weight",
        dest="weights",
        type=_weight,
        action="append",
        metavar="NAME=W",
        help="aggregate weight of a dimension (repeatable; unnamed dimensions weigh 1, 0 leaves one out)",
    )
    score.add_argument(
        "--json", action="store_true", help="print the full result (timeline included) as JSON"
    )
    score.add_argument(
        "--plot", type=Path, default=None, metavar="OUT.png", help="write the score/attention figure"
    )
    score.add_argument(
        "--samples", type=positive_int, default=30, help="Monte-Carlo dropout passes (default: 30; 1 = none)"
    )
    score.add_argument("--seed", type=int, default=0, help="seed of the dropout draws (default: 0)")
    score.add_argument(
        "--window", type=float, default=2.0, help="length of a weak passage in seconds (default: 2)"
    )
    score.add_argument("--passages", type=int, default=3, help="how many weak passages to mark (default: 3)")
    score.set_defaults(run=_score)

    pseudo = sub.add_parser(
        "pseudo-label",
        help="per-segment pseudo-labels (0-100) of six technical dimensions from each performance and its "
        "score, as resumable JSONL",
        description="For every performance in DATA/ratings.csv (columns audio, midi, score_midi), align the "
        "performance MIDI to the score MIDI (partitura + parangonar; the recording by chroma DTW when there "
        "is no MIDI) and write one JSON line per segment to OUT: note_accuracy, rhythmic_precision, "
        "dynamics_control, articulation, pedaling and tone, each computed from that segment's notes only "
        "(formulas in docs/pseudo-labels.md; null where a segment holds nothing to judge). Resumable: every "
        "line is appended atomically and a rerun skips segments already written. Bad input (no notes, "
        "silent or too short audio, a performance that does not align to its score) stops with a one-line "
        "error and exit code 2.",
    )
    pseudo.add_argument(
        "data",
        type=Path,
        metavar="DATA",
        help="rating folder with ratings.csv (piano-eval synthesize writes one)",
    )
    pseudo.add_argument("--out", type=Path, required=True, help="labels file (JSONL), resumed if it exists")
    pseudo.add_argument(
        "--segment-seconds", type=float, default=10.0, help="segment length in seconds (default: 10)"
    )
    pseudo.add_argument(
        "--hop-seconds", type=float, default=5.0, help="seconds between segment starts (default: 5)"
    )
    pseudo.add_argument(
        "--whole-performances",
        action="store_true",
        help="one segment per performance, its whole length (instead of --segment-seconds windows)",
    )
    pseudo.add_argument(
        "--rating-folder",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write DIR/ratings.csv: each performance with its pseudo-labels as 0-100 rating columns, "
        "for a `train fit` pretraining config (needs --whole-performances)",
    )
    pseudo.add_argument(
        "--scale", default="0-1", choices=["0-1", "1-7"], help="rating scale of ratings.csv (default: 0-1)"
    )
    pseudo.add_argument("--no-progress", action="store_true", help="no progress bar")
    pseudo.set_defaults(run=_pseudo_label)
    return parser


def main(argv: list[str] | None = None) -> int:
    from shared_audio_core.audio import AudioError

    from piano_eval.audio.backbones import BackboneError
    from piano_eval.audio.cache import EmbeddingCacheError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    # every expected failure is a one-line message and exit code 2: bad data folders or label files
    # (DatasetLayoutError, LabelFileError, FoldLeakError), bad input files (InputFileError: no notes, corrupt
    # or silent audio, length mismatch), bad model folders (ModelFolderError), bad scores (ScoreError) and
    # bad settings are all ValueErrors; audio decoding, backbones and the cache have their own bases.
    except (ValueError, FileNotFoundError, AudioError, BackboneError, EmbeddingCacheError) as exc:
        message = " ".join(str(exc).split())
        print(f"piano-eval {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
