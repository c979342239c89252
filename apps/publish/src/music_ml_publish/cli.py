"""``publish``: the SOUSA dataset and models to the Hugging Face Hub, the libraries to PyPI.

Exit codes: 0 done; 1 a verification failed (counts, loading, a smoke test); 2 bad input or a missing
precondition (no such directory, not a SOUSA dataset, bad repo id, no token, bad version), as one line
on stderr; 130 interrupted (rerun the same command: staging is redone, uploads resume).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from music_ml_publish.errors import PublishError, VerificationError

__all__ = ["build_parser", "main"]

EXIT_VERIFICATION = 1
EXIT_BAD_INPUT = 2
_FORMATTER = argparse.RawDescriptionHelpFormatter
_EXIT_CODES = """\
Exit codes: 0 done; 1 a verification failed; 2 bad input (missing directory, not a SOUSA dataset or
model directory, bad repo id, no Hugging Face login); 130 interrupted.
"""


def _default_staging(kind: str, repo_id: str) -> Path:
    return Path("runs") / "publish" / kind / repo_id.replace("/", "--")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="publish",
        description="Publish the SOUSA dataset and trained models to the Hugging Face Hub, and release the\n"
        "workspace libraries to PyPI. Every command has --dry-run, which needs no login and uploads nothing.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=_FORMATTER,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dataset = sub.add_parser(
        "dataset",
        help="stage, verify and upload a dataset to the Hub",
        description="Publish a generated dataset to the Hugging Face Hub as a dataset repository.",
    )
    kinds = dataset.add_subparsers(dest="dataset_kind", required=True, metavar="KIND")
    sousa = kinds.add_parser(
        "sousa",
        help="a SOUSA dataset made by `sousa generate`",
        formatter_class=_FORMATTER,
        description="""\
Publish a SOUSA dataset directory (made by `sousa generate --out DIR`):
  1. check DIR and the repo id, and (unless --dry-run) that you are logged in to the Hub;
  2. stage it with sousa_rudiments.hub.prepare: parquet configs audio / midi_only / labels_only,
     the label tables, raw MIDI and the dataset card (README.md);
  3. verify that every staged config has as many samples per split as the dataset's splits.json,
     and that `datasets.load_dataset(STAGING, "labels_only")` loads them;
  4. (not --dry-run) upload the folder, resumably (rerun after an interruption), then re-load it
     with `load_dataset(REPO_ID, "labels_only")` and compare the counts per split again.""",
        epilog=_EXIT_CODES,
    )
    sousa.add_argument("dataset", type=Path, metavar="DIR", help="the dataset directory")
    sousa.add_argument(
        "--repo-id", required=True, metavar="OWNER/NAME", help="the Hub dataset repository, e.g. zkeown/sousa"
    )
    sousa.add_argument(
        "--staging",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the upload folder is built and kept (default: runs/publish/datasets/OWNER--NAME); "
        "it must be empty or a folder staged before",
    )
    sousa.add_argument(
        "--dry-run", action="store_true", help="stage and verify only: no login, no network, nothing uploaded"
    )
    sousa.add_argument("--private", action="store_true", help="create the repository as private")
    sousa.add_argument(
        "--include-raw-audio",
        action="store_true",
        help="also upload audio/{rudiment}/*.flac (the audio config embeds the clips already; doubles the size)",
    )
    sousa.add_argument(
        "--reuse-staging",
        action="store_true",
        help="skip staging and upload the folder an earlier run staged (to resume an interrupted upload "
        "without rebuilding the parquet files); the counts are verified again",
    )
    sousa.add_argument("--no-progress", action="store_true", help="no progress bar while staging")

    model = sub.add_parser(
        "model",
        help="upload a model directory with a generated model card",
        formatter_class=_FORMATTER,
        description="""\
