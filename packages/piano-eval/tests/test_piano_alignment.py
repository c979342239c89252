"""Score alignment: hand-made MIDI whose alignment is known, the synthetic benchmark's true alignment
(and how its indices map to the MIDI files' note order), audio ↔ score DTW, and the typed errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from piano_eval.alignment import (
    AlignmentError,
    TimeMap,
    align_notes,
    isotonic,
    load_performance,
    load_score,
    match_notes,
)
from piano_eval.alignment.audio import AUDIO_THRESHOLD, align_audio, audio_features
from piano_eval.alignment.truth import alignment_accuracy, benchmark_truth, check_against_files
from piano_eval.data.errors import EmptyMidiError, UnreadableMidiError
from piano_eval.testing import write_piano_midi

MELODY = (60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 62)
BASS = (48, 53, 55, 48, 45, 53, 55, 48)


def piece(beat: float = 0.5, melody=MELODY, bass=BASS) -> list[tuple[float, float, int, int]]:
    """A melody of quarter notes over half-note bass notes (one harmony per half note)."""
    notes = [(k * beat, (k + 1) * beat, p, 70) for k, p in enumerate(melody)]
    notes += [(2 * k * beat, 2 * (k + 1) * beat, p, 55) for k, p in enumerate(bass)]
    return notes


def index_of(table, onset_seconds: float, pitch: int) -> int:
    onsets = table.onset_sec if hasattr(table, "onset_sec") else table.onset
    (found,) = np.flatnonzero(np.isclose(onsets, onset_seconds, atol=1e-3) & (table.pitch == pitch))
    return int(found)


@pytest.fixture
def score_path(tmp_path) -> Path:
    return write_piano_midi(tmp_path / "score.mid", piece())


def test_one_wrong_and_one_missing_note_give_exact_matches_deletions_and_insertions(score_path, tmp_path):
    notes = piece()
    wrong = notes.index((2.5, 3.0, 69, 70))  # melody note 5 played a semitone up (A♯, not in the tune)
    notes[wrong] = (2.5, 3.0, 70, 70)
    notes.remove((5.0, 5.5, 67, 70))  # melody note 10 not played
    perf_path = write_piano_midi(tmp_path / "perf.mid", notes)

    result = align_notes(score_path, perf_path)
    score, perf = load_score(score_path), load_performance(perf_path)
    assert (result.n_score, result.n_performance) == (24, 23)
    assert result.matches.shape == (22, 2)
    assert sorted(result.deletions.tolist()) == sorted([index_of(score, 2.5, 69), index_of(score, 5.0, 67)])
    assert result.insertions.tolist() == [index_of(perf, 2.5, 70)]
    # every match pairs a note with the score note of the same pitch and onset
    for s, p in result.matches:
        assert score.pitch[s] == perf.pitch[p] and score.onset_sec[s] == pytest.approx(
            perf.onset[p], abs=1e-3
        )
    assert result.f_measure == pytest.approx(2 * 22 / 47) and result.coherence == 1.0
    assert result.score == pytest.approx(result.f_measure * result.coherence)


def test_a_different_piece_is_refused_with_the_score_named(score_path, tmp_path):
    other = [(k * 0.3, k * 0.3 + 0.25, 78 + (k * 5) % 11, 70) for k in range(30)]  # high, fast, another tune
    perf_path = write_piano_midi(tmp_path / "other.mid", other)
    with pytest.raises(AlignmentError) as info:
        align_notes(score_path, perf_path)
    message = str(info.value)
    assert message.startswith(f"could not align {perf_path} to {score_path}: alignment score ")
    assert "< threshold 0.600" in message
    # the quality is reported, not just a refusal: far below the threshold
    assert match_notes(load_score(score_path), load_performance(perf_path)).score < 0.3


def test_midi_without_notes_is_a_typed_error_naming_the_file(tmp_path):
    empty = write_piano_midi(tmp_path / "empty.mid", [], pedal=[(0.0, 127), (1.0, 0)])
    with pytest.raises(EmptyMidiError, match=r"empty\.mid"):
        load_score(empty)
    with pytest.raises(EmptyMidiError, match=r"empty\.mid"):
        load_performance(empty)
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"not a midi file at all")
    with pytest.raises(UnreadableMidiError, match=r"garbage\.mid"):
        load_performance(garbage)


def test_overlapping_notes_of_one_key_are_both_kept_with_their_own_lengths(tmp_path):
    # an overheld note re-struck before its release: partitura's own reader keeps only one of the two
    path = write_piano_midi(
        tmp_path / "overlap.mid", [(0.0, 1.0, 60, 80), (0.5, 1.5, 60, 70), (0.5, 0.8, 64, 70)]
    )
    perf = load_performance(path)
    assert perf.pitch.tolist() == [60, 60, 64]
    np.testing.assert_allclose(perf.onset, [0.0, 0.5, 0.5])
    np.testing.assert_allclose(perf.duration, [1.0, 1.0, 0.3], atol=2e-3)
    assert perf.note_array.shape == (3,) and list(perf.note_array["id"]) == ["n0", "n1", "n2"]


def test_pedal_is_read_and_not_added_to_key_durations(tmp_path):
    path = write_piano_midi(tmp_path / "pedal.mid", [(0.0, 0.4, 60, 80)], pedal=[(0.1, 127), (2.0, 0)])
    perf = load_performance(path)
    assert perf.duration[0] == pytest.approx(0.4, abs=2e-3)  # key release, not the pedal's
    np.testing.assert_allclose(perf.pedal_time, [0.1, 2.0], atol=2e-3)
    assert perf.pedal_value.tolist() == [127, 0] and perf.end == pytest.approx(2.0, abs=2e-3)


def test_a_unison_of_two_voices_is_two_score_notes_and_both_strikes_match(tmp_path):
    score_notes = [*piece(), (1.0, 2.0, 64, 60)]  # a second voice doubles the melody's E at 1.0 s
    score = load_score(write_piano_midi(tmp_path / "unison.mid", score_notes))
    assert int(np.sum(np.isclose(score.onset_sec, 1.0) & (score.pitch == 64))) == 2
    perf_notes = [*piece(), (1.01, 2.0, 64, 60)]
    perf = load_performance(write_piano_midi(tmp_path / "unison-perf.mid", perf_notes))
    result = match_notes(score, perf)
    assert (
        result.matches.shape[0] == len(score) and result.deletions.size == 0 and result.insertions.size == 0
    )


def test_isotonic_and_time_map():
    np.testing.assert_allclose(isotonic(np.array([1.0, 3.0, 2.0, 4.0])), [1.0, 2.5, 2.5, 4.0])
    np.testing.assert_allclose(isotonic(np.array([0.0, 1.0, 2.0])), [0.0, 1.0, 2.0])
    # two notes per score onset, one of them late: each knot is the median of its onset's notes
    score = np.repeat(np.arange(8.0), 2)
    perf = 0.5 * score
    perf[5] += 0.3  # the second note at score time 2
    timemap = TimeMap.fit(score, perf)
    assert np.all(np.diff(timemap.performance) >= 0)
    np.testing.assert_allclose(timemap(np.array([0.5, 2.0, 3.0, 7.0])), [0.25, 1.15, 1.5, 3.5], atol=1e-9)
    assert timemap(9.0) == pytest.approx(4.5, abs=0.05)  # extrapolated with the fitted tempo
    # a late outlier that would run backwards is pooled into a non-decreasing map
    backwards = TimeMap.fit(np.arange(4.0), np.array([0.0, 1.0, 0.8, 2.0]))
    np.testing.assert_allclose(backwards.performance, [0.0, 0.9, 0.9, 2.0])
    np.testing.assert_allclose(timemap.inverse(timemap(np.array([1.0, 4.0]))), [1.0, 4.0], atol=1e-9)


@pytest.fixture(scope="module")
def tiny_benchmark(tmp_path_factory) -> Path:
    from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark

    root = tmp_path_factory.mktemp("align-bench")
    build_benchmark(
        root, SyntheticBenchmarkConfig(generated_pieces=3, performances_per_piece=2, bars=2), progress=False
    )
    return root


def _rows(root: Path):
    from piano_eval.data.folder import load_rating_folder

    return load_rating_folder(root, scale="0-1")[1]


def test_benchmark_truth_maps_generator_indices_to_file_note_order(tiny_benchmark):
    import json

    raw_mismatch = 0
    for p in _rows(tiny_benchmark):
        score, perf = load_score(p.score_midi_path), load_performance(p.midi_path)
        truth = benchmark_truth(tiny_benchmark, p.piece_id, p.performance_id)
        check_against_files(truth, score, perf)
        # a partition of both note sets
        played = np.concatenate([truth.matches, truth.wrong])
        assert sorted(np.concatenate([played[:, 1], truth.insertions]).tolist()) == list(range(len(perf)))
        assert sorted(np.concatenate([played[:, 0], truth.deletions]).tolist()) == list(range(len(score)))
        # in file order, a true match is a note of the score's pitch near the tempo line; a wrong note is not
        assert np.all(score.pitch[truth.matches[:, 0]] == perf.pitch[truth.matches[:, 1]])
        assert np.all(score.pitch[truth.wrong[:, 0]] != perf.pitch[truth.wrong[:, 1]])
        order = np.argsort(score.onset_sec[truth.matches[:, 0]], kind="stable")
        onsets = perf.onset[truth.matches[order, 1]]
        assert np.corrcoef(score.onset_sec[truth.matches[order, 0]], onsets)[0, 1] > 0.98
        # the stored indices are *not* file indices: read raw, pairs would often join different pitches
        stored = json.loads((tiny_benchmark / "truth" / p.piece_id / f"{p.performance_id}.json").read_text())
        raw = [(j, i) for i, j in stored["alignment"] if j >= 0 and j < len(score) and i < len(perf)]
        raw_mismatch += sum(score.pitch[j] != perf.pitch[i] for j, i in raw)
    assert raw_mismatch > 10


def test_note_alignment_recovers_the_true_matches_of_the_benchmark(tiny_benchmark):
    totals = np.zeros(3)
    for p in _rows(tiny_benchmark):
        score, perf = load_score(p.score_midi_path), load_performance(p.midi_path)
        truth = benchmark_truth(tiny_benchmark, p.piece_id, p.performance_id)
        aligned = align_notes(score, perf)
        accuracy = alignment_accuracy(aligned, truth, score, perf)
        totals += [accuracy["correct"], accuracy["true_matches"], accuracy["predicted_matches"]]
        rolled = aligned.matches.copy()  # pairs shifted by three notes: measured as wrong
        rolled[:, 0] = np.roll(rolled[:, 0], 3)
        assert alignment_accuracy(replace(aligned, matches=rolled), truth, score, perf)["recall"] < 0.5
    assert totals[0] / totals[1] >= 0.97 and totals[0] / totals[2] >= 0.97


def test_audio_alignment_places_score_onsets_in_a_slower_rendering(tmp_path):
    from shared_audio_core.synth import render_midi

    score = load_score(write_piano_midi(tmp_path / "score.mid", piece()))
    stretch = 1.3
    performed = [(s * stretch, e * stretch, p, v) for s, e, p, v in piece()]
    audio = render_midi(write_piano_midi(tmp_path / "slow.mid", performed), sample_rate=22050)
    alignment = align_audio(audio_features(audio, 22050), score, threshold=AUDIO_THRESHOLD)
    assert np.all(np.diff(alignment.path, axis=0) >= 0)
    errors = np.abs(alignment.refined - score.onset_sec * stretch)
    assert np.mean(errors <= 0.05) >= 0.9
    assert alignment.score_to_audio(4.0) == pytest.approx(4.0 * stretch, abs=0.1)
    # another piece's recording is refused, naming both
    other = [(k * 0.3, k * 0.3 + 0.25, 80 + (k * 5) % 9, 70) for k in range(30)]
    other_audio = render_midi(write_piano_midi(tmp_path / "other.mid", other), sample_rate=22050)
    with pytest.raises(AlignmentError, match=r"could not align other\.flac to .*score\.mid: alignment score"):
        align_audio(audio_features(other_audio, 22050), score, threshold=AUDIO_THRESHOLD, name="other.flac")


def test_audio_alignment_onsets_on_the_benchmark(tiny_benchmark):
    from shared_audio_core.audio import load_audio

    errors = []
    for p in _rows(tiny_benchmark)[:3]:
        score, perf = load_score(p.score_midi_path), load_performance(p.midi_path)
        truth = benchmark_truth(tiny_benchmark, p.piece_id, p.performance_id)
        alignment = align_audio(audio_features(load_audio(p.audio_path, 22050), 22050), score)
        errors += list(np.abs(alignment.refined[truth.matches[:, 0]] - perf.onset[truth.matches[:, 1]]))
    assert np.mean(np.array(errors) <= 0.05) >= 0.8
