"""Exercise scores (0–100) of a performance, computed from its strokes as a judge would.

Scores use primary strokes (graces excluded) unless noted; timing errors are ``actual - intended`` in ms.
A score that does not apply to the rudiment (no accents, flams, diddles or roll) is ``None`` (null in
parquet), never NaN, and is left out of ``overall_score``.

* ``timing_accuracy`` = logistic of mean |error|, midpoint 25 ms, scale 10 ms; ``timing_consistency`` =
  logistic of the error sd, midpoint 15 ms, scale 8 ms. Both are the reference logistics normalised so a
  perfect performance scores 100 (the raw ``100/(1+e^((x-c)/k))`` tops out at 92.4 and 86.7).
* ``tempo_stability`` = 100 − 10·|slope| of the least-squares line of error (ms) against time (s).
* ``subdivision_evenness`` = 100 − 100·sd(actual IOI / intended IOI) between consecutive primaries.
* ``velocity_control`` = 100 − 2·(pooled sd of velocity within groups of equal stroke type, accent and hand).
* ``accent_differentiation`` = 100·(played accent − non-accent velocity gap) / (intended gap).
* ``accent_accuracy`` = % of written accents louder than the mean velocity of all primaries.
* ``hand_balance`` = mean of 100·min/max of the hands' mean velocities and 100·(1 − |L−R mean error|/50 ms).
* ``weak_hand_index`` = 100·min(1, weak/dominant mean velocity) / (1 + |weak − dominant mean error| / 25 ms),
  the weak hand being the profile's non-dominant hand.
* ``flam_quality`` = mean over flams of 100 inside 20–40 ms grace spacing, falling linearly to 0 at 30 ms
  outside that window.
* ``diddle_quality`` = 100 − 200·mean|ratio − 1| where each diddle contributes the mean of its velocity ratio
  (second/first) and timing ratio (played gap / intended gap) deviations.
* ``roll_sustain`` = 100 − 200·mean velocity loss from the first to the second half of each roll span of at
  least four strokes (roll family only).
* ``overall_score`` = weighted mean of the applicable scores (timing accuracy .2, consistency .15, hand
  balance .15, every other score .1).
* ``tier_confidence`` (0–1) = posterior probability of the profile's tier, with equal priors, given three
  measured statistics (timing error sd, weak/dominant velocity ratio, mean flam spacing when there are flams)
  under each tier's parameter distributions: low values flag performances that look like another tier.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from .performance import Performance, StrokeEvent, roll_spans, slot_duration_ms
from .profiles import COMFORT_PENALTY_PER_BPM, SKILL_TIERS, TIER_PARAMETERS, TIER_TEMPO_COMFORT, PlayerProfile

__all__ = [
    "OVERALL_WEIGHTS",
    "SCORE_NAMES",
    "compute_exercise_scores",
    "normalized_logistic",
    "tier_posterior",
]

SCORE_NAMES: tuple[str, ...] = (
    "timing_accuracy",
    "timing_consistency",
    "tempo_stability",
    "subdivision_evenness",
    "velocity_control",
    "accent_differentiation",
    "accent_accuracy",
    "hand_balance",
    "weak_hand_index",
    "flam_quality",
    "diddle_quality",
    "roll_sustain",
)
OVERALL_WEIGHTS: dict[str, float] = {
    name: {"timing_accuracy": 0.2, "timing_consistency": 0.15, "hand_balance": 0.15}.get(name, 0.1)
    for name in SCORE_NAMES
}


def _clip(value: float) -> float:
    return float(min(100.0, max(0.0, value)))


def normalized_logistic(x: float, midpoint: float, scale: float) -> float:
    """``100/(1+e^((x-midpoint)/scale))`` rescaled so that ``x = 0`` gives exactly 100."""
    return _clip(100.0 * (1.0 + math.exp(-midpoint / scale)) / (1.0 + math.exp((x - midpoint) / scale)))


def _errors(strokes: list[StrokeEvent]) -> np.ndarray:
    return np.array([s.actual_time_ms - s.intended_time_ms for s in strokes], dtype=float)


def _velocities(strokes: list[StrokeEvent]) -> np.ndarray:
    return np.array([s.actual_velocity for s in strokes], dtype=float)


def _tempo_stability(primaries: list[StrokeEvent], errors: np.ndarray) -> float:
    times_s = np.array([s.intended_time_ms for s in primaries]) / 1000.0
    if len(primaries) < 3 or np.ptp(times_s) == 0:
        return 100.0
    slope = float(np.polyfit(times_s, errors, 1)[0])
    return _clip(100.0 - 10.0 * abs(slope))


def _subdivision_evenness(primaries: list[StrokeEvent]) -> float:
    ratios = []
    for a, b in pairwise(primaries):
        intended = b.intended_time_ms - a.intended_time_ms
        if intended > 0:
            ratios.append((b.actual_time_ms - a.actual_time_ms) / intended)
    if len(ratios) < 2:
        return 100.0
    return _clip(100.0 - 100.0 * float(np.std(ratios)))


def _velocity_control(primaries: list[StrokeEvent]) -> float:
    groups: dict[tuple[str, bool, str], list[float]] = {}
    for s in primaries:
        groups.setdefault((s.stroke_type, s.is_accent, s.hand), []).append(float(s.actual_velocity))
    squares = sum(float(np.sum((np.array(v) - np.mean(v)) ** 2)) for v in groups.values())
    dof = sum(len(v) for v in groups.values()) - len(groups)
    if dof <= 0:
        return 100.0
    return _clip(100.0 - 2.0 * math.sqrt(squares / dof))


def _accent_scores(primaries: list[StrokeEvent]) -> tuple[float | None, float | None]:
    accents = [s for s in primaries if s.is_accent]
    others = [s for s in primaries if not s.is_accent]
    if not accents or not others:
        return None, None
    intended_gap = np.mean([s.intended_velocity for s in accents]) - np.mean(
        [s.intended_velocity for s in others]
    )
    played_gap = _velocities(accents).mean() - _velocities(others).mean()
    differentiation = _clip(100.0 * played_gap / intended_gap) if intended_gap > 0 else None
    overall_mean = _velocities(primaries).mean()
    accuracy = 100.0 * float(np.mean(_velocities(accents) > overall_mean))
    return differentiation, accuracy


def _hand_stats(primaries: list[StrokeEvent], hand: str) -> tuple[float, float] | None:
    strokes = [s for s in primaries if s.hand == hand]
    if not strokes:
        return None
    return float(_velocities(strokes).mean()), float(_errors(strokes).mean())


def _graces_by_parent(performance: Performance) -> dict[int, list[StrokeEvent]]:
    graces: dict[int, list[StrokeEvent]] = {}
    for stroke in performance.strokes:
        if stroke.is_grace_note and stroke.parent_stroke_index is not None:
            graces.setdefault(stroke.parent_stroke_index, []).append(stroke)
    return graces


def _flam_spacings(performance: Performance) -> list[float]:
    """Played grace-to-primary distance of every flam (one grace; drags excluded)."""
    by_index = {s.index: s for s in performance.strokes}
    return [
        by_index[parent].actual_time_ms - graces[0].actual_time_ms
        for parent, graces in _graces_by_parent(performance).items()
        if len(graces) == 1
    ]


def _flam_quality(performance: Performance) -> float | None:
    qualities = []
    for spacing in _flam_spacings(performance):
        outside = max(0.0, 20.0 - spacing, spacing - 40.0)
        qualities.append(100.0 * max(0.0, 1.0 - outside / 30.0))
    return float(np.mean(qualities)) if qualities else None


def _diddle_quality(primaries: list[StrokeEvent]) -> float | None:
    deviations = []
    for first, second in pairwise(primaries):
        if first.diddle_position == 1 and second.diddle_position == 2 and first.hand == second.hand:
            velocity_ratio = second.actual_velocity / first.actual_velocity
            intended_gap = second.intended_time_ms - first.intended_time_ms
            timing_ratio = (second.actual_time_ms - first.actual_time_ms) / intended_gap
            deviations.append((abs(velocity_ratio - 1.0) + abs(timing_ratio - 1.0)) / 2.0)
    return _clip(100.0 - 200.0 * float(np.mean(deviations))) if deviations else None


def _roll_sustain(performance: Performance, primaries: list[StrokeEvent]) -> float | None:
    rudiment = performance.rudiment
    if not rudiment.is_roll:
        return None
    spans = roll_spans(
        [s.intended_time_ms for s in primaries],
        [s.is_accent for s in primaries],
        slot_duration_ms(rudiment, performance.tempo_bpm),
    )
    losses = []
    for span in spans:
        if len(span) < 4:
            continue
        velocities = _velocities([primaries[i] for i in span])
        half = len(velocities) // 2
        first, second = velocities[:half].mean(), velocities[-half:].mean()
        losses.append(max(0.0, 1.0 - second / first))
    return _clip(100.0 - 200.0 * float(np.mean(losses))) if losses else None


def _gaussian_logpdf(x: float, mean: float, sd: float) -> float:
    return -0.5 * ((x - mean) / sd) ** 2 - math.log(sd)


def tier_posterior(
    timing_sd_ms: float, weak_velocity_ratio: float | None, flam_spacing_ms: float | None, tempo_bpm: float
) -> dict[str, float]:
    """Posterior over tiers (equal priors) of three measured statistics under the tier distributions.

    Each tier's expected timing sd is its ``timing_accuracy_ms`` times its own tempo comfort penalty at
    ``tempo_bpm``; spreads are widened by measurement noise (25% of the timing mean, 0.05 ratio, 5 ms).
    """
    log_likelihoods = {}
    for tier in SKILL_TIERS:
        low, high = TIER_TEMPO_COMFORT[tier]
        penalty = 1.0 + COMFORT_PENALTY_PER_BPM * max(0.0, low - tempo_bpm, tempo_bpm - high)
        mean, sd = TIER_PARAMETERS["timing_accuracy_ms"][tier]
        total = _gaussian_logpdf(timing_sd_ms, mean * penalty, math.hypot(sd, 0.25 * mean) * penalty)
        if weak_velocity_ratio is not None:
            mean, sd = TIER_PARAMETERS["lr_velocity_ratio"][tier]
            total += _gaussian_logpdf(weak_velocity_ratio, mean, math.hypot(sd, 0.05))
        if flam_spacing_ms is not None:
            mean, sd = TIER_PARAMETERS["flam_spacing_ms"][tier]
            total += _gaussian_logpdf(flam_spacing_ms, mean, math.hypot(sd, 5.0))
        log_likelihoods[tier] = total
    peak = max(log_likelihoods.values())
    weights = {tier: math.exp(value - peak) for tier, value in log_likelihoods.items()}
    norm = sum(weights.values())
    return {tier: weight / norm for tier, weight in weights.items()}


def compute_exercise_scores(performance: Performance, profile: PlayerProfile) -> dict[str, float | None]:
    """All exercise scores of ``performance`` (keys ``SCORE_NAMES``, ``overall_score``, ``tier_confidence``)."""
    if performance.profile_id != profile.profile_id:
        raise ValueError(
            f"performance was played by {performance.profile_id!r}, not by profile {profile.profile_id!r}"
        )
    primaries = performance.primary_strokes
    if len(primaries) < 2:
        raise ValueError(f"need at least 2 primary strokes to score a performance, got {len(primaries)}")
    errors = _errors(primaries)
    scores: dict[str, float | None] = {
        "timing_accuracy": normalized_logistic(float(np.mean(np.abs(errors))), 25.0, 10.0),
        "timing_consistency": normalized_logistic(float(np.std(errors)), 15.0, 8.0),
        "tempo_stability": _tempo_stability(primaries, errors),
        "subdivision_evenness": _subdivision_evenness(primaries),
        "velocity_control": _velocity_control(primaries),
    }
    scores["accent_differentiation"], scores["accent_accuracy"] = _accent_scores(primaries)

    dominant = _hand_stats(primaries, profile.dominant_hand)
    weak = _hand_stats(primaries, profile.weak_hand)
    weak_ratio: float | None = None
    if dominant is None or weak is None:
        scores["hand_balance"] = scores["weak_hand_index"] = None
    else:
        (v_dom, e_dom), (v_weak, e_weak) = dominant, weak
        weak_ratio = v_weak / v_dom
        velocity_balance = 100.0 * min(v_dom, v_weak) / max(v_dom, v_weak)
        timing_balance = 100.0 * max(0.0, 1.0 - abs(e_weak - e_dom) / 50.0)
        scores["hand_balance"] = _clip((velocity_balance + timing_balance) / 2.0)
        scores["weak_hand_index"] = _clip(100.0 * min(1.0, weak_ratio) / (1.0 + abs(e_weak - e_dom) / 25.0))

    scores["flam_quality"] = _flam_quality(performance)
    scores["diddle_quality"] = _diddle_quality(primaries)
    scores["roll_sustain"] = _roll_sustain(performance, primaries)

    applicable = {name: value for name, value in scores.items() if value is not None}
    total_weight = sum(OVERALL_WEIGHTS[name] for name in applicable)
    scores["overall_score"] = sum(OVERALL_WEIGHTS[n] * v for n, v in applicable.items()) / total_weight

    flam_spacings = _flam_spacings(performance)
    times_s = np.array([s.intended_time_ms for s in primaries]) / 1000.0
    detrended = (
        errors - np.polyval(np.polyfit(times_s, errors, 1), times_s) if len(primaries) >= 3 else errors
    )
    posterior = tier_posterior(
        float(np.std(detrended)),
        weak_ratio,
        float(np.mean(flam_spacings)) if flam_spacings else None,
        performance.tempo_bpm,
    )
    scores["tier_confidence"] = posterior[profile.skill_tier]
    return {name: None if value is None else float(value) for name, value in scores.items()}