Publish a model directory to the Hub with a generated model card (README.md): metrics from the
evaluation report(s), intended use, limitations, training data and how to load it. Known
directories: a sousa-rudiments recognizer (pipeline.json; `sousa train` writes OUT/pipeline, the
shipped one is sousa_rudiments/recognition/default_model) with `sousa evaluate` report.json files,
and a drum-gen checkpoint (drum_gen.json, config.json, model.safetensors) with
`drum-gen evaluate --json-out` reports. The staged copy is loaded with its library before upload.""",
        epilog=_EXIT_CODES,
    )
    model.add_argument("model", type=Path, metavar="DIR", help="the model directory")
    model.add_argument(
        "--repo-id",
        required=True,
        metavar="OWNER/NAME",
        help="the Hub model repository, e.g. zkeown/sousa-recognizer",
    )
    model.add_argument(
        "--report",
        action="append",
        required=True,
        metavar="[LABEL=]JSON",
        help="evaluation report whose figures go into the card (repeatable); LABEL names it in the card "
        "(default: the folder name of a report.json, else the file name)",
    )
    model.add_argument(
        "--dataset-id",
        default=None,
        metavar="OWNER/NAME",
        help="Hub dataset the card names as training data (default for SOUSA models: zkeown/sousa; drum-gen: none)",
    )
    model.add_argument(
        "--staging",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the card and a copy of the model are staged (default: runs/publish/models/OWNER--NAME)",
    )
    model.add_argument(
        "--dry-run", action="store_true", help="stage, write the card and list the files only: no network"
    )
    model.add_argument("--private", action="store_true", help="create the repository as private")

    rel = sub.add_parser(
        "release",
        help="bump, build, smoke-test and upload the libraries to PyPI",
        formatter_class=_FORMATTER,
        description="""\
Release every library (workspace members not marked `Private :: Do Not Upload`) at one version:
  1. check --version (X.Y.Z, greater than the current one) and that the tree is in lockstep;
  2. in a temporary copy of the workspace, set the version in each pyproject.toml and __version__
     and each sibling's range on shared-audio-core (e.g. >=0.2.0,<0.3);
  3. `uv build --package NAME` every library into --dist;
  4. install each wheel alone (with the shared-audio-core wheel it needs) into a fresh venv outside
     the workspace, run its command's --help and one real call (or import it);
  5. (not --dry-run) write the bump into the working tree and `uv publish` every library, core first.
