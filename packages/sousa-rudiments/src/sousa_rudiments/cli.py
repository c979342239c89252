"""``sousa``: generate, check, describe and publish the SOUSA drum-rudiment dataset, and recognise rudiments.

Dataset commands: ``generate``, ``check``, ``stats``, ``merge``, ``presets``, ``hub``. Recognition
commands: ``classify`` (name the rudiment in recordings), ``evaluate`` / ``evaluate-onsets`` (score a
model or the onset detector on a dataset split), ``train`` (train a pipeline with a recipe) and
``quickstart`` (the whole path in one command).

Exit codes: 0 success, 1 ``check`` found problems or ``classify`` found no rudiment in a recording,
2 bad input (unknown preset/rudiment, missing SoundFont, unwritable or mismatched output directory,
corrupt metadata, an audio file that cannot be analysed, a model that cannot be loaded) — with a
one-line message, never a traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared_audio_core.cliargs import positive_int

from sousa_rudiments.presets import PRESETS, get_preset

__all__ = ["build_parser", "main"]

EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sousa",
        description="SOUSA: synthetic performances of the 40 PAS drum rudiments (MIDI, audio, labels).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser(
        "generate",
        help="generate (or resume) a dataset",
        description="Generate a dataset into --out. Rerunning the same command resumes an interrupted run; "
        "--shard i/N generates every N-th performance so N machines can split the work (see README).",
    )
    gen.add_argument("--preset", default="small", help=f"dataset size: {', '.join(PRESETS)} (default: small)")
    gen.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    gen.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    gen.add_argument(
        "--with-audio", action="store_true", help="also render FLAC audio (one clip per augmentation)"
    )
    gen.add_argument(
        "--soundfont",
        action="append",
        type=Path,
        default=None,
        help="SoundFont to render with (repeatable); default: the core's default plus any installed system SoundFonts",
    )
    gen.add_argument(
        "--no-system-soundfonts",
        action="store_true",
        help="use only the default SoundFont (ignored with --soundfont)",
    )
    gen.add_argument(
        "--rudiment", action="append", default=None, help="restrict to these rudiment slugs (repeatable)"
    )
    gen.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    gen.add_argument("--shard", default=None, help="generate only shard i of N, written as i/N (0-based)")
    gen.add_argument(
        "--repair",
        action="store_true",
        help="regenerate already generated files that fail validation (they are moved to _quarantine/ first)",
    )
    gen.add_argument("--quiet", action="store_true", help="no progress bars")

    check = sub.add_parser(
        "check",
        help="validate a generated dataset",
        description="Check schema, counts, "
        "split disjointness and that every referenced file exists and decodes.",
    )
    check.add_argument("dataset", type=Path)
    check.add_argument("--no-decode", action="store_true", help="skip decoding MIDI/audio files (faster)")
    check.add_argument("--quiet", action="store_true")

    stats = sub.add_parser("stats", help="per tier / rudiment / tempo tables")
    stats.add_argument("dataset", type=Path)
    stats.add_argument("--format", choices=("text", "markdown", "json"), default="text")

    merge = sub.add_parser(
        "merge",
        help="merge shard directories into one dataset",
        description="Combine the directories written by `sousa generate --shard i/N` (same preset and seed) "
        "into --out and write the label tables and splits.",
    )
    merge.add_argument("shards", nargs="+", type=Path)
    merge.add_argument("--out", required=True, type=Path)
    merge.add_argument("--quiet", action="store_true")

    sub.add_parser("presets", help="list the dataset presets")

    hub = sub.add_parser("hub", help="stage a dataset for the Hugging Face Hub and upload it")
    hub_sub = hub.add_subparsers(dest="hub_command", required=True)
    prep = hub_sub.add_parser("prepare", help="build the upload folder (parquet configs + dataset card)")
    prep.add_argument("dataset", type=Path)
    prep.add_argument("staging", type=Path)
    prep.add_argument(
        "--repo-id", default="zkeown/sousa", help="repository named in the card's usage snippet"
    )
    prep.add_argument(
        "--include-raw-audio",
        action="store_true",
        help="also stage audio/{rudiment}/*.flac (doubles the upload)",
    )
    up = hub_sub.add_parser("upload", help="upload a staged folder (resumable)")
    up.add_argument("staging", type=Path)
    up.add_argument("repo_id")
    up.add_argument("--dry-run", action="store_true", help="list what would be uploaded; no network")
    up.add_argument("--private", action="store_true")
    _add_recognition_commands(sub)
    return parser


_DEFAULT_MODEL_HELP = (
    "a pipeline directory (what `sousa train` writes in OUT/pipeline) or a Hugging Face Hub repo id "
    "(user/name); default: the model shipped inside the sousa-rudiments package"
)
_CLASSIFY_EPILOG = """\
Output: for each file the rudiment and its probability, the top-K table, the tempo, the number of
strokes with a compact stroke line (time in s, hand, kind) and, for recordings longer than one
analysis window, the answer of each window. --json prints one JSON object per file (a list for
several files); a file that could not be analysed is {"file": ..., "error": ...}.

