"""Audio ↔ score alignment by DTW on chroma, for recordings without a performance MIDI.

The recording's chroma (``librosa.feature.chroma_cqt``) and pitch-class attacks (the rise of its log
CQT) are aligned with ``librosa.sequence.dtw`` to the same features computed from the score's notes
directly — each sounding note adds its pitch class and, weaker, those of its 3rd and 5th harmonics,
decaying after the onset as a struck string does; each onset adds a short pulse to its pitch class. The
attack features sharpen the path at note onsets, where chroma alone changes slowly. Building the score
side from notes rather than from a rendering of the score keeps the alignment independent of the piano
the recording was made on (and, on the synthetic benchmark, of the SoundFont the audio was rendered with).

The warping path maps score time (the score MIDI's seconds) to audio time. A path is only as sharp as a
few frames and drifts where the chroma changes little, so each score note's onset is then refined on its
own pitch: the frame of the strongest attack (rise of the log CQT at the note's semitone bin and its
harmonics) within
:data:`REFINE_SECONDS` of the path's estimate (and nearer to it than to the estimate of the next note of
that pitch). The strength of that attack is kept too: a note that was not played has none.

A DTW path exists between any two recordings, so the result carries a quality — how much cheaper the
path is than frames paired at random — and :func:`align_audio` can refuse a path below a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AlignmentError
from .midi import ScoreNotes

HOP = 256
#: Minimum :attr:`AudioAlignment.quality`. It rejects unrelated music (an unrelated melody scores ≈ 0.16
#: against the test score), not a wrong piece of the same style and key: on the synthetic benchmark,
#: recordings of their own score scored ≥ 0.26 (seed 0) and ≥ 0.31 (seed 1), recordings of another
#: generated piece up to 0.21 and 0.29 (docs/pseudo-labels.md).
AUDIO_THRESHOLD = 0.2
REFINE_SECONDS = 0.12
REFINE_HARMONICS = (12, 19, 24)  # semitones above the fundamental whose rise joins it in the refinement
DECAY_SECONDS = 0.7  # sounding notes fade with this time constant in the score chroma
RELEASE_SECONDS = 0.15  # … and this fast after their end
HARMONICS = ((0, 1.0), (7, 0.3), (4, 0.1))  # pitch-class offset, weight: fundamental, 3rd, 5th harmonic
ONSET_SECONDS = 0.02  # width of an attack pulse in the score's onset features
ONSET_WEIGHT = 0.6  # weight of the attack features against the chroma in the DTW cost


@dataclass(frozen=True)
class AudioAlignment:
    """A monotone score-seconds → audio-seconds path and the estimated audio onset of each score note."""

    path: np.ndarray  # [K, 2] (score seconds, audio seconds), non-decreasing in both
    note_onsets: np.ndarray  # [N] DTW estimate of each score note's audio onset
    refined: np.ndarray  # [N] the onset refined on the note's own pitch (see module docstring)
    attack: np.ndarray  # [N] strength of that attack (rise of log(1 + 100·|CQT|) at the note's bin)
    cost: float  # mean feature distance along the path (0 = identical)
    baseline: float = 1.0  # mean feature distance over all frame pairs (what an unrelated piece costs)

    @property
    def quality(self) -> float:
        """``1 − cost / baseline``: how much closer the path is than frames picked at random."""
        return 1.0 - self.cost / max(self.baseline, 1e-9)

    def score_to_audio(self, score_seconds: np.ndarray | float) -> np.ndarray:
        score_t, audio_t = self.path[:, 0], self.path[:, 1]
        keep = np.concatenate([[True], np.diff(score_t) > 0])
        return np.interp(score_seconds, score_t[keep], audio_t[keep])


def score_chroma(score: ScoreNotes, frames: int, sample_rate: int, hop: int = HOP) -> np.ndarray:
    """``[12, frames]`` chroma of the score's notes on the frame grid of the score MIDI's seconds."""
    times = np.arange(frames) * hop / sample_rate
    chroma = np.zeros((12, frames))
    for onset, duration, pitch in zip(score.onset_sec, score.duration_sec, score.pitch, strict=True):
        first = int(np.searchsorted(times, onset))
        last = int(np.searchsorted(times, onset + duration + 4 * RELEASE_SECONDS))
        t = times[first:last] - onset
        envelope = np.exp(-t / DECAY_SECONDS)
        released = t > duration
        envelope[released] *= np.exp(-(t[released] - duration) / RELEASE_SECONDS)
        for offset, weight in HARMONICS:
            chroma[(int(pitch) + offset) % 12, first:last] += weight * envelope
    return chroma


def score_onset_chroma(score: ScoreNotes, frames: int, sample_rate: int, hop: int = HOP) -> np.ndarray:
    """``[12, frames]`` note attacks per pitch class: a short decaying pulse at each onset."""
    times = np.arange(frames) * hop / sample_rate
    pulses = np.zeros((12, frames))
    for onset, pitch in zip(score.onset_sec, score.pitch, strict=True):
        first = int(np.searchsorted(times, onset))
        last = int(np.searchsorted(times, onset + 4 * ONSET_SECONDS))
        pulses[int(pitch) % 12, first:last] += np.exp(-(times[first:last] - onset) / ONSET_SECONDS)
    return pulses


@dataclass(frozen=True)
class AudioFeatures:
    """What the alignment and the audio labels read from a recording, computed once."""

    sample_rate: int
    hop: int
    cqt: np.ndarray  # [88, F] |CQT|, one bin per piano key (A0–C8)
    chroma: np.ndarray  # [12, F]
    attacks: np.ndarray  # [12, F] pitch-class attacks
    rise: np.ndarray  # [88, F] half-wave rectified frame-to-frame rise of log(1 + 100·|CQT|)

    @property
    def frame_seconds(self) -> float:
        return self.hop / self.sample_rate

    @property
    def frames(self) -> int:
        return int(self.cqt.shape[1])

    def frame(self, seconds: np.ndarray | float) -> np.ndarray:
        """Nearest frame index of each time (clipped to the recording)."""
        return np.clip(np.round(np.asarray(seconds) / self.frame_seconds).astype(int), 0, self.frames - 1)


def audio_features(audio: np.ndarray, sample_rate: int, hop: int = HOP) -> AudioFeatures:
    """CQT (``librosa.cqt``), its chroma (``librosa.feature.chroma_cqt``) and attacks of mono ``audio``."""
    import librosa

    a0 = float(librosa.note_to_hz("A0"))
    cqt = np.abs(librosa.cqt(audio, sr=sample_rate, hop_length=hop, fmin=a0, n_bins=88))
    chroma = librosa.feature.chroma_cqt(C=cqt, sr=sample_rate, hop_length=hop, fmin=a0, bins_per_octave=12)
    log = np.log1p(100.0 * cqt)
    rise = np.maximum(0.0, np.diff(log, axis=1, prepend=log[:, :1]))
    pitch_class = (np.arange(88) + 21) % 12
    attacks = np.stack([rise[pitch_class == c].sum(axis=0) for c in range(12)])
    return AudioFeatures(int(sample_rate), int(hop), cqt, chroma, attacks, rise)


def refine_onsets(
    rise: np.ndarray, estimated: np.ndarray, pitch: np.ndarray, sample_rate: int, hop: int = HOP
) -> tuple[np.ndarray, np.ndarray]:
    """Per note: time of the strongest attack of its key near ``estimated`` and that attack's strength.

    The attack is looked for in the rise of the note's semitone bin plus those of its 2nd, 3rd and 4th
    harmonics (+12, +19, +24 semitones), so that a partial of another note on the same bin does not win
    as easily; its strength is the rise of the fundamental's bin at that frame.
    """
    frame_seconds = hop / sample_rate
    harmonic = rise.copy()
    for offset in REFINE_HARMONICS:
        harmonic[:-offset] += rise[offset:]
    refined = np.array(estimated, dtype=np.float64)
    strength = np.zeros(estimated.size)
    for p in np.unique(pitch):
        idx = np.flatnonzero(pitch == p)
        idx = idx[np.argsort(estimated[idx])]
        bin_ = int(p) - 21
        if not 0 <= bin_ < rise.shape[0]:
            continue
        times = estimated[idx]
        for k, i in enumerate(idx):
            low = times[k] - REFINE_SECONDS
            high = times[k] + REFINE_SECONDS
            if k > 0:
                low = max(low, 0.5 * (times[k - 1] + times[k]))
            if k + 1 < idx.size:
                high = min(high, 0.5 * (times[k] + times[k + 1]))
            first = max(0, int(np.floor(low / frame_seconds)))
            last = min(rise.shape[1], int(np.ceil(high / frame_seconds)) + 1)
            if last <= first:
                continue
            j = first + int(np.argmax(harmonic[bin_, first:last]))
            refined[i] = j * frame_seconds
            strength[i] = float(rise[bin_, j])
    return refined, strength


def align_audio(
    features: AudioFeatures,
    score: ScoreNotes,
    *,
    threshold: float | None = None,
    name: str | Path = "the recording",
) -> AudioAlignment:
    """DTW-align a recording (its :func:`audio_features`) to ``score`` (see module docstring).

    With ``threshold`` (e.g. :data:`AUDIO_THRESHOLD`), an :class:`AlignmentError` naming ``name`` and the
    score when :attr:`AudioAlignment.quality` is below it.
    """
    import librosa

    sample_rate, hop = features.sample_rate, features.hop
    performed, attacks, rise = features.chroma, features.attacks, features.rise
    score_frames = int(np.ceil((score.onset_sec + score.duration_sec).max() * sample_rate / hop)) + 1
    written = score_chroma(score, score_frames, sample_rate, hop)
    pulses = score_onset_chroma(score, score_frames, sample_rate, hop)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / (np.linalg.norm(x, axis=0, keepdims=True) + 1e-9)

    cost = 1.0 - unit(written).T @ unit(performed)  # [score frames, audio frames] cosine distance
    if ONSET_WEIGHT > 0:
        onset_cost = 1.0 - unit(pulses + 1e-3).T @ unit(attacks + 1e-3)
        cost = (cost + ONSET_WEIGHT * onset_cost) / (1.0 + ONSET_WEIGHT)
    accumulated, warp = librosa.sequence.dtw(C=cost, backtrack=True)
    warp = warp[::-1]
    mean_cost = float(accumulated[-1, -1] / max(1, warp.shape[0]))
    path = warp.astype(np.float64) * hop / sample_rate
    empty = np.zeros(0)
    estimated = AudioAlignment(path, empty, empty, empty, mean_cost).score_to_audio(score.onset_sec)
    refined, attack = refine_onsets(rise, estimated, score.pitch, sample_rate, hop)
    result = AudioAlignment(path, estimated, refined, attack, mean_cost, float(cost.mean()))
    if threshold is not None and result.quality < threshold:
        raise AlignmentError(
            f"could not align {name} to {score.path}: alignment score {result.quality:.3f} < threshold "
            f"{threshold:.3f} (DTW path cost {mean_cost:.3f} against {result.baseline:.3f} for unrelated "
            "frames); is it a recording of this score?"
        )
    return result
