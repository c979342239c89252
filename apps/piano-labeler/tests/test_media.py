"""What the page plays and draws for a segment: exactly its frames, the notes sounding in it, its pedal."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from matplotlib.patches import Rectangle
from piano_labeler.media import (
    MediaError,
    midi_window,
    piano_roll_figure,
    read_slice,
    to_int16,
    waveform_figure,
)
from piano_labeler.segments import Segment


def test_the_slice_is_exactly_the_segments_frames(tmp_path, write_audio):
    path = write_audio(tmp_path / "stereo.flac", 3.0, rate=8000, channels=2)
    whole, _ = sf.read(str(path), dtype="float32", always_2d=True)
    rate, part = read_slice(Segment("k", path, 1.25, 2.5))
    assert rate == 8000 and part.shape == (10_000, 2)
    np.testing.assert_array_equal(part, whole[10_000:20_000])
    pcm = to_int16(part)
    assert pcm.dtype == np.int16 and pcm.shape == (10_000, 2)
    np.testing.assert_array_equal(pcm[:, 0], np.round(whole[10_000:20_000, 0] * 32767).astype(np.int16))


def test_int16_conversion_clips_and_flattens_mono():
    pcm = to_int16(np.array([[0.0], [1.5], [-2.0], [0.5]], dtype=np.float32))
    assert pcm.tolist() == [0, 32767, -32767, 16384]


def test_unreadable_audio_is_a_media_error_naming_the_file(tmp_path):
    path = tmp_path / "gone.wav"
    with pytest.raises(MediaError, match=r"gone.wav: cannot read audio"):
        read_slice(Segment("k", path, 0.0, 1.0))


def test_midi_window_holds_the_notes_and_pedal_sounding_in_it(tmp_path, write_midi):
    path = write_midi(
        tmp_path / "take.mid",
        [(1.0, 2.0, 60, 80), (19.5, 20.5, 62, 90), (21.0, 22.5, 64, 100), (44.0, 46.0, 67, 60)],
        pedal=[(0.5, 3.0), (18.0, 25.0)],
    )
    window = midi_window(path, 20.0, 45.0)
    assert window.pitches.tolist() == [62, 64, 67]  # the note held across 20 s counts
    assert window.velocities.tolist() == [90, 100, 60]
    np.testing.assert_allclose(window.onsets, [19.5, 21.0, 44.0], atol=1e-3)
    np.testing.assert_allclose(window.offsets, [20.5, 22.5, 46.0], atol=1e-3)
    np.testing.assert_allclose(window.pedals, [(18.0, 25.0)], atol=1e-3)
    figure = piano_roll_figure(window, 20.0, 45.0)
    roll, pedal = figure.axes
    bars = [p for p in roll.patches if isinstance(p, Rectangle)]
    assert sorted(round(b.get_y() + b.get_height() / 2) for b in bars) == [62, 64, 67]
    assert pedal.get_xlim() == (20.0, 45.0)
    assert len(midi_window(path, 30.0, 40.0)) == 0


def test_unreadable_midi_is_a_media_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.mid"
    path.write_bytes(b"MThd garbage")
    with pytest.raises(MediaError, match=r"bad.mid: cannot read MIDI"):
        midi_window(path, 0.0, 1.0)


def test_waveform_is_drawn_against_the_recordings_time(tmp_path, write_audio):
    path = write_audio(tmp_path / "a.wav", 30.0, rate=8000)
    rate, part = read_slice(Segment("k", path, 20.0, 30.0))
    figure = waveform_figure(rate, part, 20.0)
    (axes,) = figure.axes
    assert axes.get_xlim() == pytest.approx((20.0, 30.0))
    (envelope,) = axes.collections
    peak = max(abs(v) for path in envelope.get_paths() for v in path.vertices[:, 1])
    assert peak == pytest.approx(0.25, abs=1e-3)  # the sine's amplitude, not a rescaled one
