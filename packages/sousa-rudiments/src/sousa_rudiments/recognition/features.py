"""What the models see: per-onset inputs computed from detections, and per-stroke targets.

Inputs come only from the audio (detections, envelope, spectrum), never from labels: the label
leakage of the original project (ground-truth hands and stroke types fed to the classifier) cannot
happen because nothing here reads the strokes table except :func:`stroke_targets`, which aligns
detections to it to make *training targets* for the feature model.

The 12 stroke features are the original SOUSA vector (``STROKE_FEATURES``); timing features are in
beats of the labelled tempo for targets and of the clip's median inter-onset interval for inputs (a
tempo estimate can be off by 2x; the median IOI is what the detector really measured).
"""

from __future__ import annotations

from collections.abc import Sequence

import librosa
import mir_eval
import numpy as np

from sousa_rudiments.recognition.onsets import DEFAULT_ONSETS, OnsetConfig, OnsetDetection

STROKE_FEATURES: tuple[str, ...] = (
    "ioi_beats",
    "velocity",
    "is_grace",
    "is_accent",
    "is_tap",
    "is_diddle",
    "is_right_hand",
    "diddle_position",
    "flam_spacing_beats",
    "beat_position",
    "is_buzz",
    "buzz_count",
)
"""The 12 per-stroke features of SOUSA (reference: sousa-dataset.md), in order."""

BINARY_FEATURES: tuple[int, ...] = (2, 3, 4, 5, 6, 10)
CONTINUOUS_FEATURES: tuple[int, ...] = (0, 1, 7, 8, 9, 11)

ONSET_INPUTS: tuple[str, ...] = (
    "log_ioi_prev_s",
    "log_ioi_next_s",
    "log_ioi_prev_rel",
    "log_ioi_next_rel",
    "log_strength",
    "log_strength_rel",
    "energy_db_rel",
    "log_centroid_rel",
    "neighbours_60ms",
    "beat_phase_sin",
    "beat_phase_cos",
    "log_median_ioi_s",
    "log_tempo",
    "position_in_clip",
)
"""Per-onset model inputs, all computed from the audio and its detections."""

ALIGN_WINDOW_S = 0.025
"""A detection within ±25 ms of a stroke is that stroke (the mir_eval onset window)."""

_IOI_FLOOR_S = 0.001
_IOI_CEIL_S = 4.0


def _log_ioi(values: np.ndarray) -> np.ndarray:
    return np.log(np.clip(values, _IOI_FLOOR_S, _IOI_CEIL_S))


def _centroids(audio: np.ndarray, starts: np.ndarray, n_fft: int, sample_rate: int) -> np.ndarray:
    """Spectral centroid (Hz) of the ``n_fft`` samples after each start: the stroke's brightness."""
    padded = np.concatenate([audio, np.zeros(n_fft, dtype=audio.dtype)])
    frames = np.stack([padded[s : s + n_fft] for s in starts]) * np.hanning(n_fft)
    magnitude = np.abs(np.fft.rfft(frames, axis=1)) + 1e-9
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return (magnitude * freqs).sum(axis=1) / magnitude.sum(axis=1)


