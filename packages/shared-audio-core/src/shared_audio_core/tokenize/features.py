"""Frame-wise continuous features of a performance MIDI (input of continuous symbolic encoders).

Frame ``t`` covers ``[t / frame_rate, (t + 1) / frame_rate)`` seconds (tempo map applied); the
number of frames is ``ceil(end * frame_rate)`` where ``end`` is the last note-off or pedal-up.
"""

from __future__ import annotations

import math

import numpy as np
import symusic

from ._midi import MidiSource, load_score, source_name
from .errors import MidiContentError

__all__ = ["CONTINUOUS_FEATURE_NAMES", "extract_continuous_features"]

CONTINUOUS_FEATURE_NAMES: tuple[str, ...] = (
    "mean_pitch",  # mean pitch / 127 of notes sounding at any time in the frame; 0 when silent
    "max_onset_velocity",  # max velocity / 127 of notes starting in the frame; 0 without onsets
    "note_density",  # onsets per second in a window of `density_window` s centred on the frame
    "sustain_pedal",  # 1 if the sustain pedal (CC64 >= 64) is down at any time in the frame
    "time_since_onset_s",  # seconds from the latest onset at or before the frame start; 0 before any
    "polyphony",  # number of notes sounding at any time in the frame
    "onset_count",  # number of notes starting in the frame
)

_EPS = 1e-9  # guards floor/ceil against float error on frame boundaries


def _overlap_frames(start: np.ndarray, end: np.ndarray, frame_rate: float, n_frames: int):
    """First and one-past-last frame each interval touches (zero-length intervals touch one frame)."""
    first = np.floor(start * frame_rate + _EPS).astype(np.int64)
    stop = np.ceil(end * frame_rate - _EPS).astype(np.int64)
    stop = np.clip(np.maximum(stop, first + 1), 0, n_frames)
    return np.clip(first, 0, n_frames - 1), stop


def _interval_counts(first: np.ndarray, stop: np.ndarray, weights: np.ndarray, n_frames: int) -> np.ndarray:
    diff = np.zeros(n_frames + 1, dtype=np.float64)
    np.add.at(diff, first, weights)
    np.add.at(diff, stop, -weights)
    return np.cumsum(diff[:-1])


def extract_continuous_features(
    midi: MidiSource,
    frame_rate: float = 50.0,
    *,
    density_window: float = 1.0,
    include_drums: bool = False,
) -> np.ndarray:
    """Return ``float32 [T, D]`` features, columns in :data:`CONTINUOUS_FEATURE_NAMES` order.

    Args:
        midi: MIDI path or ``symusic.Score``.
        frame_rate: frames per second.
        density_window: width in seconds of the window used for ``note_density``.
        include_drums: also use notes of drum tracks (piano features exclude them by default).

    Raises:
        ValueError: non-positive ``frame_rate`` or ``density_window``.
        MidiLoadError: missing/unreadable file.  MidiContentError: no notes.
    """
    if not frame_rate > 0 or not math.isfinite(frame_rate):
        raise ValueError(f"frame_rate must be a positive number, got {frame_rate}")
    if not density_window > 0 or not math.isfinite(density_window):
        raise ValueError(f"density_window must be a positive number, got {density_window}")
    name = source_name(midi)
    score = load_score(midi).to(symusic.TimeUnit.second)
    tracks = [t for t in score.tracks if include_drums or not t.is_drum]
    note_arrays = [t.notes.numpy() for t in tracks if len(t.notes)]
    if not note_arrays:
        raise MidiContentError(f"{name}: no notes to extract features from")
    onset = np.concatenate([a["time"] for a in note_arrays]).astype(np.float64)
    offset = onset + np.concatenate([a["duration"] for a in note_arrays]).astype(np.float64)
    pitch = np.concatenate([a["pitch"] for a in note_arrays]).astype(np.float64)
    velocity = np.concatenate([a["velocity"] for a in note_arrays]).astype(np.float64)
    pedal_arrays = [t.pedals.numpy() for t in tracks if len(t.pedals)]
    pedal_start = np.concatenate([a["time"] for a in pedal_arrays]) if pedal_arrays else np.zeros(0)
    pedal_end = pedal_start + (np.concatenate([a["duration"] for a in pedal_arrays]) if pedal_arrays else 0.0)

    end = max(float(offset.max()), float(pedal_end.max()) if pedal_end.size else 0.0)
    n_frames = max(1, math.ceil(end * frame_rate - _EPS))
    frame_start = np.arange(n_frames, dtype=np.float64) / frame_rate

    first, stop = _overlap_frames(onset, offset, frame_rate, n_frames)
    polyphony = _interval_counts(first, stop, np.ones_like(pitch), n_frames)
    pitch_sum = _interval_counts(first, stop, pitch, n_frames)
    mean_pitch = np.divide(pitch_sum, polyphony * 127.0, out=np.zeros(n_frames), where=polyphony > 0)

    onset_frame = first
    onset_count = np.bincount(onset_frame, minlength=n_frames).astype(np.float64)
    max_velocity = np.zeros(n_frames, dtype=np.float64)
    np.maximum.at(max_velocity, onset_frame, velocity / 127.0)

    sorted_onsets = np.sort(onset)
    centre = frame_start + 0.5 / frame_rate
    lo = np.searchsorted(sorted_onsets, centre - density_window / 2, side="left")
    hi = np.searchsorted(sorted_onsets, centre + density_window / 2, side="left")
    density = (hi - lo) / density_window

    pedal = np.zeros(n_frames, dtype=np.float64)
    if pedal_start.size:
        p_first, p_stop = _overlap_frames(pedal_start, pedal_end, frame_rate, n_frames)
        pedal = (_interval_counts(p_first, p_stop, np.ones_like(pedal_start), n_frames) > 0.5).astype(
            np.float64
        )

    last = np.searchsorted(sorted_onsets, frame_start + _EPS, side="right") - 1
    since = np.where(last >= 0, frame_start - sorted_onsets[np.maximum(last, 0)], 0.0)

    columns = {
        "mean_pitch": mean_pitch,
        "max_onset_velocity": max_velocity,
        "note_density": density,
        "sustain_pedal": pedal,
        "time_since_onset_s": np.maximum(since, 0.0),
        "polyphony": polyphony,
        "onset_count": onset_count,
    }
    return np.stack([columns[n] for n in CONTINUOUS_FEATURE_NAMES], axis=1).astype(np.float32)
