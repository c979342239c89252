"""`train fit/validate/predict` on every config with tiny data, resume from a checkpoint, and DDP on 2 processes."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from _checkpoints import best_score, load_checkpoint
from music_ml_train.cli import cli
from music_ml_train.configs import CONFIGS_DIR

FEATURE_MODEL = CONFIGS_DIR / "sousa-rudiments" / "feature_model.yaml"
CLASSIFIER = CONFIGS_DIR / "sousa-rudiments" / "classifier.yaml"
DIRECT_AUDIO = CONFIGS_DIR / "sousa-rudiments" / "direct_audio.yaml"
DRUM_GEN = CONFIGS_DIR / "drum-gen" / "transformer.yaml"


def read_metrics(root: Path) -> list[dict[str, str]]:
    paths = sorted(root.glob("csv/version_*/metrics.csv"))
    assert paths, f"no metrics.csv under {root}"
    with paths[-1].open() as f:
        return list(csv.DictReader(f))


def last_value(rows: list[dict[str, str]], key: str) -> float:
    """The last logged value of ``key``, which must be a finite number."""
    values = [float(r[key]) for r in rows if r.get(key)]
    assert values, f"{key} never logged; columns: {list(rows[0]) if rows else []}"
    assert math.isfinite(values[-1]), (key, values)
    return values[-1]


def test_feature_model_fit_writes_checkpoints_logs_and_standardises_inputs(feature_run: Path) -> None:
    checkpoints = feature_run / "checkpoints"
    assert (checkpoints / "best.ckpt").is_file() and (checkpoints / "last.ckpt").is_file()
    rows = read_metrics(feature_run)
    val_loss = last_value(rows, "val/loss")
    assert last_value(rows, "train/loss") > 0
    assert last_value(rows, "lr-AdamW") == pytest.approx(0.003)  # the LR monitor, at the config's lr
    best = load_checkpoint(checkpoints / "best.ckpt")
    assert best_score(best) == pytest.approx(val_loss)  # checkpointed on the config's monitor
    assert (best["epoch"], best["global_step"]) == (0, 2)
    assert list(feature_run.glob("tensorboard/version_*/events.out.tfevents.*"))
    config = next(feature_run.glob("csv/version_*/config.yaml")).read_text()
    assert "FeatureModelModule" in config and "monitor: val/loss" in config
    # no input_mean in the config: the training split's statistics, as `sousa train` standardises
    mean = best["hyper_parameters"]["input_mean"]
    assert mean is not None and torch.allclose(
        best["state_dict"]["model.input_norm.mean"], torch.tensor(mean)
    )
    assert best["state_dict"]["model.input_norm.std"].min() > 0


def test_classifier_fit_trains_on_the_frozen_feature_model(
    feature_run: Path, sousa_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    feature = feature_run / "checkpoints" / "best.ckpt"
    cli(sousa_args("fit", CLASSIFIER, tmp_path, f"--model.init_args.feature_model_dir={feature}"))
    acc = last_value(read_metrics(tmp_path), "val/acc")
    assert 0.0 <= acc <= 1.0
    trained = load_checkpoint(tmp_path / "checkpoints" / "best.ckpt")["state_dict"]
    stage1 = load_checkpoint(feature)["state_dict"]
    frozen = {
        k.removeprefix("feature_model."): v for k, v in trained.items() if k.startswith("feature_model.")
    }
    assert frozen.keys() == {k.removeprefix("model.") for k in stage1}
    assert all(torch.equal(v, stage1[f"model.{k}"]) for k, v in frozen.items())  # loaded, not trained


def test_classifier_without_a_trained_feature_model_says_so(
    sousa_args: Callable[..., list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "best.ckpt"
    with pytest.raises(SystemExit) as exited:
        cli(sousa_args("fit", CLASSIFIER, tmp_path, f"--model.init_args.feature_model_dir={missing}"))
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"feature model checkpoint not found: {missing} (train the feature model first)" in err


def test_direct_audio_fit_and_predict_write_checkpoint_metrics_and_probabilities(
    sousa_args: Callable[..., list[str]], sousa_data: tuple[Path, Path], tmp_path: Path
) -> None:
    cli(sousa_args("fit", DIRECT_AUDIO, tmp_path))
    acc = last_value(read_metrics(tmp_path), "val/acc")
    best = tmp_path / "checkpoints" / "best.ckpt"
    assert best_score(load_checkpoint(best)) == pytest.approx(acc)
    cli(sousa_args("predict", DIRECT_AUDIO, tmp_path, f"--ckpt_path={best}"))
    saved = torch.load(tmp_path / "predictions" / "predictions.pt", weights_only=False)
    probabilities = torch.cat([p["probabilities"] for p in saved["predictions"]])
    labels = torch.cat([p["label"] for p in saved["predictions"]])
    from sousa_rudiments.recognition.data import split_sample_ids

    assert len(probabilities) == len(split_sample_ids(*sousa_data)["test"])  # the whole test split
    assert probabilities.shape[1] == 40 and torch.allclose(probabilities.sum(1), torch.ones(len(labels)))


def test_drum_gen_fit_writes_checkpoint_and_finite_loss(tiny_run: tuple[str, ...], tmp_path: Path) -> None:
    tiny_corpus = [
        "--data.init_args.patterns_per_style=3",
        "--data.init_args.bars=1",
        "--data.init_args.batch_size=4",
    ]
    cli(["fit", "-c", str(DRUM_GEN), f"--trainer.default_root_dir={tmp_path}", *tiny_corpus, *tiny_run])
    val_loss = last_value(read_metrics(tmp_path), "val_loss")
    assert 0 < val_loss < 10
    best = load_checkpoint(tmp_path / "checkpoints" / "best.ckpt")
    assert best_score(best) == pytest.approx(val_loss) and best["global_step"] == 2
    cli(["test", "-c", str(DRUM_GEN), f"--trainer.default_root_dir={tmp_path}", *tiny_corpus, *tiny_run])
    assert last_value(read_metrics(tmp_path), "test_loss") > 0


def test_resume_from_last_checkpoint_continues_its_epoch_and_step(
    feature_run: Path, sousa_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    last = feature_run / "checkpoints" / "last.ckpt"
    assert (load_checkpoint(last)["epoch"], load_checkpoint(last)["global_step"]) == (0, 2)
    cli(sousa_args("fit", FEATURE_MODEL, tmp_path, "--trainer.max_epochs=2", f"--ckpt_path={last}"))
    resumed = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert (resumed["epoch"], resumed["global_step"]) == (1, 4)
    rows = read_metrics(tmp_path)
    assert {int(r["epoch"]) for r in rows if r.get("train/loss")} == {1}  # epoch 0 was not redone
    assert min(int(r["step"]) for r in rows if r.get("train/loss")) >= 2


def test_last_checkpoint_is_the_latest_epoch_even_when_an_earlier_one_was_best(
    sousa_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """Lightning >= 2.6 `save_last` copies the best checkpoint only; resuming from that would redo epochs."""
    result = cli(
        sousa_args("fit", FEATURE_MODEL, tmp_path, "--trainer.max_epochs=3", "--model.init_args.lr=0")
    )
    best = load_checkpoint(tmp_path / "checkpoints" / "best.ckpt")
    last = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert (best["epoch"], best["global_step"]) == (0, 2)  # lr 0: the loss never improves on epoch 0
    assert (last["epoch"], last["global_step"]) == (2, 6)
    assert result.trainer.checkpoint_callback.monitor == "val/loss"  # "best" still means the monitored one


def test_validate_on_the_best_checkpoint_reproduces_its_score(
    feature_run: Path, sousa_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    best = feature_run / "checkpoints" / "best.ckpt"
    result = cli(sousa_args("validate", FEATURE_MODEL, tmp_path, f"--ckpt_path={best}"))
    assert float(result.trainer.callback_metrics["val/loss"]) == pytest.approx(
        best_score(load_checkpoint(best)), rel=1e-5
    )


@pytest.mark.slow
def test_the_same_config_runs_distributed_on_two_cpu_processes(
    feature_run: Path, sousa_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """DDP on CPU (gloo): Lightning starts the second process; both train and rank 0 writes the checkpoint."""
    ddp = ["--trainer.strategy=ddp", "--trainer.accelerator=cpu", "--trainer.devices=2"]
    args = sousa_args("fit", FEATURE_MODEL, tmp_path, *ddp, "--trainer.enable_progress_bar=false")
    script = Path(sys.executable).with_name("train")  # the `train` console script, as `uv run train` runs it
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Starting with 2 processes" in output
    last = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 2 and math.isfinite(best_score(last))
    assert last_value(read_metrics(tmp_path), "val/loss") > 0
