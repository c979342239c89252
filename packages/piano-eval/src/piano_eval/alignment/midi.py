"""Performance and score MIDI as note tables plus the partitura note arrays parangonar aligns.

Files are parsed with symusic and turned into partitura objects (a ``PerformedPart`` for the performance,
``note_array_to_score`` for the score), whose note arrays are what parangonar's matchers read. partitura's
own MIDI readers are not used on the files because they lose notes a pianist played: a note-on of a key
that is still sounding replaces the sounding note (``load_performance_midi``) and two notes of one pitch at
one onset become one (``load_score_midi``). On the synthetic benchmark (seed 1, 24 pieces × 6) that dropped
612 of 7384 performed notes (overheld repeated notes) and 64 of 1272 score notes (unisons of two voices),
which would turn articulation into "missing notes". symusic pairs overlapping notes of one key first in,
first out and keeps both.

Notes are indexed in (onset, pitch) order — the order in which the synthetic benchmark writes its MIDI —
and every index in an alignment refers to that order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from piano_eval.data.validation import check_midi

SUSTAIN_PEDAL = 64


@dataclass(frozen=True)
class PerformanceNotes:
    """A performance's notes in (onset, pitch) order, its sustain pedal, and partitura's note array."""

    path: Path
    onset: np.ndarray  # [N] seconds
    offset: np.ndarray  # [N] key release, seconds (not extended by the pedal)
    pitch: np.ndarray  # [N] MIDI note numbers
    velocity: np.ndarray  # [N]
    onset_tick: np.ndarray  # [N] MIDI ticks (as written in the file)
    pedal_time: np.ndarray  # [P] seconds of CC64 events, sorted
    pedal_value: np.ndarray  # [P] their values (≥ 64 = down)
    note_array: np.ndarray  # partitura PerformedPart.note_array(), rows in the order above

    def __len__(self) -> int:
        return int(self.onset.size)

    @property
    def duration(self) -> np.ndarray:
        return self.offset - self.onset

    @property
    def end(self) -> float:
        """Seconds to the last note release or pedal event."""
        last_pedal = float(self.pedal_time.max()) if self.pedal_time.size else 0.0
        return max(float(self.offset.max()), last_pedal)


@dataclass(frozen=True)
class ScoreNotes:
    """A score MIDI's notes in (onset, pitch) order: metrical time in quarters and the file's seconds."""

    path: Path
    onset_quarter: np.ndarray  # [N]
    duration_quarter: np.ndarray  # [N]
    onset_sec: np.ndarray  # [N] seconds at the file's tempo (the time axis of a rendering of the score)
    duration_sec: np.ndarray  # [N]
    pitch: np.ndarray  # [N]
    onset_tick: np.ndarray  # [N]
    note_array: np.ndarray  # partitura score note array (onset_beat, duration_beat, pitch, id, is_grace…)

    def __len__(self) -> int:
        return int(self.pitch.size)


def _read(path: Path):
    """symusic scores of ``path`` in ticks and in seconds; typed errors for unreadable or empty files."""
    import symusic

    check_midi(path)  # UnreadableMidiError / EmptyMidiError naming the file
    ticks = symusic.Score(str(path))
    return ticks, ticks.to("second")


def _notes(ticks, seconds, *, with_drums: bool = False):
    rows = []
    for track_t, track_s in zip(ticks.tracks, seconds.tracks, strict=True):
        if track_t.is_drum and not with_drums:
            continue
        for note_t, note_s in zip(track_t.notes, track_s.notes, strict=True):
            rows.append((note_s.time, note_s.end, note_t.time, note_t.end, note_t.pitch, note_t.velocity))
    array = np.array(rows, dtype=np.float64).reshape(-1, 6)
    order = np.lexsort((array[:, 4], array[:, 0]))  # by onset, then pitch; stable for exact ties
    return array[order]


def load_performance(path: str | Path) -> PerformanceNotes:
    """Read a performance MIDI; :class:`~piano_eval.data.errors.EmptyMidiError` when it has no notes."""
    from partitura.performance import PerformedPart

    path = Path(path)
    ticks, seconds = _read(path)
    rows = _notes(ticks, seconds)
    if rows.shape[0] == 0:
        from piano_eval.data.errors import EmptyMidiError

        raise EmptyMidiError(f"{path}: the MIDI file has no (non-drum) notes")
    pedal = sorted(
        (float(c.time), int(c.value))
        for track in seconds.tracks
        for c in track.controls
        if c.number == SUSTAIN_PEDAL
    )
    pedal_array = np.array(pedal, dtype=np.float64).reshape(-1, 2)
    notes = [
        {
            "id": f"n{i}",
            "midi_pitch": int(r[4]),
            "note_on": float(r[0]),
            "note_off": float(r[1]),
            "note_on_tick": int(r[2]),
            "note_off_tick": int(r[3]),
            "velocity": int(r[5]),
            "track": 0,
            "channel": 0,
        }
        for i, r in enumerate(rows)
    ]
    controls = [{"time": t, "number": SUSTAIN_PEDAL, "value": v} for t, v in pedal]
    part = PerformedPart(notes, controls=controls, ppq=int(ticks.ticks_per_quarter))
    note_array = part.note_array()
    order = np.argsort([int(i[1:]) for i in note_array["id"]], kind="stable")
    return PerformanceNotes(
        path=path,
        onset=rows[:, 0].copy(),
        offset=rows[:, 1].copy(),
        pitch=rows[:, 4].astype(int),
        velocity=rows[:, 5].astype(int),
        onset_tick=rows[:, 2].astype(int),
        pedal_time=pedal_array[:, 0].copy(),
        pedal_value=pedal_array[:, 1].astype(int),
        note_array=note_array[order],
    )


def load_score(path: str | Path) -> ScoreNotes:
    """Read a score MIDI (metrical: quarters from the file's ticks per quarter); typed errors as above."""
    from partitura.musicanalysis import note_array_to_score

    path = Path(path)
    ticks, seconds = _read(path)
    rows = _notes(ticks, seconds)
    if rows.shape[0] == 0:
        from piano_eval.data.errors import EmptyMidiError

        raise EmptyMidiError(f"{path}: the MIDI file has no (non-drum) notes")
    tpq = int(ticks.ticks_per_quarter)
    fields = [("onset_div", "i4"), ("duration_div", "i4"), ("pitch", "i4"), ("id", "U16")]
    signatures = sorted((ts.time, ts.numerator, ts.denominator) for ts in ticks.time_signatures)
    if signatures:
        fields += [("ts_beats", "i4"), ("ts_beat_type", "i4")]
    table = np.zeros(rows.shape[0], dtype=fields)
    table["onset_div"] = rows[:, 2]
    table["duration_div"] = np.maximum(1, rows[:, 3] - rows[:, 2])
    table["pitch"] = rows[:, 4]
    table["id"] = [f"n{i}" for i in range(rows.shape[0])]
    if signatures:
        starts = np.array([s[0] for s in signatures])
        which = np.clip(np.searchsorted(starts, rows[:, 2], side="right") - 1, 0, None)
        table["ts_beats"] = [signatures[k][1] for k in which]
        table["ts_beat_type"] = [signatures[k][2] for k in which]
    with warnings.catch_warnings():  # partitura narrates each step (voice estimation, pitch spelling…)
        warnings.simplefilter("ignore", UserWarning)
        score = note_array_to_score(
            table, divs=tpq, estimate_time=not signatures, assign_note_ids=False, sanitize=False
        )
    note_array = score.note_array(include_grace_notes=True)
    by_id = {str(note_id): k for k, note_id in enumerate(note_array["id"])}
    note_array = note_array[[by_id[f"n{i}"] for i in range(rows.shape[0])]]
    return ScoreNotes(
        path=path,
        onset_quarter=rows[:, 2] / tpq,
        duration_quarter=np.maximum(1, rows[:, 3] - rows[:, 2]) / tpq,
        onset_sec=rows[:, 0].copy(),
        duration_sec=rows[:, 1] - rows[:, 0],
        pitch=rows[:, 4].astype(int),
        onset_tick=rows[:, 2].astype(int),
        note_array=note_array,
    )
