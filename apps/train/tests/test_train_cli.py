"""The `train` command itself: help, --print_config round trip, bad keys, and the configs against their recipes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from music_ml_train.cli import cli
from music_ml_train.configs import CONFIGS_DIR, DRUM_GEN_CONFIG, list_configs, render_drum_gen_config

FEATURE_MODEL = CONFIGS_DIR / "sousa-rudiments" / "feature_model.yaml"


def _exit(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli(args)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_help_lists_subcommands_configs_and_the_shared_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _exit(["--help"], capsys)
    assert code == 0
    assert all(name in out for name in ("fit", "validate", "test", "predict", "--ckpt_path", "README.md"))
    assert all(str(p.relative_to(CONFIGS_DIR.parents[2])) in out for p in list_configs())
    code, out, _ = _exit(["fit", "--help"], capsys)
    assert code == 0
    for option in ("--checkpoint.monitor", "--early_stopping.patience", "--num_threads", "--ckpt_path"):
        assert option in out
    assert "--trainer.max_epochs" in out and "best.ckpt + last.ckpt" in out


def test_every_package_has_a_config() -> None:
    packages = {p.parent.name for p in list_configs()}
    assert {"sousa-rudiments", "drum-gen"} <= packages
    assert {p.stem for p in list_configs() if p.parent.name == "sousa-rudiments"} == {
        "feature_model",
        "classifier",
        "direct_audio",
    }


def test_print_config_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overrides = ["--model.init_args.lr=0.01", "--trainer.max_epochs=3"]
    code, printed, _ = _exit(["fit", "-c", str(FEATURE_MODEL), *overrides, "--print_config"], capsys)
    assert code == 0
    first = yaml.safe_load(printed)
    assert first["model"]["init_args"]["lr"] == 0.01 and first["trainer"]["max_epochs"] == 3
    assert first["checkpoint"]["monitor"] == "val/loss" and first["early_stopping"]["patience"] == 6
    saved = tmp_path / "printed.yaml"
    saved.write_text(printed)
    code, again, _ = _exit(["fit", "-c", str(saved), "--print_config"], capsys)
    assert code == 0 and yaml.safe_load(again) == first


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("max_epochs: 20", "max_epoch: 20"), "does not accept option 'trainer.max_epoch'"),
        (("lr: 0.003", "learning_rate: 0.003"), "'learning_rate' is not accepted"),
        (("monitor: val/loss", "monitor: null"), "checkpoint.monitor is not set"),
    ],
)
def test_a_bad_config_key_is_a_clear_error(
    edit: tuple[str, str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FEATURE_MODEL.read_text().replace(*edit))
    code, _, err = _exit(["fit", "-c", str(bad)], capsys)
    assert code == 2 and message in err, err[-2000:]


def test_the_drum_gen_config_is_generated_from_drum_gens_recipe() -> None:
    assert DRUM_GEN_CONFIG.read_text() == render_drum_gen_config(), (
        "apps/train/configs/drum-gen/transformer.yaml differs from drum-gen's recipe: "
        "run `uv run python -m music_ml_train.configs`"
    )


def test_the_drum_gen_config_builds_the_run_its_recipe_describes() -> None:
    """Every key of drum-gen's recipe reaches the Lightning run `train fit` builds, with the recipe's value."""
    from drum_gen.shipped import default_recipe_path
    from drum_gen.training import TRAIN_ONLY_KEYS, TrainingConfig, build_tokenizer
    from lightning.pytorch.callbacks import Timer

    recipe = TrainingConfig.from_yaml(default_recipe_path())
    threads = torch.get_num_threads()
    try:
        built = cli(["-c", str(DRUM_GEN_CONFIG)], run=False)
        assert torch.get_num_threads() == recipe.num_threads  # the config's num_threads was applied
    finally:
        torch.set_num_threads(threads)
    data, model, trainer = built.datamodule, built.model, built.trainer
    data_keys = set(data.hparams) - {"_class_path", "_instantiator"}
    assert {k: getattr(data.config, k) for k in data_keys} == {k: getattr(recipe, k) for k in data_keys}
    assert model.model.config == recipe.model_config(build_tokenizer(recipe.styles))
    optimisation = ("learning_rate", "weight_decay", "warmup_steps")
    assert {k: model.hparams[k] for k in optimisation} == {k: getattr(recipe, k) for k in optimisation}
    assert trainer.max_epochs == recipe.max_epochs
    (timer,) = [c for c in trainer.callbacks if isinstance(c, Timer)]
    assert timer._duration == recipe.max_minutes * 60
    assert trainer.gradient_clip_val == 1.0
    assert built.config.seed_everything == recipe.seed and built.config.num_threads == recipe.num_threads
    assert built.config.trainer.accelerator == recipe.accelerator
    model_keys = {f.name for f in dataclasses.fields(model.model.config)} - {"vocab_size", "pad_id"}
    trainer_keys = {"max_epochs", "max_minutes", "accelerator", "seed", "num_threads"}
    covered = data_keys | model_keys | set(optimisation) | trainer_keys | set(TRAIN_ONLY_KEYS)
    assert covered == {f.name for f in dataclasses.fields(TrainingConfig)}


def test_the_sousa_configs_use_the_default_recipes_stage_settings() -> None:
    from sousa_rudiments.recognition.recipe import RecipeConfig, recipe_path

    recipe = RecipeConfig.from_yaml(recipe_path("default"))
    stages = {
        "feature_model": recipe.feature_model,
        "classifier": recipe.classifier,
        "direct_audio": recipe.direct,
    }
    for name, stage in stages.items():
        config = yaml.safe_load((CONFIGS_DIR / "sousa-rudiments" / f"{name}.yaml").read_text())
        data = config["data"]["init_args"]
        assert config["trainer"]["max_epochs"] == stage.max_epochs, name
        assert config["model"]["init_args"]["lr"] == stage.lr, name
        assert data["batch_size"] == stage.batch_size, name
        assert config["early_stopping"]["patience"] == stage.patience, name
        assert config["seed_everything"] == data["seed"] == recipe.seed, name
        window = (
            ("crop_frames", recipe.crop_frames)
            if data["kind"] == "mel"
            else ("max_onsets", recipe.max_onsets)
        )
        assert data[window[0]] == window[1], name
        if data["kind"] == "onsets":
            assert data["min_crop_onsets"] == recipe.min_crop_onsets, name
        if name == "classifier":
            model = config["model"]["init_args"]
            assert (model["d_model"], model["num_layers"]) == (
                recipe.classifier_width,
                recipe.classifier_layers,
            )
