"""``sousa``: generate, check, describe and publish the SOUSA drum-rudiment dataset.

Exit codes: 0 success, 1 ``check`` found problems, 2 bad input (unknown preset/rudiment, missing
SoundFont, unwritable or mismatched output directory, corrupt metadata) — with a one-line message.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

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
    return parser


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


_COMMANDS = {
    "generate": _cmd_generate,
    "check": _cmd_check,
    "stats": _cmd_stats,
    "merge": _cmd_merge,
    "presets": _cmd_presets,
    "hub": _cmd_hub,
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
    except _bad_input_errors() as exc:
        print(f"sousa {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"sousa {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
