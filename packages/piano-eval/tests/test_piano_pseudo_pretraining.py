"""Staged training on the synthetic benchmark: whole-performance pseudo-labels, a rating folder of them for
``train fit``, and the pseudo-pretrained vs scratch comparison on held-out pieces."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from piano_eval.benchmark.pseudo_pretraining import (
    PseudoPretrainingConfig,
    expert_subset,
    run_pseudo_pretraining,
)
from piano_eval.benchmark.runner import QUICK
from piano_eval.cli import main
from piano_eval.data.datamodule import PerformancePairDataModule
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.pseudo_labels import LABELS, read_labels

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    config = SyntheticBenchmarkConfig(
        generated_pieces=8, performances_per_piece=3, bars=2, split_fractions=(0.5, 0.25, 0.25)
    )
    build_benchmark(root, config, progress=False)
    return root


def test_whole_performance_labels_become_a_rating_folder_train_fit_reads(bench, tmp_path, capsys):
    labels, folder = tmp_path / "labels.jsonl", tmp_path / "pseudo"
    args = ["pseudo-label", str(bench), "--out", str(labels), "--whole-performances", "--no-progress"]
    assert main([*args, "--rating-folder", str(folder)]) == 0
    _, performances = load_rating_folder(bench, scale="0-1")
    records = read_labels(labels)
    assert len(records) == len(performances) and all(r["start_time"] == 0.0 for r in records)
    dims, rated = load_rating_folder(folder, scale="0-100")
    assert dims == LABELS
    assert [p.performance_id for p in rated] == [p.performance_id for p in performances]
    by_midi = {r["midi_path"]: r["labels"] for r in records}
    for p in rated:
        expected = by_midi[str(p.midi_path)]
        assert p.labels[LABELS.index("note_accuracy")] == pytest.approx(
            expected["note_accuracy"] / 100, abs=1e-5
        )
    data = PerformancePairDataModule(str(folder), input_kind="notes", scale="0-100", progress=False)
    data.setup("fit")
    assert data.dims == LABELS and len(data.datasets["train"]) > 0
    assert main([*args]) == 0 and len(read_labels(labels)) == len(records)  # resumed: nothing new
    assert "0 segments" in capsys.readouterr().out.splitlines()[-1]


def test_rating_folder_needs_whole_performances(bench, tmp_path, capsys):
    code = main(
        ["pseudo-label", str(bench), "--out", str(tmp_path / "l.jsonl"), "--rating-folder", str(tmp_path)]
    )
    assert code == 2 and "--rating-folder needs --whole-performances" in capsys.readouterr().err


def test_expert_subset_is_whole_pieces_and_fixed_by_its_seed(bench):
    _, performances = load_rating_folder(bench, scale="0-1")
    train = [p for p in performances if p.split == "train"]
    subset = expert_subset(train, 2, seed=0)
    assert len({p.piece_id for p in subset}) == 2 and len(subset) == 6
    assert [p.performance_id for p in subset] == [p.performance_id for p in expert_subset(train, 2, 0)]
    with pytest.raises(ValueError, match="expert_pieces=9, but there are 4 training pieces"):
        expert_subset(train, 9, 0)


@pytest.mark.slow
def test_comparison_reports_both_models_on_held_out_pieces_and_resumes_the_labels(bench, tmp_path):
    config = PseudoPretrainingConfig(
        expert_pieces=2,
        seeds=(0,),
        pretrain_epochs=2,
        finetune_epochs=2,
        run=replace(QUICK, families=("N-notes",), threads=1),
    )
    results = run_pseudo_pretraining(bench, tmp_path, config, progress=False)
    assert [r["model"] for r in results["rows"]] == ["scratch", "pseudo-pretrained"]
    assert results["expert_performances"] == 6 and results["test_performances"] == 6
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(results["rows"]))
    report = (tmp_path / "report.md").read_text()
    assert "| scratch |" in report and "| pseudo-pretrained |" in report
    assert (tmp_path / "pseudo-pretrained" / "model.safetensors").is_file()
    lines = (tmp_path / "pseudo-labels.jsonl").read_text().splitlines()
    assert len(lines) == results["train_performances"]
    run_pseudo_pretraining(bench, tmp_path, config, progress=False)
    assert (tmp_path / "pseudo-labels.jsonl").read_text().splitlines() == lines
