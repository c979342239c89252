"""Exercise scores on constructed performances with known answers."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from sousa_rudiments.performance import Performance, generate_performance
from sousa_rudiments.profiles import PlayerProfile, generate_profiles, sample_profile
from sousa_rudiments.rudiments import get_rudiment
from sousa_rudiments.scores import OVERALL_WEIGHTS, SCORE_NAMES, compute_exercise_scores, tier_posterior

PROFILE = sample_profile("pro-test", "professional", np.random.default_rng(0), dominant_hand="R")


def perfect(
    slug: str, tempo: float = 100.0, num_cycles: int = 8, profile: PlayerProfile = PROFILE
) -> Performance:
    """Every stroke exactly on time at its target velocity; flam graces 30 ms before their primary."""
    performance = generate_performance(get_rudiment(slug), profile, tempo, num_cycles=num_cycles, seed=0)
    strokes = [
        replace(s, actual_time_ms=s.intended_time_ms, actual_velocity=s.intended_velocity)
        for s in performance.strokes
    ]
    return replace(performance, strokes=strokes)


def shifted(performance: Performance, shift) -> Performance:  # type: ignore[no-untyped-def]
    """Copy with ``actual_time_ms += shift(stroke)``."""
    return replace(
        performance,
        strokes=[replace(s, actual_time_ms=s.actual_time_ms + shift(s)) for s in performance.strokes],
    )


def test_perfect_performance_scores_100_everywhere_applicable() -> None:
    scores = compute_exercise_scores(perfect("flam-paradiddle"), PROFILE)
    for name in SCORE_NAMES:
        if name in ("accent_differentiation", "accent_accuracy", "roll_sustain"):
            assert scores[name] is None, name  # no accents, not a roll
        else:
            assert scores[name] == pytest.approx(100.0), name
    assert scores["overall_score"] == pytest.approx(100.0)
    assert 0.0 <= scores["tier_confidence"] <= 1.0
    roll = compute_exercise_scores(perfect("five-stroke-roll"), PROFILE)
    assert roll["roll_sustain"] == pytest.approx(100.0)
    assert roll["accent_differentiation"] == pytest.approx(100.0)
    assert roll["accent_accuracy"] == pytest.approx(100.0)
    assert roll["flam_quality"] is None


def test_timing_accuracy_and_consistency_follow_the_reference_logistics() -> None:
    late = shifted(perfect("single-stroke-roll"), lambda s: 25.0)
    scores = compute_exercise_scores(late, PROFILE)
    # Reference logistic at its midpoint is 50; normalised so that a perfect score is 100: 50 * (1 + e^-2.5).
    assert scores["timing_accuracy"] == pytest.approx(50.0 * (1 + math.exp(-2.5)))
    assert scores["timing_consistency"] == pytest.approx(100.0)  # constant offset: no spread
    assert scores["subdivision_evenness"] == pytest.approx(100.0)
    alternating = shifted(perfect("single-stroke-roll"), lambda s: 15.0 if s.index % 2 else -15.0)
    scores = compute_exercise_scores(alternating, PROFILE)
    assert scores["timing_consistency"] == pytest.approx(50.0 * (1 + math.exp(-15 / 8)))
    assert scores["timing_accuracy"] < 100.0
    # 16ths at 100 BPM are 150 ms apart: IOI ratios alternate 180/150 and 120/150, sd 0.2.
    assert scores["subdivision_evenness"] == pytest.approx(80.0, abs=0.05)


def test_weak_hand_30_ms_late_shows_in_weak_hand_index_and_balance() -> None:
    late_left = shifted(perfect("single-stroke-roll"), lambda s: 30.0 if s.hand == "L" else 0.0)
    scores = compute_exercise_scores(late_left, PROFILE)
    assert scores["weak_hand_index"] == pytest.approx(100.0 / (1 + 30 / 25))
    assert scores["hand_balance"] == pytest.approx((100.0 + 100.0 * (1 - 30 / 50)) / 2)
    lefty = replace(PROFILE, dominant_hand="L")
    lefty_perf = replace(late_left, profile_id=lefty.profile_id)
    # For a left-hander the late hand is the dominant one: the index still sees the same gap.
    assert compute_exercise_scores(lefty_perf, lefty)["weak_hand_index"] == pytest.approx(
        scores["weak_hand_index"]
    )


def test_flam_quality_depends_on_grace_spacing() -> None:
    base = perfect("flam")

    def with_spacing(spacing: float) -> Performance:
        by_index = {s.index: s for s in base.strokes}
        return replace(
            base,
            strokes=[
                replace(s, actual_time_ms=by_index[s.parent_stroke_index].actual_time_ms - spacing)
                if s.is_grace_note
                else s
                for s in base.strokes
            ],
        )

    assert compute_exercise_scores(with_spacing(30.0), PROFILE)["flam_quality"] == pytest.approx(100.0)
    assert compute_exercise_scores(with_spacing(40.0), PROFILE)["flam_quality"] == pytest.approx(100.0)
    at_60 = compute_exercise_scores(with_spacing(60.0), PROFILE)["flam_quality"]
    assert at_60 == pytest.approx(100.0 * (1 - 20 / 30))
    assert compute_exercise_scores(with_spacing(5.0), PROFILE)["flam_quality"] == pytest.approx(50.0)
    assert compute_exercise_scores(perfect("drag"), PROFILE)["flam_quality"] is None  # drags are not flams


def test_diddle_quality_even_and_uneven() -> None:
    even = perfect("double-stroke-open-roll")
    assert compute_exercise_scores(even, PROFILE)["diddle_quality"] == pytest.approx(100.0)
    uneven = replace(
        even,
        strokes=[
            replace(s, actual_velocity=round(s.intended_velocity * 0.8)) if s.diddle_position == 2 else s
            for s in even.strokes
        ],
    )
    ratio = round(75 * 0.8) / 75
    assert compute_exercise_scores(uneven, PROFILE)["diddle_quality"] == pytest.approx(
        100 - 200 * (1 - ratio) / 2
    )
    assert compute_exercise_scores(perfect("flam"), PROFILE)["diddle_quality"] is None


def test_tempo_drift_shows_in_tempo_stability() -> None:
    steady = perfect("single-paradiddle")
    assert compute_exercise_scores(steady, PROFILE)["tempo_stability"] == pytest.approx(100.0)
    rushing = shifted(steady, lambda s: -2.0 * (s.intended_time_ms - steady.lead_in_ms) / 1000.0)
    assert compute_exercise_scores(rushing, PROFILE)["tempo_stability"] == pytest.approx(80.0)


def test_accent_scores_and_roll_sustain() -> None:
    flat = perfect("six-stroke-roll")
    flat = replace(flat, strokes=[replace(s, actual_velocity=75) if s.is_accent else s for s in flat.strokes])
    scores = compute_exercise_scores(flat, PROFILE)
    assert scores["accent_differentiation"] == pytest.approx(0.0)
    assert scores["accent_accuracy"] == pytest.approx(0.0)

    roll = perfect("single-stroke-roll", num_cycles=10)  # one 40-stroke span
    decayed = replace(
        roll,
        strokes=[replace(s, actual_velocity=80 if s.index < 20 else 60) for s in roll.strokes],
    )
    assert compute_exercise_scores(decayed, PROFILE)["roll_sustain"] == pytest.approx(100 - 200 * 0.25)


def test_velocity_control_and_overall_weights() -> None:
    noisy = perfect("single-stroke-roll")
    noisy = replace(
        noisy,
        strokes=[replace(s, actual_velocity=65 + (5 if (s.index // 2) % 2 else -5)) for s in noisy.strokes],
    )
    scores = compute_exercise_scores(noisy, PROFILE)
    n_per_hand = len(noisy.strokes) // 2
    pooled_sd = math.sqrt(2 * n_per_hand * 25 / (2 * n_per_hand - 2))
    assert scores["velocity_control"] == pytest.approx(100 - 2 * pooled_sd)
    applicable = {k: v for k, v in scores.items() if k in SCORE_NAMES and v is not None}
    expected = sum(OVERALL_WEIGHTS[k] * v for k, v in applicable.items()) / sum(
        OVERALL_WEIGHTS[k] for k in applicable
    )
    assert scores["overall_score"] == pytest.approx(expected)
    assert OVERALL_WEIGHTS["timing_accuracy"] == 0.2 and OVERALL_WEIGHTS["hand_balance"] == 0.15


def test_tier_confidence_prefers_the_true_tier_on_generated_data() -> None:
    posterior = tier_posterior(7.0, 0.98, 25.0, 120.0)
    assert sum(posterior.values()) == pytest.approx(1.0)
    assert max(posterior, key=posterior.get) == "professional"  # type: ignore[arg-type]
    assert max(tier_posterior(50.0, 0.72, 50.0, 80.0).items(), key=lambda kv: kv[1])[0] == "beginner"
    profiles = generate_profiles(16, seed=3)
    confidences = []
    for k, profile in enumerate(profiles):
        performance = generate_performance(get_rudiment("flam-tap"), profile, 90, seed=k)
        confidences.append(compute_exercise_scores(performance, profile)["tier_confidence"])
    assert np.mean(confidences) > 0.5


def test_scores_rank_generated_tiers_and_reject_wrong_profile() -> None:
    profiles = generate_profiles(8, seed=1, tier_weights={"beginner": 1, "professional": 1})
    overall: dict[str, list[float]] = {"beginner": [], "professional": []}
    for k, profile in enumerate(profiles):
        performance = generate_performance(get_rudiment("single-paradiddle"), profile, 90, seed=k)
        scores = compute_exercise_scores(performance, profile)
        assert all(v is None or 0.0 <= v <= 100.0 for v in scores.values())
        overall[profile.skill_tier].append(scores["overall_score"])
    assert min(overall["professional"]) > max(overall["beginner"])
    with pytest.raises(ValueError, match="played by"):
        compute_exercise_scores(perfect("flam"), profiles[0])
