"""Humanization: MPC swing, micro-timing, velocity variation, snare ghost notes and metric accents.

Every function is pure (returns a new :class:`Pattern`, never touches its input) and seeded.

Swing follows the MPC definition: at resolution 16 (or 8) notes are grouped in pairs of 16ths (8ths)
counted from each bar line, and the off-beat note of each pair is played at S% of the pair's span;
50% is straight and 66.67% is the triplet position. Time inside a pair is warped piecewise-linearly,
so on-beat notes stay put, off-beat grid notes land exactly at S%, and finer notes (32nd rolls) move
proportionally. A pair that would cross a bar line (odd meters such as 7/8 at 8th resolution) is
left straight.

:func:`humanize` runs the whole chain **once**: it refuses a pattern whose ``humanized`` flag is set
(the flag survives MIDI files), because humanizing twice doubles swing, jitter and ghost notes. The
result is re-validated and any error raises instead of returning an unplayable pattern.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drum_gen import gm
from drum_gen.pattern import DrumNote, Pattern, metric_beats
from drum_gen.styles import StyleSpec, get_style
from drum_gen.validation import validate

SeedLike = int | np.random.Generator | None


HUMANIZE_ATTEMPTS = 8
"""Seeded re-draws tried when random jitter or ghost notes happen to crowd a chord past the limb limit."""


class HumanizeError(ValueError):
    """Invalid humanization parameters or input."""


class AlreadyHumanizedError(HumanizeError):
    """The pattern was humanized before; humanizing twice would double swing and jitter."""


def _rng(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _round(x: float) -> int:
    return math.floor(x + 0.5)


@dataclass(frozen=True)
class HumanizeConfig:
    """Parameters of the full chain; :meth:`from_style` reads them from a :class:`StyleSpec`."""

    swing_percent: float = 50.0
    swing_resolution: int = 16
    microtiming_ms: float = 0.0
    per_instrument_offsets_ms: Mapping[int, float] = field(default_factory=dict)
    velocity_variation: float = 0.0
    ghost_note_prob: float = 0.0
    ghost_velocity_range: tuple[int, int] = (20, 45)
    accent_strength: float = 0.0
    accent_pattern: tuple[float, ...] | None = None
    max_simultaneous: int = 4
    microtiming_clip_sigmas: float = 2.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "ghost_velocity_range", tuple(int(v) for v in self.ghost_velocity_range))
        if self.accent_pattern is not None:
            object.__setattr__(self, "accent_pattern", tuple(float(w) for w in self.accent_pattern))
        object.__setattr__(
            self,
            "per_instrument_offsets_ms",
            {int(k): float(v) for k, v in self.per_instrument_offsets_ms.items()},
        )
        _check_swing(self.swing_percent, self.swing_resolution)
        if self.microtiming_ms < 0 or self.microtiming_clip_sigmas <= 0:
            raise HumanizeError("microtiming_ms must be >= 0 and microtiming_clip_sigmas > 0")
        for name in ("velocity_variation", "ghost_note_prob", "accent_strength"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise HumanizeError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        lo, hi = self.ghost_velocity_range
        if not 1 <= lo <= hi <= 127:
            raise HumanizeError(f"ghost_velocity_range must satisfy 1 <= lo <= hi <= 127, got {(lo, hi)}")

    def __hash__(self) -> int:  # the offsets dict is not hashable
        return hash(repr(sorted(self.to_dict().items())))

    @classmethod
    def from_style(cls, style: StyleSpec | str) -> HumanizeConfig:
        spec = get_style(style)
        return cls(
            swing_percent=spec.swing_percent,
            swing_resolution=spec.swing_resolution,
            microtiming_ms=spec.microtiming_ms,
            per_instrument_offsets_ms=dict(spec.per_instrument_offsets_ms),
            velocity_variation=spec.velocity_variation,
            ghost_note_prob=spec.ghost_note_prob,
            accent_strength=spec.accent_strength,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["per_instrument_offsets_ms"] = {str(k): v for k, v in self.per_instrument_offsets_ms.items()}
        data["ghost_velocity_range"] = list(self.ghost_velocity_range)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HumanizeConfig:
        return cls(**dict(data))


def _check_swing(swing_percent: float, resolution: int) -> None:
    if not 0.0 < swing_percent < 100.0:
        raise HumanizeError(f"swing_percent must be in (0, 100) (50 = straight), got {swing_percent}")
    if resolution not in (8, 16):
        raise HumanizeError(f"swing resolution must be 8 or 16, got {resolution}")


def swing_step_ticks(ticks_per_beat: int, resolution: int) -> int:
    """Ticks of one grid step at swing ``resolution`` (8 -> an 8th, 16 -> a 16th)."""
    if (ticks_per_beat * 4) % resolution:
        raise HumanizeError(f"ticks_per_beat={ticks_per_beat} cannot express 1/{resolution} notes")
    return ticks_per_beat * 4 // resolution


def _merge(notes: Iterable[DrumNote]) -> list[DrumNote]:
    """Drop exact (time, pitch) collisions created by rounding, keeping the louder hit."""
    merged: dict[tuple[int, int], DrumNote] = {}
    for note in notes:
        key = (note.time, note.pitch)
        if key not in merged or note.velocity > merged[key].velocity:
            merged[key] = note
    return list(merged.values())


def _retime(pattern: Pattern, proposed: Sequence[int]) -> Pattern:
    """Move notes to ``proposed`` ticks while keeping every voice playable.

    Within a voice (a pitch; all hi-hat states count as one) notes keep their order and at least
    ``min(original gap, a 64th-note triplet)`` between them, and stay inside ``[0, length)`` when the
    length is declared. A forward pass enforces the lower bounds, a backward pass the upper ones;
    the original times satisfy both, so a solution always exists. This is what stops swing
    compression or jitter from creating duplicates, flams or open/closed hi-hat clashes.
    """
    cap = max(1, pattern.ticks_per_beat // 32)
    last = pattern.length_ticks - 1 if pattern.bars is not None else None
    new = [max(0, t) if last is None else min(max(0, t), last) for t in proposed]
    voices: dict[int, list[int]] = {}
    for i, note in enumerate(pattern.notes):
        voices.setdefault(gm.voice(note.pitch), []).append(i)
    for idx in voices.values():
        gaps = [min(pattern.notes[b].time - pattern.notes[a].time, cap) for a, b in itertools.pairwise(idx)]
        for k in range(1, len(idx)):
            new[idx[k]] = max(new[idx[k]], new[idx[k - 1]] + gaps[k - 1])
        if last is not None:
            new[idx[-1]] = min(new[idx[-1]], last)
            for k in range(len(idx) - 2, -1, -1):
                new[idx[k]] = min(new[idx[k]], new[idx[k + 1]] - gaps[k])
    notes = [dataclasses.replace(n, time=max(0, t)) for n, t in zip(pattern.notes, new, strict=True)]
    return pattern.with_notes(_merge(notes))


def apply_swing(pattern: Pattern, swing_percent: float, resolution: int = 16) -> Pattern:
    """MPC swing (see module docstring); 50% returns an equal pattern."""
    _check_swing(swing_percent, resolution)
    if swing_percent == 50.0:
        return pattern.with_notes(pattern.notes)
    step = swing_step_ticks(pattern.ticks_per_beat, resolution)
    span = 2 * step
    bar_ticks = pattern.ticks_per_bar
    off_beat = swing_percent / 100.0 * span
    times = []
    for note in pattern.notes:
        bar_start = note.time // bar_ticks * bar_ticks
        rel = note.time - bar_start
        pair = rel // span
        if (pair + 1) * span > bar_ticks:  # incomplete pair at the end of an odd bar: straight
            times.append(note.time)
            continue
        offset = rel - pair * span
        if offset <= step:
            warped = offset * off_beat / step
        else:
            warped = off_beat + (offset - step) * (span - off_beat) / step
        times.append(bar_start + pair * span + _round(warped))
    return _retime(pattern, times)


def instrument_offset_ms(pitch: int, offsets_ms: Mapping[int, float]) -> float:
    """The fixed offset (ms) that ``offsets_ms`` gives ``pitch``: by exact pitch, else by its drum class."""
    if pitch in offsets_ms:
        return offsets_ms[pitch]
    canonical = gm.CLASS_TO_PITCH[gm.PITCH_TO_CLASS[pitch]] if pitch in gm.PITCH_TO_CLASS else None
    return offsets_ms.get(canonical, 0.0) if canonical is not None else 0.0


def add_microtiming(
    pattern: Pattern,
    sigma_ms: float,
    *,
    seed: SeedLike = 0,
    per_instrument_offsets_ms: Mapping[int, float] | None = None,
    clip_sigmas: float = 2.5,
) -> Pattern:
    """Gaussian timing jitter (clipped at ``clip_sigmas``) plus fixed per-pitch offsets in ms.

    Offsets are looked up by exact pitch, then by the pitch's class (an offset for 38 also moves 40).
    Times never go negative or past the declared length, and each voice keeps its order and spacing
    (see :func:`_retime`), so jitter cannot create duplicate, reordered or clashing hits.
    """
    if sigma_ms < 0:
        raise HumanizeError(f"sigma_ms must be >= 0, got {sigma_ms}")
    offsets = dict(per_instrument_offsets_ms or {})
    rng = _rng(seed)
    jitter = (
        rng.normal(0.0, sigma_ms, size=len(pattern.notes)) if sigma_ms > 0 else np.zeros(len(pattern.notes))
    )
    if sigma_ms > 0:
        jitter = np.clip(jitter, -clip_sigmas * sigma_ms, clip_sigmas * sigma_ms)
    times = [
        _round(note.time + pattern.ms_to_ticks(float(jitter[i]) + instrument_offset_ms(note.pitch, offsets)))
        for i, note in enumerate(pattern.notes)
    ]
    return _retime(pattern, times)


def vary_velocity(pattern: Pattern, amount: float, *, seed: SeedLike = 0) -> Pattern:
    """Multiply each velocity by ``1 + N(0, amount)``, rounded and kept within 1-127."""
    if not 0.0 <= amount <= 1.0:
        raise HumanizeError(f"velocity variation must be in [0, 1], got {amount}")
    if amount == 0:
        return pattern.with_notes(pattern.notes)
    factors = 1.0 + _rng(seed).normal(0.0, amount, size=len(pattern.notes))
    notes = [
        dataclasses.replace(n, velocity=int(np.clip(_round(n.velocity * f), 1, 127)))
        for n, f in zip(pattern.notes, factors, strict=True)
    ]
    return pattern.with_notes(notes)


def add_ghost_notes(
    pattern: Pattern,
    probability: float,
    *,
    seed: SeedLike = 0,
    velocity_range: tuple[int, int] = (20, 45),
    pitch: int = gm.SNARE,
    max_simultaneous: int = 4,
) -> Pattern:
    """Quiet snare hits on the 'e' and 'a' 16ths (bar-relative) that have no snare nearby.

    A candidate is skipped when any snare-class note lies within half a 16th (so a ghost never
    duplicates or flams an existing hit) or when the position already holds ``max_simultaneous`` voices.
    """
    if not 0.0 <= probability <= 1.0:
        raise HumanizeError(f"ghost-note probability must be in [0, 1], got {probability}")
    lo, hi = velocity_range
    if not 1 <= lo <= hi <= 127:
        raise HumanizeError(f"ghost velocity_range must satisfy 1 <= lo <= hi <= 127, got {velocity_range}")
    if probability == 0 or pattern.num_bars == 0:
        return pattern.with_notes(pattern.notes)
    rng = _rng(seed)
    s16 = pattern.ticks_per_beat // 4
    snare_class = gm.SNARE_CLASS
    snare_times = np.array(
        sorted(n.time for n in pattern.notes if gm.PITCH_TO_CLASS.get(n.pitch) == snare_class), dtype=np.int64
    )
    window = max(1, pattern.ticks_per_beat // 16)
    all_times = np.array([n.time for n in pattern.notes], dtype=np.int64)
    ghosts = []
    for bar in range(pattern.num_bars):
        bar_start = bar * pattern.ticks_per_bar
        for rel in range(s16, pattern.ticks_per_bar, 2 * s16):  # odd 16ths: e and a
            tick = bar_start + rel
            if snare_times.size and np.min(np.abs(snare_times - tick)) < s16 / 2:
                continue
            if np.count_nonzero(np.abs(all_times - tick) <= window) >= max_simultaneous:
                continue
            if rng.random() < probability:
                velocity = int(rng.integers(lo, hi + 1))
                ghosts.append(DrumNote(tick, pitch, velocity, max(1, s16 // 2)))
    return pattern.with_notes((*pattern.notes, *ghosts))


def metric_weight(pattern: Pattern, tick: int) -> float:
    """+1 on the bar line, +0.5 on other felt beats, 0 on 8th off-beats, -0.5 elsewhere (meter aware)."""
    bar_ticks = pattern.ticks_per_bar
    rel = tick % bar_ticks
    tolerance = pattern.ticks_per_beat // 16
    if min(rel, bar_ticks - rel) <= tolerance:
        return 1.0
    for start, _ in metric_beats(pattern.time_signature, pattern.ticks_per_beat):
        if abs(rel - start) <= tolerance:
            return 0.5
    s8 = pattern.ticks_per_beat // 2
    if min(rel % s8, s8 - rel % s8) <= tolerance:
        return 0.0
    return -0.5


def apply_accents(
    pattern: Pattern,
    strength: float,
    *,
    classes: Iterable[int] = gm.TIMEKEEPER_CLASSES,
    accent_pattern: Sequence[float] | None = None,
) -> Pattern:
    """Scale velocities of time-keeping instruments by ``1 + strength * weight``.

    ``weight`` is :func:`metric_weight` by default; ``accent_pattern`` instead gives one weight per
    16th step, repeated from each bar line (e.g. ``(1, -0.5, 0, -0.5)`` accents every quarter, a
    3-long pattern gives cross-rhythmic accents). Notes off the 16th grid use the nearest step.
    """
    if not 0.0 <= strength <= 1.0:
        raise HumanizeError(f"accent strength must be in [0, 1], got {strength}")
    if accent_pattern is not None and (
        not accent_pattern or any(not -1.0 <= w <= 1.0 for w in accent_pattern)
    ):
        raise HumanizeError(
            f"accent_pattern must be a non-empty sequence of weights in [-1, 1], got {accent_pattern}"
        )
    if strength == 0:
        return pattern.with_notes(pattern.notes)
    accented = set(classes)
    s16 = pattern.ticks_per_beat / 4
    notes = []
    for note in pattern.notes:
        if gm.PITCH_TO_CLASS.get(note.pitch) in accented:
            if accent_pattern is None:
                weight = metric_weight(pattern, note.time)
            else:
                step = _round((note.time % pattern.ticks_per_bar) / s16)
                weight = accent_pattern[step % len(accent_pattern)]
            factor = 1.0 + strength * weight
            note = dataclasses.replace(note, velocity=int(np.clip(_round(note.velocity * factor), 1, 127)))
        notes.append(note)
    return pattern.with_notes(notes)


def trim_overlaps(pattern: Pattern) -> Pattern:
    """Shorten notes that would still sound when the same pitch is hit again."""
    next_onset: dict[int, int] = {}
    notes = []
    for note in reversed(pattern.notes):
        limit = next_onset.get(note.pitch)
        if limit is not None and note.end > limit:
            note = dataclasses.replace(note, duration=max(1, limit - note.time))
        notes.append(note)
        next_onset[note.pitch] = note.time
    return pattern.with_notes(notes)


def humanize(
    pattern: Pattern,
    style: StyleSpec | str | None = None,
    seed: int = 0,
    *,
    config: HumanizeConfig | None = None,
) -> Pattern:
    """Full chain, once: ghost notes -> accents -> swing -> micro-timing -> velocity -> re-validation.

    Ghost notes and accents are placed on the straight grid before swing so they swing with the
    groove. If the random draws crowd a chord past ``max_simultaneous``, the chain is re-drawn from
    ``(seed, attempt)`` (deterministic) up to :data:`HUMANIZE_ATTEMPTS` times before raising.
    Raises :class:`AlreadyHumanizedError` for a humanized input and
    :class:`~drum_gen.validation.PatternValidationError` for an invalid input or result.
    """
    if pattern.humanized:
        raise AlreadyHumanizedError(
            "pattern is already humanized; humanize a quantized pattern once "
            "(set humanized=False explicitly only if you really want to stack humanization)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HumanizeError(f"seed must be a non-negative integer, got {seed!r}")
    if config is None:
        if style is None:
            raise HumanizeError("humanize needs a style or a HumanizeConfig")
        config = HumanizeConfig.from_style(style)
    validate(pattern, max_simultaneous=config.max_simultaneous).raise_for_errors("input to humanize")
    report = None
    for attempt in range(HUMANIZE_ATTEMPTS):
        result = _humanize_once(pattern, config, np.random.default_rng([seed, attempt]))
        report = validate(result, max_simultaneous=config.max_simultaneous)
        if report.ok:
            return result
    assert report is not None
    report.raise_for_errors(f"humanized pattern (after {HUMANIZE_ATTEMPTS} seeded attempts)")
    raise AssertionError("unreachable")


def _humanize_once(pattern: Pattern, config: HumanizeConfig, rng: np.random.Generator) -> Pattern:
    result = add_ghost_notes(
        pattern,
        config.ghost_note_prob,
        seed=rng,
        velocity_range=config.ghost_velocity_range,
        max_simultaneous=config.max_simultaneous,
    )
    result = apply_accents(result, config.accent_strength, accent_pattern=config.accent_pattern)
    result = apply_swing(result, config.swing_percent, config.swing_resolution)
    result = add_microtiming(
        result,
        config.microtiming_ms,
        seed=rng,
        per_instrument_offsets_ms=config.per_instrument_offsets_ms,
        clip_sigmas=config.microtiming_clip_sigmas,
    )
    result = vary_velocity(result, config.velocity_variation, seed=rng)
    return trim_overlaps(result).replace(humanized=True)
