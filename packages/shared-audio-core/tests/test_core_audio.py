"""Behaviour of shared_audio_core.audio: decoding, resampling, levels, segmentation, writing, features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from shared_audio_core.audio import (
    AudioClippingError,
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioTooShortError,
    EmptyAudioError,
    NonFiniteAudioError,
    SilentAudioError,
    UnsupportedAudioFormatError,
    audio_info,
    cqt_spectrogram,
    load_audio,
    log_mel_spectrogram,
    loudness_normalize,
    measure_loudness,
    peak_normalize,
    resample,
    segment_audio,
    write_audio,
)


def sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sr)[np.argmax(spectrum)])


# ------------------------------------------------------------------------------------------ errors
def test_decode_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken_take.wav"
    bad.write_bytes(b"RIFF....this is not audio at all" * 10)
    with pytest.raises(AudioDecodeError, match=r"broken_take\.wav"):
        load_audio(bad, 16000)


@pytest.mark.parametrize("suffix", ["mp3", "ogg", "flac"])
def test_junk_with_an_audio_suffix_is_a_decode_error_not_file_not_found(tmp_path: Path, suffix: str) -> None:
    junk = tmp_path / f"junk_take.{suffix}"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioDecodeError, match=r"junk_take\.") as info:
        load_audio(junk, 16000)
    assert "does not exist" not in str(info.value)  # libsndfile's misleading wording is replaced


def test_truncated_ogg_is_a_decode_error(tmp_path: Path) -> None:
    whole = tmp_path / "whole.ogg"
    sf.write(whole, sine(440, 1.0, 22050), 22050)
    cut = tmp_path / "cut_take.ogg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(AudioDecodeError, match=r"cut_take\.ogg"):
        load_audio(cut, 22050)


def test_bad_target_rate_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "fine.wav"
    sf.write(path, sine(440, 0.1, 8000), 8000)
    with pytest.raises(ValueError, match=r"fine\.wav.*sample_rate must be positive"):
        load_audio(path, 0)


def test_missing_file_is_file_not_found_and_named(tmp_path: Path) -> None:
    with pytest.raises(AudioFileNotFoundError, match=r"nowhere\.flac") as info:
        load_audio(tmp_path / "nowhere.flac", 16000)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, AudioError)


def test_zero_byte_file_is_empty_audio(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(EmptyAudioError, match=r"empty\.wav"):
        load_audio(empty, 16000)


def test_valid_header_without_samples_is_empty_audio(tmp_path: Path) -> None:
    path = tmp_path / "no_frames.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(EmptyAudioError, match=r"no_frames\.wav"):
        load_audio(path, 16000)


def test_nan_samples_in_file_are_rejected_with_file_name(tmp_path: Path) -> None:
    path = tmp_path / "nan_take.wav"
    data = sine(440, 0.1, 8000)
    data[10] = np.nan
    sf.write(path, data, 8000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match=r"nan_take\.wav"):
        load_audio(path, 8000)


# ------------------------------------------------------------------------------------------ loading
@pytest.mark.parametrize(
    ("suffix", "file_sr", "target_sr"),
    [("wav", 48000, 16000), ("flac", 22050, 44100), ("ogg", 44100, 24000), ("mp3", 44100, 22050)],
)
def test_formats_load_resampled_with_frequency_kept(
    tmp_path: Path, suffix: str, file_sr: int, target_sr: int
) -> None:
    seconds = 1.0
    path = tmp_path / f"tone.{suffix}"
    sf.write(path, sine(440.0, seconds, file_sr), file_sr)
    # the file really is in the named format (compressed codecs for ogg/mp3), not PCM renamed
    magic = {"wav": b"RIFF", "flac": b"fLaC", "ogg": b"OggS", "mp3": b"\xff"}[suffix]
    assert path.read_bytes().startswith(magic)
    assert (audio_info(path).format, audio_info(path).subtype) == {
        "wav": ("WAV", "PCM_16"),
        "flac": ("FLAC", "PCM_16"),
        "ogg": ("OGG", "VORBIS"),
        "mp3": ("MP3", "MPEG_LAYER_III"),
    }[suffix]
    audio = load_audio(path, target_sr)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # mp3 frames pad the end by up to one frame (1152 samples at the file rate).
    tolerance = 0.06 * target_sr if suffix == "mp3" else 2
    assert abs(len(audio) - seconds * target_sr) <= tolerance
    assert dominant_frequency(audio, target_sr) == pytest.approx(440.0, abs=2.0)
    assert 0.4 < np.max(np.abs(audio)) < 0.6


def test_multichannel_load_and_mono_downmix(tmp_path: Path) -> None:
    sr = 8000
    left, right = sine(300, 0.5, sr, 0.2), sine(300, 0.5, sr, 0.6)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), sr, subtype="PCM_24")
    stereo = load_audio(path, sr, mono=False)
    assert stereo.shape == (2, len(left))
    np.testing.assert_allclose(stereo[1], right, atol=1e-5)
    mono = load_audio(path, sr)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-5)
    assert audio_info(path).channels == 2
    assert audio_info(path).duration == pytest.approx(0.5)


def test_resample_keeps_frequency_and_length() -> None:
    audio = sine(1000, 0.5, 48000)
    out = resample(audio, 48000, 16000)
    assert len(out) == 8000
    assert dominant_frequency(out, 16000) == pytest.approx(1000, abs=2.0)


# ------------------------------------------------------------------------------------------ writing
def test_flac_24_bit_round_trip_precision(tmp_path: Path) -> None:
    sr = 44100
    audio = (np.random.default_rng(0).uniform(-0.99, 0.99, sr // 4)).astype(np.float32)
    path = write_audio(tmp_path / "take.flac", audio, sr, bit_depth=24)
    back, back_sr = sf.read(path, dtype="float32")
    assert back_sr == sr
    assert sf.info(path).subtype == "PCM_24"
    assert np.max(np.abs(back - audio)) <= 2.0**-23 * 1.01
    write_audio(tmp_path / "take16.flac", audio, sr, bit_depth=16)
    back16, _ = sf.read(tmp_path / "take16.flac", dtype="float32")
    err16 = np.max(np.abs(back16 - audio))
    assert 2.0**-23 < err16 <= 2.0**-15 * 1.01


def test_write_is_atomic_and_replaces_existing(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    path.write_bytes(b"old content")
    stereo = np.stack([sine(200, 0.1, 8000), sine(400, 0.1, 8000)])
    write_audio(path, stereo, 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]  # no temp files left behind
    assert load_audio(path, 8000, mono=False).shape == (2, 800)


def test_write_rejects_clipping_bad_suffix_and_depth(tmp_path: Path) -> None:
    with pytest.raises(AudioClippingError, match=r"loud\.flac"):
        write_audio(tmp_path / "loud.flac", np.array([0.5, 1.5], dtype=np.float32), 8000)
    with pytest.raises(UnsupportedAudioFormatError, match=r"\.mp4"):
        write_audio(tmp_path / "x.mp4", sine(100, 0.1, 8000), 8000)
    with pytest.raises(UnsupportedAudioFormatError, match="bit_depth"):
        write_audio(tmp_path / "x.wav", sine(100, 0.1, 8000), 8000, bit_depth=8)
    with pytest.raises(NonFiniteAudioError):
        write_audio(tmp_path / "x.wav", np.array([0.1, np.inf], dtype=np.float32), 8000)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ levels
def test_peak_normalize_hits_target_and_rejects_silence() -> None:
    out = peak_normalize(sine(100, 0.1, 8000, amp=0.1), target_dbfs=-3.0)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-3 / 20), rel=1e-5)
    with pytest.raises(SilentAudioError):
        peak_normalize(np.zeros(100, dtype=np.float32))


@pytest.mark.parametrize("target", [-23.0, -16.0, -30.0])
def test_loudness_normalize_hits_target_lufs(target: float) -> None:
    sr = 22050
    rng = np.random.default_rng(1)
    audio = (0.05 * rng.standard_normal(2 * sr) + sine(220, 2.0, sr, 0.05)).astype(np.float32)
    out = loudness_normalize(audio, sr, target)
    assert measure_loudness(out, sr) == pytest.approx(target, abs=0.5)


def test_loudness_normalize_peak_cap_and_errors() -> None:
    sr = 22050
    audio = sine(440, 1.0, sr, amp=0.01)
    capped = loudness_normalize(audio, sr, -3.0, max_peak=0.5)
    assert np.max(np.abs(capped)) == pytest.approx(0.5, rel=1e-4)
    with pytest.raises(SilentAudioError):
        loudness_normalize(np.zeros(sr, dtype=np.float32), sr)
    with pytest.raises(AudioTooShortError):
        loudness_normalize(audio[: sr // 10], sr)


# ------------------------------------------------------------------------------------------ segments
def test_segments_start_times_overlap_and_padding() -> None:
    sr = 100
    audio = np.arange(27 * sr, dtype=np.float32) / (27 * sr)
    seg = segment_audio(audio, sr, segment_seconds=10.0, overlap=0.5)
    # the window at 15 s ends at 25 s, so a zero-padded window at 20 s covers the last 2 s
    np.testing.assert_allclose(seg.start_times, [0.0, 5.0, 10.0, 15.0, 20.0])
    assert seg.segments.shape == (5, 1000)
    for start, chunk in zip(seg.start_times, seg.segments, strict=True):
        begin = int(start * sr)
        valid = audio[begin : begin + 1000]
        np.testing.assert_array_equal(chunk[: len(valid)], valid)
        assert np.all(chunk[len(valid) :] == 0)
    # consecutive windows share exactly overlap * segment samples
    np.testing.assert_array_equal(seg.segments[0, 500:], seg.segments[1, :500])

    no_pad = segment_audio(audio, sr, 10.0, 0.5, pad_last=False)
    np.testing.assert_allclose(no_pad.start_times, [0.0, 5.0, 10.0, 15.0])
    no_overlap = segment_audio(audio, sr, 10.0, 0.0)
    np.testing.assert_allclose(no_overlap.start_times, [0.0, 10.0, 20.0])
    exact = segment_audio(audio[: 25 * sr], sr, 10.0, 0.5)  # tail exactly covered: no padded window
    np.testing.assert_allclose(exact.start_times, [0.0, 5.0, 10.0, 15.0])
    quarter = segment_audio(audio, sr, 4.0, 0.75, pad_last=False)
    np.testing.assert_allclose(np.diff(quarter.start_times), 1.0)


def test_segments_of_short_and_multichannel_audio() -> None:
    sr = 100
    short = np.ones(300, dtype=np.float32)
    seg = segment_audio(short, sr, 10.0, 0.5)
    assert (
        seg.segments.shape == (1, 1000)
        and seg.segments[0, :300].sum() == 300
        and seg.segments[0, 300:].sum() == 0
    )
    assert segment_audio(short, sr, 10.0, 0.5, pad_last=False).segments.shape == (0, 1000)
    stereo = np.ones((2, 2000), dtype=np.float32)
    assert segment_audio(stereo, sr, 10.0, 0.0).segments.shape == (2, 2, 1000)
    with pytest.raises(ValueError, match="overlap"):
        segment_audio(short, sr, 10.0, 1.0)


# ------------------------------------------------------------------------------------------ features
def test_log_mel_peak_sits_at_the_tone() -> None:
    import librosa

    sr = 22050
    mel = log_mel_spectrogram(sine(1000, 1.0, sr), sr, n_mels=64)
    assert mel.shape[0] == 64 and mel.dtype == np.float32
    assert mel.max() == pytest.approx(0.0) and mel.min() >= -80.0
    centres = librosa.mel_frequencies(n_mels=64 + 2, fmax=sr / 2)[1:-1]
    peak_bin = int(np.argmax(mel.mean(axis=1)))
    assert abs(centres[peak_bin] - 1000) < 150


def test_cqt_has_168_bins_and_a4_lands_on_its_bin() -> None:
    sr = 24000
    cqt = cqt_spectrogram(sine(440.0, 1.0, sr), sr)
    assert cqt.shape[0] == 168
    expected_bin = round(24 * np.log2(440.0 / 32.703))  # bins above C1
    assert int(np.argmax(cqt.mean(axis=1))) == expected_bin
    with pytest.raises(ValueError, match="Nyquist"):
        cqt_spectrogram(sine(440.0, 0.5, 8000), 8000)


def test_non_finite_input_to_helpers_raises() -> None:
    bad = np.array([0.0, np.nan, 0.1], dtype=np.float32)
    for call in (
        lambda: peak_normalize(bad),
        lambda: segment_audio(bad, 10, 1.0),
        lambda: resample(bad, 8000, 16000),
    ):
        with pytest.raises(NonFiniteAudioError):
            call()
