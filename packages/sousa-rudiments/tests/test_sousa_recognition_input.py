"""What ``RudimentPipeline`` does with audio it cannot or must not name: typed errors and "no rudiment found".

The pipeline has random weights (the shipped model is not needed): these tests are about the input
checks and the noise/tone gates, which come before any model decides. Where a gate must be judged on
its own, the pipeline is rebuilt with ``min_confidence=0`` so a random model's low confidence cannot
make a wrong gate look right.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from shared_audio_core.audio import (
    AudioDecodeError,
    AudioTooShortError,
    NonFiniteAudioError,
    SilentAudioError,
    write_audio,
)
from sousa_rudiments.midi import performance_to_score
from sousa_rudiments.performance import generate_performance
from sousa_rudiments.profiles import generate_profiles
from sousa_rudiments.recognition.models import DirectAudioModel, FeatureInferenceModel, OnsetTransformer
from sousa_rudiments.recognition.pipeline import (
    RecognitionError,
    RudimentPipeline,
    UnsupportedSampleRateError,
    write_pipeline,
)
from sousa_rudiments.render import TimbrePool, render_clip, resolve_soundfonts, synthesize
from sousa_rudiments.rudiments import get_rudiment

NOT_PERCUSSIVE = "not percussive"


def render(
    slug: str = "single-paradiddle",
    tempo_bpm: float = 120,
    sample_rate: int = 44_100,
    *,
    augmentation: str | None = None,
    cycles: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """A professional player's performance through the default SoundFont's standard kit (dry unless augmented)."""
    timbre = TimbrePool(resolve_soundfonts(include_system=False), ("standard",), (38,)).timbres[0]
    performance = generate_performance(
        get_rudiment(slug), generate_profiles(4, 0)[-1], tempo_bpm, num_cycles=cycles, seed=seed
    )
    score = performance_to_score(performance)
    if augmentation is None:
        return synthesize(score, timbre, sample_rate)
    return render_clip(
        score, timbre, sample_rate=sample_rate, augmentation_preset=augmentation, seed=seed
    ).audio


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> RudimentPipeline:
    torch.manual_seed(0)
    directory = write_pipeline(
        tmp_path_factory.mktemp("pipeline") / "random",
        feature_model=FeatureInferenceModel(),
        classifier=OnsetTransformer(),
        direct_model=DirectAudioModel(),
    )
    return RudimentPipeline.from_pretrained(directory)


@pytest.fixture(scope="module")
def gate_only(pipeline) -> RudimentPipeline:
    """The same models, but only the signal gates (strokes, percussiveness) can say "no rudiment"."""
    config = dataclasses.replace(pipeline.config, min_confidence=0.0)
    return RudimentPipeline(pipeline.feature_model, pipeline.classifier, pipeline.direct_model, config)


@pytest.fixture(scope="module")
def paradiddle() -> np.ndarray:
    return render()


SR = 44_100


def _seconds(n: float, sample_rate: int = SR) -> np.ndarray:
    return np.arange(int(n * sample_rate)) / sample_rate


# ------------------------------------------------------------------------------------------- typed errors
def test_silence_is_a_silent_audio_error(pipeline):
    with pytest.raises(SilentAudioError, match="silent"):
        pipeline.predict(np.zeros(3 * SR, dtype=np.float32), SR)


def test_half_a_second_is_too_short(pipeline, paradiddle):
    with pytest.raises(AudioTooShortError, match=r"0\.50 s"):
        pipeline.predict(paradiddle[: SR // 2], SR)


def test_nan_samples_are_rejected(pipeline, paradiddle):
    audio = paradiddle.copy()
    audio[1000] = np.nan
    with pytest.raises(NonFiniteAudioError):
        pipeline.predict(audio, SR)
    audio[1000] = np.inf
    with pytest.raises(NonFiniteAudioError):
        pipeline.predict(audio, SR)


def test_8_khz_is_an_unsupported_sample_rate(pipeline, tmp_path):
    audio = render(sample_rate=8_000)
    with pytest.raises(UnsupportedSampleRateError, match="8000 Hz is not supported") as info:
        pipeline.predict(audio, 8_000)
    assert isinstance(info.value, RecognitionError)
    path = write_audio(tmp_path / "phone.wav", audio, 8_000)
    with pytest.raises(UnsupportedSampleRateError):
        pipeline.predict_file(path)


def test_96_khz_is_resampled_not_rejected(pipeline, paradiddle, tmp_path):
    """A 96 kHz studio file is normal: the same performance must give the same strokes and answer."""
    high = render(sample_rate=96_000)
    at_44 = pipeline.predict(paradiddle, SR)
    at_96 = pipeline.predict_file(write_audio(tmp_path / "studio.wav", high, 96_000, bit_depth=24))
    assert at_96.top[0].slug == at_44.top[0].slug
    assert abs(at_96.top[0].probability - at_44.top[0].probability) < 0.02
    assert abs(len(at_96.strokes) - len(at_44.strokes)) <= 1
    assert abs(at_96.duration_s - at_44.duration_s) < 0.01
    if len(at_96.strokes) == len(at_44.strokes):  # same strokes, a backtracking frame or two apart at most
        shift = np.abs(at_96.onset_times - at_44.onset_times)
        assert np.median(shift) < 0.001 and np.max(shift) < 0.012


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("text.wav", b"this is a text file, not audio\n" * 20),
        ("random.flac", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))),
    ],
)
def test_undecodable_files_are_audio_decode_errors(pipeline, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=re.escape(name)):
        pipeline.predict_file(path)


def test_truncated_wav_is_an_audio_decode_error(pipeline, paradiddle, tmp_path):
    path = write_audio(tmp_path / "cut.wav", paradiddle, SR)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AudioDecodeError, match="truncated"):
        pipeline.predict_file(path)


# ------------------------------------------------------------------------------------- not a rudiment
def test_white_noise_is_no_rudiment(gate_only):
    noise = 0.3 * np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32)
    prediction = gate_only.predict(noise, SR)
    assert prediction.found is False
    assert prediction.reason is not None and NOT_PERCUSSIVE in prediction.reason
    assert prediction.to_dict()["rudiment"] is None


def test_a_440_hz_sine_is_no_rudiment(gate_only):
    tone = (0.5 * np.sin(2 * np.pi * 440 * _seconds(3))).astype(np.float32)
    prediction = gate_only.predict(tone, SR)
    assert prediction.found is False
    assert prediction.reason is not None and "likely enough" not in prediction.reason


@pytest.mark.parametrize("frequencies", [(110.0,), (440.0, 660.0)], ids=["sine-110Hz", "chord-440+660Hz"])
def test_other_steady_tones_are_no_rudiment(gate_only, frequencies):
    t = _seconds(3)
    tone = sum(np.sin(2 * np.pi * f * t) for f in frequencies) * (0.4 / len(frequencies))
    prediction = gate_only.predict(tone.astype(np.float32), SR)
    assert prediction.found is False


def test_a_rendered_rudiment_passes_the_signal_gates(pipeline, gate_only, paradiddle):
    prediction = pipeline.predict(paradiddle, SR)
    assert len(prediction.strokes) > 4
    assert prediction.reason is None or NOT_PERCUSSIVE not in prediction.reason
    assert gate_only.predict(paradiddle, SR).found is True


def test_a_reverberant_rendering_passes_the_signal_gates(gate_only):
    prediction = gate_only.predict(render(augmentation="gym"), SR)
    assert prediction.reason is None or NOT_PERCUSSIVE not in prediction.reason


def test_typed_errors_keep_the_file_name(pipeline, tmp_path):
    missing = tmp_path / "nowhere.wav"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.wav"):
        pipeline.predict_file(missing)
    assert not Path(missing).exists()
