"""Seeded generation of one performance of a rudiment by a player profile.

The model, stroke by stroke (all parameters from :class:`~sousa_rudiments.profiles.PlayerProfile`):

* **Grid.** Primary strokes sit on the rudiment's subdivision grid: ``lead_in_ms + (cycle * cycle_slots +
  slot) * slot_ms`` with ``slot_ms = 60000 / tempo / subdivision``. Grace notes take no slot: they are placed
  *before* their primary (the original SOUSA generator gave them a slot of their own, leaving gaps).
* **Timing.** Errors follow an AR(1) process whose marginal sd is ``timing_accuracy_ms`` times the tempo
  comfort penalty (+1% per BPM outside the comfort range) times ``1 + fatigue * progress``; the AR
  coefficient is ``timing_consistency`` (errors persist in streaks for weaker players). The weak hand is
  ``lr_timing_bias_ms`` late, and a per-performance drift (ms per second, sd ``tempo_drift_scale *
  timing_accuracy_ms``) adds a slow rush/drag. The second stroke of a diddle is timed from the first: its gap
  is the intended gap times ``N(1, 1 - diddle_evenness)``.
* **Graces.** A flam grace sits ``flam_spacing_ms`` (per flam ``N(spacing, flam_spacing_jitter * spacing)``)
  before its primary; drag graces are two strokes of the opposite hand, the second ``spacing`` before the
  primary and the first ``drag_spacing_factor * spacing`` earlier still.
* **Velocity.** Targets: accent 120, tap 65, diddle 75, buzz 70, grace 40. A written accent is played with
  probability ``accent_accuracy`` and then rises from the unaccented target by
  ``min(1, accent_differentiation / 16)`` of the way to 120. The weak hand plays at ``lr_velocity_ratio``,
  fatigue removes up to ``fatigue`` of the velocity by the end, unaccented roll strokes lose up to
  ``roll_sustain`` across a roll, the second diddle stroke is scaled by
  ``N(diddle_evenness, (1 - diddle_evenness) / 2)`` relative to the first (never inheriting its accent), and
  every stroke gets multiplicative noise with CV ``velocity_variance``. Velocities are clipped to 1–127.
* **Buzz.** A buzz stroke carries 3–8 sub-strokes 2–5 ms apart whose velocities decay by 0.85 each.
* **Physical order.** Finally, one pass in written order (graces before their primary) moves each stroke no
  earlier than ``min_order_gap_ms`` after the previous stroke, ``min_same_hand_gap_ms`` after the same hand's
  previous stroke and ``min_grace_gap_ms`` after its own graces. Noise therefore never reorders the sticking
  (the original could play R R in a single-stroke roll): a player too slow for the tempo comes out late and
  uneven instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

from .profiles import PlayerProfile
from .rudiments import Hand, Rudiment, RudimentStroke, get_rudiment

StrokeType = Literal["tap", "accent", "grace", "diddle", "buzz"]

__all__ = [
    "Performance",
    "PerformanceConfig",
    "StrokeEvent",
    "StrokeType",
    "default_num_cycles",
    "generate_performance",
    "roll_spans",
    "slot_duration_ms",
]


@dataclass(frozen=True)
class PerformanceConfig:
    """Constants of the performance model (velocities are MIDI 1–127, times in ms)."""

    accent_velocity: int = 120
    tap_velocity: int = 65
    diddle_velocity: int = 75
    buzz_velocity: int = 70
    grace_velocity: int = 40
    full_accent_differentiation: float = 16.0
    ideal_flam_spacing_ms: float = 30.0
    flam_spacing_jitter: float = 0.15
    drag_spacing_factor: float = 0.6
    buzz_min_strokes: int = 3
    buzz_max_strokes: int = 8
    buzz_min_gap_ms: float = 2.0
    buzz_max_gap_ms: float = 5.0
    buzz_velocity_decay: float = 0.85
    tempo_drift_scale: float = 0.08
    target_beats: float = 16.0
    max_duration_sec: float = 12.0
    lead_in_ms: float = 250.0
    tail_ms: float = 300.0
    #: A stick has to lift again before its next stroke: even a fast double stroke is ~30 ms apart, so two
    #: strokes of one hand closer than 10 ms are physically impossible (buzz sub-strokes are bounces of one
    #: stroke and not bound by this).
    min_same_hand_gap_ms: float = 10.0
    #: A grace nearer than 5 ms to its primary is no longer a flam/drag but one "flat" stroke.
    min_grace_gap_ms: float = 5.0
    #: Consecutive strokes of the sticking (either hand) stay in written order, at least this far apart.
    min_order_gap_ms: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.buzz_min_strokes <= self.buzz_max_strokes:
            raise ValueError("need 1 <= buzz_min_strokes <= buzz_max_strokes")
        if not 0 < self.buzz_min_gap_ms <= self.buzz_max_gap_ms:
            raise ValueError("need 0 < buzz_min_gap_ms <= buzz_max_gap_ms")
        if self.target_beats <= 0 or self.max_duration_sec <= 0 or self.lead_in_ms < 0:
            raise ValueError("target_beats and max_duration_sec must be positive, lead_in_ms non-negative")
        if min(self.min_same_hand_gap_ms, self.min_grace_gap_ms, self.min_order_gap_ms) <= 0:
            raise ValueError("the minimum stroke gaps must be positive")

    def unaccented_velocity(self, kind: str) -> int:
        """Target velocity of an unaccented primary stroke of ``kind``."""
        return {"diddle": self.diddle_velocity, "buzz": self.buzz_velocity}.get(kind, self.tap_velocity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown PerformanceConfig fields: {sorted(unknown)}")
        return cls(**dict(data))


@dataclass
class StrokeEvent:
    """One played stroke (primary or grace). Times in ms from the start of the sample.

    ``buzz_offsets_ms``/``buzz_velocities`` list the sub-strokes of a buzz stroke for rendering (offsets from
    ``actual_time_ms``, the first is 0); empty for other strokes. ``flam_spacing_ms`` is set on graces
    (distance to their primary) and on primaries that carry graces (distance to the earliest grace).
    """

    index: int
    hand: Hand
    stroke_type: StrokeType
    intended_time_ms: float
    actual_time_ms: float
    intended_velocity: int
    actual_velocity: int
    is_grace_note: bool
    is_accent: bool
    diddle_position: int | None
    flam_spacing_ms: float | None
    parent_stroke_index: int | None
    buzz_count: int | None
    buzz_offsets_ms: tuple[float, ...] = ()
    buzz_velocities: tuple[int, ...] = ()
    cycle_index: int = 0

    @property
    def timing_error_ms(self) -> float:
        return self.actual_time_ms - self.intended_time_ms

    @property
    def velocity_error(self) -> int:
        return self.actual_velocity - self.intended_velocity

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["buzz_offsets_ms"] = list(self.buzz_offsets_ms)
        data["buzz_velocities"] = list(self.buzz_velocities)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrokeEvent:
        values = dict(data)
        values["buzz_offsets_ms"] = tuple(float(v) for v in values.get("buzz_offsets_ms", ()))
        values["buzz_velocities"] = tuple(int(v) for v in values.get("buzz_velocities", ()))
        return cls(**values)


@dataclass
class Performance:
    """A generated performance: strokes sorted by intended time (graces just before their primary)."""

    rudiment_slug: str
    profile_id: str
    tempo_bpm: float
    num_cycles: int
    strokes: list[StrokeEvent]
    duration_sec: float
    seed: int
    lead_in_ms: float = 0.0
    tempo_drift_ms_per_s: float = 0.0
    config: PerformanceConfig = field(default_factory=PerformanceConfig)

    @property
    def rudiment(self) -> Rudiment:
        return get_rudiment(self.rudiment_slug)

    @property
    def primary_strokes(self) -> list[StrokeEvent]:
        return [s for s in self.strokes if not s.is_grace_note]

    @property
    def num_strokes(self) -> int:
        return len(self.strokes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rudiment_slug": self.rudiment_slug,
            "profile_id": self.profile_id,
            "tempo_bpm": self.tempo_bpm,
            "num_cycles": self.num_cycles,
            "strokes": [s.to_dict() for s in self.strokes],
            "duration_sec": self.duration_sec,
            "seed": self.seed,
            "lead_in_ms": self.lead_in_ms,
            "tempo_drift_ms_per_s": self.tempo_drift_ms_per_s,
            "config": self.config.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Performance:
        values = dict(data)
        values["strokes"] = [StrokeEvent.from_dict(s) for s in values["strokes"]]
        values["config"] = PerformanceConfig.from_dict(values.get("config", {}))
        return cls(**values)


def slot_duration_ms(rudiment: Rudiment, tempo_bpm: float) -> float:
    """Length of one grid slot in ms."""
    return 60_000.0 / tempo_bpm / rudiment.subdivision


def default_num_cycles(rudiment: Rudiment, tempo_bpm: float, config: PerformanceConfig | None = None) -> int:
    """Cycles for about ``target_beats`` beats (4 bars of 4/4), capped at ``max_duration_sec``, at least 1."""
    config = config or PerformanceConfig()
    cycle_sec = rudiment.cycle_beats * 60.0 / tempo_bpm
    by_beats = round(config.target_beats / rudiment.cycle_beats)
    by_duration = math.floor(config.max_duration_sec / cycle_sec)
    return max(1, min(by_beats, by_duration))


@dataclass
class _Planned:
    """Internal mutable stroke while the performance is built."""

    hand: Hand
    stroke_type: StrokeType
    intended_time: float
    actual_time: float
    intended_velocity: int
    velocity: float
    is_grace: bool
    is_accent: bool
    diddle_position: int | None
    cycle_index: int
    order: int
    parent: _Planned | None = None
    graces: list[_Planned] = field(default_factory=list)
    buzz_offsets: tuple[float, ...] = ()
    unaccented_velocity: float = 0.0


def _validate(tempo_bpm: float, num_cycles: int | None, seed: int) -> None:
    if not (math.isfinite(tempo_bpm) and tempo_bpm > 0):
        raise ValueError(f"tempo_bpm must be a positive finite number, got {tempo_bpm}")
    if num_cycles is not None and num_cycles < 1:
        raise ValueError(f"num_cycles must be >= 1, got {num_cycles}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def roll_spans(intended_times_ms: list[float], accents: list[bool], slot_ms: float) -> list[list[int]]:
    """Indices of the roll spans among primary strokes (in time order) of a roll-family rudiment.

    A span is a run of unaccented primaries with no gap longer than one slot between them: accents and
    rests end a span, so continuous rolls (#1, #4–#6) form one span over the whole performance and released
    rolls (#7–#15) one span per cycle. Shared by the generator (roll decay) and the ``roll_sustain`` score.
    """
    spans: list[list[int]] = []
    current: list[int] = []
    previous_time: float | None = None
    for i, (time, accent) in enumerate(zip(intended_times_ms, accents, strict=True)):
        if accent or (previous_time is not None and time - previous_time > slot_ms * 1.01):
            if current:
                spans.append(current)
            current = []
        if not accent:
            current.append(i)
        previous_time = time
    if current:
        spans.append(current)
    return spans


def _roll_progress(
    rudiment: Rudiment, planned: list[tuple[RudimentStroke, _Planned]], slot_ms: float
) -> list[float]:
    """Position (0..1) of each unaccented roll stroke inside its roll span; 0 elsewhere."""
    progress = [0.0] * len(planned)
    if not rudiment.is_roll:
        return progress
    spans = roll_spans([p.intended_time for _, p in planned], [s.accent for s, _ in planned], slot_ms)
    for span in spans:
        for position, i in enumerate(span):
            progress[i] = position / (len(span) - 1) if len(span) > 1 else 0.0
    return progress


def _keep_physical_order(events: list[_Planned], config: PerformanceConfig) -> None:
    """Delay strokes (never advance them) so ``events``, in written order, obey the minimum gaps."""
    last_by_hand: dict[str, float] = {}
    previous: float | None = None
    for order, event in enumerate(events):  # intended order, graces before their parent
        event.order = order
        t = max(0.0, event.actual_time)
        if previous is not None:
            t = max(t, previous + config.min_order_gap_ms)
        if event.hand in last_by_hand:
            t = max(t, last_by_hand[event.hand] + config.min_same_hand_gap_ms)
        for grace in event.graces:
            t = max(t, grace.actual_time + config.min_grace_gap_ms)
        event.actual_time = t
        last_by_hand[event.hand] = previous = t


def generate_performance(
    rudiment: Rudiment,
    profile: PlayerProfile,
    tempo_bpm: float,
    num_cycles: int | None = None,
    seed: int = 0,
    config: PerformanceConfig | None = None,
) -> Performance:
    """Generate one seeded performance of ``rudiment`` by ``profile`` at ``tempo_bpm``.

    ``num_cycles=None`` picks :func:`default_num_cycles` (about four bars). The same arguments always give
    the same performance.
    """
    _validate(tempo_bpm, num_cycles, seed)
    config = config or PerformanceConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, rudiment.number, round(tempo_bpm * 1000)]))
    cycles = num_cycles if num_cycles is not None else default_num_cycles(rudiment, tempo_bpm, config)
    slot_ms = slot_duration_ms(rudiment, tempo_bpm)
    cycle_ms = rudiment.cycle_slots * slot_ms
    total_ms = cycles * cycle_ms
    lead_in = config.lead_in_ms
    weak = profile.weak_hand

    # Primary strokes on the grid.
    primaries: list[tuple[RudimentStroke, _Planned]] = []
    for cycle in range(cycles):
        lead = rudiment.lead_for_cycle(cycle, profile.dominant_hand)
        for stroke in rudiment.cycle(lead):
            intended = lead_in + (cycle * rudiment.cycle_slots + stroke.slot) * slot_ms
            base_velocity = config.unaccented_velocity(stroke.kind)
            primaries.append(
                (
                    stroke,
                    _Planned(
                        hand=stroke.hand,
                        stroke_type=stroke.kind,
                        intended_time=intended,
                        actual_time=intended,
                        intended_velocity=config.accent_velocity if stroke.accent else base_velocity,
                        velocity=float(base_velocity),
                        is_grace=False,
                        is_accent=stroke.accent,
                        diddle_position=stroke.diddle_position,
                        cycle_index=cycle,
                        order=0,
                    ),
                )
            )
    roll_progress = _roll_progress(rudiment, primaries, slot_ms)

    # Timing: AR(1) noise, weak-hand bias, drift; diddle second strokes timed from the first.
    penalty = profile.tempo_penalty(tempo_bpm)
    rho = profile.timing_consistency
    drift = float(rng.normal(0.0, config.tempo_drift_scale * profile.timing_accuracy_ms))
    error = 0.0
    previous: _Planned | None = None
    for i, (stroke, p) in enumerate(primaries):
        progress = (p.intended_time - lead_in) / total_ms
        sigma = profile.timing_accuracy_ms * penalty * (1.0 + profile.fatigue * progress)
        if stroke.diddle_position == 2 and previous is not None:
            gap = p.intended_time - previous.intended_time
            ratio = float(np.clip(rng.normal(1.0, 1.0 - profile.diddle_evenness), 0.3, 1.7))
            p.actual_time = previous.actual_time + gap * ratio
            error = p.actual_time - p.intended_time
        else:
            error = rho * error + math.sqrt(1.0 - rho**2) * sigma * float(rng.standard_normal())
            bias = profile.lr_timing_bias_ms if p.hand == weak else 0.0
            p.actual_time = p.intended_time + error + bias + drift * (p.intended_time - lead_in) / 1000.0

        # Velocity: level (accent lift) x scale (weak hand, fatigue, roll decay) x noise.
        level = p.velocity
        if stroke.accent and rng.random() < profile.accent_accuracy:
            height = min(1.0, profile.accent_differentiation / config.full_accent_differentiation)
            level += (config.accent_velocity - level) * height
        scale = profile.lr_velocity_ratio if p.hand == weak else 1.0
        scale *= (1.0 - profile.fatigue * progress) * (1.0 - profile.roll_sustain * roll_progress[i])
        if stroke.diddle_position == 2 and previous is not None:
            evenness = profile.diddle_evenness
            ratio = float(np.clip(rng.normal(evenness, (1.0 - evenness) / 2.0), 0.4, 1.2))
            noise = 1.0 + 0.5 * float(rng.normal(0.0, profile.velocity_variance))
            p.unaccented_velocity = previous.unaccented_velocity * ratio * noise
            p.velocity = p.unaccented_velocity * level / p.velocity
        else:
            noise = 1.0 + float(rng.normal(0.0, profile.velocity_variance))
            p.unaccented_velocity = p.velocity * scale * noise
            p.velocity = level * scale * noise
        if stroke.kind == "buzz":
            count = int(rng.integers(config.buzz_min_strokes, config.buzz_max_strokes + 1))
            gaps = rng.uniform(config.buzz_min_gap_ms, config.buzz_max_gap_ms, size=count - 1)
            p.buzz_offsets = (0.0, *(float(v) for v in np.cumsum(gaps)))
        previous = p

    # Grace notes before their primaries.
    events: list[_Planned] = []
    for stroke, p in primaries:
        if stroke.grace_notes:
            assert stroke.grace_hand is not None
            spacing = float(
                np.clip(
                    rng.normal(profile.flam_spacing_ms, config.flam_spacing_jitter * profile.flam_spacing_ms),
                    0.3 * profile.flam_spacing_ms,
                    2.0 * profile.flam_spacing_ms,
                )
            )
            for k in range(stroke.grace_notes, 0, -1):  # earliest grace first
                back = 1.0 + (k - 1) * config.drag_spacing_factor
                velocity = config.grace_velocity * (
                    profile.lr_velocity_ratio if stroke.grace_hand == weak else 1.0
                )
                velocity *= 1.0 + float(rng.normal(0.0, profile.velocity_variance))
                grace = _Planned(
                    hand=stroke.grace_hand,
                    stroke_type="grace",
                    intended_time=p.intended_time - config.ideal_flam_spacing_ms * back,
                    actual_time=p.actual_time - spacing * back,
                    intended_velocity=config.grace_velocity,
                    velocity=velocity,
                    is_grace=True,
                    is_accent=False,
                    diddle_position=None,
                    cycle_index=p.cycle_index,
                    order=0,
                    parent=p,
                )
                p.graces.append(grace)
                events.append(grace)
        events.append(p)

    _keep_physical_order(events, config)

    index_of = {id(event): i for i, event in enumerate(events)}
    strokes: list[StrokeEvent] = []
    for i, event in enumerate(events):
        actual_velocity = int(np.clip(round(event.velocity), 1, 127))
        spacing: float | None = None
        if event.parent is not None:
            spacing = event.parent.actual_time - event.actual_time
        elif event.graces:
            spacing = event.actual_time - event.graces[0].actual_time
        buzz_velocities: tuple[int, ...] = ()
        if event.buzz_offsets:
            buzz_velocities = tuple(
                int(max(1, round(actual_velocity * config.buzz_velocity_decay**k)))
                for k in range(len(event.buzz_offsets))
            )
        strokes.append(
            StrokeEvent(
                index=i,
                hand=event.hand,
                stroke_type=event.stroke_type,
                intended_time_ms=round(event.intended_time, 3),
                actual_time_ms=round(event.actual_time, 3),
                intended_velocity=event.intended_velocity,
                actual_velocity=actual_velocity,
                is_grace_note=event.is_grace,
                is_accent=event.is_accent,
                diddle_position=event.diddle_position,
                flam_spacing_ms=None if spacing is None else round(spacing, 3),
                parent_stroke_index=None if event.parent is None else index_of[id(event.parent)],
                buzz_count=len(event.buzz_offsets) if event.buzz_offsets else None,
                buzz_offsets_ms=tuple(round(v, 3) for v in event.buzz_offsets),
                buzz_velocities=buzz_velocities,
                cycle_index=event.cycle_index,
            )
        )
    last_end = max(s.actual_time_ms + (s.buzz_offsets_ms[-1] if s.buzz_offsets_ms else 0.0) for s in strokes)
    duration_sec = (max(lead_in + total_ms, last_end) + config.tail_ms) / 1000.0
    return Performance(
        rudiment_slug=rudiment.slug,
        profile_id=profile.profile_id,
        tempo_bpm=float(tempo_bpm),
        num_cycles=cycles,
        strokes=strokes,
        duration_sec=round(duration_sec, 6),
        seed=seed,
        lead_in_ms=lead_in,
        tempo_drift_ms_per_s=drift,
        config=config,
    )
