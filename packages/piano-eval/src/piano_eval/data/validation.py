"""Checks of a performance's files before they become model inputs, so a bad file fails with a typed error
naming it (:mod:`piano_eval.data.errors`) instead of a deep tokenizer, torch or metric error later.

MIDI: readable and with at least one note. Audio: decodable and not silent. Audio + MIDI of one take: their
lengths agree within a tolerance (the audio carries a release/reverb tail, so small differences are normal).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shared_audio_core.audio import AudioError, audio_info, load_audio

from piano_eval.data.errors import (
    EmptyMidiError,
    LengthMismatchError,
    SilentAudioError,
    UnreadableAudioError,
    UnreadableMidiError,
)

#: Peak level below which audio counts as silent (-60 dBFS): room noise of a real recording is above it.
SILENCE_PEAK = 10 ** (-60 / 20)
#: Audio and MIDI lengths may differ by this many seconds, or by this fraction of the longer, whichever is larger.
LENGTH_TOLERANCE_SECONDS = 2.0
LENGTH_TOLERANCE_RATIO = 0.1


@dataclass(frozen=True)
class MidiSummary:
    path: Path
    notes: int
    duration: float  # seconds, to the end of the last note


@dataclass(frozen=True)
class AudioSummary:
    path: Path
    sample_rate: int
    duration: float  # seconds
    peak: float  # max |sample| of the mono mix


def check_midi(path: str | Path) -> MidiSummary:
    """Parse ``path`` and count its notes; :class:`UnreadableMidiError` / :class:`EmptyMidiError` otherwise."""
    import symusic

    path = Path(path)
    if not path.is_file():
        raise UnreadableMidiError(f"MIDI file not found: {path}")
    try:
        score = symusic.Score(str(path)).to("second")
    except (RuntimeError, ValueError, OSError) as exc:
        raise UnreadableMidiError(f"{path}: cannot read MIDI ({exc})") from exc
    notes = sum(len(track.notes) for track in score.tracks)
    if notes == 0:
        raise EmptyMidiError(f"{path}: the MIDI file has no notes")
    return MidiSummary(path, notes, float(score.end()))


def check_audio_samples(audio: np.ndarray, sample_rate: int, name: str | Path) -> AudioSummary:
    """Silence check of decoded mono audio; ``name`` goes in the error."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENCE_PEAK:
        level = f"{20 * np.log10(peak):.0f} dBFS" if peak > 0 else "digital silence"
        raise SilentAudioError(f"{name}: the audio is silent (peak {level}, below -60 dBFS)")
    return AudioSummary(Path(name), int(sample_rate), audio.size / sample_rate, peak)


def check_audio(path: str | Path) -> AudioSummary:
    """Decode ``path`` at its own rate; :class:`UnreadableAudioError` / :class:`SilentAudioError` otherwise."""
    path = Path(path)
    try:
        rate = audio_info(path).sample_rate
        audio = load_audio(path, rate)
    except AudioError as exc:  # not found, corrupt, truncated, empty, NaN samples: the message names the file
        raise UnreadableAudioError(str(exc)) from exc
    return check_audio_samples(audio, rate, path)


def check_lengths(
    audio: AudioSummary,
    midi: MidiSummary,
    *,
    tolerance_seconds: float = LENGTH_TOLERANCE_SECONDS,
    tolerance_ratio: float = LENGTH_TOLERANCE_RATIO,
) -> None:
    """:class:`LengthMismatchError` when the two differ by more than ``max(tolerance_seconds,
    tolerance_ratio × the longer)``: both together, so a short clip's reverb tail is not a mismatch."""
    difference = abs(audio.duration - midi.duration)
    allowed = max(tolerance_seconds, tolerance_ratio * max(audio.duration, midi.duration))
    if difference > allowed:
        raise LengthMismatchError(
            f"{audio.path} lasts {audio.duration:.2f} s but {midi.path} lasts {midi.duration:.2f} s "
            f"(differ by {difference:.2f} s, more than {allowed:.2f} s): are they the same performance?"
        )