def onset_inputs(
    audio: np.ndarray, detection: OnsetDetection, config: OnsetConfig = DEFAULT_ONSETS
) -> np.ndarray:
    """``[n_onsets, len(ONSET_INPUTS)]`` float32 features of each detected onset."""
    n = len(detection)
    if n == 0:
        return np.zeros((0, len(ONSET_INPUTS)), dtype=np.float32)
    times = detection.times
    gaps = np.diff(times)
    prev_ioi = np.concatenate([[_IOI_CEIL_S], gaps])
    next_ioi = np.concatenate([gaps, [_IOI_CEIL_S]])
    median_ioi = float(np.median(gaps)) if gaps.size else 1.0
    median_ioi = max(median_ioi, _IOI_FLOOR_S)

    strengths = np.maximum(detection.strengths, 1e-4)
    log_strength = np.log(strengths)

    sr = config.sample_rate
    window = int(0.025 * sr)
    starts = np.clip((times * sr).astype(int), 0, max(len(audio) - 1, 0))
    energy = np.array([np.sqrt(np.mean(audio[s : s + window] ** 2) + 1e-12) for s in starts])
    energy_db = 20 * np.log10(energy / max(float(energy.max()), 1e-9) + 1e-9)

    onset_centroid = _centroids(audio, starts, config.n_fft, sr)
    log_centroid_rel = np.log(onset_centroid / max(float(np.median(onset_centroid)), 1e-6))

    neighbours = np.array([np.count_nonzero(np.abs(times - t) <= 0.06) - 1 for t in times], dtype=np.float64)

    period = 60.0 / detection.tempo_bpm if detection.tempo_bpm > 0 else median_ioi * 4
    anchor = detection.beat_times[0] if detection.beat_times.size else times[0]
    phase = 2 * np.pi * (((times - anchor) / period) % 1.0)
    duration = max(len(audio) / sr, 1e-3)

    columns = [
        _log_ioi(prev_ioi),
        _log_ioi(next_ioi),
        np.log(np.clip(prev_ioi / median_ioi, 1e-3, 1e3)),
        np.log(np.clip(next_ioi / median_ioi, 1e-3, 1e3)),
        log_strength,
        log_strength - float(np.median(log_strength)),
        energy_db / 20.0,
        log_centroid_rel,
        neighbours,
        np.sin(phase),
        np.cos(phase),
        np.full(n, np.log(median_ioi)),
        np.full(n, np.log(max(detection.tempo_bpm, 1.0) / 120.0)),
        times / duration,
    ]
    return np.stack(columns, axis=1).astype(np.float32)


_CLIP_LEVEL_INPUTS_KEPT = ("beat_phase_sin", "beat_phase_cos", "log_tempo")
"""Inputs :func:`window_as_recording` keeps from the whole clip: they come from librosa's tempo and beat
tracking on the clip's audio, which a window of detections alone cannot redo."""


