"""Behaviour of shared_audio_core.augment: identity, determinism, each effect, presets, types."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from shared_audio_core.audio import NonFiniteAudioError
from shared_audio_core.augment import (
    EFFECT_ORDER,
    PRESETS,
    AudioAugmentor,
    AugmentationConfig,
    AugmentationConfigError,
    AugmentationError,
    BandLimitConfig,
    EQConfig,
    GainConfig,
    Mp3Config,
    NoiseConfig,
    PitchShiftConfig,
    ReverbConfig,
    TimeStretchConfig,
    UnknownPresetError,
    flat_param_columns,
    get_preset,
    list_presets,
    synthesize_impulse_response,
)

SR = 44100


@pytest.fixture(scope="module")
def ir_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ir_cache")


def tone(freq: float = 440.0, seconds: float = 1.0, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def music(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    """A chord with decaying bursts: broadband enough for every effect to act on."""
    t = np.arange(round(seconds * sr)) / sr
    env = np.exp(-6 * (t % 0.25))
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 554.4, 1318.5, 3520.0))
    return (0.15 * env * chord).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def band_fraction(x: np.ndarray, low: float, high: float, sr: int = SR) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


def only(effect: str, **params: float) -> AugmentationConfig:
    """Config with exactly one effect forced on (p=1)."""
    return AugmentationConfig.from_dict({effect: {"p": 1.0, **params}})


# ------------------------------------------------------------------------------------------ identity
def test_all_p_zero_is_exact_identity() -> None:
    audio = music()
    result = AudioAugmentor(AugmentationConfig(), seed=0)(audio, SR)
    assert np.array_equal(result.audio, audio) and result.audio.dtype == np.float32
    assert result.applied == {} and result.flat_params() == {} and result.peak_scale == 1.0


@pytest.mark.parametrize("preset", list_presets())
def test_augment_prob_zero_is_identity_for_every_preset(preset: str) -> None:
    config = get_preset(preset)
    config.augment_prob = 0.0
    audio = music(0.3)
    for seed in range(3):
        result = AudioAugmentor(config, seed=seed)(audio, SR)
        assert np.array_equal(result.audio, audio) and result.applied == {}


# ------------------------------------------------------------------------------------------ seeds
def test_same_seed_same_output_and_params(ir_cache: Path) -> None:
    config = AugmentationConfig.from_dict({name: {"p": 1.0} for name in EFFECT_ORDER})
    audio = music()
    a = AudioAugmentor(config, seed=123, ir_cache_dir=ir_cache)(audio, SR)
    b = AudioAugmentor(config, seed=123, ir_cache_dir=ir_cache)(audio, SR)
    assert list(a.applied) == list(EFFECT_ORDER)
    assert a.applied == b.applied
    np.testing.assert_array_equal(a.audio, b.audio)
    c = AudioAugmentor(config, seed=124, ir_cache_dir=ir_cache)(audio, SR)
    assert c.applied != a.applied and not np.allclose(c.audio, a.audio)


def test_per_call_seed_ignores_call_history(ir_cache: Path) -> None:
    audio = music(0.5)
    augmentor = AudioAugmentor.from_preset("garage", seed=1, ir_cache_dir=ir_cache)
    first = augmentor(audio, SR, seed=77)
    augmentor(audio, SR)  # advance the instance generator
    again = augmentor(audio, SR, seed=77)
    np.testing.assert_array_equal(first.audio, again.audio)
    # successive calls without a per-call seed draw fresh augmentations
    seq = AudioAugmentor.from_preset("garage", seed=1, ir_cache_dir=ir_cache)
    assert seq(audio, SR).applied != seq(audio, SR).applied


def test_global_random_state_is_left_untouched(ir_cache: Path) -> None:
    import random

    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    AudioAugmentor(only("noise"), seed=0)(music(0.2), SR)
    assert (random.random(), np.random.rand()) == expected


# ------------------------------------------------------------------------------------------ effects
def test_noise_snr_within_range_and_recorded() -> None:
    audio = music()
    for seed in range(4):
        result = AudioAugmentor(only("noise", min_snr_db=10.0, max_snr_db=30.0), seed=seed)(audio, SR)
        snr = result.applied["noise"]["snr_db"]
        assert 10.0 <= snr <= 30.0
        measured = 20 * np.log10(rms(audio) / rms(result.audio - audio))
        assert measured == pytest.approx(snr, abs=0.3)


def test_gain_matches_measured_level_change() -> None:
    audio = tone(amp=0.1)
    for seed in range(4):
        result = AudioAugmentor(only("gain", min_gain_db=-12.0, max_gain_db=12.0), seed=seed)(audio, SR)
        gain_db = result.applied["gain"]["gain_db"]
        assert -12.0 <= gain_db <= 12.0
        assert 20 * np.log10(rms(result.audio) / rms(audio)) == pytest.approx(gain_db, abs=0.01)
        assert result.flat_params() == {"aug_gain_gain_db": gain_db}


def test_phone_preset_removes_energy_outside_telephone_band(ir_cache: Path) -> None:
    t = np.arange(SR) / SR
    audio = (
        0.2 * (np.sin(2 * np.pi * 100 * t) + np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 8000 * t))
    ).astype(np.float32)
    assert band_fraction(audio, 0, 300) == pytest.approx(1 / 3, abs=0.01)
    for seed in range(3):
        result = AudioAugmentor.from_preset("phone", seed=seed, ir_cache_dir=ir_cache)(audio, SR)
        assert (
            result.applied["band_limit"]["low_hz"] == 300.0
            and result.applied["band_limit"]["high_hz"] == 3400.0
        )
        assert band_fraction(result.audio, 0, 300) < 1e-3  # -30 dB or more
        assert band_fraction(result.audio, 3400, SR / 2) < 1e-3
        assert band_fraction(result.audio, 300, 3400) > 0.99


def test_pitch_shift_moves_frequency_by_recorded_semitones() -> None:
    audio = tone(440.0)
    result = AudioAugmentor(only("pitch_shift", min_semitones=-3.0, max_semitones=3.0), seed=3)(audio, SR)
    semitones = result.applied["pitch_shift"]["semitones"]
    spectrum = np.abs(np.fft.rfft(result.audio))
    peak = np.fft.rfftfreq(len(audio), 1 / SR)[np.argmax(spectrum)]
    assert len(result.audio) == len(audio)
    assert peak == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.01)


def test_time_stretch_keeps_length_and_moves_events_by_rate() -> None:
    t = np.arange(2 * SR) / SR
    burst = ((t >= 0.5) & (t < 1.0)).astype(np.float32)
    audio = (0.5 * np.sin(2 * np.pi * 440 * t) * burst).astype(np.float32)
    result = AudioAugmentor(only("time_stretch", min_rate=0.8, max_rate=1.25), seed=0)(audio, SR)
    rate = result.applied["time_stretch"]["rate"]
    energy = result.audio.astype(np.float64) ** 2
    centre = float((energy * t).sum() / energy.sum())
    assert len(result.audio) == len(audio)
    assert centre == pytest.approx(0.75 / rate, abs=0.02)


def test_synthetic_ir_has_requested_rt60_and_drr() -> None:
    sr = 16000
    ir = synthesize_impulse_response(0.5, sr, drr_db=3.0, predelay_s=0.0, seed=1)
    tail = ir[1:].astype(np.float64)
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(3.0, abs=1e-6)
    # Schroeder backward integration: the energy-decay curve falls 60 dB in rt60 (fit -5..-35 dB)
    edc = 10 * np.log10(np.cumsum(tail[::-1] ** 2)[::-1] / np.sum(tail**2))
    t = np.arange(len(edc)) / sr
    fit = (edc < -5) & (edc > -35)
    slope = np.polyfit(t[fit], edc[fit], 1)[0]
    assert -60 / slope == pytest.approx(0.5, rel=0.1)


def test_reverb_adds_a_decaying_tail_and_records_room(ir_cache: Path) -> None:
    audio = np.zeros(SR, dtype=np.float32)
    audio[SR // 10 : SR // 10 + 200] = tone(1000, 200 / SR, amp=0.5)
    config = only("reverb", min_rt60_s=0.6, max_rt60_s=0.6, min_drr_db=0.0, max_drr_db=0.0)
    result = AudioAugmentor(config, seed=0, ir_cache_dir=ir_cache)(audio, SR)
    params = result.applied["reverb"]
    assert (
        params["rt60_s"] == 0.6
        and params["drr_db"] == 0.0
        and str(params["ir"]).startswith("synthetic_rt60-0.60s")
    )
    assert (ir_cache / f"{params['ir']}.wav").is_file()
    after = result.audio[SR // 10 + 200 :]
    assert rms(after[: SR // 10]) > 1e-3  # reverberant tail where the input is silent
    assert rms(after[: SR // 10]) > 10 * rms(after[-SR // 10 :])  # ... and it decays
    assert rms(result.audio) == pytest.approx(rms(audio), rel=1e-3)  # level kept (documented policy)


def test_reverb_from_user_ir_directory(tmp_path: Path) -> None:
    ir = np.zeros(2000, dtype=np.float32)
    ir[0], ir[1000] = 1.0, 0.5  # direct sound and one echo 1000 samples later
    sf.write(tmp_path / "hall_echo.wav", ir, SR)
    audio = np.zeros(SR // 2, dtype=np.float32)
    audio[100] = 0.5
    result = AudioAugmentor(only("reverb", ir_dir=str(tmp_path)), seed=0)(audio, SR)
    assert result.applied["reverb"] == {"ir": "hall_echo.wav"}
    out = result.audio
    assert out[1100] == pytest.approx(0.5 * out[100], rel=1e-3)


def test_eq_records_seven_bands_and_changes_spectrum() -> None:
    audio = music()
    result = AudioAugmentor(only("eq", min_gain_db=-12.0, max_gain_db=12.0), seed=2)(audio, SR)
    params = result.applied["eq"]
    assert sorted(params) == sorted(EQConfig.PARAM_NAMES)
    gains = [params[f"band{i}_gain_db"] for i in range(1, 8)]
    assert all(-12.0 <= g <= 12.0 for g in gains)
    freqs = [params[f"band{i}_freq_hz"] for i in range(1, 8)]
    assert freqs == sorted(freqs)
    assert not np.allclose(result.audio, audio, atol=1e-3)


def test_mp3_compression_records_bitrate_and_degrades_slightly() -> None:
    audio = music()
    result = AudioAugmentor(only("mp3", min_bitrate_kbps=32, max_bitrate_kbps=64), seed=0)(audio, SR)
    bitrate = result.applied["mp3"]["bitrate_kbps"]
    assert bitrate in (32, 40, 48, 56, 64)
    assert len(result.audio) == len(audio)
    assert not np.array_equal(result.audio, audio)
    assert np.corrcoef(result.audio, audio)[0, 1] > 0.9


def test_band_limit_saturation_is_recorded() -> None:
    config = only("band_limit", min_distortion=0.2, max_distortion=0.4, min_low_hz=250.0, max_low_hz=350.0)
    result = AudioAugmentor(config, seed=0)(music(), SR)
    params = result.applied["band_limit"]
    assert 0.2 <= params["distortion"] <= 0.4 and 250.0 <= params["low_hz"] <= 350.0


def test_max_effects_caps_the_chain(ir_cache: Path) -> None:
    config = AugmentationConfig.from_dict({name: {"p": 1.0} for name in EFFECT_ORDER})
    config.max_effects = 2
    for seed in range(3):
        result = AudioAugmentor(config, seed=seed, ir_cache_dir=ir_cache)(music(0.5), SR)
        assert len(result.applied) == 2
        order = [EFFECT_ORDER.index(name) for name in result.applied]
        assert order == sorted(order)


# ------------------------------------------------------------------------------------------ levels/types
@pytest.mark.parametrize("preset", list_presets())
def test_presets_give_finite_audio_with_peak_at_most_one(preset: str, ir_cache: Path) -> None:
    audio = music(0.5)
    audio /= np.max(np.abs(audio))  # full-scale input: any boost must be caught
    augmentor = AudioAugmentor.from_preset(preset, seed=0, ir_cache_dir=ir_cache)
    for _ in range(2):
        result = augmentor(audio, SR)
        assert np.all(np.isfinite(result.audio)) and np.max(np.abs(result.audio)) <= 1.0
        assert result.audio.shape == audio.shape and result.audio.dtype == np.float32
        for effect in result.applied:
            assert result.applied[effect].keys() <= set(AugmentationConfig.param_names()[effect])


def test_loud_output_is_scaled_to_peak_one_and_reported() -> None:
    audio = tone(amp=0.9)
    result = AudioAugmentor(only("gain", min_gain_db=6.0, max_gain_db=6.0), seed=0)(audio, SR)
    assert np.max(np.abs(result.audio)) == pytest.approx(1.0, abs=1e-6)
    assert result.peak_scale == pytest.approx(1 / (0.9 * 10 ** (6 / 20)), rel=1e-3)


def test_tensor_in_tensor_out_with_shape_and_dtype(ir_cache: Path) -> None:
    stereo = torch.from_numpy(np.stack([music(0.5), 0.5 * music(0.5)]))
    result = AudioAugmentor.from_preset("practice_room", seed=0, ir_cache_dir=ir_cache)(stereo, SR)
    assert isinstance(result.audio, torch.Tensor)
    assert result.audio.shape == stereo.shape and result.audio.dtype == torch.float32
    mono = torch.from_numpy(music(0.5)).double()
    out = AudioAugmentor(only("gain"), seed=0)(mono, SR)
    assert (
        isinstance(out.audio, torch.Tensor)
        and out.audio.dtype == torch.float32
        and out.audio.shape == mono.shape
    )
    numpy_stereo = AudioAugmentor(only("noise"), seed=0)(stereo.numpy(), SR)
    assert isinstance(numpy_stereo.audio, np.ndarray) and numpy_stereo.audio.shape == (2, stereo.shape[1])


def test_bad_input_is_rejected() -> None:
    augmentor = AudioAugmentor(only("gain"), seed=0)
    with pytest.raises(NonFiniteAudioError):
        augmentor(np.array([0.0, np.nan, 0.1], dtype=np.float32), SR)
    with pytest.raises(ValueError, match="channels-first"):
        augmentor(np.zeros((1000, 2), dtype=np.float32), SR)
    with pytest.raises(TypeError):
        augmentor([0.0, 0.1], SR)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ configs
def test_presets_are_data_and_round_trip_through_dicts() -> None:
    assert set(list_presets()) == {
        "clean_studio",
        "practice_room",
        "gym",
        "garage",
        "marching_field",
        "phone",
    }
    for name, config in PRESETS.items():
        as_dict = json.loads(json.dumps(config.to_dict()))
        assert AugmentationConfig.from_dict(as_dict) == config, name
        # presets never move time or pitch (dataset timing labels stay valid)
        assert config.time_stretch.p == 0 and config.pitch_shift.p == 0


def test_get_preset_returns_a_private_copy() -> None:
    config = get_preset("gym")
    config.reverb.p = 0.0
    assert PRESETS["gym"].reverb.p == 1.0


def test_unknown_preset_error_lists_valid_names() -> None:
    with pytest.raises(UnknownPresetError) as info:
        get_preset("cathedral")
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "cathedral" in message and all(name in message for name in list_presets())
    with pytest.raises(UnknownPresetError):
        AudioAugmentor.from_preset("cathedral")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GainConfig(p=1.5), "p must be"),
        (lambda: NoiseConfig(min_snr_db=30, max_snr_db=10), "min_snr_db"),
        (lambda: PitchShiftConfig(min_semitones=-30), "semitones"),
        (lambda: TimeStretchConfig(min_rate=0.01), "rate"),
        (lambda: Mp3Config(min_bitrate_kbps=9, max_bitrate_kbps=15), "no supported bitrate"),
        (lambda: BandLimitConfig(rolloff_db_per_octave=20), "multiple of 6"),
        (lambda: ReverbConfig(min_rt60_s=0.0), "rt60"),
        (lambda: AugmentationConfig(augment_prob=2.0), "augment_prob"),
        (lambda: AugmentationConfig.from_dict({"chorus": {}}), "chorus"),
        (lambda: AugmentationConfig.from_dict({"gain": {"gain": 3}}), "valid"),
    ],
)
def test_invalid_configs_raise_typed_errors(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AugmentationConfigError, match=match):
        make()


def test_flat_params_complete_schema(ir_cache: Path) -> None:
    result = AudioAugmentor(only("gain"), seed=0)(music(0.2), SR)
    complete = result.flat_params(complete=True)
    assert list(complete) == flat_param_columns()
    assert all(key.startswith("aug_") for key in complete)
    assert complete["aug_gain_gain_db"] == result.applied["gain"]["gain_db"]
    assert complete["aug_noise_snr_db"] is None
    json.dumps(complete)  # label columns must be serialisable


def test_any_python_int_is_a_seed() -> None:
    audio = music(0.2)
    config = only("gain")
    negative = AudioAugmentor(config, seed=-5)(audio, SR)
    again = AudioAugmentor(config)(audio, SR, seed=-5)
    assert negative.applied == again.applied
    big = AudioAugmentor(config)(audio, SR, seed=2**70 + 3)
    assert "gain" in big.applied


# ------------------------------------------------------------------------------------------ probabilities
def test_each_effect_runs_with_its_own_probability_under_augment_prob() -> None:
    config = AugmentationConfig.from_dict(
        {"augment_prob": 0.5, "gain": {"p": 0.8}, "noise": {"p": 0.25, "min_snr_db": 40.0}}
    )
    augmentor = AudioAugmentor(config, seed=11)
    audio = tone(seconds=0.01)
    n = 400
    runs = [augmentor(audio, SR).applied for _ in range(n)]
    any_effect = sum(bool(r) for r in runs)
    gain = sum("gain" in r for r in runs)
    noise = sum("noise" in r for r in runs)
    both = sum("gain" in r and "noise" in r for r in runs)
    # binomial 4-sigma bands: the chain runs with augment_prob .5, then each effect independently
    expected = (
        (gain, 0.5 * 0.8),
        (noise, 0.5 * 0.25),
        (both, 0.5 * 0.8 * 0.25),
        (any_effect, 0.5 * (1 - 0.2 * 0.75)),
    )
    for count, p in expected:
        assert abs(count - n * p) < 4 * np.sqrt(n * p * (1 - p)), (count, p)


def test_band_limit_saturation_adds_harmonics_inside_the_band() -> None:
    audio = tone(700.0, amp=0.8)
    base = {"min_low_hz": 300.0, "max_low_hz": 300.0, "min_high_hz": 3400.0, "max_high_hz": 3400.0}
    clean = AudioAugmentor(only("band_limit", **base, min_distortion=0.0, max_distortion=0.0), seed=0)
    driven = AudioAugmentor(only("band_limit", **base, min_distortion=0.6, max_distortion=0.6), seed=0)
    third = (2050.0, 2150.0)  # tanh saturation of a 700 Hz tone adds its odd harmonic at 2100 Hz
    assert band_fraction(clean(audio, SR).audio, *third) < 1e-5
    result = driven(audio, SR)
    assert result.applied["band_limit"]["distortion"] == 0.6
    assert band_fraction(result.audio, *third) > 1e-3


def test_preset_with_eq_refuses_a_low_rate_on_every_call_not_only_when_eq_is_drawn() -> None:
    augmentor = AudioAugmentor.from_preset("practice_room", seed=0)
    assert augmentor.config.eq.p < 1.0  # so a draw-time check would let some calls through
    for seed in range(20):
        with pytest.raises(AugmentationError, match="eq needs a sample rate above"):
            augmentor(tone(sr=16000), 16000, seed=seed)
    identity = AudioAugmentor(dataclasses.replace(get_preset("practice_room"), augment_prob=0.0), seed=0)
    audio = tone(sr=16000)
    np.testing.assert_array_equal(identity(audio, 16000).audio, audio)


def test_effect_specific_input_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(AugmentationError, match="eq needs a sample rate above"):
        AudioAugmentor(only("eq"), seed=0)(tone(sr=16000), 16000)
    with pytest.raises(FileNotFoundError, match="no_irs_here"):
        AudioAugmentor(only("reverb", ir_dir=str(tmp_path / "no_irs_here")), seed=0)(music(0.1), SR)
    (tmp_path / "empty_irs").mkdir()
    with pytest.raises(FileNotFoundError, match="no impulse response audio files"):
        AudioAugmentor(only("reverb", ir_dir=str(tmp_path / "empty_irs")), seed=0)(music(0.1), SR)
