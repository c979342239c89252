"""Scores for the synthetic piano benchmark: generated pieces and (optionally) the music21 corpus.

A :class:`PianoScore` is the notated music — onsets and durations in beats, pitches, voices and the beats
where the harmony changes (where a pianist changes the pedal). Performances are made from it by
:mod:`piano_eval.data.synthetic.performance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MELODY, INNER, BASS = 0, 1, 2
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Diatonic chord progressions (scale degrees, 0 = tonic), one chord per half bar.
_PROGRESSIONS = (
    (0, 3, 4, 0),
    (0, 5, 3, 4),
    (0, 3, 0, 4),
    (0, 4, 5, 3),
    (5, 3, 0, 4),
    (0, 1, 4, 0),
)
# Melody rhythms for one half bar (two beats), in beats.
_RHYTHMS = ((1.0, 1.0), (0.5, 0.5, 1.0), (1.0, 0.5, 0.5), (0.5, 0.5, 0.5, 0.5), (1.5, 0.5), (2.0,))


class ScoreError(ValueError):
    """A score that cannot be performed: no notes, a negative duration, a pitch outside the piano."""


@dataclass(frozen=True)
class ScoreNote:
    onset: float  # beats from the start
    duration: float  # beats
    pitch: int  # MIDI note number
    voice: int  # MELODY, INNER or BASS


@dataclass(frozen=True)
class PianoScore:
    """A piece as notated. ``harmony_changes`` are the beats where the chord changes (pedal points)."""

    piece_id: str
    notes: tuple[ScoreNote, ...]
    beats_per_bar: int
    harmony_changes: tuple[float, ...]
    source: str  # "generated" or "music21:<corpus path>"

    def __post_init__(self) -> None:
        if not self.notes:
            raise ScoreError(f"{self.piece_id}: the score has no notes")
        for note in self.notes:
            if note.duration <= 0 or note.onset < 0 or not 21 <= note.pitch <= 108:
                raise ScoreError(f"{self.piece_id}: cannot perform {note}")

    @property
    def length_beats(self) -> float:
        return max(n.onset + n.duration for n in self.notes)


def _scale_pitch(tonic: int, scale: Sequence[int], degree: int) -> int:
    octave, step = divmod(degree, len(scale))
    return tonic + 12 * octave + scale[step]


def generate_piece(piece_id: str, seed: int, *, bars: int = 4) -> PianoScore:
    """A short homophonic piece: melody over broken-chord accompaniment and a bass line.

    Keys, modes, progressions, melodic contours and rhythms are drawn from ``seed``, so distinct seeds give
    distinct pieces; the melody moves mostly by step on chord tones, as tonal melodies do.
    """
    if bars < 1:
        raise ScoreError(f"bars must be ≥ 1, got {bars}")
    rng = np.random.default_rng(seed)
    tonic = 48 + int(rng.integers(0, 12))  # C3..B3
    scale = _MAJOR if rng.random() < 0.6 else _MINOR
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    notes: list[ScoreNote] = []
    changes: list[float] = []
    melody_degree = 7 + int(rng.integers(0, 5))  # an octave above the tonic
    alberti = rng.random() < 0.5
    for half in range(bars * 2):
        start = 2.0 * half
        root = progression[half % len(progression)]
        if half == bars * 2 - 1:
            root = 0  # end on the tonic
        changes.append(start)
        chord = [root, root + 2, root + 4]
        notes.append(ScoreNote(start, 2.0, _scale_pitch(tonic - 12, scale, root), BASS))
        if alberti:
            for k, idx in enumerate((0, 2, 1, 2)):
                notes.append(ScoreNote(start + 0.5 * k, 0.5, _scale_pitch(tonic, scale, chord[idx]), INNER))
        else:
            for degree in chord[1:]:
                notes.append(ScoreNote(start, 2.0, _scale_pitch(tonic, scale, degree), INNER))
        onset = start
        for duration in _RHYTHMS[int(rng.integers(len(_RHYTHMS)))]:
            chord_tones = [
                d for d in range(melody_degree - 3, melody_degree + 4) if (d - root) % 7 in (0, 2, 4)
            ]
            if onset == start and chord_tones:  # strong beat: nearest chord tone
                melody_degree = min(chord_tones, key=lambda d: (abs(d - melody_degree), rng.random()))
            else:
                melody_degree += int(rng.choice((-2, -1, -1, 1, 1, 2)))
            melody_degree = int(np.clip(melody_degree, 5, 16))
            notes.append(ScoreNote(onset, duration, _scale_pitch(tonic, scale, melody_degree), MELODY))
            onset += duration
    return PianoScore(piece_id, tuple(notes), 4, tuple(changes), "generated")


def corpus_piece(path: str, piece_id: str | None = None, *, max_beats: float | None = 32.0) -> PianoScore:
    """A score from the music21 corpus (``pip install 'piano-eval[corpus]'``), e.g. ``"bach/bwv66.6"``.

    The top part is the melody, the lowest the bass, the rest inner voices; harmony changes are the beats
    where the bass moves. ``max_beats`` keeps the opening (segments of a few bars, as PercePiano's are).
    """
    try:
        from music21 import corpus
    except ImportError as exc:  # optional extra
        raise ImportError("the music21 corpus needs the extra: pip install 'piano-eval[corpus]'") from exc
    parsed = corpus.parse(path)
    parts = list(parsed.parts)
    if not parts:
        raise ScoreError(f"music21 corpus {path!r} has no parts")
    notes: list[ScoreNote] = []
    bass_onsets: list[float] = []
    for index, part in enumerate(parts):
        voice = MELODY if index == 0 else BASS if index == len(parts) - 1 else INNER
        for element in part.flatten().notes:
            onset = float(element.offset)
            if max_beats is not None and onset >= max_beats:
                continue
            duration = float(element.duration.quarterLength)
            if duration <= 0:  # grace notes
                continue
            for pitch in element.pitches:
                notes.append(ScoreNote(onset, duration, int(pitch.midi), voice))
            if voice == BASS:
                bass_onsets.append(onset)
    ts = parsed.recurse().getElementsByClass("TimeSignature")
    beats_per_bar = int(ts[0].numerator) if ts else 4
    return PianoScore(
        piece_id or path.replace("/", "-"),
        tuple(sorted(notes, key=lambda n: (n.onset, n.pitch))),
        beats_per_bar,
        tuple(sorted(set(bass_onsets))),
        f"music21:{path}",
    )
