"""The default model that ships inside the wheel, and the recipe that reproduces it.

``pip install drum-gen && drum-gen generate --style "J Dilla"`` works with no ``--model``: the
checkpoint of ``recipes/cpu-small.yaml`` (about 0.7 M parameters, a few MB of safetensors) lies in
``drum_gen/default_model/`` with its model card and a ``MANIFEST.json`` of SHA-256 hashes, so a
damaged or hand-edited copy is detected instead of silently generating something else.
``packages/drum-gen/scripts/ship_default_model.py`` copies a trained run there and writes the
manifest.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from shared_audio_core.files import MANIFEST_FILE, file_hashes, verify_manifest

__all__ = [
    "DEFAULT_MODEL_FILES",
    "MANIFEST_FILE",
    "default_model_dir",
    "default_recipe_path",
    "file_hashes",
    "verify_default_model",
]

#: What a shipped checkpoint holds (the Lightning training state stays out of the wheel).
DEFAULT_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "drum_gen.json",
    "style_classifier.json",
    "training_summary.json",
    "README.md",
)
DEFAULT_MODEL_DIRS = ("tokenizer",)


def default_recipe_path() -> Path:
    """The YAML recipe of the shipped model, installed with the package (``drum-gen train``'s default)."""
    return Path(str(resources.files("drum_gen") / "recipes" / "cpu-small.yaml"))


def default_model_dir() -> Path:
    """The directory of the model shipped inside the package."""
    return Path(str(resources.files("drum_gen") / "default_model"))


def verify_default_model(directory: Path | None = None) -> dict[str, str]:
    """Check the shipped files against ``MANIFEST.json``; return the hashes, or raise ``ValueError``
    naming every missing, extra or changed file."""
    return verify_manifest(default_model_dir() if directory is None else directory)
