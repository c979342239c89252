"""Baselines every model must beat: random scores, the training mean, and linear regression on simple audio
features (loudness, onset density, spectral shape) — what a model would learn from level and texture alone."""

from __future__ import annotations

import librosa
import numpy as np
from shared_audio_core.metrics import LinearRegressionBaseline, mean_predictions, random_predictions

AUDIO_SUMMARY_FEATURES: tuple[str, ...] = (
    "rms_mean_db",
    "rms_std_db",
    "rms_p90_minus_p10_db",
    "onset_rate",
    "onset_strength_mean",
    "onset_strength_std",
    "centroid_mean",
    "centroid_std",
    "flatness_mean",
    "rolloff_mean",
    "duration",
)


def audio_summary_features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Eleven clip-level numbers (:data:`AUDIO_SUMMARY_FEATURES`) from librosa's standard descriptors."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size < sample_rate // 10:
        raise ValueError(f"need mono audio of at least 0.1 s, got shape {audio.shape}")
    rms_db = librosa.amplitude_to_db(librosa.feature.rms(y=audio)[0] + 1e-6)
    strength = librosa.onset.onset_strength(y=audio, sr=sample_rate)
    onsets = librosa.onset.onset_detect(onset_envelope=strength, sr=sample_rate)
    duration = audio.size / sample_rate
    centroid = librosa.feature.spectral_centroid(y=audio, sr=sample_rate)[0] / (sample_rate / 2)
    return np.array(
        [
            rms_db.mean(),
            rms_db.std(),
            np.percentile(rms_db, 90) - np.percentile(rms_db, 10),
            len(onsets) / duration,
            strength.mean(),
            strength.std(),
            centroid.mean(),
            centroid.std(),
            librosa.feature.spectral_flatness(y=audio)[0].mean(),
            librosa.feature.spectral_rolloff(y=audio, sr=sample_rate)[0].mean() / (sample_rate / 2),
            duration,
        ],
        dtype=np.float64,
    )


def baseline_predictions(
    train_features: np.ndarray,
    train_targets: np.ndarray,
    test_features: np.ndarray,
    *,
    seed: int = 0,
    ridge: float = 1.0,
) -> dict[str, np.ndarray]:
    """``{"random", "train_mean", "linear_audio_features"}`` → predictions ``[N_test, K]``.

    Features are standardised with the training statistics; NaN targets (unrated) are filled with the
    dimension's training mean before the fit, so they pull towards the mean instead of being invented.
    """
    targets = np.asarray(train_targets, dtype=np.float64)
    column_mean = np.nanmean(targets, axis=0)
    filled = np.where(np.isnan(targets), column_mean, targets)
    mu, sigma = train_features.mean(axis=0), train_features.std(axis=0) + 1e-9
    linear = LinearRegressionBaseline(ridge=ridge).fit((train_features - mu) / sigma, filled)
    n = len(test_features)
    return {
        "random": random_predictions(n, targets.shape[1], seed=seed),
        "train_mean": mean_predictions(filled, n),
        "linear_audio_features": np.clip(linear.predict((test_features - mu) / sigma), 0.0, 1.0),
    }
