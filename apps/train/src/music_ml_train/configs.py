"""The committed configs (``apps/train/configs/<package>/<model>.yaml``) and the one generated from drum-gen.

drum-gen's config is not written by hand: it is ``drum_gen.training.lightning_config`` of the recipe
``drum-gen train`` uses (``drum_gen/recipes/cpu-small.yaml``) plus this CLI's checkpoint/early-stopping
keys. A test compares the committed file with :func:`render_drum_gen_config`; after changing the recipe run
``uv run python -m music_ml_train.configs`` to rewrite it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
"""``apps/train/configs`` of a workspace checkout (absent from an installed wheel)."""

DRUM_GEN_CONFIG = CONFIGS_DIR / "drum-gen" / "transformer.yaml"
DRUM_GEN_ROOT_DIR = "runs/drum-gen/transformer"


def list_configs() -> list[Path]:
    return sorted(CONFIGS_DIR.glob("*/*.yaml")) if CONFIGS_DIR.is_dir() else []


def config_summary(path: Path) -> str:
    """The first comment line of a config: what it trains."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def configs_epilog() -> str:
    """The configs for ``--help`` (paths relative to the workspace root)."""
    configs = list_configs()
    if not configs:
        return "configs: apps/train/configs/<package>/<model>.yaml in the workspace repository"
    root = CONFIGS_DIR.parents[2]
    lines = [f"  {p.relative_to(root)}\n      {config_summary(p)}" for p in configs]
    return "configs (train fit -c CONFIG):\n" + "\n".join(lines)


def drum_gen_config(recipe: str | Path | None = None) -> dict[str, Any]:
    """LightningCLI config of drum-gen's transformer from its recipe (default: the shipped model's)."""
    from drum_gen.shipped import default_recipe_path
    from drum_gen.training import TrainingConfig, lightning_config

    config = TrainingConfig.from_yaml(recipe or default_recipe_path())
    sections = lightning_config(config)
    return {
        "seed_everything": sections["seed_everything"],
        "num_threads": sections["num_threads"],
        "trainer": {"default_root_dir": DRUM_GEN_ROOT_DIR, **sections["trainer"]},
        "model": sections["model"],
        "data": sections["data"],
        # drum-gen train keeps the newest epoch and never stops early: patience = max_epochs cannot trigger
        "checkpoint": {"monitor": "val_loss", "mode": "min"},
        "early_stopping": {"patience": config.max_epochs},
    }


DRUM_GEN_HEADER = """\
# drum-gen: the style-conditioned drum-pattern transformer (DrumLanguageModule) on its procedural corpus.
# GENERATED from drum-gen's recipe drum_gen/recipes/cpu-small.yaml (what `drum-gen train` uses) by
# `uv run python -m music_ml_train.configs`; a test fails when the two differ. Do not edit by hand.
# Data: none to prepare (the procedural corpus is built in setup); Groove MIDI: --data.init_args.data='[groove:DIR]'.
# `train fit` writes Lightning checkpoints; `drum-gen train` also writes the loadable model directory.
"""


def render_drum_gen_config() -> str:
    return DRUM_GEN_HEADER + yaml.safe_dump(drum_gen_config(), sort_keys=False, default_flow_style=False)


def main() -> None:
    """Rewrite the generated drum-gen config."""
    DRUM_GEN_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    DRUM_GEN_CONFIG.write_text(render_drum_gen_config())
    print(f"wrote {DRUM_GEN_CONFIG}")


if __name__ == "__main__":
    main()
