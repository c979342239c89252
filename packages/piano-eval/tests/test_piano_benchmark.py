"""The benchmark runner and the ``piano-eval`` command, on tiny synthetic data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from piano_eval.benchmark.families import FAMILIES, get_family
from piano_eval.benchmark.runner import (
    BenchmarkRunConfig,
    augment_performances,
    predict,
    run_benchmark,
    unordered_pairs,
)
from piano_eval.cli import main
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.inputs import input_loader, part_collate
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from shared_audio_core.metrics import pairs_within_pieces

TINY = SyntheticBenchmarkConfig(generated_pieces=3, performances_per_piece=3, bars=1)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-benchmark")
    build_benchmark(root, TINY, progress=False)
    return root


def test_unordered_pairs_are_within_piece_and_once():
    pieces = torch.tensor([0, 0, 0, 1, 1, 2])
    assert unordered_pairs(pieces) == [(0, 1), (0, 2), (1, 2), (3, 4)]


def test_augmented_test_audio_is_written_once_and_differs(tiny_folder, tmp_path):
    _, performances = load_rating_folder(tiny_folder, scale="0-1")
    augmented = augment_performances(performances[:2], tmp_path, "practice_room")
    clean, _ = sf.read(performances[0].audio_path)
    room, rate = sf.read(augmented[0].audio_path)
    assert rate == 24000 and abs(len(room) - len(clean)) < rate // 10
    assert np.corrcoef(clean[: len(room)], room[: len(clean)])[0, 1] < 0.99  # reverb and noise changed it
    assert augmented[0].labels.tolist() == performances[0].labels.tolist()
    stamp = augmented[0].audio_path.stat().st_mtime_ns
    augment_performances(performances[:2], tmp_path, "practice_room")
    assert augmented[0].audio_path.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_predict_gives_scores_and_antisymmetric_pair_logits(tiny_folder, name):
    torch.manual_seed(0)
    family = get_family(name)
    _, performances = load_rating_folder(tiny_folder, scale="0-1")
    source = "audio_path" if family.input_kind == "waveform" else "midi_path"
    inputs = input_loader(family.input_kind)([getattr(p, source) for p in performances])
    model = family.build(5, 1e-3)
    pieces = [p.piece_id for p in performances]
    scores, logits = predict(model, inputs, part_collate(family.input_kind), pieces, batch_size=4)
    pairs = pairs_within_pieces(pieces)
    assert scores.shape == (9, 5) and np.all((scores >= 0) & (scores <= 1))
    assert logits.shape == (len(pairs.index_a), 5)
    collate = part_collate(family.input_kind)
    with torch.no_grad():
        a, b = pairs.index_a[0], pairs.index_b[0]
        direct = model.compare(collate([inputs[a]]), collate([inputs[b]])).double().numpy()[0]
        swapped = model.compare(collate([inputs[b]]), collate([inputs[a]])).double().numpy()[0]
    assert np.allclose(logits[0], direct, atol=1e-4)  # batched prediction = one pair at a time
    assert np.allclose(direct, -swapped, atol=1e-5)


@pytest.mark.slow
def test_benchmark_end_to_end_writes_the_report_and_resumes(tmp_path):
    config = BenchmarkRunConfig(
        data=SyntheticBenchmarkConfig(
            generated_pieces=4, performances_per_piece=3, bars=1, split_fractions=(0.5, 0.25, 0.25)
        ),
        epochs={"S1-remi": 1, "S3-continuous": 1, "N-notes": 1, "A-logmel": 1},
        threads=1,
    )
    lines: list[str] = []
    report = run_benchmark(tmp_path, config, progress=False, log=lines.append)
    text = report.read_text()
    for name in (
        "S1-remi",
        "S3-continuous",
        "N-notes",
        "A-logmel",
        "random",
        "train_mean",
        "linear_audio_features",
    ):
        assert f"| {name} |" in text
    assert "**Winner:" in text and (tmp_path / "report" / "pairwise_per_dimension.png").exists()
    results = json.loads((tmp_path / "report" / "results.json").read_text())["results"]
    assert {r["name"] for r in results} >= {"S1-remi", "S3-continuous", "N-notes", "A-logmel"}
    assert all(0.0 <= r["pairwise"] <= 1.0 for r in results)
    assert (tmp_path / "models" / "S3-continuous" / "scorer" / "model.safetensors").exists()
    stamp = (tmp_path / "results" / "S1-remi.json").stat().st_mtime_ns
    lines.clear()
    run_benchmark(tmp_path, config, progress=False, log=lines.append)
    assert (tmp_path / "results" / "S1-remi.json").stat().st_mtime_ns == stamp
    assert any("S1-remi: already trained" in line for line in lines)


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model family 'S9'"):
        BenchmarkRunConfig(families=("S9",))


@pytest.mark.slow
def test_cli_help_explains_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "piano_eval.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("benchmark", "synthesize", "compare"):
        assert command in out
    bench = subprocess.run(
        [sys.executable, "-m", "piano_eval.cli", "benchmark", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--quick", "--full", "--out", "--families", "--threads", "--seed", "--no-progress"):
        assert option in bench


def test_cli_synthesize_and_its_errors(tmp_path, capsys):
    assert (
        main(
            [
                "synthesize",
                "--out",
                str(tmp_path / "d"),
                "--pieces",
                "3",
                "--performances",
                "2",
                "--bars",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "6 performances" in capsys.readouterr().out
    assert (tmp_path / "d" / "ratings.csv").exists()
    assert main(["synthesize", "--out", str(tmp_path / "e"), "--performances", "1", "--no-progress"]) == 2
    assert "performances_per_piece must be ≥ 2" in capsys.readouterr().err


def test_cli_compare(tmp_path, capsys):
    from piano_eval.evaluate import evaluate_scores, write_report

    rng = np.random.default_rng(0)
    targets = rng.uniform(size=(12, 2))
    pieces = [f"p{i // 4}" for i in range(12)]
    for name, noise in (("a", 0.05), ("b", 0.3)):
        result = evaluate_scores(
            name, np.clip(targets + rng.normal(0, noise, targets.shape), 0, 1), targets, pieces, ("x", "y")
        )
        write_report(tmp_path / name, [result], title=name)
    assert (
        main(
            [
                "compare",
                str(tmp_path / "a" / "results.json"),
                str(tmp_path / "b" / "results.json"),
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert "**Winner: a**" in (tmp_path / "c" / "report.md").read_text()


def test_an_ensembled_family_is_trained_per_seed_and_saved_as_one_scoreable_model(tmp_path):
    from piano_eval.scoring import PerformanceEnsemble, load_model_folder

    data = SyntheticBenchmarkConfig(
        generated_pieces=4, performances_per_piece=3, bars=1, split_fractions=(0.5, 0.25, 0.25)
    )
    config = BenchmarkRunConfig(
        data=data,
        families=("N-notes",),
        epochs={"N-notes": 2},
        ensemble_seeds={"N-notes": 2},
        weight_averaging={"N-notes": 0.9},
        robustness_preset=None,
        threads=1,
        seed=5,
    )
    run_benchmark(tmp_path, config, progress=False, log=lambda _: None)
    saved = load_model_folder(tmp_path / "models" / "N-notes")
    assert isinstance(saved.model, PerformanceEnsemble) and len(saved.model.members) == 2
    first, second = (dict(m.named_parameters()) for m in saved.model.members)
    assert any(not torch.equal(first[k], second[k]) for k in first)  # two seeds, two different models
    payload = json.loads((tmp_path / "results" / "N-notes.json").read_text())
    assert payload["result"]["extra"]["ensemble_seeds"] == [5, 6]
    assert payload["result"]["extra"]["ema_decay"] == 0.9
    assert payload["config"]["ensemble_seeds"] == {"N-notes": 2}  # what the shipped model card quotes
    _, performances = load_rating_folder(tmp_path / "data", scale="0-1")
    test = [p for p in performances if p.split == "test"]
    scores, _ = predict(
        saved.model,
        input_loader("notes")([p.midi_path for p in test]),
        part_collate("notes"),
        [p.piece_id for p in test],
    )
    assert np.allclose(
        scores, np.array(payload["predictions"]), atol=1e-5
    )  # the saved model is the evaluated one


def test_weight_averaging_changes_the_trained_weights(tiny_folder):
    from piano_eval.benchmark.runner import train_family

    _, performances = load_rating_folder(tiny_folder, scale="0-1")
    train = [p for p in performances if p.split == "train"] or performances
    inputs = input_loader("notes")([p.midi_path for p in train])
    base = BenchmarkRunConfig(data=TINY, families=("N-notes",), epochs={"N-notes": 2}, threads=1)
    plain = train_family(get_family("N-notes"), train, inputs, base, 5, progress=False)
    averaged_config = BenchmarkRunConfig(
        data=TINY, families=("N-notes",), epochs={"N-notes": 2}, threads=1, weight_averaging={"N-notes": 0.5}
    )
    averaged = train_family(get_family("N-notes"), train, inputs, averaged_config, 5, progress=False)
    a, b = dict(plain.named_parameters()), dict(averaged.named_parameters())
    assert any(not torch.allclose(a[k], b[k]) for k in a)


def test_per_family_options_are_checked_and_follow_a_family_subset():
    from piano_eval.benchmark.runner import FULL

    assert FULL.ensemble_seeds == {"N-notes": 3}
    subset = FULL.with_families(["S1-remi"])  # `piano-eval benchmark --full --families S1-remi`
    assert subset.families == ("S1-remi",) and subset.ensemble_seeds == {}
    with pytest.raises(ValueError, match="ensemble_seeds names families not in families"):
        BenchmarkRunConfig(families=("S1-remi",), ensemble_seeds={"N-notes": 2})
    with pytest.raises(ValueError, match="ensemble_seeds must be >= 1"):
        BenchmarkRunConfig(families=("N-notes",), ensemble_seeds={"N-notes": 0})
    with pytest.raises(ValueError, match=r"decays must be in \(0, 1\)"):
        BenchmarkRunConfig(families=("N-notes",), weight_averaging={"N-notes": 1.0})


def test_validation_study_scores_candidates_on_validation_pieces_only_and_resumes(tmp_path):
    from piano_eval.benchmark.validation_study import Candidate, run_validation_study

    data = tmp_path / "data"
    config = SyntheticBenchmarkConfig(
        generated_pieces=4, performances_per_piece=3, bars=1, split_fractions=(0.5, 0.25, 0.25)
    )
    build_benchmark(data, config, progress=False)
    base = BenchmarkRunConfig(data=config, families=("N-notes",), epochs={"N-notes": 1}, threads=1)
    candidates = [Candidate("s0", run={"seed": 0}), Candidate("s1", run={"seed": 1})]
    lines: list[str] = []
    results = run_validation_study(
        data,
        tmp_path / "study",
        candidates,
        base,
        ensembles={"both": ("s0", "s1")},
        progress=False,
        log=lines.append,
    )
    assert [r.name for r in results] == ["s0", "s1", "both"]
    _, performances = load_rating_folder(data, scale="0-1")
    val = [p for p in performances if p.split == "val"]
    saved = json.loads((tmp_path / "study" / "s0.json").read_text())
    assert len(saved["scores"]) == len(val)  # scored the validation performances, nothing else
    ensemble = np.mean(
        [json.loads((tmp_path / "study" / f"{n}.json").read_text())["scores"] for n in ("s0", "s1")], 0
    )
    assert not np.allclose(saved["scores"], ensemble)
    assert "| both |" in (tmp_path / "study" / "report.md").read_text()
    lines.clear()
    run_validation_study(data, tmp_path / "study", candidates, base, progress=False, log=lines.append)
    assert any("s0: already scored" in line for line in lines)
    with pytest.raises(ValueError, match="not run: \\['s9'\\]"):
        run_validation_study(
            data, tmp_path / "study", candidates, base, ensembles={"x": ("s9",)}, progress=False
        )
