"""``scripts/ship_default_model.py``, the step that turns a trained run into the wheel's default model.

Run end to end on a tiny dataset with a random-weights pipeline (into temporary folders, not the
package), its evaluations in two worker processes: the mode is the validation winner, every report is
written, and the shipped copy loads, checks its manifest and decides in the chosen mode.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from shared_audio_core.files import MANIFEST_FILE, verify_manifest
from sousa_rudiments.recognition.evaluate import load_split
from sousa_rudiments.recognition.models import DirectAudioModel, FeatureInferenceModel, OnsetTransformer
from sousa_rudiments.recognition.pipeline import MODES, RudimentPipeline, write_pipeline

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ship_default_model.py"


def _ship_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ship_default_model", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its worker processes find their function by module name
    spec.loader.exec_module(module)
    return module


def test_ship_script_ships_the_validation_winner_with_reports_and_manifest(tiny_dataset, tmp_path):
    dataset = tiny_dataset
    torch.manual_seed(0)
    run = write_pipeline(
        tmp_path / "run" / "pipeline",
        feature_model=FeatureInferenceModel(),
        classifier=OnsetTransformer(),
        direct_model=DirectAudioModel(),
        training={"datasets": [str(dataset)], "recipe": {"seed": 0}},
    )
    docs, target = tmp_path / "docs", tmp_path / "shipped"
    argv = [
        str(run),
        "--dataset",
        str(dataset),
        "--unseen",
        str(dataset),
        "--compare-limit",
        "2",
        "--workers",
        "2",
        "--onset-deltas",
        "0.12",
        "0.3",
    ]
    assert _ship_script().main([*argv, "--docs", str(docs), "--target", str(target)]) == 0

    summary = json.loads((docs / "summary.json").read_text())
    by_delta = summary["validation_top1_by_onset_delta"]
    assert summary["trained_onset_delta"] == 0.07 and set(by_delta) == {"0.07", "0.12", "0.3"}
    winner, delta = max(
        ((m, d) for d in by_delta for m in MODES),
        key=lambda k: (by_delta[k[1]][k[0]], k[0] == "two_stage", k[1] == "0.07"),
    )
    assert (summary["chosen_mode"], summary["chosen_onset_delta"]) == (winner, float(delta))
    validation = summary["figures"]["validation players"]
    assert set(validation) == set(MODES)
    assert {m: h["top1"] for m, h in validation.items()} == by_delta[delta]  # the modes at the chosen delta
    n_test = len(load_split(dataset, "test")[0])
    for name in ("held-out-players", "unseen-SoundFont"):
        assert (docs / name / "report.md").is_file() and (docs / name / "confusion.png").is_file()
        for mode in MODES:
            report = json.loads((docs / f"{name}-{mode}.json").read_text())
            assert report["overall"]["clips"] == min(2, n_test)  # every mode on the same compared clips
    full = json.loads((docs / "held-out-players" / "report.json").read_text())
    assert full["overall"]["clips"] == n_test  # the shipped mode on every test clip

    verify_manifest(target)  # raises on any file the manifest does not match
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    assert manifest["mode"] == winner and manifest["source"] == str(run)
    assert manifest["onset_delta"] == float(delta)
    shipped = RudimentPipeline.from_pretrained(target)
    assert shipped.config.mode == winner and shipped.config.onsets.delta == float(delta)
    assert shipped.config.onsets.hop_length == 64  # only the threshold changes
    assert (shipped.direct_model is None) == (winner == "two_stage")
    card = (target / "README.md").read_text()
    assert f"**Decision mode: `{winner}`, onset threshold (`delta`) {float(delta):g}**" in card
    assert "trained on detections at delta 0.07." in card
    assert f"`{dataset.name}`" in card
    assert "the test split of the training dataset" in card and "other seeds" not in card  # one dataset


def test_ship_script_refuses_an_onset_threshold_outside_0_to_1(tiny_dataset, tmp_path, capsys):
    argv = [
        "run",
        "--dataset",
        str(tiny_dataset),
        "--unseen",
        str(tiny_dataset),
        "--onset-deltas",
        "0.1",
        "1.5",
    ]
    with pytest.raises(SystemExit) as exit_info:
        _ship_script().main(argv)
    assert exit_info.value.code == 2 and "--onset-deltas must lie in (0, 1)" in capsys.readouterr().err


def test_each_evaluation_detects_at_its_own_onset_threshold(tiny_dataset, tmp_path):
    """The threshold a job names is the one its pipeline detects with: a stricter one finds fewer onsets."""
    ship = _ship_script()
    torch.manual_seed(0)
    run = write_pipeline(
        tmp_path / "run" / "pipeline",
        feature_model=FeatureInferenceModel(),
        classifier=OnsetTransformer(),
        training={"datasets": [str(tiny_dataset)], "recipe": {"seed": 0}},
    )
    detected = {}
    for delta in (0.07, 0.3):
        job = ship.Job("two_stage", delta, tiny_dataset, "test", None)
        detected[delta] = ship._evaluate(run, job, threads=1, progress=False).to_dict()["onsets"]["detected"]
    assert 0 < detected[0.3] < detected[0.07]