Then run `uv lock`, commit and tag (docs/releasing.md).""",
        epilog="Exit codes: 0 done; 1 a build or smoke check failed (nothing written or uploaded); 2 bad\n"
        "input (malformed or not greater version, tree not in lockstep, no PyPI credentials).",
    )
    rel.add_argument("--version", required=True, metavar="X.Y.Z", help="the new version of every library")
    rel.add_argument(
        "--dry-run",
        action="store_true",
        help="bump, build and smoke-test in the temporary copy only; the working tree is not modified and "
        "nothing is uploaded (needs no PyPI credentials)",
    )
    rel.add_argument(
        "--dist",
        type=Path,
        default=None,
        metavar="DIR",
        help="where wheels and sdists go (default: ROOT/dist/VERSION)",
    )
    rel.add_argument(
        "--root",
        type=Path,
        default=None,
        metavar="DIR",
        help="the workspace root (default: the nearest directory above the current one with a uv workspace)",
    )
    rel.add_argument(
        "--python",
        default=sys.executable,
        metavar="PYTHON",
        help="interpreter for the smoke-test venvs (default: the one running publish)",
    )
    rel.add_argument(
        "--publish-url",
        default=None,
        metavar="URL",
        help="upload endpoint (default: PyPI; TestPyPI: https://test.pypi.org/legacy/)",
    )
    rel.add_argument(
        "--check-url",
        default=None,
        metavar="URL",
        help="index whose existing files a rerun skips (default with PyPI: https://pypi.org/simple/)",
    )
    rel.add_argument(
        "--keep-temp", action="store_true", help="keep the temporary copy and venvs (printed) for inspection"
    )
    return parser


# ------------------------------------------------------------------------------------------ dataset
def _layout(files: Sequence[str]) -> list[str]:
    """Staged files grouped by their first two path parts, for a glance at the structure."""
    groups = Counter("/".join(f.split("/")[:2]) if f.count("/") >= 2 else f for f in files)
    return [
        f"  {name:<40} {count:>6} file{'s' if count != 1 else ''}" for name, count in sorted(groups.items())
    ]


def _cmd_dataset(args: argparse.Namespace) -> int:
    from music_ml_publish.dataset import VERIFY_CONFIG, DatasetPublishConfig, publish_sousa_dataset
    from music_ml_publish.hub_auth import validate_repo_id

    validate_repo_id(args.repo_id)
    config = DatasetPublishConfig(
        dataset_dir=args.dataset,
        repo_id=args.repo_id,
        staging_dir=args.staging or _default_staging("datasets", args.repo_id),
        dry_run=args.dry_run,
        private=args.private,
        include_raw_audio=args.include_raw_audio,
        reuse_staging=args.reuse_staging,
        progress=not args.no_progress,
    )
    result = publish_sousa_dataset(config, log=lambda m: print(m, flush=True))
    configs = list(result.staged)
    columns = ["split", "dataset", *configs, f"load_dataset({VERIFY_CONFIG})"]
    if result.loaded_hub is not None:
        columns.append("Hub load_dataset")
    print("samples per split:")
    print("  " + "  ".join(f"{c:>12}" for c in columns))
    for split, expected in result.expected.items():
        row = [
            split,
            expected,
            *(result.staged[c].get(split, 0) for c in configs),
            result.loaded_local[split],
        ]
        if result.loaded_hub is not None:
            row.append(result.loaded_hub[split])
        print("  " + "  ".join(f"{v!s:>12}" for v in row))
    plan = result.plan
    print(f"staged layout of {result.staging_dir}:")
    print("\n".join(_layout(plan.files)))
    if args.dry_run:
        print(
            f"dry run: would upload {plan.num_files} files ({plan.total_bytes / 1e6:.1f} MB) to "
            f"datasets/{args.repo_id}; nothing was sent"
        )
    else:
        print(
            f"uploaded {plan.num_files} files ({plan.total_bytes / 1e6:.1f} MB) as {result.user}: {result.url}"
        )
    return 0


# ------------------------------------------------------------------------------------------ model
def _cmd_model(args: argparse.Namespace) -> int:
    from music_ml_publish.hub_auth import validate_repo_id
    from music_ml_publish.model import ModelPublishConfig, publish_model

    validate_repo_id(args.repo_id)
    config = ModelPublishConfig(
        model_dir=args.model,
        repo_id=args.repo_id,
        reports=tuple(args.report),
        staging_dir=args.staging or _default_staging("models", args.repo_id),
        dry_run=args.dry_run,
        private=args.private,
        dataset_id=args.dataset_id,
    )
    result = publish_model(config, log=lambda m: print(m, flush=True))
    print(f"staged files ({result.kind.name}):")
    for name, size in result.files:
        print(f"  {name:<50} {size:>12,d} B")
    for report in result.reports:
        figures = ", ".join(f"{m.name} {m.formatted()}" for m in report.metrics)
        print(f"card metrics [{report.label}]: {figures}")
    total = sum(size for _, size in result.files)
    if args.dry_run:
        print(
            f"dry run: would upload {len(result.files)} files ({total / 1e6:.1f} MB) to {args.repo_id}; "
            f"card: {result.staging_dir / 'README.md'}"
        )
    else:
        print(f"uploaded {len(result.files)} files as {result.user}: {result.url}")
    return 0


# ------------------------------------------------------------------------------------------ release
def _cmd_release(args: argparse.Namespace) -> int:
    from music_ml_publish.release import (
        ReleaseConfig,
        find_workspace_root,
        format_summary,
        raise_for_failures,
        release,
    )

    root = find_workspace_root(args.root.resolve() if args.root else None)
    config = ReleaseConfig(
        version=args.version,
        root=root,
        dry_run=args.dry_run,
        dist_dir=args.dist,
        python=args.python,
        publish_url=args.publish_url,
        check_url=args.check_url,
        keep_temp=args.keep_temp,
    )
    result = release(config, log=lambda m: print(m, flush=True))
    print(format_summary(result))
    raise_for_failures(result)
    if args.dry_run:
        print(f"dry run: {root} is unchanged and nothing was uploaded")
    else:
        print(
            f"released {result.plan.new}; now run `uv lock`, commit and tag v{result.plan.new} (docs/releasing.md)"
        )
    return 0


_COMMANDS = {"dataset": _cmd_dataset, "model": _cmd_model, "release": _cmd_release}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except VerificationError as exc:
        print(f"publish {args.command}: verification failed: {exc}", file=sys.stderr)
        return EXIT_VERIFICATION
    except PublishError as exc:
        print(f"publish {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"publish {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
