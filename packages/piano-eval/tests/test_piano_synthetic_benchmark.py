"""The synthetic benchmark: degradations measured from the performed MIDI by independent musical measures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import symusic
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.synthetic import (
    DIMENSIONS,
    Degradation,
    ExpressiveStyle,
    PianoScore,
    ScoreError,
    ScoreNote,
    SyntheticBenchmarkConfig,
    build_benchmark,
    generate_piece,
    perform,
)

SEVERITIES = (0.0, 0.5, 1.0)


def _performances(dimension: str, piece_seed: int = 3):
    score = generate_piece("p", piece_seed, bars=4)
    style = ExpressiveStyle()
    return score, [perform(score, style, Degradation(**{dimension: s}), seed=11) for s in SEVERITIES]


def _onset_residual_ms(score: PianoScore, performance) -> float:
    """Std of onset times around a smooth (cubic) tempo map fitted from score beats — rubato is smooth, jitter is not."""
    beats = np.array([score.notes[n.score_index].onset for n in performance.notes])
    times = np.array([n.start for n in performance.notes])
    fit = np.polyval(np.polyfit(beats, times, 5), beats)
    return float(np.std(times - fit) * 1000)


def test_timing_severity_raises_onset_irregularity():
    score, perfs = _performances("timing")
    residuals = [_onset_residual_ms(score, p) for p in perfs]
    assert residuals[0] < 12 < residuals[1] < residuals[2]  # clean playing follows its own smooth tempo


def test_dynamics_severity_moves_the_velocity_spread_away_from_the_style():
    for piece in range(4):
        _, perfs = _performances("dynamics", piece)
        spread = [np.std([n.velocity for n in p.notes]) for p in perfs]
        distance = [abs(np.log(s / spread[0])) for s in spread]
        assert distance[0] == 0 < distance[1] < distance[2]


def test_articulation_severity_changes_note_lengths():
    _, perfs = _performances("articulation")
    lengths = [np.mean([n.end - n.start for n in p.notes]) for p in perfs]
    distance = [abs(np.log(v / lengths[0])) for v in lengths]
    assert distance[0] == 0 < distance[1] < distance[2]
    assert distance[2] > np.log(1.5)


def test_pedal_severity_skips_changes_at_harmony_changes():
    score, perfs = _performances("pedal")
    presses = [len(p.pedal) for p in perfs]
    assert presses[0] == len(score.harmony_changes)  # one change per chord, as a pianist pedals
    assert presses[0] > presses[1] > presses[2]
    assert presses[2] == 1  # held through the whole piece
    for performance in perfs:  # pedal intervals never overlap: up before the next down
        ups_and_downs = np.array(performance.pedal).ravel()
        assert np.all(np.diff(ups_and_downs) > 0)


def test_note_errors_lower_the_fraction_of_correct_notes():
    score, perfs = _performances("notes")
    correct = [
        sum(score.notes[n.score_index].pitch == n.pitch for n in p.notes) / len(score.notes) for p in perfs
    ]
    assert correct[0] == 1.0 > correct[1] > correct[2] >= 0.7


def test_each_severity_changes_only_its_own_dimension():
    score = generate_piece("p", 5)
    clean = perform(score, ExpressiveStyle(), Degradation(), seed=2)
    bad_pedal = perform(score, ExpressiveStyle(), Degradation(pedal=1.0), seed=2)
    assert clean.notes == bad_pedal.notes and clean.pedal != bad_pedal.pedal
    bad_dynamics = perform(score, ExpressiveStyle(), Degradation(dynamics=1.0), seed=2)
    assert [(n.start, n.end, n.pitch) for n in clean.notes] == [
        (n.start, n.end, n.pitch) for n in bad_dynamics.notes
    ]


def test_labels_and_validation():
    assert Degradation(timing=0.25).labels() == {
        "timing": 0.75,
        "dynamics": 1.0,
        "articulation": 1.0,
        "pedal": 1.0,
        "notes": 1.0,
    }
    assert tuple(Degradation().labels()) == DIMENSIONS
    with pytest.raises(ValueError, match=r"Degradation.pedal must be in \[0, 1\], got 1.5"):
        Degradation(pedal=1.5)
    with pytest.raises(ScoreError, match="has no notes"):
        PianoScore("empty", (), 4, (), "generated")
    with pytest.raises(ScoreError, match="cannot perform"):
        PianoScore("x", (ScoreNote(0.0, -1.0, 60, 0),), 4, (0.0,), "generated")


def test_generated_pieces_are_deterministic_and_distinct():
    assert generate_piece("a", 1) == generate_piece("a", 1)
    melodies = {tuple(n.pitch for n in generate_piece("a", seed).notes if n.voice == 0) for seed in range(10)}
    assert len(melodies) == 10
    score = generate_piece("a", 0, bars=4)
    assert score.length_beats == 16 and score.harmony_changes == tuple(2.0 * k for k in range(8))


def test_midi_round_trip_keeps_notes_and_pedal():
    score = generate_piece("p", 1)
    performance = perform(score, ExpressiveStyle(), Degradation(pedal=0.3), seed=4)
    midi = symusic.Score.from_midi(performance.to_score().dumps_midi()).to("second")
    read = sorted((n.pitch, n.velocity, n.time) for n in midi.tracks[0].notes)
    played = sorted((n.pitch, n.velocity, n.start) for n in performance.notes)
    assert [r[:2] for r in read] == [p[:2] for p in played]
    assert np.allclose([r[2] for r in read], [p[2] for p in played], atol=1.5 / 960)  # one tick = 1/960 s
    downs = [c.time for c in midi.tracks[0].controls if c.number == 64 and c.value >= 64]
    assert np.allclose(downs, [d for d, _ in performance.pedal], atol=2e-3)


def test_build_is_piece_disjoint_loadable_and_resumable(tmp_path):
    config = SyntheticBenchmarkConfig(
        generated_pieces=4, performances_per_piece=2, bars=2, split_fractions=(0.5, 0.25, 0.25)
    )
    entries = build_benchmark(tmp_path, config, progress=False)
    assert len(entries) == 8
    split_of = {}
    for entry in entries:
        assert split_of.setdefault(entry.piece_id, entry.split) == entry.split
    assert sorted(set(split_of.values())) == ["test", "train", "val"]
    dims, rated = load_rating_folder(tmp_path, scale="0-1")
    assert dims == DIMENSIONS
    truth = json.loads((tmp_path / "truth" / "gen-000" / "gen-000-p00.json").read_text())
    assert [1.0 - truth["severity"][d] for d in DIMENSIONS] == pytest.approx(
        rated[0].labels.tolist(), abs=1e-4
    )
    audio, rate = sf.read(rated[0].audio_path)
    midi = symusic.Score(str(rated[0].midi_path)).to("second")
    assert rate == 24000 and abs(len(audio) / rate - midi.end()) < 0.6 and np.abs(audio).max() > 0.1
    stamp = rated[0].audio_path.stat().st_mtime_ns
    (tmp_path / "truth" / "gen-003" / "gen-003-p01.json").unlink()  # as if interrupted before the last one
    build_benchmark(tmp_path, config, progress=False)
    assert rated[0].audio_path.stat().st_mtime_ns == stamp  # finished files are kept, not rendered again
    assert (tmp_path / "truth" / "gen-003" / "gen-003-p01.json").exists()
    with pytest.raises(ValueError, match="different config"):
        build_benchmark(tmp_path, SyntheticBenchmarkConfig(generated_pieces=5), progress=False)


def test_config_errors():
    with pytest.raises(ValueError, match="performances_per_piece must be ≥ 2"):
        SyntheticBenchmarkConfig(performances_per_piece=1)
    with pytest.raises(ValueError, match="at least 3 pieces"):
        SyntheticBenchmarkConfig(generated_pieces=2)
    with pytest.raises(ValueError, match="unknown"):
        SyntheticBenchmarkConfig(augmentation="concert_hall_on_mars")


def test_one_dimension_benchmark_degrades_only_that_dimension_with_the_same_draws():
    for seed in range(20):
        full = Degradation.sample(np.random.default_rng(seed), 0.25)
        timing_only = Degradation.sample(np.random.default_rng(seed), 0.25, ("timing",))
        assert timing_only == Degradation(timing=full.timing)
    with pytest.raises(ValueError, match="non-empty subset"):
        Degradation.sample(np.random.default_rng(0), 0.25, ("tempo",))
    with pytest.raises(ValueError, match=r"degraded_dimensions must be a non-empty subset.*\['loudness'\]"):
        SyntheticBenchmarkConfig(degraded_dimensions=("loudness",))


def test_a_folder_built_before_a_config_field_existed_still_resumes(tmp_path):
    config = SyntheticBenchmarkConfig(generated_pieces=3, performances_per_piece=2, bars=1)
    build_benchmark(tmp_path, config, progress=False)
    meta = json.loads((tmp_path / "benchmark.json").read_text())
    del meta["config"]["degraded_dimensions"]  # as written by the earlier version
    (tmp_path / "benchmark.json").write_text(json.dumps(meta))
    assert len(build_benchmark(tmp_path, config, progress=False)) == 6
    with pytest.raises(ValueError, match="different config"):
        build_benchmark(
            tmp_path, SyntheticBenchmarkConfig(**{**vars(config), "degraded_dimensions": ("pedal",)})
        )
