"""The drum ``Pattern``: immutable notes in ticks plus tempo and time signature, with MIDI I/O.

Ticks count from the start of the pattern; ``ticks_per_beat`` is the MIDI resolution, i.e. ticks per
*quarter note* whatever the time signature (a 6/8 bar is 3 quarters = 1440 ticks at 480). Patterns are
frozen so that pure transformations (humanization, quantization) can never mutate their input.
MIDI is read and written with symusic on channel 10 with tempo and time-signature meta events.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import symusic
from shared_audio_core.files import atomic_output

from drum_gen.gm import CLASS_TO_PITCH, pitch_to_class

HUMANIZED_MARKER = "drum_gen:humanized"
"""MIDI marker text that records that a file's pattern was humanized (so it is never humanized twice)."""

VALID_DENOMINATORS = (1, 2, 4, 8, 16, 32)


class PatternError(ValueError):
    """A note or pattern that cannot be represented as a MIDI drum pattern."""


class NoDrumTrackError(PatternError):
    """A MIDI file without any drum (channel 10) track."""


def _as_int(value: Any, name: str) -> int:
    """Accept Python/numpy integers and integral floats (tensor.item() output); reject anything else."""
    if isinstance(value, bool):
        raise PatternError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    raise PatternError(f"{name} must be an integer, got {value!r}")


@dataclass(frozen=True, slots=True, order=True)
class DrumNote:
    """One drum hit. Times in ticks; ``velocity`` 1-127 (0 would be a MIDI note-off)."""

    time: int
    pitch: int
    velocity: int
    duration: int = 60

    def __post_init__(self) -> None:
        for name in ("time", "pitch", "velocity", "duration"):
            object.__setattr__(self, name, _as_int(getattr(self, name), f"DrumNote.{name}"))
        if self.time < 0:
            raise PatternError(f"DrumNote.time must be >= 0, got {self.time}")
        if not 0 <= self.pitch <= 127:
            raise PatternError(f"DrumNote.pitch must be in 0..127, got {self.pitch}")
        if not 1 <= self.velocity <= 127:
            raise PatternError(f"DrumNote.velocity must be in 1..127, got {self.velocity}")
        if self.duration < 1:
            raise PatternError(f"DrumNote.duration must be >= 1 tick, got {self.duration}")

    @property
    def end(self) -> int:
        return self.time + self.duration

    def to_dict(self) -> dict[str, int]:
        return {"time": self.time, "pitch": self.pitch, "velocity": self.velocity, "duration": self.duration}


def ticks_per_bar_for(time_signature: tuple[int, int], ticks_per_beat: int) -> int:
    """Bar length in ticks; ``ticks_per_beat`` is per quarter note."""
    numerator, denominator = time_signature
    return numerator * ticks_per_beat * 4 // denominator


