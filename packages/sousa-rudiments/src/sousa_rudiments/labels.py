"""Rows of the four label tables, built from a performance (column order = ``schema``).

Measures are pattern cycles. Their timing and velocity statistics use the cycle's primary strokes (graces
have deliberately low velocities and would swamp the spread); ``stroke_start``/``stroke_end`` delimit all of
the cycle's rows in the strokes table, graces included, as a half-open range ``[start, end)``.
``lr_velocity_ratio`` is mean L velocity / mean R velocity and ``lr_timing_diff_ms`` mean L error − mean R
error (literally left vs right, whatever the player's dominant hand); both are null when a hand is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .performance import Performance, StrokeEvent
from .profiles import PlayerProfile
from .schema import AUG_PREFIX, EXERCISES_SCHEMA, MEASURES_SCHEMA, SAMPLES_SCHEMA, STROKES_SCHEMA, SchemaError
from .scores import compute_exercise_scores

__all__ = ["exercise_row", "measure_rows", "sample_row", "stroke_rows"]


def stroke_rows(performance: Performance, sample_id: str) -> list[dict[str, Any]]:
    """One row per stroke (columns of ``STROKES_SCHEMA``)."""
    rows = []
    for s in performance.strokes:
        row = {
            "sample_id": sample_id,
            "index": s.index,
            "hand": s.hand,
            "stroke_type": s.stroke_type,
            "intended_time_ms": float(s.intended_time_ms),
            "actual_time_ms": float(s.actual_time_ms),
            "timing_error_ms": float(round(s.actual_time_ms - s.intended_time_ms, 3)),
            "intended_velocity": int(s.intended_velocity),
            "actual_velocity": int(s.actual_velocity),
            "velocity_error": int(s.actual_velocity - s.intended_velocity),
            "is_grace_note": bool(s.is_grace_note),
            "is_accent": bool(s.is_accent),
            "diddle_position": s.diddle_position,
            "flam_spacing_ms": s.flam_spacing_ms,
            "parent_stroke_index": s.parent_stroke_index,
            "buzz_count": s.buzz_count,
        }
        rows.append(row)
    assert all(list(r) == STROKES_SCHEMA.names for r in rows[:1])
    return rows


def _hand_means(strokes: list[StrokeEvent], hand: str) -> tuple[float, float] | None:
    chosen = [s for s in strokes if s.hand == hand]
    if not chosen:
        return None
    velocity = float(np.mean([s.actual_velocity for s in chosen]))
    error = float(np.mean([s.actual_time_ms - s.intended_time_ms for s in chosen]))
    return velocity, error


def measure_rows(performance: Performance, sample_id: str) -> list[dict[str, Any]]:
    """One row per pattern cycle (columns of ``MEASURES_SCHEMA``)."""
    rows = []
    for cycle in range(performance.num_cycles):
        members = [s for s in performance.strokes if s.cycle_index == cycle]
        primaries = [s for s in members if not s.is_grace_note]
        if not primaries:
            raise ValueError(f"cycle {cycle} of sample {sample_id!r} has no primary strokes")
        errors = np.array([s.actual_time_ms - s.intended_time_ms for s in primaries])
        velocities = np.array([s.actual_velocity for s in primaries], dtype=float)
        left, right = _hand_means(primaries, "L"), _hand_means(primaries, "R")
        velocity_mean = float(velocities.mean())
        velocity_std = float(velocities.std())
        rows.append(
            {
                "sample_id": sample_id,
                "index": cycle,
                "stroke_start": min(s.index for s in members),
                "stroke_end": max(s.index for s in members) + 1,
                "timing_mean_error_ms": float(errors.mean()),
                "timing_std_ms": float(errors.std()),
                "timing_max_error_ms": float(np.abs(errors).max()),
                "velocity_mean": velocity_mean,
                "velocity_std": velocity_std,
                "velocity_consistency": float(max(0.0, 1.0 - velocity_std / velocity_mean)),
                "lr_velocity_ratio": None if left is None or right is None else left[0] / right[0],
                "lr_timing_diff_ms": None if left is None or right is None else left[1] - right[1],
            }
        )
    assert all(list(r) == MEASURES_SCHEMA.names for r in rows[:1])
    return rows


def exercise_row(performance: Performance, profile: PlayerProfile, sample_id: str) -> dict[str, Any]:
    """The sample's exercise scores (columns of ``EXERCISES_SCHEMA``)."""
    scores = compute_exercise_scores(performance, profile)
    row: dict[str, Any] = {"sample_id": sample_id}
    row.update({name: scores[name] for name in EXERCISES_SCHEMA.names[1:]})
    return row


def sample_row(
    performance: Performance,
    profile: PlayerProfile,
    sample_id: str,
    *,
    midi_path: str | None = None,
    audio_path: str | None = None,
    soundfont: str | None = None,
    augmentation_preset: str | None = None,
    augmentation_group_id: str | None = None,
    performance_id: str | None = None,
    kit: str | None = None,
    kit_program: int | None = None,
    snare_note: int | None = None,
    sample_rate: int | None = None,
    aug_params: Mapping[str, float | str | None] | None = None,
) -> dict[str, Any]:
    """The sample's row of the samples table: the fixed columns, then ``aug_*`` parameters sorted by name.

    ``performance_id`` defaults to ``sample_id`` (a performance rendered once). An ``aug_*`` value of
    ``None`` (the effect was not applied) is kept as a null, so every row carries every column.
    """
    if performance.profile_id != profile.profile_id:
        raise ValueError(f"performance was played by {performance.profile_id!r}, not {profile.profile_id!r}")
    row: dict[str, Any] = {
        "sample_id": sample_id,
        "profile_id": profile.profile_id,
        "rudiment_slug": performance.rudiment_slug,
        "tempo_bpm": float(performance.tempo_bpm),
        "duration_sec": float(performance.duration_sec),
        "num_cycles": int(performance.num_cycles),
        "skill_tier": profile.skill_tier,
        "skill_tier_binary": profile.skill_tier_binary,
        "dominant_hand": profile.dominant_hand,
        "midi_path": midi_path,
        "audio_path": audio_path,
        "num_strokes": performance.num_strokes,
        "num_measures": int(performance.num_cycles),
        "soundfont": soundfont,
        "augmentation_preset": augmentation_preset,
        "augmentation_group_id": augmentation_group_id,
        "performance_id": sample_id if performance_id is None else performance_id,
        "kit": kit,
        "kit_program": None if kit_program is None else int(kit_program),
        "snare_note": None if snare_note is None else int(snare_note),
        "sample_rate": None if sample_rate is None else int(sample_rate),
    }
    assert list(row) == SAMPLES_SCHEMA.names
    params = dict(aug_params or {})
    for name in sorted(params):
        if not name.startswith(AUG_PREFIX) or len(name) == len(AUG_PREFIX):
            raise SchemaError(f"augmentation parameter {name!r} must be named 'aug_<effect>_<param>'")
        value = params[name]
        row[name] = value if value is None or isinstance(value, str) else float(value)
    return row
