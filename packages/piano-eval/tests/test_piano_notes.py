"""Note-level features and the note-level model: values written by hand from a tiny MIDI, and learning on
held-out pieces of the synthetic benchmark."""

from __future__ import annotations

import math

import numpy as np
import pytest
import symusic
import torch
from piano_eval.benchmark.families import get_family
from piano_eval.benchmark.runner import BenchmarkRunConfig, predict, train_family
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.inputs import input_loader, part_collate
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.evaluate import evaluate_scores
from piano_eval.symbolic.notes import NOTE_FEATURE_NAMES, NoteSequenceModel, note_features

TPS = 960  # ticks per second at 480 ticks per quarter and 120 qpm


def _score(notes: list[tuple[float, float, int, int]], pedal: list[tuple[float, int]]) -> symusic.Score:
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(time=0, qpm=120.0))
    track = symusic.Track(name="piano", program=0)
    for start, duration, pitch, velocity in notes:
        track.notes.append(symusic.Note(round(start * TPS), round(duration * TPS), pitch, velocity))
    for time, value in pedal:
        track.controls.append(symusic.ControlChange(round(time * TPS), 64, value))
    score.tracks.append(track)
    return score


def _column(features: torch.Tensor, name: str) -> list[float]:
    return features[:, NOTE_FEATURE_NAMES.index(name)].tolist()


def test_note_features_by_hand():
    # a C major chord whose G lands 10 ms late, then D (0.5 s) and C# against a held E (1.0 s)
    notes = [
        (0.0, 0.25, 60, 60),
        (0.0, 1.5, 64, 70),
        (0.01, 0.25, 67, 80),
        (0.5, 0.25, 62, 100),
        (1.0, 0.5, 61, 50),
    ]
    f = note_features(_score(notes, pedal=[(0.1, 127), (0.9, 0)]))
    assert f.shape == (5, len(NOTE_FEATURE_NAMES))
    assert _column(f, "pitch") == pytest.approx([60 / 127, 64 / 127, 67 / 127, 62 / 127, 61 / 127])
    assert _column(f, "velocity_deviation") == pytest.approx([-1.0, 0.0, 1.0, 3.0, -2.0])  # median 70
    assert _column(f, "gap_previous_cs") == pytest.approx([0.0, 0.0, 1.0, 49.0, 50.0], abs=0.11)
    # the next event is the first onset ≥ 30 ms later: the 10 ms-late G belongs to the chord
    assert _column(f, "gap_next_event_cs") == pytest.approx([50.0, 50.0, 49.0, 50.0, 50.0], abs=0.11)
    assert _column(f, "hold_ratio")[:2] == pytest.approx([0.5, 3.0], abs=0.01)
    assert _column(f, "duration_cs")[4] == pytest.approx(50.0, abs=0.11)
    assert _column(f, "pitch_step") == pytest.approx([0.0, 4 / 12, 3 / 12, -5 / 12, -1 / 12])
    assert _column(f, "pitch_class_log_share") == pytest.approx([math.log(1 / 5)] * 5)
    # C# sounds against the held E (distance 3) and nothing a semitone away; D against the held E (2)
    assert _column(f, "semitone_clash") == [0.0, 0.0, 0.0, 0.0, 0.0]
    assert _column(f, "pedal_down") == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert _column(f, "since_pedal_change_cs") == pytest.approx([0.0, 0.0, 1.0, 40.0, 10.0], abs=0.11)
    # events: {0, 0.01} → 0, 0.5 → 1, 1.0 → 2; the press at 0.1 s is first followed by the event at 0.5 s
    assert _column(f, "events_since_pedal_press") == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert _column(f, "pedal_changes_per_second") == pytest.approx([2 / 1.5] * 5)
    assert _column(f, "notes_log_count") == pytest.approx([4 * math.log2(5 / 64)] * 5)


def test_semitone_clash_and_out_of_key_notes():
    scale = [60, 62, 64, 65, 67, 69, 71]
    notes = [(0.5 * k, 0.4, p, 64) for k, p in enumerate(scale * 2)]
    notes.append((7.0, 0.4, 66, 64))  # F#: not in C major
    notes.append((7.0, 0.4, 67, 64))  # G with it: a semitone clash
    f = note_features(_score(notes, pedal=[]))
    outside = _column(f, "outside_top7_pitch_classes")
    clash = _column(f, "semitone_clash")
    assert outside[:-2] == [0.0] * 14 and outside[-2] == 1.0
    assert clash[:-2] == [0.0] * 14 and clash[-2:] == [1.0, 1.0]