Exit codes: 0 every file was classified; 1 no rudiment found in at least one file (noise, a tone,
too few strokes or no confident answer; the reason is printed); 2 at least one file could not be
analysed (missing, corrupt or unsupported file, NaN/inf samples, silence, under 1 s, a sample rate
outside 16-192 kHz, no strokes) or the model could not be loaded. Each such file gets one line on
stderr, `sousa classify: FILE: message`, and the remaining files are still classified.
"""
_EVALUATE_EPILOG = """\
Writes report.json, report.md and confusion.png into --out and prints the headline figures
(top-1/3/5 accuracy, macro-F1) and the report's path. The test split's players never appear in
training, so its figures are what a new drummer can expect.

Exit codes: 0 done; 2 bad input (model not loadable, not a SOUSA dataset with audio, unknown split).
"""
_TRAIN_EPILOG = """\
Steps: analyse every clip into the feature cache (--cache; resumable: existing files are kept)
with the recipe's onset settings (`onsets:`, e.g. `onsets: {delta: 0.1}`; the pipeline detects with
them too, and a cache detected with other settings is refused), then train the stroke-feature
model, the rudiment classifier and (if the recipe says so) the direct audio model, each from its
last checkpoint if one exists. Rerunning the same command after an interruption resumes. The
pipeline lands in OUT/pipeline: pass it to `sousa classify --model` or `sousa evaluate`; OUT/runs
keeps checkpoints and CSV logs, OUT/training.json the validation figures.

Exit codes: 0 trained; 2 bad input (not a SOUSA dataset with audio, a cache of another dataset
or onset settings, an invalid recipe); 130 interrupted (rerun to resume).
"""
_QUICKSTART_EPILOG = """\
Generates the `small` dataset with audio, analyses it, trains with the quickstart recipe,
evaluates on the held-out test players, classifies one of their clips and writes OUT/report.md.
Every stage resumes when the command is run again.