def window_as_recording(inputs: np.ndarray, times: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The inputs of onsets ``start:stop`` as if those onsets had been a recording of their own.

    :func:`onset_inputs` relates every onset to its clip (IOIs to the clip's median IOI, strength to
    its median, energy to its loudest onset, brightness to its median, position in the clip), so a
    window cut from a long training clip does not look like a short recording of the same playing.
    This recomputes those columns over the window, with the clip's own silence before the first and
    after the last onset; applied to the whole clip it returns ``inputs`` (up to float rounding).
    Tempo and beat phase stay the clip's (:data:`_CLIP_LEVEL_INPUTS_KEPT`).
    """
    n_total = len(times)
    if not 0 <= start < stop <= n_total:
        raise ValueError(f"window {start}:{stop} is not inside a clip of {n_total} onsets")
    column = {name: i for i, name in enumerate(ONSET_INPUTS)}
    clip_times = np.asarray(times, dtype=np.float64)
    window = inputs[start:stop].astype(np.float64, copy=True)
    t = clip_times[start:stop]

    gaps = np.diff(t)
    prev_ioi = np.concatenate([[_IOI_CEIL_S], gaps])
    next_ioi = np.concatenate([gaps, [_IOI_CEIL_S]])
    median_ioi = max(float(np.median(gaps)) if gaps.size else 1.0, _IOI_FLOOR_S)
    window[:, column["log_ioi_prev_s"]] = _log_ioi(prev_ioi)
    window[:, column["log_ioi_next_s"]] = _log_ioi(next_ioi)
    window[:, column["log_ioi_prev_rel"]] = np.log(np.clip(prev_ioi / median_ioi, 1e-3, 1e3))
    window[:, column["log_ioi_next_rel"]] = np.log(np.clip(next_ioi / median_ioi, 1e-3, 1e3))
    window[:, column["log_median_ioi_s"]] = np.log(median_ioi)

    log_strength = window[:, column["log_strength"]]
    window[:, column["log_strength_rel"]] = log_strength - float(np.median(log_strength))
    energy = window[:, column["energy_db_rel"]]
    window[:, column["energy_db_rel"]] = energy - float(energy.max())
    centroid = window[:, column["log_centroid_rel"]]
    window[:, column["log_centroid_rel"]] = centroid - float(np.median(centroid))
    window[:, column["neighbours_60ms"]] = [np.count_nonzero(np.abs(t - x) <= 0.06) - 1 for x in t]

    # the clip's duration from any onset's position (position = time / duration), then its lead-in
    # and tail around the first and last onset
    position = inputs[:, column["position_in_clip"]].astype(np.float64)
    k = int(np.argmax(position))
    duration = clip_times[k] / position[k] if position[k] > 0 else float(clip_times[-1]) + 1e-3
    lead, tail = float(clip_times[0]), max(duration - float(clip_times[-1]), 0.0)
    span = max(float(t[-1] - t[0]) + lead + tail, 1e-3)
    window[:, column["position_in_clip"]] = (t - t[0] + lead) / span
    return window.astype(np.float32)


def stroke_feature_rows(strokes: Sequence[dict], tempo_bpm: float) -> np.ndarray:
    """``[n_strokes, 12]`` SOUSA stroke features of strokes-table rows (sorted by ``actual_time_ms``)."""
    beat_ms = 60_000.0 / tempo_bpm
    rows = np.zeros((len(strokes), len(STROKE_FEATURES)), dtype=np.float32)
    previous = None
    for i, stroke in enumerate(strokes):
        t = float(stroke["actual_time_ms"])
        stroke_type = stroke["stroke_type"]
        diddle = stroke.get("diddle_position")
        flam = stroke.get("flam_spacing_ms")
        buzz = stroke.get("buzz_count")
        rows[i] = (
            0.0 if previous is None else (t - previous) / beat_ms,
            float(stroke["actual_velocity"]) / 127.0,
            float(bool(stroke["is_grace_note"])),
            float(bool(stroke["is_accent"])),
            float(stroke_type == "tap"),
            float(stroke_type == "diddle"),
            float(stroke["hand"] == "R"),
            0.0 if diddle is None or np.isnan(diddle) else float(diddle) / 2.0,
            0.0 if flam is None or np.isnan(flam) else float(flam) / beat_ms,
            (float(stroke["intended_time_ms"]) / beat_ms) % 1.0,
            float(stroke_type == "buzz"),
            0.0 if buzz is None or np.isnan(buzz) else float(buzz) / 8.0,
        )
        previous = t
    return rows


def stroke_targets(
    detection_times_s: np.ndarray, strokes: Sequence[dict], tempo_bpm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Targets for each detection: ``([n_det, 12] features, [n_det] bool matched)``.

    Detections are matched one-to-one to strokes within :data:`ALIGN_WINDOW_S` (mir_eval's maximum
    bipartite matching); an unmatched detection (spurious, or the second peak of a merged pair)
    gets no target, so the feature model's loss masks it.
    """
    ordered = sorted(strokes, key=lambda s: float(s["actual_time_ms"]))
    features = stroke_feature_rows(ordered, tempo_bpm)
    reference = np.array([float(s["actual_time_ms"]) / 1000.0 for s in ordered])
    targets = np.zeros((len(detection_times_s), len(STROKE_FEATURES)), dtype=np.float32)
    matched = np.zeros(len(detection_times_s), dtype=bool)
    if len(detection_times_s) and reference.size:
        for ref_index, det_index in mir_eval.util.match_events(
            reference, np.asarray(detection_times_s), ALIGN_WINDOW_S
        ):
            targets[det_index] = features[ref_index]
            matched[det_index] = True
    return targets, matched


def log_mel(audio: np.ndarray, sample_rate: int, *, n_mels: int = 64, hop_length: int = 256) -> np.ndarray:
    """``[n_mels, frames]`` float32 log-mel (dB re. clip max, floored at -80) for the direct audio model."""
    mel = librosa.feature.melspectrogram(
        y=audio, sr=sample_rate, n_fft=1024, hop_length=hop_length, n_mels=n_mels, fmin=40.0, power=2.0
    )
    return librosa.power_to_db(mel, ref=np.max, top_db=80.0).astype(np.float32)
