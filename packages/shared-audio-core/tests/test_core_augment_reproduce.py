"""Recorded augmentations are reproducible from the record alone; MP3 works on short clips.

The EQ reference is written here from the RBJ Audio EQ Cookbook with ``scipy.signal.lfilter``
(not audiomentations), so it checks that the recorded values are exactly the ones applied.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from shared_audio_core.augment import (
    AudioAugmentor,
    AugmentationConfig,
    AugmentationError,
    EQConfig,
    flat_param_columns,
)

SR = 44100


def music(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    env = np.exp(-6 * (t % 0.25))
    chord = sum(np.sin(2 * np.pi * f * t) for f in (55.0, 220.0, 554.4, 1318.5, 3520.0, 7040.0))
    rng = np.random.default_rng(0)
    return (0.1 * env * chord + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def only(effect: str, **params: float) -> AugmentationConfig:
    return AugmentationConfig.from_dict({effect: {"p": 1.0, **params}})


# ------------------------------------------------------------------------------------------ EQ
def cookbook_biquad(kind: str, f0: float, gain_db: float, q: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of an RBJ cookbook peaking / low-shelf / high-shelf filter (alpha = sin(w0) / 2Q)."""
    a_lin = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    cos, alpha = np.cos(w0), np.sin(w0) / (2 * q)
    root = 2 * np.sqrt(a_lin) * alpha
    if kind == "peak":
        b = [1 + alpha * a_lin, -2 * cos, 1 - alpha * a_lin]
        a = [1 + alpha / a_lin, -2 * cos, 1 - alpha / a_lin]
    elif kind == "low":
        b = [
            a_lin * ((a_lin + 1) - (a_lin - 1) * cos + root),
            2 * a_lin * ((a_lin - 1) - (a_lin + 1) * cos),
            a_lin * ((a_lin + 1) - (a_lin - 1) * cos - root),
        ]
        a = [
            (a_lin + 1) + (a_lin - 1) * cos + root,
            -2 * ((a_lin - 1) + (a_lin + 1) * cos),
            (a_lin + 1) + (a_lin - 1) * cos - root,
        ]
    else:
        b = [
            a_lin * ((a_lin + 1) + (a_lin - 1) * cos + root),
            -2 * a_lin * ((a_lin - 1) + (a_lin + 1) * cos),
            a_lin * ((a_lin + 1) + (a_lin - 1) * cos - root),
        ]
        a = [
            (a_lin + 1) - (a_lin - 1) * cos + root,
            2 * ((a_lin - 1) - (a_lin + 1) * cos),
            (a_lin + 1) - (a_lin - 1) * cos - root,
        ]
    return np.asarray(b) / a[0], np.asarray(a) / a[0]


def eq_from_record(audio: np.ndarray, params: dict[str, float | int | str], sr: int) -> np.ndarray:
    """Apply the seven recorded bands in order; each filter starts in the steady state of the first
    sample (the initial condition audiomentations uses), one channel at a time."""
    kinds = ["low", "peak", "peak", "peak", "peak", "peak", "high"]
    out = np.atleast_2d(audio).astype(np.float64)
    for i, kind in enumerate(kinds, start=1):
        f0, gain, q = (float(params[f"band{i}_{name}"]) for name in ("freq_hz", "gain_db", "q"))
        b, a = cookbook_biquad(kind, f0, gain, q, sr)
        zi = signal.lfilter_zi(b, a)
        out = np.stack([signal.lfilter(b, a, ch, zi=zi * ch[0])[0] for ch in out])
    return out.reshape(np.shape(audio))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("channels", [1, 2])
def test_eq_output_is_reproduced_from_the_recorded_parameters_alone(seed: int, channels: int) -> None:
    audio = music() if channels == 1 else np.stack([music(), -0.5 * music()])
    result = AudioAugmentor(only("eq", min_gain_db=-12.0, max_gain_db=12.0), seed=seed)(audio, SR)
    params = result.applied["eq"]
    assert list(params) == list(EQConfig.PARAM_NAMES)
    reference = eq_from_record(audio, params, SR) * result.peak_scale  # the recorded level policy
    assert np.max(np.abs(result.audio - reference)) < 1e-6  # float32 rounding between stages only
    assert np.max(np.abs(result.audio - audio)) > 1e-2  # and the EQ did something