def test_midi_without_notes_is_an_error(tmp_path):
    path = tmp_path / "empty.mid"
    _score([], pedal=[(0.0, 127)]).dump_midi(str(path))
    with pytest.raises(ValueError, match=r"empty\.mid.*no notes"):
        note_features(path)


def test_note_model_is_antisymmetric_and_ignores_padding():
    torch.manual_seed(0)
    model = NoteSequenceModel(num_layers=1).eval()
    a = note_features(_score([(0.5 * k, 0.4, 60 + k, 64 + k) for k in range(6)], pedal=[]))
    b = note_features(_score([(0.4 * k, 0.2, 62 + k, 80) for k in range(9)], pedal=[]))
    batch = part_collate("notes")([a, b])
    with torch.no_grad():
        out = model(batch)
        alone = model(part_collate("notes")([a]))
        logits = model.ranking_logits(out, model(part_collate("notes")([b, a])))
    assert torch.allclose(out.scores[0], alone.scores[0], atol=1e-5)  # the padding rows change nothing
    assert torch.allclose(logits[0], -logits[1], atol=1e-5)


@pytest.mark.slow
def test_note_model_learns_on_held_out_pieces(tmp_path):
    """Trained on 10 pieces, scored on 3 it never saw: it must rank within-piece pairs well above chance on
    timing (exact onsets are what the note-level input is for) and overall."""
    config = SyntheticBenchmarkConfig(
        generated_pieces=16, performances_per_piece=6, bars=2, split_fractions=(0.625, 0.1875, 0.1875)
    )
    build_benchmark(tmp_path, config, progress=False)
    dims, performances = load_rating_folder(tmp_path, scale="0-1")
    train = [p for p in performances if p.split == "train"]
    test = [p for p in performances if p.split == "test"]
    assert not {p.piece_id for p in train} & {p.piece_id for p in test}
    family = get_family("N-notes")
    run = BenchmarkRunConfig(
        data=config, families=("N-notes",), epochs={"N-notes": 40}, pairs_per_performance=4, threads=1
    )
    load = input_loader("notes")
    model = train_family(family, train, load([p.midi_path for p in train]), run, len(dims), progress=False)
    pieces = [p.piece_id for p in test]
    scores, logits = predict(model, load([p.midi_path for p in test]), part_collate("notes"), pieces)
    targets = np.stack([p.labels for p in test])
    result = evaluate_scores("N-notes", scores, targets, pieces, dims, pair_logits=logits)
    assert result.pairwise_per_dimension["timing"] >= 0.8, result.pairwise_per_dimension
    assert result.pairwise >= 0.65, result.pairwise_per_dimension


def test_pretrained_encoder_starts_a_model_for_other_dimensions(tmp_path):
    """Staged training: the encoder of a model trained on six pseudo-label dimensions starts a model rating
    five expert dimensions; the head is new and the saved model no longer needs the source folder."""
    from piano_eval.heads import HeadConfig

    torch.manual_seed(0)
    pseudo = NoteSequenceModel(num_layers=0, head=HeadConfig(num_dimensions=6, pooling="attention_stats"))
    pseudo.save_pretrained(tmp_path / "pseudo")
    expert = NoteSequenceModel(
        num_layers=0,
        pretrained_encoder=str(tmp_path / "pseudo"),
        head=HeadConfig(num_dimensions=5, pooling="attention_stats"),
    )
    for name, weight in pseudo.encoder.state_dict().items():
        assert torch.equal(expert.encoder.state_dict()[name], weight), name
    assert expert.num_dimensions == 5
    assert expert.predict_scores(
        part_collate("notes")([note_features(_score([(0, 0.5, 60, 64)], []))])
    ).shape == (1, 5)
    assert expert.hparams["pretrained_encoder"] is None
    expert.save_pretrained(tmp_path / "expert")
    reloaded = NoteSequenceModel.from_pretrained(tmp_path / "expert")
    assert torch.equal(reloaded.encoder.note_mlp[0].weight, pseudo.encoder.note_mlp[0].weight)
    with pytest.raises(ValueError, match="encoder weights do not fit"):
        NoteSequenceModel(num_layers=0, encoder_dim=32, pretrained_encoder=str(tmp_path / "pseudo"))