Exit codes: 0 done; 2 bad input; 130 interrupted (rerun to resume).
"""


def _wrap(text: str) -> str:
    """Fill a description to the terminal-friendly width (the epilogs below are laid out by hand)."""
    return textwrap.fill(text, width=100, break_on_hyphens=False)


def _add_recognition_commands(sub: argparse._SubParsersAction) -> None:
    formatter = argparse.RawDescriptionHelpFormatter  # epilogs are laid out by hand; _wrap fills descriptions
    threads_help = (
        "torch CPU threads (default: 1; small models run fastest single-threaded, "
        "especially on a busy machine)"
    )

    classify = sub.add_parser(
        "classify",
        help="name the rudiment played in audio recordings",
        description=_wrap(
            "Recognise the drum rudiment in each audio FILE (WAV, FLAC, OGG, MP3: anything "
            "libsndfile decodes; 16-192 kHz, at least 1 s) with a trained pipeline: onset detection, "
            "stroke features, rudiment classifier. Without --model the model shipped in the package is used."
        ),
        epilog=_CLASSIFY_EPILOG,
        formatter_class=formatter,
    )
    classify.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio recording(s)")
    classify.add_argument("--model", default=None, metavar="DIR_OR_HUB_ID", help=_DEFAULT_MODEL_HELP)
    classify.add_argument(
        "--mode",
        choices=("two_stage", "direct", "ensemble", "product"),
        default=None,
        help="which models decide: two_stage (strokes then rudiment), direct (log-mel CRNN), "
        "ensemble (the mean of their probabilities) or product (their normalised product); "
        "default: the mode stored with the model",
    )
    classify.add_argument("--json", action="store_true", help="print JSON instead of text")
    classify.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="OUT.png",
        help="save a figure of the waveform, detected strokes and top answers "
        "(several files: OUT-1.png, OUT-2.png, ...)",
    )
    classify.add_argument(
        "--top", type=positive_int, default=5, metavar="K", help="rudiments listed (default: 5)"
    )
    classify.add_argument("--threads", type=positive_int, default=1, metavar="N", help=threads_help)

    evaluate = sub.add_parser(
        "evaluate",
        help="score a model on a dataset split, from audio",
        description=_wrap(
            "Run a pipeline on every clip of a generated SOUSA dataset's split (from the audio, "
            "exactly as `sousa classify` does) and report accuracy, per-rudiment F1 and the confusion matrix."
        ),
        epilog=_EVALUATE_EPILOG,
        formatter_class=formatter,
    )
    evaluate.add_argument(
        "model",
        metavar="MODEL",
        help="a pipeline directory, a Hugging Face Hub repo id, or `default` (the model shipped in the package)",
    )
    evaluate.add_argument(
        "dataset", type=Path, metavar="DATASET", help="a SOUSA dataset generated with audio"
    )
    evaluate.add_argument(
        "--split", choices=("train", "validation", "test"), default="test", help="(default: test)"
    )
    evaluate.add_argument(
        "--out", type=Path, default=None, help="report directory (default: runs/evaluate/DATASET_NAME-SPLIT)"
    )
    evaluate.add_argument(
        "--limit", type=positive_int, default=None, metavar="N", help="evaluate only N clips (a quick look)"
    )
    evaluate.add_argument("--threads", type=positive_int, default=1, metavar="N", help=threads_help)
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")

    onsets = sub.add_parser(
        "evaluate-onsets",
        help="score the onset detector against the strokes table",
        description=_wrap(
            "Detect strokes in every clip of a dataset split and print the onset F-measure "
            "(mir_eval, ±25 ms) overall and per group. Needs no model."
        ),
        epilog="Exit codes: 0 done; 2 bad input (not a SOUSA dataset with audio, unknown split).",
        formatter_class=formatter,
    )
    onsets.add_argument("dataset", type=Path, metavar="DATASET", help="a SOUSA dataset generated with audio")
    onsets.add_argument(
        "--split", choices=("train", "validation", "test"), default="test", help="(default: test)"
    )
    onsets.add_argument(
        "--limit", type=positive_int, default=None, metavar="N", help="evaluate only N clips (a quick look)"
    )
    onsets.add_argument("--no-progress", action="store_true", help="no progress bar")

    train = sub.add_parser(
        "train",
        help="train a recognition pipeline on a generated dataset",
        description=_wrap(
            "Train the rudiment recogniser on a SOUSA dataset generated with audio "
            "(`sousa generate --with-audio`), with the settings of a recipe YAML (default: the committed "
            "recipe of the shipped model, recognition/recipes/default.yaml)."
        ),
        epilog=_TRAIN_EPILOG,
        formatter_class=formatter,
    )
    train.add_argument(
        "dataset",
        type=Path,
        nargs="+",
        metavar="DATASET",
        help="SOUSA datasets generated with audio; several (other --seed: other players) are pooled split by "
        "split (train with train, validation with validation)",
    )
    train.add_argument("--out", required=True, type=Path, help="output directory (pipeline in OUT/pipeline)")
    train.add_argument(
        "--recipe",
        default=None,
        metavar="NAME|YAML",
        help=f"training recipe: a YAML file or the name of a committed one ({', '.join(_committed_recipes())}; "
        "default: the committed recipes/default.yaml)",
    )
    train.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="feature cache root (default: OUT/cache); each dataset is cached in CACHE/<its folder name>",
    )
    train.add_argument(
        "--workers", type=positive_int, default=1, metavar="N", help="processes analysing clips (default: 1)"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bars or trainer logs")

    quick = sub.add_parser(
        "quickstart",
        help="generate, train, evaluate and classify in one command",
        description=_wrap("The whole recognition path in one command, on a small generated dataset."),
        epilog=_QUICKSTART_EPILOG,
        formatter_class=formatter,
    )
    quick.add_argument("--out", type=Path, default=None, help="output directory (default: runs/quickstart)")
    quick.add_argument(
        "--workers", type=positive_int, default=None, metavar="N", help="worker processes (default: 2)"
    )
    quick.add_argument("--no-progress", action="store_true", help="no progress output")


def _cmd_generate(args: argparse.Namespace) -> int:
    from sousa_rudiments.dataset.generate import GenerateConfig, generate
    from sousa_rudiments.dataset.plan import Shard
    from sousa_rudiments.render import resolve_soundfonts

    preset = get_preset(args.preset)
    if args.rudiment:
        from sousa_rudiments.rudiments import get_rudiment

        for slug in args.rudiment:
            get_rudiment(slug)
        preset = dataclasses.replace(preset, rudiments=tuple(args.rudiment))
    soundfonts: tuple[Path, ...] = ()
    if args.with_audio:
        soundfonts = tuple(resolve_soundfonts(args.soundfont, include_system=not args.no_system_soundfonts))
    elif args.soundfont:
        raise ValueError("--soundfont only applies with --with-audio")
    config = GenerateConfig(
        output_dir=args.out,
        preset=preset,
        seed=args.seed,
        with_audio=args.with_audio,
        soundfonts=soundfonts,
        workers=args.workers,
        shard=Shard.parse(args.shard) if args.shard else None,
        progress=not args.quiet,
        repair=args.repair,
    )
    result = generate(config)
    note = f", regenerated {len(result.redone)} corrupt (old files in _quarantine/)" if result.redone else ""
    print(f"{result.output_dir}: {result.generated} performances generated, {result.reused} reused{note}")
    if result.finalized:
        print(f"{result.output_dir}: {result.num_samples} samples; labels and splits written")
    else:
        print(
            f"shard {config.shard} done; when every shard is finished run `sousa merge SHARD_DIRS... --out DIR` "
            "(or copy them into one directory and rerun this command without --shard)"
        )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from sousa_rudiments.dataset.check import check_dataset

    report = check_dataset(args.dataset, decode=not args.no_decode, progress=not args.quiet)
    print(report.summary())
    return 0 if report.ok else EXIT_PROBLEMS


def _cmd_stats(args: argparse.Namespace) -> int:
    from sousa_rudiments.dataset.stats import dataset_stats, format_stats

    print(format_stats(dataset_stats(args.dataset), args.format), end="")
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from sousa_rudiments.dataset.generate import finalize_existing, merge_shards

    merge_shards(args.shards, args.out, progress=not args.quiet)
    n = finalize_existing(args.out, progress=not args.quiet)
    print(f"{args.out}: merged {len(args.shards)} shard(s), {n} samples; labels and splits written")
    return 0


def _cmd_presets(_: argparse.Namespace) -> int:
    print(
        f"{'preset':8} {'profiles':>8} {'rudiments':>9} {'tempos':>6} {'augs':>4} {'MIDI':>7} {'audio':>7}  description"
    )
    for preset in PRESETS.values():
        rudiments = len(preset.rudiments) if preset.rudiments is not None else 40
        print(
            f"{preset.name:8} {preset.num_profiles:>8} {rudiments:>9} {len(preset.tempos_bpm):>6} "
            f"{len(preset.augmentations):>4} {preset.num_performances():>7} {preset.num_samples(with_audio=True):>7}  "
            f"{preset.description}"
        )
    return 0


def _cmd_hub(args: argparse.Namespace) -> int:
    from sousa_rudiments import hub

    if args.hub_command == "prepare":
        staged = hub.prepare(
            args.dataset,
            args.staging,
            repo_id=args.repo_id,
            include_raw_audio=args.include_raw_audio,
            progress=True,
        )
        print(f"staged {args.dataset} in {staged}")
        return 0
    plan = hub.upload(args.staging, args.repo_id, dry_run=args.dry_run, private=args.private)
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {plan.num_files} files ({plan.total_bytes / 1e6:.1f} MB) to datasets/{args.repo_id}")
    return 0


# ------------------------------------------------------------------------------------ recognition
class _BadInput(Exception):
    """A bad-input error a command has already worded in one line (exit 2)."""


_RESUMABLE = frozenset({"generate", "merge", "train", "quickstart"})
_MAX_STROKES_SHOWN = 12


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _load_pipeline(model: str | None, mode: str | None = None) -> Any:
    """``RudimentPipeline.from_pretrained`` with load failures as one-line errors (model None: the shipped one)."""
    from sousa_rudiments.recognition.pipeline import PipelineLoadError, RudimentPipeline

    try:
        return RudimentPipeline.from_pretrained(model, mode=mode)  # keeps stdout clean for --json
    except (PipelineLoadError, ValueError, OSError) as exc:
        raise _BadInput(f"cannot load the model: {exc}") from exc


def _optional_module(name: str, purpose: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise _BadInput(f"{purpose} needs {name}, which this installation of sousa-rudiments lacks") from exc


def _file_error(path: Path, exc: BaseException) -> str:
    """The error's message without a repeated leading file name."""
    if isinstance(exc, FileNotFoundError):  # shared_audio_core's AudioFileNotFoundError included
        return "file not found"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in (f"{path}: ", f"{path.resolve()}: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def _plot_path(plot: Path, index: int, count: int) -> Path:
    if count == 1:
        return plot
    return plot.with_name(f"{plot.stem}-{index}{plot.suffix or '.png'}")


def _format_prediction(path: Path, prediction: Any) -> str:
    lines = []
    if prediction.found:
        best = prediction.best
        lines.append(f"{path}: {best.name} ({best.slug}) {best.probability:.1%}")
        lines.append(f"  top {len(prediction.top)}:")
    else:
        lines.append(f"{path}: no rudiment found: {prediction.reason}")
        lines.append("  closest guesses (not an answer):")
    width = max(len(g.name) for g in prediction.top)
    for rank, guess in enumerate(prediction.top, 1):
        lines.append(f"  {rank:>3}. {guess.name:<{width}}  {guess.probability:6.1%}  {guess.slug}")
    lines.append(
        f"  tempo {prediction.tempo_bpm:.1f} BPM, {prediction.duration_s:.2f} s, "
        f"{len(prediction.strokes)} strokes (mode {prediction.mode})"
    )
    if prediction.strokes:
        shown = ", ".join(
            f"{s.time_s:.2f} {s.hand} {s.kind}" for s in prediction.strokes[:_MAX_STROKES_SHOWN]
        )
        more = len(prediction.strokes) - _MAX_STROKES_SHOWN
        lines.append(f"  strokes: {shown}" + (f", ... (+{more} more)" if more > 0 else ""))
    if len(prediction.windows) > 1:
        lines.append(f"  windows ({len(prediction.windows)}):")
        for w in prediction.windows:
            lines.append(
                f"    {w['start_s']:7.1f}-{w['end_s']:.1f} s  {w['rudiment']}  {w['probability']:.1%}"
            )
    return "\n".join(lines)


def _cmd_classify(args: argparse.Namespace) -> int:
    _set_threads(args.threads)
    plots = None
    if args.plot is not None:
        plots = _optional_module("sousa_rudiments.recognition.plots", "--plot")
    pipeline = _load_pipeline(args.model, args.mode)

    from shared_audio_core.audio import AudioError, audio_info, load_audio

    results: list[dict[str, Any]] = []
    failed = not_found = False
    for index, path in enumerate(args.files, 1):
        entry: dict[str, Any] = {"file": str(path)}
        try:
            sample_rate = audio_info(path).sample_rate
            audio = load_audio(path, sample_rate)
            prediction = pipeline.predict(audio, sample_rate, top_k=args.top)
        except (AudioError, ValueError, OSError) as exc:  # RecognitionError is a ValueError
            message = _file_error(path, exc)
            print(f"sousa classify: {path}: {message}", file=sys.stderr, flush=True)
            failed = True
            results.append({**entry, "error": message, "error_type": type(exc).__name__})
            continue
        entry.update(prediction.to_dict())
        not_found = not_found or not prediction.found
        if plots is not None:
            target = _plot_path(args.plot, index, len(args.files))
            try:
                analysed = pipeline.prepare_audio(audio, sample_rate)  # mono at the analysis rate
                plots.save_prediction_figure(analysed, pipeline.config.onsets.sample_rate, prediction, target)
                entry["plot"] = str(target)
            except (OSError, ValueError) as exc:  # unwritable path, a suffix matplotlib cannot write
                print(f"sousa classify: {path}: cannot write the plot {target}: {exc}", file=sys.stderr)
                failed = True
        results.append(entry)
        if not args.json:
            print(_format_prediction(path, prediction))
            if "plot" in entry:
                print(f"  plot: {entry['plot']}")
            sys.stdout.flush()
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    if failed:
        return EXIT_BAD_INPUT
    return EXIT_PROBLEMS if not_found else 0


def _percent(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.1f}%"


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _set_threads(args.threads)
    evaluate = _optional_module("sousa_rudiments.recognition.evaluate", "sousa evaluate")
    pipeline = _load_pipeline(None if args.model == "default" else args.model)
    out = args.out or Path("runs") / "evaluate" / f"{args.dataset.resolve().name}-{args.split}"
    report = evaluate.evaluate_pipeline(
        pipeline, args.dataset, split=args.split, progress=not args.no_progress, limit=args.limit
    )
    paths = report.write(out)
    o = report.overall
    print(
        f"{args.dataset} [{args.split}, {o['clips']} clips] {pipeline.source} ({pipeline.config.mode}): "
        f"top-1 {_percent(o['top1'])}  top-3 {_percent(o['top3'])}  top-5 {_percent(o['top5'])}  "
        f"macro-F1 {o['macro_f1']:.3f}  not found {_percent(o['not_found_rate'])}  errors {o['errors']}"
    )
    print(f"report: {paths['report.md']}")
    return 0


def _cmd_evaluate_onsets(args: argparse.Namespace) -> int:
    evaluate = _optional_module("sousa_rudiments.recognition.evaluate", "sousa evaluate-onsets")
    report = evaluate.evaluate_onsets(
        args.dataset, args.split, progress=not args.no_progress, limit=args.limit
    )
    print(report.to_markdown(), end="")
    return 0


def _committed_recipes() -> list[str]:
    """Names of the recipes in the wheel (read from the folder: ``recipe.py`` imports Lightning)."""
    return sorted(
        p.stem for p in (Path(__file__).resolve().parent / "recognition" / "recipes").glob("*.yaml")
    )


def _recipe_file(recipe: str | None) -> Path:
    """``--recipe``: a YAML path, or the name of a committed recipe (``short-windows``); none: ``default``."""
    from sousa_rudiments.recognition.recipe import recipe_path

    if recipe is None:
        return recipe_path("default")
    path = Path(recipe)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    try:
        return recipe_path(recipe)
    except FileNotFoundError as exc:
        raise _BadInput(str(exc)) from exc


def _quiet_trainer() -> None:
    """Keep Lightning's info logs and routine warnings out of a --no-progress run."""
    import logging
    import warnings

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",
        ".*smaller than the logging interval.*",
        ".*LeafSpec.*",
        ".*module\\(s\\) in eval mode.*",
        ".*exists and is not empty.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def _cmd_train(args: argparse.Namespace) -> int:
    from sousa_rudiments.recognition.cache import FeatureCacheError, build_feature_cache
    from sousa_rudiments.recognition.recipe import RecipeConfig, train_recognizer

    recipe = _recipe_file(args.recipe)
    try:
        config = RecipeConfig.from_yaml(recipe)
    except FileNotFoundError as exc:
        raise _BadInput(f"recipe not found: {recipe}") from exc
    except Exception as exc:  # YAML syntax, unknown keys, wrong value types: all one line
        raise _BadInput(f"{recipe}: not a valid recipe: {_file_error(recipe, exc)}") from exc
    root = args.cache or args.out / "cache"
    names = [d.resolve().name for d in args.dataset]
    if len(set(names)) != len(names):
        raise _BadInput(f"datasets need distinct folder names (their caches are CACHE/<name>): {names}")
    caches = [root / name for name in names]
    progress = not args.no_progress
    if not progress:
        _quiet_trainer()
    for dataset, cache in zip(args.dataset, caches, strict=True):
        try:
            build_feature_cache(dataset, cache, config=config.onsets, workers=args.workers, progress=progress)
        except FeatureCacheError as exc:
            raise _BadInput(str(exc)) from exc
        print(f"{dataset}: features cached in {cache}", flush=True)
    with contextlib.redirect_stdout(io.StringIO()) if not progress else contextlib.nullcontext():
        result = train_recognizer(args.dataset, caches, args.out, config, progress=progress)
    figures = ", ".join(f"{k} {v:.3f}" for k, v in result.validation.items())
    print(f"validation: {figures}")
    print(f"pipeline: {result.output_dir} (use it with `sousa classify --model {result.output_dir} FILE`)")
    return 0


def _cmd_quickstart(args: argparse.Namespace) -> int:
    from sousa_rudiments.recognition.quickstart import QuickstartConfig, run_quickstart

    overrides = {k: v for k, v in (("out_dir", args.out), ("workers", args.workers)) if v is not None}
    config = dataclasses.replace(QuickstartConfig(), progress=not args.no_progress, **overrides)
    result = run_quickstart(config)
    print(f"quickstart done: report in {result.report}")
    return 0


_COMMANDS = {
    "generate": _cmd_generate,
    "check": _cmd_check,
    "stats": _cmd_stats,
    "merge": _cmd_merge,
    "presets": _cmd_presets,
    "hub": _cmd_hub,
    "classify": _cmd_classify,
    "evaluate": _cmd_evaluate,
    "evaluate-onsets": _cmd_evaluate_onsets,
    "train": _cmd_train,
    "quickstart": _cmd_quickstart,
}


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    from shared_audio_core.augment import UnknownPresetError as UnknownAugmentationError
    from shared_audio_core.synth import InvalidSoundFontError, SoundFontNotFoundError

    from sousa_rudiments.dataset.generate import IncompleteDatasetError
    from sousa_rudiments.dataset.storage import CorruptDatasetError, DatasetMismatchError
    from sousa_rudiments.presets import UnknownPresetError
    from sousa_rudiments.render import SoundFontFormatError
    from sousa_rudiments.rudiments import UnknownRudimentError

    return (
        UnknownPresetError,
        UnknownRudimentError,
        UnknownAugmentationError,
        SoundFontNotFoundError,
        InvalidSoundFontError,
        SoundFontFormatError,
        DatasetMismatchError,
        CorruptDatasetError,
        IncompleteDatasetError,
        PermissionError,
        NotADirectoryError,
        FileNotFoundError,
        ValueError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except _BadInput as exc:
        print(f"sousa {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except _bad_input_errors() as exc:
        print(f"sousa {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        hint = "; rerun the same command to resume" if args.command in _RESUMABLE else ""
        print(f"sousa {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
