"""Continuous MIDI features checked frame by frame against a hand-built MIDI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import symusic
from shared_audio_core.tokenize import CONTINUOUS_FEATURE_NAMES, MidiContentError, extract_continuous_features
from symusic import ControlChange, Note, Tempo, Track

TPQ = 480  # at 120 BPM one tick is 1/960 s: 240 ticks = 0.25 s


@pytest.fixture
def hand_midi(tmp_path: Path) -> Path:
    """A (60, v64) 0–0.5 s and B (64, v127) 0–1 s together, C (67, v32) 0.75–1 s; pedal 0.5–1 s."""
    score = symusic.Score(TPQ)
    score.tempos.append(Tempo(0, 120.0))
    track = Track(name="piano", program=0, is_drum=False)
    track.notes.append(Note(0, 480, 60, 64))
    track.notes.append(Note(0, 960, 64, 127))
    track.notes.append(Note(720, 240, 67, 32))
    track.controls.append(ControlChange(480, 64, 127))
    track.controls.append(ControlChange(960, 64, 0))
    score.tracks.append(track)
    drums = Track(name="drums", program=0, is_drum=True)
    drums.notes.append(Note(1920, 60, 36, 100))  # at 2 s: ignored unless include_drums
    score.tracks.append(drums)
    path = tmp_path / "hand.mid"
    score.dump_midi(path)
    return path


def test_features_match_hand_computed_values(hand_midi):
    feats = extract_continuous_features(hand_midi, frame_rate=4.0, density_window=1.0)
    assert feats.dtype == np.float32
    assert feats.shape == (4, len(CONTINUOUS_FEATURE_NAMES))
    col = {name: feats[:, i] for i, name in enumerate(CONTINUOUS_FEATURE_NAMES)}
    np.testing.assert_allclose(col["mean_pitch"], [62 / 127, 62 / 127, 64 / 127, 65.5 / 127], rtol=1e-6)
    np.testing.assert_allclose(col["max_onset_velocity"], [1.0, 0.0, 0.0, 32 / 127], rtol=1e-6)
    # Window of 1 s centred on frame centres 0.125, 0.375, 0.625, 0.875 s.
    np.testing.assert_allclose(col["note_density"], [2.0, 3.0, 1.0, 1.0])
    np.testing.assert_allclose(col["sustain_pedal"], [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(col["time_since_onset_s"], [0.0, 0.25, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(col["polyphony"], [2.0, 2.0, 1.0, 2.0])
    np.testing.assert_allclose(col["onset_count"], [2.0, 0.0, 0.0, 1.0])


def test_features_frame_count_follows_frame_rate(hand_midi):
    feats = extract_continuous_features(hand_midi)  # 50 Hz default, 1 s of piano
    assert feats.shape == (50, len(CONTINUOUS_FEATURE_NAMES))
    pedal = feats[:, CONTINUOUS_FEATURE_NAMES.index("sustain_pedal")]
    assert pedal[:25].sum() == 0 and pedal[25:].min() == 1.0
    assert np.isfinite(feats).all()


def test_features_include_drums(hand_midi):
    feats = extract_continuous_features(symusic.Score(hand_midi), frame_rate=4.0, include_drums=True)
    # The kick at 2 s extends the timeline to its end (2.0625 s → 9 frames) and adds an onset.
    assert feats.shape[0] == 9
    onsets = feats[:, CONTINUOUS_FEATURE_NAMES.index("onset_count")]
    assert onsets[8] == 1.0 and onsets.sum() == 4.0


def test_features_errors(tmp_path):
    empty = tmp_path / "empty.mid"
    symusic.Score(TPQ).dump_midi(empty)
    with pytest.raises(MidiContentError, match=r"empty\.mid: no notes"):
        extract_continuous_features(empty)
    with pytest.raises(ValueError, match="frame_rate"):
        extract_continuous_features(empty, frame_rate=0)
    with pytest.raises(ValueError, match="density_window"):
        extract_continuous_features(empty, density_window=-1.0)


def test_features_follow_the_tempo_map():
    """At 120 BPM then 60 BPM from tick 960 (1 s), tick 1440 is at 2 s, not 1.5 s."""
    score = symusic.Score(TPQ)
    score.tempos.append(Tempo(0, 120.0))
    score.tempos.append(Tempo(960, 60.0))
    track = Track(name="piano", program=0, is_drum=False)
    for tick in (0, 960, 1440):
        track.notes.append(Note(tick, 240, 60, 100))
    score.tracks.append(track)
    feats = extract_continuous_features(score, frame_rate=4.0)
    assert feats.shape[0] == 10  # last note-off: 2 s + 240 ticks at 60 BPM (0.5 s) = 2.5 s
    onsets = feats[:, CONTINUOUS_FEATURE_NAMES.index("onset_count")]
    np.testing.assert_array_equal(np.nonzero(onsets)[0], [0, 4, 8])
    since = feats[:, CONTINUOUS_FEATURE_NAMES.index("time_since_onset_s")]
    assert since[7] == pytest.approx(0.75)  # frame at 1.75 s, last onset at 1.0 s
