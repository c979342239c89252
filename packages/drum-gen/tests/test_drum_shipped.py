"""The default model shipped inside the package: intact, loadable with no argument, generates every style."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import symusic
from drum_gen.cli import main
from drum_gen.generator import DrumGenerator
from drum_gen.loader import ModelLoadError, load_model
from drum_gen.shipped import default_model_dir, default_recipe_path, verify_default_model
from drum_gen.styles import list_styles
from drum_gen.training import TrainingConfig
from drum_gen.validation import validate


def test_shipped_files_match_their_recorded_hashes() -> None:
    hashes = verify_default_model()
    assert {"model.safetensors", "config.json", "drum_gen.json", "README.md"} <= set(hashes)
    total = sum(p.stat().st_size for p in default_model_dir().rglob("*") if p.is_file())
    assert total < 10_000_000, f"the shipped model is {total / 1e6:.1f} MB"


def test_a_changed_shipped_file_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "default_model"
    shutil.copytree(default_model_dir(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    (copy / "config.json").unlink()
    with pytest.raises(ValueError, match=r"missing config\.json.*changed model\.safetensors"):
        verify_default_model(copy)


def test_the_shipped_recipe_is_the_training_default_and_parses() -> None:
    config = TrainingConfig.from_yaml(default_recipe_path())
    assert config.d_model == 128 and config.n_layers == 3


@pytest.mark.parametrize("style", [s.name for s in list_styles()])
def test_default_model_generates_valid_patterns_for_every_built_in_style(style: str) -> None:
    generator = DrumGenerator(load_model(device="cpu"))
    for seed in range(3):
        pattern = generator.generate(style, bars=4, seed=seed)
        report = validate(pattern)
        assert report.ok, report.to_dict()
        assert pattern.bars == 4 and len(pattern.notes) > 8


def test_cli_generates_with_no_model_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRUM_GEN_MODEL", raising=False)
    out = tmp_path / "dilla.mid"
    assert main(["generate", "--style", "J Dilla", "--bars", "4", "--seed", "3", "-o", str(out)]) == 0
    track = symusic.Score(str(out)).tracks[0]
    assert track.is_drum and len(track.notes) > 8


def test_a_missing_default_model_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import drum_gen.loader as loader

    monkeypatch.setattr(loader, "default_model_dir", lambda: tmp_path)
    with pytest.raises(ModelLoadError, match=r"default model is not installed.*drum-gen train"):
        load_model()
