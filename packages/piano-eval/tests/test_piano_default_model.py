"""The model shipped in the wheel: intact, scoring with no --model, and hearing defects on pieces it never saw."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from piano_eval.benchmark.runner import predict
from piano_eval.cli import main
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.inputs import input_loader, part_collate
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.evaluate import evaluate_scores
from piano_eval.scoring import ModelFolderError, PerformanceEnsemble, default_model_dir, load_model

DIMENSIONS = ("timing", "dynamics", "articulation", "pedal", "notes")


@pytest.fixture(scope="module")
def unseen_pieces(tmp_path_factory):
    """Generated pieces of another dataset seed than the shipped model's training data (seed 0)."""
    root = tmp_path_factory.mktemp("unseen")
    config = SyntheticBenchmarkConfig(generated_pieces=6, performances_per_piece=6, bars=4, seed=11)
    build_benchmark(root, config, progress=False)
    return root


def test_the_shipped_model_is_intact_small_and_documented() -> None:
    saved = load_model()  # checks the SHA-256 manifest
    assert saved.input_kind == "notes" and saved.dimensions == DIMENSIONS
    assert isinstance(saved.model, PerformanceEnsemble) and len(saved.model.members) == 3
    size = sum(p.stat().st_size for p in default_model_dir().rglob("*") if p.is_file())
    assert size < 10e6, size
    card = (default_model_dir() / "README.md").read_text()
    assert "not human ratings" in card and "ship_default_model.py" in card and "| pairwise |" in card


def test_a_damaged_copy_of_the_shipped_model_is_refused(tmp_path, monkeypatch) -> None:
    copy = shutil.copytree(default_model_dir(), tmp_path / "default_model")
    weights = copy / "module.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + bytes(8))
    monkeypatch.setattr("piano_eval.scoring.model_files.default_model_dir", lambda: copy)
    with pytest.raises(ModelFolderError, match=r"changed module\.safetensors.*reinstall piano-eval"):
        load_model()


def test_the_shipped_model_ranks_performances_of_pieces_it_never_saw(unseen_pieces) -> None:
    """Within-piece pairwise accuracy on 6 new pieces (450 pairs over the five dimensions); the FULL
    benchmark's held-out figure is in the model card."""
    saved = load_model()
    dims, performances = load_rating_folder(unseen_pieces, scale="0-1")
    assert tuple(dims) == DIMENSIONS
    pieces = [p.piece_id for p in performances]
    inputs = input_loader("notes")([p.midi_path for p in performances])
    scores, logits = predict(saved.model, inputs, part_collate("notes"), pieces)
    targets = np.stack([p.labels for p in performances])
    result = evaluate_scores("shipped", scores, targets, pieces, dims, pair_logits=logits)
    assert result.pairwise >= 0.8, result.pairwise_per_dimension
    assert min(v for v in result.pairwise_per_dimension.values() if v is not None) >= 0.65
    assert result.r2 >= 0.4, result.r2_per_dimension


def test_piano_eval_score_uses_the_shipped_model_without_model(unseen_pieces, capsys) -> None:
    audio = unseen_pieces / "audio" / "gen-000" / "gen-000-p00.flac"
    midi = unseen_pieces / "midi" / "gen-000" / "gen-000-p00.mid"
    assert main(["score", str(audio), "--midi", str(midi), "--samples", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert tuple(result["dimensions"]) == DIMENSIONS and result["model"] == "default_model"
    assert result["timeline"]["weakest"] and result["aggregate"]["std"] > 0
    # the default reads the performance MIDI: audio alone is a clear error, not an answer from nothing
    assert main(["score", str(audio)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("piano-eval score: error: ") and "pass --midi" in err
