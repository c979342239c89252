"""An expressive-performance model with labelled degradations, for the synthetic piano benchmark.

:func:`perform` plays a :class:`~piano_eval.data.synthetic.scores.PianoScore` the way a competent pianist
would under an :class:`ExpressiveStyle` (tempo, phrase rubato, final ritardando, phrase dynamics, melody
voicing, legato, pedal changed with the harmony), then applies a :class:`Degradation`: one severity in
[0, 1] per dimension. The style is a nuisance the labels ignore (a fast or quiet performance is not
worse); the degradation is the ground truth: ``labels = 1 - severity`` per dimension.

What each severity does (``s`` = severity):

- ``timing``: per-note onset jitter with σ = 45·s ms plus a tempo random walk of ±15·s % (drift);
  notes of one voice keep their order.
- ``dynamics``: either flattened (phrase shape, voicing and accents scaled by 1 − s) or exaggerated
  (scaled by 1 + 2s, plus velocity noise of σ = 12·s).
- ``articulation``: note lengths either shortened (× 1 − 0.7·s, detached) or overheld (× 1 + s, smeared).
- ``pedal``: each harmony change is skipped (pedal held through it, blurring the chords) with probability s,
  and the pedal goes down up to 0.25·s s late when it does change.
- ``notes``: up to 20·s % of the notes are missed or played a semitone or a tone off.

Every performed note keeps the index of the score note it plays (``score_index``; −1 for none), so the
true score–performance alignment is known.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import symusic

from .scores import MELODY, PianoScore

DIMENSIONS: tuple[str, ...] = ("timing", "dynamics", "articulation", "pedal", "notes")
TICKS_PER_QUARTER = 480
_MIDI_QPM = 120.0  # MIDI files carry absolute seconds at this tempo: 1 tick = 1/960 s
_TICKS_PER_SECOND = TICKS_PER_QUARTER * _MIDI_QPM / 60.0


@dataclass(frozen=True)
class ExpressiveStyle:
    """How one pianist plays: none of this is a defect, so none of it moves the labels."""

    tempo_bpm: float = 90.0
    rubato: float = 0.06  # amplitude of the phrase tempo arch (fraction of the tempo)
    final_ritardando: float = 0.15  # slowing over the last bar
    base_velocity: float = 64.0
    dynamic_arch: float = 14.0  # phrase crescendo–diminuendo amplitude (velocity units)
    melody_emphasis: float = 10.0  # melody louder than the accompaniment
    legato: float = 0.95  # melody duration / notated duration
    pedal_delay: float = 0.05  # seconds after a harmony change the pedal goes down again

    @classmethod
    def sample(cls, rng: np.random.Generator) -> ExpressiveStyle:
        return cls(
            tempo_bpm=float(rng.uniform(66.0, 120.0)),
            rubato=float(rng.uniform(0.02, 0.10)),
            final_ritardando=float(rng.uniform(0.05, 0.25)),
            base_velocity=float(rng.uniform(52.0, 76.0)),
            dynamic_arch=float(rng.uniform(8.0, 18.0)),
            melody_emphasis=float(rng.uniform(6.0, 14.0)),
            legato=float(rng.uniform(0.88, 1.0)),
            pedal_delay=float(rng.uniform(0.03, 0.08)),
        )


@dataclass(frozen=True)
class Degradation:
    """Severity in [0, 1] per dimension; 0 = as the style plays it. Labels are ``1 - severity``."""

    timing: float = 0.0
    dynamics: float = 0.0
    articulation: float = 0.0
    pedal: float = 0.0
    notes: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Degradation.{field.name} must be in [0, 1], got {value}")

    @classmethod
    def sample(
        cls,
        rng: np.random.Generator,
        clean_probability: float = 0.25,
        dimensions: Sequence[str] = DIMENSIONS,
    ) -> Degradation:
        """Independent severities: each dimension is clean with ``clean_probability``, else U(0, 1).
        Dimensions not in ``dimensions`` stay clean; every dimension draws from ``rng`` all the same, so a
        restricted benchmark plays the same performances with the other degradations left out."""
        unknown = sorted(set(dimensions) - set(DIMENSIONS))
        if unknown or not dimensions:
            raise ValueError(
                f"degraded dimensions must be a non-empty subset of {list(DIMENSIONS)}, got {list(dimensions)}"
            )
        values = [
            0.0 if rng.random() < clean_probability else float(rng.uniform(0.0, 1.0)) for _ in DIMENSIONS
        ]
        return cls(*(v if d in dimensions else 0.0 for d, v in zip(DIMENSIONS, values, strict=True)))

    def labels(self) -> dict[str, float]:
        return {name: 1.0 - value for name, value in asdict(self).items()}


@dataclass(frozen=True)
class PerformedNote:
    start: float  # seconds
    end: float
    pitch: int
    velocity: int
    score_index: int  # index into PianoScore.notes, -1 for an inserted note


@dataclass(frozen=True)
class Performance:
    piece_id: str
    notes: tuple[PerformedNote, ...]
    pedal: tuple[tuple[float, float], ...]  # (down, up) seconds
    style: ExpressiveStyle
    degradation: Degradation

    @property
    def duration(self) -> float:
        return max(max(n.end for n in self.notes), max((up for _, up in self.pedal), default=0.0))

    def to_score(self) -> symusic.Score:
        """A one-track piano MIDI score in seconds (120 qpm: 960 ticks per second) with CC64 pedal."""
        score = symusic.Score(TICKS_PER_QUARTER)
        score.tempos.append(symusic.Tempo(time=0, qpm=_MIDI_QPM))
        track = symusic.Track(name="piano", program=0, is_drum=False)
        for note in sorted(self.notes, key=lambda n: (n.start, n.pitch)):
            start = round(note.start * _TICKS_PER_SECOND)
            end = max(start + 1, round(note.end * _TICKS_PER_SECOND))
            track.notes.append(
                symusic.Note(time=start, duration=end - start, pitch=note.pitch, velocity=note.velocity)
            )
        for down, up in self.pedal:
            track.controls.append(
                symusic.ControlChange(time=round(down * _TICKS_PER_SECOND), number=64, value=127)
            )
            track.controls.append(
                symusic.ControlChange(time=round(up * _TICKS_PER_SECOND), number=64, value=0)
            )
        score.tracks.append(track)
        return score


def _beat_clock(score: PianoScore, style: ExpressiveStyle, drift: float, rng: np.random.Generator):
    """Seconds at each beat position: tempo arch per 2-bar phrase, final ritardando, optional drift."""
    length = score.length_beats
    grid = np.linspace(0.0, length, max(2, int(length * 16) + 1))
    phrase = 2.0 * score.beats_per_bar
    factor = 1.0 + style.rubato * np.sin(np.pi * (grid % phrase) / phrase)  # faster mid-phrase
    last_bar = np.clip((grid - (length - score.beats_per_bar)) / score.beats_per_bar, 0.0, 1.0)
    factor = factor * (1.0 - style.final_ritardando * last_bar)
    # a random walk in tempo scaled to ±drift (drawn even at 0 so other dimensions see the same random draws)
    walk = np.cumsum(rng.normal(0.0, 1.0, grid.size))
    factor = factor * (1.0 + drift * walk / max(1e-9, float(np.abs(walk).max())))
    seconds_per_beat = 60.0 / (style.tempo_bpm * factor)
    elapsed = np.concatenate(
        [[0.0], np.cumsum(0.5 * (seconds_per_beat[1:] + seconds_per_beat[:-1]) * np.diff(grid))]
    )
    return lambda beats: np.interp(beats, grid, elapsed)


def perform(score: PianoScore, style: ExpressiveStyle, degradation: Degradation, seed: int) -> Performance:
    """Play ``score`` in ``style`` with ``degradation`` applied (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    deg = degradation
    clock = _beat_clock(score, style, 0.15 * deg.timing, rng)
    onsets_b = np.array([n.onset for n in score.notes])
    ends_b = onsets_b + np.array([n.duration for n in score.notes])
    start = clock(onsets_b)
    nominal = clock(ends_b) - start

    # timing jitter, keeping each voice's notes in order
    start = start + rng.normal(0.0, 0.045 * deg.timing, start.size)
    start = np.maximum(start, 0.0)
    for voice in {n.voice for n in score.notes}:
        idx = [i for i, n in enumerate(score.notes) if n.voice == voice]
        order = sorted(idx, key=lambda i: (onsets_b[i], score.notes[i].pitch))
        for a, b in itertools.pairwise(order):
            if onsets_b[b] > onsets_b[a] and start[b] < start[a] + 0.01:
                start[b] = start[a] + 0.01

    # dynamics: phrase arch + voicing + downbeat accents, then flattened or exaggerated
    phrase = 2.0 * score.beats_per_bar
    shape = style.dynamic_arch * np.sin(np.pi * (onsets_b % phrase) / phrase) - style.dynamic_arch / 2
    shape += np.array([style.melody_emphasis if n.voice == MELODY else 0.0 for n in score.notes])
    shape += np.where(np.isclose(onsets_b % score.beats_per_bar, 0.0), 4.0, 0.0)
    shape += rng.normal(0.0, 1.5, shape.size)
    if rng.random() < 0.5:
        shape = shape * (1.0 - deg.dynamics)
    else:
        shape = shape * (1.0 + 2.0 * deg.dynamics) + rng.normal(0.0, 12.0 * deg.dynamics, shape.size)
    velocity = np.clip(np.round(style.base_velocity + shape), 8, 127).astype(int)

    # articulation: legato ratio per voice, then shortened or overheld
    ratio = np.array([style.legato if n.voice == MELODY else style.legato * 0.92 for n in score.notes])
    ratio = ratio * ((1.0 - 0.7 * deg.articulation) if rng.random() < 0.5 else (1.0 + deg.articulation))
    duration = np.maximum(nominal * ratio, 0.03)

    # wrong and missing notes
    notes: list[PerformedNote] = []
    for i, n in enumerate(score.notes):
        roll = rng.random()
        error_rate = 0.2 * deg.notes
        if roll < error_rate / 2:
            continue  # missed
        pitch = n.pitch
        if roll < error_rate:
            pitch = int(np.clip(pitch + rng.choice((-2, -1, 1, 2)), 21, 108))
        notes.append(
            PerformedNote(float(start[i]), float(start[i] + duration[i]), pitch, int(velocity[i]), i)
        )
    if not notes:  # a score of one note at full severity: keep it rather than perform silence
        i = 0
        notes.append(
            PerformedNote(float(start[i]), float(start[i] + duration[i]), score.notes[i].pitch, 64, i)
        )

    # pedal: down just after each harmony change, up just before the next; skipped changes blur
    changes = clock(np.array((*score.harmony_changes, score.length_beats)))
    pedal: list[tuple[float, float]] = []
    down = None
    for k in range(len(changes) - 1):
        if down is None:
            down = changes[k] + style.pedal_delay + rng.uniform(0.0, 0.25 * deg.pedal)
        next_change = changes[k + 1]
        last = k == len(changes) - 2
        if last or rng.random() >= deg.pedal:
            up = max(next_change - 0.02, down + 0.05) if not last else next_change + 0.3
            pedal.append((float(down), float(up)))
            down = None
    return Performance(score.piece_id, tuple(notes), tuple(pedal), style, degradation)
