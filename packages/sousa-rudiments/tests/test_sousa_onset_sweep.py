"""``scripts/onset_sweep.py``: the onset detector's settings scored from audio against the strokes table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import mir_eval
import numpy as np
import pytest
from sousa_rudiments.recognition.evaluate import evaluate_onsets
from sousa_rudiments.recognition.onsets import DEFAULT_ONSETS

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "onset_sweep.py"


def _sweep_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("onset_sweep", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_clip_scores_agree_with_mir_eval_and_count_grace_notes_by_hand():
    sweep = _sweep_script()
    reference = np.array([0.100, 0.130, 0.500, 0.900])  # a flam at 0.1 s: grace 30 ms before its stroke
    grace = np.array([True, False, False, False])
    detected = np.array([0.128, 0.505, 0.700, 0.901])  # the grace note merged into its stroke; one ring peak
    precision, recall, f, grace_hits, grace_total = sweep.clip_scores(reference, grace, detected)
    expected = mir_eval.onset.f_measure(reference, detected, window=0.025)
    assert (f, precision, recall) == pytest.approx(expected)
    assert (precision, recall) == pytest.approx((3 / 4, 3 / 4))
    assert (grace_hits, grace_total) == (0, 1)  # 0.128 is matched to the stroke at 0.130, not the grace
    assert sweep.clip_scores(reference, grace, np.array([]))[:3] == (0.0, 0.0, 0.0)


def test_the_grid_starts_with_the_training_settings_and_has_no_duplicates():
    configs = _sweep_script().grid()
    assert configs[0] == DEFAULT_ONSETS
    assert len(configs) == len(set(configs)) == 20


def test_the_sweep_reproduces_evaluate_onsets_for_the_training_settings_and_writes_its_table(
    tiny_dataset, tmp_path
):
    sweep = _sweep_script()
    out = tmp_path / "sweep.md"
    assert (
        sweep.main([f"tiny={tiny_dataset}", "--split", "test", "--choose-on", "tiny", "--out", str(out)]) == 0
    )
    raw = json.loads(out.with_suffix(".json").read_text())
    default = raw["results"]["tiny"][0]
    reference = evaluate_onsets(tiny_dataset, "test", progress=False).overall["25ms"]["mean"]
    assert default["settings"] == json.loads(json.dumps(DEFAULT_ONSETS.__dict__))
    assert (default["precision"], default["recall"], default["f_measure"]) == pytest.approx(
        (reference["precision"], reference["recall"], reference["f_measure"])
    )
    assert raw["chosen"] == sweep.choose(raw["results"]["tiny"], 0.01)
    table = out.read_text()
    assert "| delta 0.07, avg 30/10 |" in table and table.count("\n| ") == 1 + 20
    # a stricter threshold never finds more onsets with the averaging windows fixed
    by_label = {r["config"]: r["detections_per_clip"] for r in raw["results"]["tiny"]}
    assert by_label["delta 0.2, avg 30/10"] <= by_label["delta 0.05, avg 30/10"]


def test_the_winner_is_the_best_f_that_keeps_the_training_settings_recall_and_grace_recall():
    choose = _sweep_script().choose
    row = lambda f, recall, grace: {"f_measure": f, "recall": recall, "grace_recall": grace}  # noqa: E731
    default = row(0.73, 0.89, 0.72)
    deaf_to_flams = row(0.83, 0.79, 0.54)  # best F, but a fifth of the strokes and most graces gone
    stricter = row(0.75, 0.885, 0.73)
    assert choose([default, deaf_to_flams], 0.01) == 0
    assert choose([default, deaf_to_flams, stricter], 0.01) == 2
    assert choose([default, deaf_to_flams, stricter], 0.3) == 1


def test_choosing_on_a_dataset_that_was_not_given_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _sweep_script().main(["a=/nowhere", "--choose-on", "b", "--out", str(tmp_path / "x.md")])
    assert exit_info.value.code == 2 and "'b' is not one of the named datasets" in capsys.readouterr().err
