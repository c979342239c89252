"""``drum-gen`` command line: generate, train, styles, evaluate."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shared_audio_core.cliargs import positive_int

from drum_gen.defaults import EVALUATION, GENERATION, MAX_BARS, TEMPO_RANGE

MODEL_ENV = "DRUM_GEN_MODEL"
THREADS_ENV = "OMP_NUM_THREADS"
SMALL_MODEL_PARAMETERS = 10_000_000
"""Below this size one thread decodes fastest: per-token matmuls are too small to split across cores."""
MAX_DEFAULT_THREADS = 4


def _add_model_argument(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--model",
        required=required,
        default=None if required else os.environ.get(MODEL_ENV),
        help=f"checkpoint directory or Hugging Face repo id (default: ${MODEL_ENV}, else the model shipped with drum-gen)",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available, else cpu)"
    )


def _add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help=(
            f"torch CPU threads for inference (default: ${THREADS_ENV} if set; else 1 for models under "
            f"{SMALL_MODEL_PARAMETERS // 1_000_000} M parameters, whose token-by-token decoding gains "
            f"nothing from more threads and slows down badly on a busy machine; else min({MAX_DEFAULT_THREADS}, "
            "CPU count))"
        ),
    )


def inference_threads(requested: int | None, num_parameters: int) -> int | None:
    """Threads to run inference with, or None to keep torch's own setting (which follows $OMP_NUM_THREADS).

    torch's default (one thread per core) makes a small model's sampling many times slower on a busy
    CPU, because every tiny op waits for all threads; so the CLI picks a count unless the user did.
    """
    if requested is not None:
        return requested
    if os.environ.get(THREADS_ENV):
        return None
    if num_parameters < SMALL_MODEL_PARAMETERS:
        return 1
    return min(MAX_DEFAULT_THREADS, os.cpu_count() or 1)


def _set_inference_threads(requested: int | None, num_parameters: int) -> None:
    import torch

    threads = inference_threads(requested, num_parameters)
    if threads is not None:
        torch.set_num_threads(threads)


def _add_style_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--style-file",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help=(
            "YAML or TOML file of user-defined styles to register first (repeatable; a style with a "
            "built-in's name replaces it). Styles from installed `drum_gen.styles` entry points are "
            "always available. Pass the same file to `train` and later to `generate`/`evaluate`."
        ),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drum-gen",
        description="Generate N bars of General MIDI drums in a producer style, train the model, evaluate it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser(
        "generate",
        help="write a drum pattern MIDI file",
        description=(
            "Sample N bars of drums in a producer style from a trained model (the shipped default unless "
            "--model is given) and write a General MIDI "
            "drum file (channel 10, tempo and time signature set) that opens in any DAW. The model writes "
            "the quantized pattern; --humanize then applies the style's feel once."
        ),
        epilog=(
            'example: drum-gen generate --style "J Dilla" --bars 4 --tempo 90 --seed 7 -o dilla.mid\n'
            "without --model the default model shipped with drum-gen is used (its recipe: "
            "drum-gen train --out runs/cpu-small); --model runs/cpu-small or a Hub repo id picks another."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument(
        "--style", required=True, help='style name or alias, e.g. "J Dilla" or dilla (see `drum-gen styles`)'
    )
    # Defaults come from drum_gen.defaults.GENERATION, as the Python API's do: same seed, same file.
    gen.add_argument(
        "--bars",
        type=int,
        default=GENERATION.bars,
        help=f"number of bars, 1-{MAX_BARS} (default %(default)s)",
    )
    gen.add_argument(
        "--tempo",
        type=float,
        default=GENERATION.tempo_bpm,
        help=f"BPM, {TEMPO_RANGE[0]:g}-{TEMPO_RANGE[1]:g} (default: middle of the style's range)",
    )
    gen.add_argument(
        "--humanize",
        action=argparse.BooleanOptionalAction,
        default=GENERATION.humanize,
        help=(
            f"--humanize{' (default)' if GENERATION.humanize else ''} applies the style's swing, "
            "micro-timing, ghost notes, accents and velocity feel once; "
            f"--no-humanize{'' if GENERATION.humanize else ' (default)'} writes the model's quantized grid"
        ),
    )
    _add_sampling_arguments(gen)
    _add_style_rules_argument(gen)
    gen.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed: the same seed and options give the same file (default: a fresh random seed)",
    )
    gen.add_argument("-o", "--output", required=True, type=Path, help="output .mid path")
    _add_model_argument(gen)
    _add_threads_argument(gen)
    _add_style_file_argument(gen)

    train = sub.add_parser(
        "train",
        help="train a model on the procedural corpus and/or the Groove MIDI Dataset",
        description=(
            "Train the transformer on the procedural style corpus (built offline, no download) and/or "
            "the Groove MIDI Dataset (--data groove:DIR, see docs/training-data.md), fit the "
            "style classifier used by `evaluate`, and write a checkpoint directory that `generate --model` "
            "reads. Options given here override the recipe. Re-running with the same --out resumes from "
            "<out>/lightning/last.ckpt, so an interrupted run loses at most one epoch."
        ),
        epilog=(
            "without --config the recipe of the shipped default model is used (drum_gen/recipes/cpu-small.yaml,\n"
            "about 7 min on a quiet 2-core CPU, capped at 28 min; see docs/results.md):\n"
            "  drum-gen train --out runs/cpu-small\n"
            "real drumming, mixed with the procedural corpus:\n"
            "  drum-gen train --out runs/groove --data procedural --data groove:~/data/groove"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--out", required=True, type=Path, help="output checkpoint directory")
    train.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML recipe with TrainingConfig keys (default: the shipped model's recipe, drum_gen/recipes/cpu-small.yaml)",
    )
    train.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="wall-clock cap for the training loop; training stops cleanly and saves when reached",
    )
    train.add_argument("--max-epochs", type=int, default=None, help="passes over the training corpus")
    train.add_argument(
        "--patterns-per-style", type=int, default=None, help="procedural training patterns per style"
    )
    train.add_argument("--bars", type=int, default=None, help="bars per training pattern")
    train.add_argument("--seed", type=int, default=None, help="seed for corpus, split and initialisation")
    train.add_argument("--batch-size", type=int, default=None, help="sequences per optimizer step")
    train.add_argument("--num-threads", type=int, default=None, help="torch CPU threads")
    train.add_argument(
        "--data",
        action="append",
        default=None,
        metavar="SOURCE",
        help=(
            "training data, repeatable and mixed: 'procedural' (the offline corpus, --patterns-per-style per "
            "style) or 'groove:DIR' (a Groove MIDI Dataset directory with info.csv). Replaces the recipe's "
            "`data:`; default: procedural. Example: --data procedural --data groove:~/data/groove"
        ),
    )
    train.add_argument(
        "--style-map",
        default=None,
        metavar="FILE",
        help="YAML/TOML mapping of Groove styles (e.g. 'rock', 'funk/groove1') to style names, merged over "
        "the default (null unmaps); unmapped styles are skipped and counted",
    )
    train.add_argument(
        "--accelerator", default=None, help="Lightning accelerator: auto (default), cpu, gpu, cuda, mps"
    )
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_style_file_argument(train)

    styles = sub.add_parser(
        "styles", help="list the producer styles", description="List the producer styles."
    )
    styles.add_argument("--json", action="store_true", help="print machine-readable JSON")
    _add_style_file_argument(styles)

    evaluate = sub.add_parser(
        "evaluate",
        help="compare generated patterns with the corpus, per style",
        description=(
            "Generate patterns for every style and report groove consistency, empty-beat rate, density, "
            "swing (after humanization) and style-classifier accuracy, generated vs corpus. Swing is the "
            "off-beat grid position measured back from the MIDI ticks, pooled over the style's patterns, "
            "with the style's fixed per-instrument push/drag (e.g. a laid-back snare) removed first; "
            "a style passes with >= 80% classifier accuracy and swing within 2 points of its target."
        ),
    )
    _add_model_argument(evaluate)
    _add_threads_argument(evaluate)
    _add_style_file_argument(evaluate)
    evaluate.add_argument(
        "--patterns-per-style",
        type=int,
        default=EVALUATION.patterns_per_style,
        help="generated patterns per style (default %(default)s)",
    )
    evaluate.add_argument(
        "--bars", type=int, default=GENERATION.bars, help="bars per generated pattern (default %(default)s)"
    )
    evaluate.add_argument(
        "--seed", type=int, default=EVALUATION.seed, help="sampling seed (default %(default)s)"
    )
    _add_sampling_arguments(evaluate)
    _add_style_rules_argument(evaluate)
    evaluate.add_argument(
        "--rules-baseline",
        action="store_true",
        help="also sample every style without the rule constraint and report its violation rates (doubles the time)",
    )
    evaluate.add_argument("--json-out", type=Path, default=None, help="write the full report as JSON")
    evaluate.add_argument(
        "--markdown-out", type=Path, default=None, help="write the report tables as Markdown"
    )
    return parser


def _add_style_rules_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--style-rules",
        action=argparse.BooleanOptionalAction,
        default=GENERATION.enforce_style_rules,
        help=(
            f"--style-rules{' (default)' if GENERATION.enforce_style_rules else ''} guarantees the style's bar "
            "rules (backbeat snare, downbeat kick) by constrained decoding; "
            f"--no-style-rules{'' if GENERATION.enforce_style_rules else ' (default)'} leaves them to the model"
        ),
    )


def _add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--temperature",
        type=float,
        default=GENERATION.temperature,
        help="sampling temperature (default %(default)s)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=GENERATION.top_k,
        help="keep the k most likely tokens; 0 = off (default %(default)s)",
    )
    parser.add_argument(
        "--top-p",
        type=float,
        default=GENERATION.top_p,
        help="nucleus sampling mass; 1 = off (default %(default)s)",
    )


def _model_or_default(model: str | None) -> str | None:
    if not model:
        return None  # the default model shipped inside the package
    return model


class _CliError(Exception):
    pass


def _cmd_generate(args: argparse.Namespace) -> int:
    from drum_gen.generator import DrumGenerator
    from drum_gen.loader import load_model

    loaded = load_model(_model_or_default(args.model), device=args.device)
    _set_inference_threads(args.threads, loaded.model.num_parameters)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    seen_warnings = len(loaded.warnings)
    generator = DrumGenerator(loaded)
    pattern = generator.generate(
        args.style,
        bars=args.bars,
        tempo_bpm=args.tempo,
        humanize=args.humanize,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        enforce_style_rules=args.style_rules,
    )
    for warning in loaded.warnings[seen_warnings:]:  # e.g. a CUDA out-of-memory fallback while sampling
        print(f"warning: {warning}", file=sys.stderr)
    path = pattern.write_midi(args.output)
    style = generator.resolve_style(args.style).name
    print(
        f"wrote {path}: {pattern.num_bars} bars of {style} at {pattern.tempo_bpm:g} BPM, "
        f"{len(pattern.notes)} notes{' (humanized)' if pattern.humanized else ''}"
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import logging

    from drum_gen.shipped import default_recipe_path
    from drum_gen.training import TrainingConfig, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = TrainingConfig.from_yaml(args.config or default_recipe_path()).to_dict()
    overrides = {
        "max_minutes": args.max_minutes,
        "max_epochs": args.max_epochs,
        "patterns_per_style": args.patterns_per_style,
        "bars": args.bars,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "num_threads": args.num_threads,
        "data": args.data,
        "style_map": args.style_map,
        "accelerator": args.accelerator,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    if args.no_progress:
        data["progress"] = False
    config = TrainingConfig.from_dict(data)
    out = train(config, args.out)
    summary = json.loads((out / "training_summary.json").read_text())
    print(f"checkpoint written to {out}")
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(
        f"generate with: drum-gen generate --model {out} --style 'J Dilla' --bars 4 --tempo 90 -o groove.mid"
    )
    return 0


def _cmd_styles(args: argparse.Namespace) -> int:
    from drum_gen.styles import list_styles

    specs = list_styles()
    if args.json:
        print(json.dumps([s.to_dict() for s in specs], indent=2))
        return 0
    for spec in specs:
        lo, hi = spec.tempo_range
        aliases = ", ".join(spec.aliases) or "-"
        print(
            f"{spec.name:<14} swing {spec.swing_percent:4.1f}% (1/{spec.swing_resolution})  "
            f"tempo {lo:g}-{hi:g} BPM  aliases: {aliases}\n    {spec.description}"
        )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from shared_audio_core.files import atomic_write_text

    from drum_gen.evaluate import EvaluationConfig, evaluate_model
    from drum_gen.loader import load_model

    loaded = load_model(_model_or_default(args.model), device=args.device)
    _set_inference_threads(args.threads, loaded.model.num_parameters)
    config = EvaluationConfig(
        patterns_per_style=args.patterns_per_style,
        bars=args.bars,
        seed=args.seed,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        enforce_style_rules=args.style_rules,
        rules_baseline=args.rules_baseline,
    )
    report = evaluate_model(loaded, config)
    markdown = report.to_markdown()
    print(markdown)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(report.to_dict(), indent=2, sort_keys=True))
    if args.markdown_out:
        atomic_write_text(args.markdown_out, markdown + "\n")
    return 0


COMMANDS = {"generate": _cmd_generate, "train": _cmd_train, "styles": _cmd_styles, "evaluate": _cmd_evaluate}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from drum_gen.generator import GenerationError
    from drum_gen.loader import ModelLoadError

    try:
        if args.style_file:
            from drum_gen.styles import load_style_file

            for path in args.style_file:
                load_style_file(path, replace=True)
        return COMMANDS[args.command](args)
    except (_CliError, ModelLoadError, GenerationError, ValueError, FileNotFoundError) as err:
        print(f"drum-gen: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
