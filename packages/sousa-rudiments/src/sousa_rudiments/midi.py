"""Performances as MIDI: one snare note per stroke, every buzz bounce and grace note included.

The MIDI timeline *is* the label timeline: a stroke with ``actual_time_ms = t`` sounds at ``t`` ms
in the file (the file's tempo is the performance tempo, so a DAW shows bars and beats). Nothing is
shifted, so onsets in the rendered audio line up with ``strokes.parquet`` without any offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import symusic

__all__ = [
    "DEFAULT_TPQ",
    "GM_ACOUSTIC_SNARE",
    "MidiNote",
    "NegativeTimeError",
    "performance_notes",
    "performance_to_midi_bytes",
    "performance_to_score",
    "read_midi_notes",
    "set_timbre",
]

GM_ACOUSTIC_SNARE = 38
#: 1920 ticks per quarter: a tick is ≤ 0.52 ms down to 60 BPM, so rounding moves a note by ≤ 0.26 ms,
#: well below the 2 ms buzz spacing.
DEFAULT_TPQ = 1920
#: Drum notes are one-shots; a note lasts until the next one (at most this long) so note-offs never
#: overlap the next bounce. The last note lasts to the end of the performance, which sets the length
#: of the rendered audio (the synthesizer stops at the last note-off) to ``duration_sec``.
NOTE_GATE_MS = 200.0


class NegativeTimeError(ValueError):
    """A stroke sounds before time zero, which MIDI cannot represent without shifting the labels."""


class _StrokeLike(Protocol):
    index: int
    actual_time_ms: float
    actual_velocity: float
    buzz_count: int
    buzz_offsets_ms: Sequence[float]
    buzz_velocities: Sequence[float]


class _PerformanceLike(Protocol):
    tempo_bpm: float
    duration_sec: float
    strokes: Sequence[_StrokeLike]


@dataclass(frozen=True)
class MidiNote:
    """One sounding event: a stroke, or one bounce of a buzz stroke."""

    time_ms: float
    velocity: int
    stroke_index: int


def _velocity(value: float) -> int:
    return max(1, min(127, round(float(value))))


def performance_notes(strokes: Iterable[_StrokeLike]) -> list[MidiNote]:
    """Every note the performance sounds, sorted by time.

    A buzz stroke sounds ``buzz_count`` bounces at ``actual_time_ms + buzz_offsets_ms[i]`` with
    ``buzz_velocities[i]``; any other stroke (taps, accents, graces, diddles) sounds once.
    """
    notes: list[MidiNote] = []
    for stroke in strokes:
        offsets = tuple(getattr(stroke, "buzz_offsets_ms", ()) or ())
        velocities = tuple(getattr(stroke, "buzz_velocities", ()) or ())
        if offsets:
            if len(velocities) != len(offsets):
                raise ValueError(
                    f"stroke {stroke.index}: {len(offsets)} buzz offsets but {len(velocities)} buzz velocities"
                )
            for offset, velocity in zip(offsets, velocities, strict=True):
                notes.append(
                    MidiNote(stroke.actual_time_ms + float(offset), _velocity(velocity), stroke.index)
                )
        else:
            notes.append(
                MidiNote(float(stroke.actual_time_ms), _velocity(stroke.actual_velocity), stroke.index)
            )
    notes.sort(key=lambda n: (n.time_ms, n.stroke_index))
    return notes


def _ms_to_ticks(ms: float, tempo_bpm: float, tpq: int) -> int:
    return round(ms * tpq * tempo_bpm / 60000.0)


def performance_to_score(
    performance: _PerformanceLike,
    *,
    program: int = 0,
    snare_note: int = GM_ACOUSTIC_SNARE,
    tpq: int = DEFAULT_TPQ,
) -> symusic.Score:
    """A one-track drum-channel ``Score`` (GM kit ``program``, note ``snare_note``) of the performance."""
    notes = performance_notes(performance.strokes)
    if not notes:
        raise ValueError("performance has no strokes to write")
    if notes[0].time_ms < 0:
        raise NegativeTimeError(
            f"stroke {notes[0].stroke_index} sounds at {notes[0].time_ms:.2f} ms, before the start of the file"
        )
    tempo = float(performance.tempo_bpm)
    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(time=0, qpm=tempo))
    score.time_signatures.append(symusic.TimeSignature(time=0, numerator=4, denominator=4))
    track = symusic.Track(name="snare", program=int(program), is_drum=True)
    ticks = [_ms_to_ticks(n.time_ms, tempo, tpq) for n in notes]
    gate = max(1, _ms_to_ticks(NOTE_GATE_MS, tempo, tpq))
    end = max(ticks[-1] + 1, _ms_to_ticks(float(performance.duration_sec) * 1000.0, tempo, tpq))
    for i, (note, start) in enumerate(zip(notes, ticks, strict=True)):
        duration = end - start if i + 1 == len(ticks) else max(1, min(gate, ticks[i + 1] - start))
        track.notes.append(
            symusic.Note(time=start, duration=duration, pitch=snare_note, velocity=note.velocity)
        )
    score.tracks.append(track)
    return score


def performance_to_midi_bytes(performance: _PerformanceLike, **kwargs: int) -> bytes:
    """Standard MIDI file bytes of :func:`performance_to_score` (for atomic writes)."""
    return bytes(performance_to_score(performance, **kwargs).dumps_midi())


def set_timbre(
    score: symusic.Score, *, program: int, snare_note: int, drum_channel: bool = True
) -> symusic.Score:
    """A copy of ``score`` whose drum tracks use GM kit ``program`` and note ``snare_note``.

    ``drum_channel=False`` moves them to a melodic channel (bank 0 ``program``): how a single-kit
    SoundFont, whose kit is an ordinary preset, is played.
    """
    out = score.copy()
    for track in out.tracks:
        if track.is_drum:
            track.program = int(program)
            track.is_drum = drum_channel
            for note in track.notes:
                note.pitch = int(snare_note)
    return out


def read_midi_notes(path: str | Path | bytes) -> list[tuple[float, int, int]]:
    """``(time_ms, pitch, velocity)`` of every note in a MIDI file, sorted; used by checks and tests."""
    score = symusic.Score.from_midi(path) if isinstance(path, bytes) else symusic.Score(str(path))
    seconds = score.to("second")
    events = [
        (float(note.time) * 1000.0, int(note.pitch), int(note.velocity))
        for track in seconds.tracks
        for note in track.notes
    ]
    return sorted(events)
