"""PerformanceEnsemble: the mean of its members, saved and scored like any model folder."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from piano_eval.data.inputs import input_loader, part_collate
from piano_eval.heads import HeadConfig
from piano_eval.scoring import (
    PerformanceEnsemble,
    load_model,
    load_model_folder,
    save_model_folder,
    score_performance,
)
from piano_eval.symbolic.notes import NoteSequenceModel
from piano_eval.testing import write_piano_midi

DIMS = ("timing", "dynamics", "articulation")


def _member(seed: int, width: int = 16) -> NoteSequenceModel:
    torch.manual_seed(seed)
    head = HeadConfig(hidden_dim=width, projection_dim=8, num_dimensions=len(DIMS), pooling="attention_stats")
    return NoteSequenceModel(encoder_dim=16, num_layers=0, head=head).eval()


@pytest.fixture
def midi_files(tmp_path):
    a = write_piano_midi(
        tmp_path / "a.mid", [(0.5 * k, 0.5 * k + 0.4, 60 + k, 70) for k in range(8)], [(0.0, 127)]
    )
    b = write_piano_midi(
        tmp_path / "b.mid", [(0.45 * k, 0.45 * k + 0.1, 62 + k, 40 + 8 * k) for k in range(8)]
    )
    return a, b


def test_ensemble_scores_and_logits_are_the_members_means(midi_files) -> None:
    members = [_member(0), _member(1, width=24)]  # members may differ in width: each reads its own z slice
    ensemble = PerformanceEnsemble.of(members)
    batch_a = part_collate("notes")(input_loader("notes")([midi_files[0]]))
    batch_b = part_collate("notes")(input_loader("notes")([midi_files[1]]))
    with torch.no_grad():
        outs_a = [m(batch_a) for m in members]
        outs_b = [m(batch_b) for m in members]
        expected_scores = (outs_a[0].scores + outs_a[1].scores) / 2
        expected_logits = (
            sum(m.ranking_logits(x, y) for m, x, y in zip(members, outs_a, outs_b, strict=True)) / 2
        )
        got_a, got_b = ensemble(batch_a), ensemble(batch_b)
        assert torch.allclose(got_a.scores, expected_scores, atol=1e-6)
        assert torch.allclose(ensemble.ranking_logits(got_a, got_b), expected_logits, atol=1e-6)
        # antisymmetric like its members: swapping the sides flips the logits
        assert torch.allclose(ensemble.compare(batch_b, batch_a), -expected_logits, atol=1e-6)
        # and it is not just one member
        assert not torch.allclose(got_a.scores, outs_a[0].scores, atol=1e-4)


def test_ensemble_round_trips_through_a_model_folder_and_scores_one_performance(midi_files, tmp_path) -> None:
    ensemble = PerformanceEnsemble.of([_member(0), _member(1), _member(2)])
    folder = save_model_folder(ensemble, tmp_path / "ens", "notes", DIMS)
    assert (folder / "member-2" / "encoder" / "config.json").is_file()  # each member's Hub components
    saved = load_model_folder(folder)
    assert isinstance(saved.model, PerformanceEnsemble) and saved.dimensions == DIMS
    batch = part_collate("notes")(input_loader("notes")(list(midi_files)))
    with torch.no_grad():
        assert torch.allclose(saved.model(batch).scores, ensemble(batch).scores, atol=1e-6)
    audio = tmp_path / "a.wav"
    sf.write(audio, 0.1 * np.sin(np.linspace(0, 4000, 16000 * 4)).astype(np.float32), 16000)
    result = score_performance(saved, audio, midi_files[0], samples=6)
    assert result.std is not None and (result.std > 0).all()  # the members' head dropout
    assert result.timeline.local is not None and len(result.timeline.weakest) >= 1
    with torch.no_grad():
        direct = ensemble(part_collate("notes")(input_loader("notes")([midi_files[0]]))).scores[0]
    assert np.allclose(result.scores, direct.double().numpy(), atol=1e-5)


def test_ensemble_refuses_bad_members() -> None:
    with pytest.raises(ValueError, match="at least 2 members"):
        PerformanceEnsemble.of([_member(0)])
    five = NoteSequenceModel(encoder_dim=16, num_layers=0, head=HeadConfig(num_dimensions=5))
    with pytest.raises(ValueError, match="different numbers of dimensions"):
        PerformanceEnsemble.of([_member(0), five])
    with pytest.raises(ValueError, match="class_path"):
        PerformanceEnsemble([{"init_args": {}}, {"init_args": {}}])


def test_model_source_errors_name_the_problem(tmp_path) -> None:
    from piano_eval.scoring import ModelFolderError

    with pytest.raises(ModelFolderError, match=r"model directory not found: .*nowhere\. Leave --model out"):
        load_model(tmp_path / "nowhere")