def metric_beats(time_signature: tuple[int, int], ticks_per_beat: int) -> tuple[tuple[int, int], ...]:
    """``(start, length)`` in ticks of each felt beat of one bar.

    Simple meters beat on the denominator (3/4 -> three quarters); compound meters (6/8, 9/8, 12/8,
    also x/16) group three denominators per beat; other x/8 meters group in twos with a final three
    (5/8 = 2+3, 7/8 = 2+2+3), which is how they are usually counted.
    """
    numerator, denominator = time_signature
    unit = ticks_per_beat * 4 // denominator
    if denominator >= 8 and numerator % 3 == 0 and numerator > 3:
        groups = [3] * (numerator // 3)
    elif denominator >= 8 and numerator > 3:
        groups = [2] * (numerator // 2 - 1) + ([3] if numerator % 2 else [2])
    else:
        groups = [1] * numerator
    beats = []
    start = 0
    for group in groups:
        beats.append((start, group * unit))
        start += group * unit
    return tuple(beats)


def _check_meter(tempo_bpm: float, time_signature: tuple[int, int], ticks_per_beat: int) -> None:
    if not (isinstance(tempo_bpm, int | float) and math.isfinite(tempo_bpm) and tempo_bpm > 0):
        raise PatternError(f"tempo_bpm must be a positive finite number, got {tempo_bpm!r}")
    if len(time_signature) != 2:
        raise PatternError(f"time_signature must be (numerator, denominator), got {time_signature!r}")
    numerator, denominator = time_signature
    if not (isinstance(numerator, int) and numerator >= 1):
        raise PatternError(f"time signature numerator must be a positive integer, got {numerator!r}")
    if denominator not in VALID_DENOMINATORS:
        raise PatternError(
            f"time signature denominator must be one of {VALID_DENOMINATORS}, got {denominator!r}"
        )
    if not (isinstance(ticks_per_beat, int) and ticks_per_beat > 0):
        raise PatternError(f"ticks_per_beat must be a positive integer, got {ticks_per_beat!r}")
    if (ticks_per_beat * 4) % denominator:
        raise PatternError(
            f"ticks_per_beat={ticks_per_beat} cannot express 1/{denominator} notes in whole ticks"
        )


@dataclass(frozen=True)
class Pattern:
    """An immutable drum pattern.

    ``notes`` are kept sorted by (time, pitch). ``bars`` optionally fixes the length (so trailing empty
    bars of a sparse groove are not lost); otherwise it is inferred from the last onset. ``humanized``
    records that timing/velocity humanization was applied, so it is never applied twice.
    """

    notes: tuple[DrumNote, ...]
    tempo_bpm: float
    time_signature: tuple[int, int] = (4, 4)
    ticks_per_beat: int = 480
    bars: int | None = None
    humanized: bool = False

    def __post_init__(self) -> None:
        notes = tuple(self.notes)
        for note in notes:
            if not isinstance(note, DrumNote):
                raise PatternError(f"Pattern.notes must contain DrumNote objects, got {type(note).__name__}")
        object.__setattr__(self, "notes", tuple(sorted(notes, key=lambda n: (n.time, n.pitch))))
        object.__setattr__(
            self, "time_signature", tuple(_as_int(x, "time_signature") for x in self.time_signature)
        )
        object.__setattr__(self, "ticks_per_beat", _as_int(self.ticks_per_beat, "ticks_per_beat"))
        if self.bars is not None:
            object.__setattr__(self, "bars", _as_int(self.bars, "bars"))
        object.__setattr__(self, "humanized", bool(self.humanized))
        if not isinstance(self.tempo_bpm, numbers.Real):
            raise PatternError(f"tempo_bpm must be a positive finite number, got {self.tempo_bpm!r}")
        object.__setattr__(self, "tempo_bpm", float(self.tempo_bpm))
        _check_meter(self.tempo_bpm, self.time_signature, self.ticks_per_beat)
        if self.bars is not None and (not isinstance(self.bars, int) or self.bars < 1):
            raise PatternError(f"bars must be a positive integer or None, got {self.bars!r}")

    # ----------------------------------------------------------------- geometry
    @property
    def ticks_per_bar(self) -> int:
        return ticks_per_bar_for(self.time_signature, self.ticks_per_beat)

    @property
    def num_bars(self) -> int:
        """Declared ``bars`` or enough bars to hold the last onset (0 for an empty, unsized pattern)."""
        if self.bars is not None:
            return self.bars
        if not self.notes:
            return 0
        return self.notes[-1].time // self.ticks_per_bar + 1

    @property
    def length_ticks(self) -> int:
        return self.num_bars * self.ticks_per_bar

    @property
    def seconds_per_tick(self) -> float:
        return 60.0 / (self.tempo_bpm * self.ticks_per_beat)

    @property
    def duration_seconds(self) -> float:
        return self.length_ticks * self.seconds_per_tick

    def ms_to_ticks(self, milliseconds: float) -> float:
        """Convert a duration in ms to (fractional) ticks at this pattern's tempo."""
        return milliseconds / 1000.0 / self.seconds_per_tick

    def ticks_to_seconds(self, ticks: float) -> float:
        return ticks * self.seconds_per_tick

    def beat_positions(self) -> tuple[int, ...]:
        """Absolute tick of every felt beat (see :func:`metric_beats`) over the pattern's bars."""
        beats = metric_beats(self.time_signature, self.ticks_per_beat)
        return tuple(bar * self.ticks_per_bar + start for bar in range(self.num_bars) for start, _ in beats)

    # ----------------------------------------------------------------- transformations (pure)
    def with_notes(self, notes: Iterable[DrumNote]) -> Pattern:
        return dataclasses.replace(self, notes=tuple(notes))

    def replace(self, **changes: Any) -> Pattern:
        return dataclasses.replace(self, **changes)

    def quantized(self, steps_per_beat: int = 4) -> Pattern:
        """Snap onsets to a grid of ``steps_per_beat`` steps per quarter; merge hits that collide (max velocity)."""
        if steps_per_beat < 1 or self.ticks_per_beat % steps_per_beat:
            raise PatternError(
                f"steps_per_beat={steps_per_beat} does not divide ticks_per_beat={self.ticks_per_beat}"
            )
        step = self.ticks_per_beat // steps_per_beat
        merged: dict[tuple[int, int], DrumNote] = {}
        for note in self.notes:
            time = math.floor(note.time / step + 0.5) * step
            key = (time, note.pitch)
            previous = merged.get(key)
            if previous is None or note.velocity > previous.velocity:
                merged[key] = dataclasses.replace(note, time=time)
        return self.with_notes(merged.values())

    def reduced_to_classes(self) -> Pattern:
        """Map every pitch to the canonical pitch of its 9-class bucket, merging collisions (max velocity)."""
        merged: dict[tuple[int, int], DrumNote] = {}
        for note in self.notes:
            pitch = CLASS_TO_PITCH[pitch_to_class(note.pitch)]
            key = (note.time, pitch)
            previous = merged.get(key)
            if previous is None or note.velocity > previous.velocity:
                merged[key] = dataclasses.replace(note, pitch=pitch)
        return self.with_notes(merged.values())

    def slice_bars(self, start: int, stop: int) -> Pattern:
        """Bars ``[start, stop)`` as a new pattern starting at tick 0 with ``bars = stop - start``."""
        if not 0 <= start < stop:
            raise PatternError(f"invalid bar slice [{start}, {stop})")
        lo, hi = start * self.ticks_per_bar, stop * self.ticks_per_bar
        notes = [dataclasses.replace(n, time=n.time - lo) for n in self.notes if lo <= n.time < hi]
        return dataclasses.replace(self, notes=tuple(notes), bars=stop - start)

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": [n.to_dict() for n in self.notes],
            "tempo_bpm": self.tempo_bpm,
            "time_signature": list(self.time_signature),
            "ticks_per_beat": self.ticks_per_beat,
            "bars": self.bars,
            "humanized": self.humanized,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pattern:
        return cls(
            notes=tuple(DrumNote(**n) for n in data["notes"]),
            tempo_bpm=data["tempo_bpm"],
            time_signature=tuple(data.get("time_signature", (4, 4))),
            ticks_per_beat=data.get("ticks_per_beat", 480),
            bars=data.get("bars"),
            humanized=data.get("humanized", False),
        )

    def to_score(self, track_name: str = "Drums") -> symusic.Score:
        """A symusic score with one drum track (written on channel 10), tempo and time-signature meta."""
        score = symusic.Score(self.ticks_per_beat)
        score.tempos.append(symusic.Tempo(0, qpm=self.tempo_bpm))
        score.time_signatures.append(symusic.TimeSignature(0, *self.time_signature))
        if self.humanized:
            score.markers.append(symusic.TextMeta(0, HUMANIZED_MARKER))
        track = symusic.Track(track_name, program=0, is_drum=True)
        for note in self.notes:
            track.notes.append(symusic.Note(note.time, note.duration, note.pitch, note.velocity))
        score.tracks.append(track)
        return score

    @classmethod
    def from_score(
        cls,
        score: symusic.Score,
        *,
        ticks_per_beat: int | None = None,
        include_non_drum: bool = False,
        bars: int | None = None,
    ) -> Pattern:
        """Merge the drum tracks of ``score``; first tempo and time signature win (defaults 120 bpm, 4/4).

        ``ticks_per_beat`` resamples to another resolution; ``include_non_drum`` also takes tracks not
        flagged as drums (for files that put percussion on a wrong channel).
        """
        if "Tick" not in str(score.ttype):
            score = score.to("tick")
        if ticks_per_beat is not None and ticks_per_beat != score.ticks_per_quarter:
            score = score.resample(ticks_per_beat, min_dur=1)
        tracks: Sequence[Any] = [t for t in score.tracks if t.is_drum or include_non_drum]
        if not tracks:
            raise NoDrumTrackError(
                f"score has no drum track ({len(score.tracks)} tracks, none on channel 10); "
                "pass include_non_drum=True to read melodic tracks as drums"
            )
        notes = [
            DrumNote(int(n.time), int(n.pitch), max(1, min(127, int(n.velocity))), max(1, int(n.duration)))
            for track in tracks
            for n in track.notes
            if n.velocity > 0
        ]
        tempo = round(float(score.tempos[0].qpm), 3) if len(score.tempos) else 120.0
        if len(score.time_signatures):
            ts = score.time_signatures[0]
            time_signature = (int(ts.numerator), int(ts.denominator))
        else:
            time_signature = (4, 4)
        humanized = any(m.text == HUMANIZED_MARKER for m in score.markers)
        return cls(
            notes=tuple(notes),
            tempo_bpm=tempo,
            time_signature=time_signature,
            ticks_per_beat=int(score.ticks_per_quarter),
            bars=bars,
            humanized=humanized,
        )

    def write_midi(self, path: str | Path) -> Path:
        """Write a standard MIDI file (parents created) all or nothing; returns the path.

        The file appears only once complete (written to a temporary sibling, then renamed), so an
        interrupted write never leaves a truncated ``.mid`` that a DAW would choke on.
        """
        path = Path(path)
        if path.is_dir():
            raise PatternError(
                f"cannot write MIDI to {path}: it is a directory; give a file name such as {path / 'groove.mid'}"
            )
        score = self.to_score()
        with atomic_output(path) as tmp:
            try:
                score.dump_midi(str(tmp))
            except RuntimeError as err:
                raise PatternError(f"cannot write MIDI file {path}: {err}") from err
        return path

    @classmethod
    def read_midi(cls, path: str | Path, **kwargs: Any) -> Pattern:
        """Read a MIDI file (see :meth:`from_score` for options); errors name the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"MIDI file not found: {path}")
        try:
            score = symusic.Score(str(path))
        except Exception as exc:
            raise PatternError(f"could not parse MIDI file {path}: {exc}") from exc
        try:
            return cls.from_score(score, **kwargs)
        except PatternError as exc:
            raise type(exc)(f"{path}: {exc}") from exc


def empty_pattern(
    tempo_bpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    ticks_per_beat: int = 480,
    bars: int | None = 1,
) -> Pattern:
    return Pattern((), tempo_bpm, time_signature, ticks_per_beat, bars)
