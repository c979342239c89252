"""``scripts/onset_training_experiment.py``: one two-stage pipeline per training onset threshold, each
scored from audio at every detection threshold.

Run end to end on `tiny` datasets through the pip-shipped TimGM6mb with a one-epoch recipe: each arm's
features come from a cache detected at its own threshold, its pipeline detects at that threshold, and
the table has one row per (trained at, detects at) with the clips of both data sets.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from shared_audio_core.synth import default_soundfont
from sousa_rudiments.presets import get_preset
from sousa_rudiments.recognition.cache import load_cached_clip
from sousa_rudiments.recognition.evaluate import load_split
from sousa_rudiments.recognition.pipeline import RudimentPipeline

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

ONE_EPOCH_RECIPE = """\
seed: 0
threads: 1
max_onsets: 64
min_crop_onsets: 8
feature_model: {max_epochs: 1, batch_size: 8, lr: 0.003, patience: 1}
classifier: {max_epochs: 1, batch_size: 8, lr: 0.002, patience: 1}
train_direct: false
onsets: {pre_avg_frames: 90}
"""


def _experiment(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports its sibling scripts, as when run from there
    spec = importlib.util.spec_from_file_location(
        "onset_training_experiment", SCRIPTS / "onset_training_experiment.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    tiny = get_preset("tiny")
    monkeypatch.setattr(module, "TRAIN_DATA", tiny)
    monkeypatch.setattr(module, "UNSEEN_KIT", dataclasses.replace(tiny, name="tiny-unseen"))
    monkeypatch.setattr(module, "SOUNDFONTS", ())  # only the pip-shipped TimGM6mb, as in CI without apt
    monkeypatch.setattr(module, "UNSEEN_SOUNDFONT", str(default_soundfont()))
    monkeypatch.setattr(module, "SCORE_DELTAS", (0.07, 0.12))  # two are enough to check the grid
    return module


@pytest.mark.slow
def test_each_arm_trains_on_detections_at_its_threshold_and_is_scored_at_every_threshold(
    monkeypatch, tmp_path
):
    experiment = _experiment(monkeypatch)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(ONE_EPOCH_RECIPE)
    out, report = tmp_path / "exp", tmp_path / "table.md"
    argv = ["--out", str(out), "--report", str(report), "--recipe", str(recipe), "--workers", "1"]
    assert experiment.main(argv) == 0

    detections = {}
    for delta in experiment.TRAIN_DELTAS:
        cache = out / "cache" / f"delta-{delta:.2f}"
        built = json.loads((cache / "cache_config.json").read_text())["onsets"]
        assert (built["delta"], built["pre_avg_frames"]) == (
            delta,
            90,
        )  # the recipe's detector, the arm's threshold
        detections[delta] = sum(len(load_cached_clip(cache, f.stem).times) for f in cache.glob("*.npz"))
        pipeline = RudimentPipeline.from_pretrained(out / experiment.arm_name(delta) / "pipeline")
        assert pipeline.config.onsets.delta == delta and pipeline.direct_model is None
        assert pipeline.config.onsets.pre_avg_frames == 90
    assert detections[0.10] < detections[0.07]  # the arms really saw different detections

    test_clips = len(load_split(out / "data" / "train", "test")[0])
    unseen_clips = sum(
        len(load_split(out / "data" / "unseen-kit", s)[0]) for s in ("train", "validation", "test")
    )
    rows = report.read_text().splitlines()[2:]
    pairs = [(t, s) for t in experiment.TRAIN_DELTAS for s in experiment.SCORE_DELTAS]
    assert [row.split(" | ")[:2] for row in rows] == [[f"| {t:.2f}", f"{s:.2f}"] for t, s in pairs]
    assert all(
        row.split(" | ")[2] == str(test_clips) and row.split(" | ")[6] == str(unseen_clips) for row in rows
    )
    assert unseen_clips == 24  # every clip of the unseen kit, not one split
    validation_clips = len(load_split(out / "data" / "train", "validation")[0])
    assert all(row.split(" | ")[10] == str(validation_clips) for row in rows)
    first = json.loads((out / experiment.arm_name(0.07) / "held-out-players-at-0.07.json").read_text())
    expected = [f"{first['top1']:.1%}", f"{first['top3']:.1%}", f"{first['not_found_rate']:.1%}"]
    assert rows[0].split(" | ")[3:6] == expected and first["clips"] == test_clips

    scores = sorted((out / experiment.arm_name(0.07)).glob("*-at-*.json"))
    stamps = {p: os.stat(p).st_mtime_ns for p in scores}
    assert experiment.main(argv) == 0  # a rerun resumes: nothing is trained or scored again
    assert {p: os.stat(p).st_mtime_ns for p in scores} == stamps
    assert report.read_text().splitlines()[2:] == rows

    # another arm and threshold in the same folder: the report keeps every row scored there
    assert experiment.main([*argv, "--train-deltas", "0.14", "--score-deltas", "0.14"]) == 0
    assert {p: os.stat(p).st_mtime_ns for p in scores} == stamps
    added = report.read_text().splitlines()[2:]
    assert added[: len(rows)] == rows and [r.split(" | ")[:2] for r in added[len(rows) :]] == [
        ["| 0.14", "0.14"]
    ]
    strict = RudimentPipeline.from_pretrained(out / experiment.arm_name(0.14) / "pipeline")
    assert strict.config.onsets.delta == 0.14


def test_onset_thresholds_outside_0_to_1_are_refused(monkeypatch, tmp_path, capsys):
    experiment = _experiment(monkeypatch)
    argv = ["--out", str(tmp_path / "exp"), "--report", str(tmp_path / "t.md"), "--train-deltas", "1.5"]
    with pytest.raises(SystemExit) as exit_info:
        experiment.main(argv)
    assert exit_info.value.code == 2
    assert "an onset threshold lies in (0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "exp").exists()