def test_recorded_eq_q_values_follow_audiomentations_ranges_and_change_per_call() -> None:
    augmentor = AudioAugmentor(only("eq"), seed=0)
    records = [augmentor(music(0.2), SR).applied["eq"] for _ in range(20)]
    for record in records:
        assert 0.1 <= float(record["band1_q"]) <= 0.999 and 0.1 <= float(record["band7_q"]) <= 0.999
        assert all(0.5 <= float(record[f"band{i}_q"]) <= 5.0 for i in range(2, 7))
    assert len({record["band3_q"] for record in records}) == len(records)


def test_cookbook_reference_hits_the_recorded_gain_at_each_band() -> None:
    """Sanity of the reference itself: a peak's gain at f0, a shelf's gain at DC / Nyquist."""
    for kind, at in (("peak", 1000.0), ("low", 0.0), ("high", SR / 2)):
        b, a = cookbook_biquad(kind, 1000.0, 7.5, 0.7, SR)
        _, h = signal.freqz(b, a, worN=[at], fs=SR)
        assert 20 * np.log10(abs(h[0])) == pytest.approx(7.5, abs=1e-9)


def test_flat_columns_include_every_eq_q() -> None:
    columns = flat_param_columns()
    assert [f"aug_eq_band{i}_q" for i in range(1, 8)] == [
        c for c in columns if c.startswith("aug_eq_") and c.endswith("_q")
    ]


# ------------------------------------------------------------------------------------------ MP3
def mp3(clip: np.ndarray, sr: int, bitrate: int = 64) -> np.ndarray:
    config = only("mp3", min_bitrate_kbps=bitrate, max_bitrate_kbps=bitrate)
    result = AudioAugmentor(config, seed=0)(clip, sr)
    assert result.applied == {"mp3": {"bitrate_kbps": bitrate}} and result.peak_scale == 1.0
    assert result.audio.shape == clip.shape and np.all(np.isfinite(result.audio))
    return result.audio


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    noise = np.sum(np.square(test - reference, dtype=np.float64))
    return float(10 * np.log10(np.sum(np.square(reference, dtype=np.float64)) / noise))


@pytest.mark.parametrize("sr", [16000, 44100])
@pytest.mark.parametrize("ms", [10, 50, 99])
@pytest.mark.parametrize("channels", [1, 2])
def test_mp3_works_on_clips_shorter_than_the_encoders_100_ms(sr: int, ms: int, channels: int) -> None:
    clip = music(ms / 1000, sr)
    if channels == 2:
        clip = np.stack([clip, 0.5 * clip])
    out = mp3(clip, sr)
    # The clip was really encoded: close to the input, but not equal to it.
    assert 3.0 < snr_db(clip, out) < 60.0


@pytest.mark.parametrize("sr", [16000, 44100])
def test_mp3_keeps_the_end_of_the_clip(sr: int) -> None:
    clip = music(1.0, sr)
    out = mp3(clip, sr)
    tail = slice(-600, None)  # fast-mp3-augment alone returns the last ~529 samples as zeros
    assert snr_db(clip[tail], out[tail]) > snr_db(clip, out) - 10.0  # zeros would give 0 dB


def test_mp3_body_equals_a_direct_encode_at_the_recorded_bitrate() -> None:
    """The padding changes nothing but the (otherwise silenced) tail: the recorded bitrate is true."""
    import fast_mp3_augment

    clip = music(0.5)
    direct = fast_mp3_augment.compress_roundtrip(clip, sample_rate=SR, bitrate_kbps=64)
    np.testing.assert_array_equal(mp3(clip, SR)[:-2304], direct[:-2304])
    assert np.all(direct[-500:] == 0.0)  # the encoder defect the padding avoids


def test_mp3_unsupported_rate_or_channels_are_typed_errors() -> None:
    with pytest.raises(AugmentationError, match=r"mp3 supports sample rates.*96000"):
        AudioAugmentor(only("mp3"), seed=0)(music(0.2, 96000), 96000)
    with pytest.raises(AugmentationError, match=r"mp3 supports mono or stereo.*3 channels"):
        AudioAugmentor(only("mp3"), seed=0)(np.stack([music(0.2)] * 3), SR)
