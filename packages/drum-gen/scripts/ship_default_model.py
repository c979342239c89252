"""Copy a trained run into the package as the default model, with its model card and manifest.

The committed recipe reproduces it:

    uv run drum-gen train --out runs/cpu-small                       # recipes/cpu-small.yaml, the default
    uv run drum-gen evaluate --model runs/cpu-small --patterns-per-style 40 --markdown-out runs/cpu-small-eval.md
    uv run python packages/drum-gen/scripts/ship_default_model.py runs/cpu-small --eval runs/cpu-small-eval.md

Only the inference files are shipped (``shipped.DEFAULT_MODEL_FILES``); the Lightning training
state stays behind. Training on another machine gives different weights (thread scheduling and
load-dependent ``max_minutes``), so the manifest records the hashes of what was shipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from drum_gen.loader import METADATA_FILE
from drum_gen.shipped import (
    DEFAULT_MODEL_DIRS,
    DEFAULT_MODEL_FILES,
    MANIFEST_FILE,
    default_model_dir,
    default_recipe_path,
    file_hashes,
)

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "drum_gen" / "default_model"


def model_card(run: Path, evaluation_markdown: str | None) -> str:
    """The run's own model card plus what a user of the shipped default needs to know."""
    metadata = json.loads((run / METADATA_FILE).read_text())
    card = (run / "README.md").read_text() if (run / "README.md").is_file() else "# drum-gen model\n"
    styles = ", ".join(
        str(s.get("name", s)) if isinstance(s, dict) else str(s) for s in metadata.get("styles", [])
    )
    lines = [
        "",
        "## The default model shipped with drum-gen",
        "",
        f"Styles: {styles}. Recipe: `recipes/cpu-small.yaml` inside the package (`drum-gen train --out DIR`",
        "uses it when no `--config` is given); `drum_gen.load_model()` with no argument and `drum-gen generate`",
        "without `--model` load this copy. Intended use: sketching grooves in these styles.",
        "",
        "Limitations: it learned the procedural templates of `drum_gen.corpus`, not recorded drummers. The",
        "evaluation below scores its output with a classifier fitted on those same templates, which says how",
        "well it copies them, not how musical or how close to real drumming it is.",
    ]
    if evaluation_markdown:
        report = evaluation_markdown.replace(f"`{run}`", f"`{run.name}` (the recipe's run)").strip()
        lines += ["", "### Evaluation (`drum-gen evaluate --patterns-per-style 40`)", "", report]
    return card.rstrip() + "\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a directory written by `drum-gen train`")
    parser.add_argument(
        "--eval", type=Path, default=None, help="Markdown written by `drum-gen evaluate --markdown-out`"
    )
    parser.add_argument("--to", type=Path, default=PACKAGE_DIR, help=f"target (default {PACKAGE_DIR})")
    args = parser.parse_args(argv)
    target: Path = args.to
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in DEFAULT_MODEL_FILES:
        if name == "README.md":
            continue
        if (args.run / name).is_file():
            shutil.copy2(args.run / name, target / name)
    for name in DEFAULT_MODEL_DIRS:
        shutil.copytree(args.run / name, target / name)
    evaluation = args.eval.read_text() if args.eval else None
    (target / "README.md").write_text(model_card(args.run, evaluation))
    manifest = {
        "recipe": default_recipe_path().name,
        "sha256": file_hashes(target),
    }
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"shipped {args.run} -> {target} ({total / 1e6:.1f} MB); installed copy: {default_model_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
