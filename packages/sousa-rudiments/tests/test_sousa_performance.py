"""Invariants and statistics of generated performances."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sousa_rudiments.performance import (
    Performance,
    PerformanceConfig,
    default_num_cycles,
    generate_performance,
    slot_duration_ms,
)
from sousa_rudiments.profiles import PlayerProfile, generate_profiles, sample_profile
from sousa_rudiments.rudiments import RUDIMENTS, get_rudiment
from sousa_rudiments.scores import compute_exercise_scores


def _profile(tier: str, seed: int = 0, **overrides: object) -> PlayerProfile:
    profile = sample_profile(f"{tier[:3]}-test", tier, np.random.default_rng(seed), dominant_hand="R")  # type: ignore[arg-type]
    return replace(profile, **overrides)  # type: ignore[arg-type]


BEGINNER = _profile("beginner", 1)
PROFESSIONAL = _profile("professional", 2)


def _check_invariants(performance: Performance, profile: PlayerProfile) -> None:
    rudiment = performance.rudiment
    strokes = performance.strokes
    assert [s.index for s in strokes] == list(range(len(strokes)))
    intended = [s.intended_time_ms for s in strokes]
    assert intended == sorted(intended), "rows are in intended-time order"
    assert [s.cycle_index for s in strokes] == sorted(s.cycle_index for s in strokes)
    for s in strokes:
        assert 1 <= s.actual_velocity <= 127
        assert s.actual_time_ms >= 0
        assert s.hand in ("R", "L")
    for hand in ("R", "L"):
        times = [s.actual_time_ms for s in strokes if s.hand == hand]
        assert all(b >= a for a, b in itertools.pairwise(times)), f"hand {hand} goes back in time"

    # Primaries sit exactly on the grid; graces take no slot.
    slot_ms = slot_duration_ms(rudiment, performance.tempo_bpm)
    primaries = performance.primary_strokes
    assert len(primaries) == performance.num_cycles * len(rudiment.strokes)
    for cycle in range(performance.num_cycles):
        lead = rudiment.lead_for_cycle(cycle, profile.dominant_hand)
        expected = rudiment.cycle(lead)
        played = [s for s in primaries if s.cycle_index == cycle]
        assert [s.hand for s in played] == [s.hand for s in expected]
        assert [s.is_accent for s in played] == [s.accent for s in expected]
        assert [s.diddle_position for s in played] == [s.diddle_position for s in expected]
        for s, e in zip(played, expected, strict=True):
            grid_time = performance.lead_in_ms + (cycle * rudiment.cycle_slots + e.slot) * slot_ms
            assert s.intended_time_ms == pytest.approx(grid_time, abs=1e-3)
            graces = [g for g in strokes if g.parent_stroke_index == s.index]
            assert len(graces) == e.grace_notes
            assert all(
                g.is_grace_note and g.stroke_type == "grace" and g.hand == e.grace_hand for g in graces
            )
            for g in graces:
                assert g.actual_time_ms < s.actual_time_ms, "grace before its primary"
                assert g.intended_time_ms < s.intended_time_ms
                assert g.flam_spacing_ms == pytest.approx(s.actual_time_ms - g.actual_time_ms, abs=2e-3)
            if e.kind == "buzz":
                assert s.stroke_type == "buzz" and s.buzz_count is not None and 3 <= s.buzz_count <= 8
            else:
                assert s.buzz_count is None and s.buzz_offsets_ms == ()
    assert performance.duration_sec * 1000 > max(s.actual_time_ms for s in strokes)


@pytest.mark.parametrize("slug", sorted(RUDIMENTS))
def test_invariants_hold_for_every_rudiment(slug: str) -> None:
    rudiment = get_rudiment(slug)
    # A beginner far outside the comfort range is the hardest case for the ordering constraints.
    for profile, tempo in ((BEGINNER, 180.0), (PROFESSIONAL, 100.0)):
        performance = generate_performance(rudiment, profile, tempo, num_cycles=6, seed=5)
        _check_invariants(performance, profile)


def test_same_seed_same_performance_and_round_trip() -> None:
    rudiment = get_rudiment("flam-paradiddle")
    first = generate_performance(rudiment, BEGINNER, 96, seed=11)
    assert first == generate_performance(rudiment, BEGINNER, 96, seed=11)
    assert first.strokes != generate_performance(rudiment, BEGINNER, 96, seed=12).strokes
    assert Performance.from_dict(first.to_dict()) == first


def test_main_strokes_are_evenly_spaced_despite_grace_notes() -> None:
    rudiment = get_rudiment("flam")
    performance = generate_performance(rudiment, PROFESSIONAL, 100, num_cycles=40, seed=3)
    primaries = performance.primary_strokes
    slot_ms = slot_duration_ms(rudiment, 100)
    intended_ioi = np.diff([s.intended_time_ms for s in primaries])
    assert np.allclose(intended_ioi, slot_ms), "graces must not take a grid slot (the original's defect)"
    actual_ioi = np.diff([s.actual_time_ms for s in primaries])
    assert abs(actual_ioi.mean() - slot_ms) < 2.0
    assert actual_ioi.std() < 4 * PROFESSIONAL.timing_accuracy_ms


def test_flam_and_drag_graces_use_the_profile_spacing() -> None:
    profile = _profile("intermediate", 4, flam_spacing_ms=40.0)
    flams = generate_performance(get_rudiment("flam"), profile, 80, num_cycles=60, seed=1)
    spacings = [s.flam_spacing_ms for s in flams.strokes if s.is_grace_note]
    assert len(spacings) == 120
    assert np.mean(spacings) == pytest.approx(40.0, abs=2.0)
    assert 0.5 * 40 < np.std(spacings) / 0.15 < 1.5 * 40  # per-flam jitter of 15%
    drags = generate_performance(get_rudiment("drag"), profile, 80, num_cycles=60, seed=1)
    parents = [s for s in drags.strokes if not s.is_grace_note]
    first, second = [], []
    for parent in parents:
        graces = [g for g in drags.strokes if g.parent_stroke_index == parent.index]
        assert len(graces) == 2 and graces[0].hand == graces[1].hand != parent.hand
        first.append(graces[0].flam_spacing_ms)
        second.append(graces[1].flam_spacing_ms)
    assert np.mean(second) == pytest.approx(40.0, abs=2.0)
    assert np.mean(first) == pytest.approx(40.0 * 1.6, abs=3.0)


def test_buzz_sub_strokes() -> None:
    performance = generate_performance(get_rudiment("multiple-bounce-roll"), PROFESSIONAL, 90, seed=2)
    counts = set()
    for s in performance.strokes:
        assert s.buzz_count == len(s.buzz_offsets_ms) == len(s.buzz_velocities)
        counts.add(s.buzz_count)
        assert s.buzz_offsets_ms[0] == 0.0
        gaps = np.diff(s.buzz_offsets_ms)
        assert np.all((gaps >= 2.0 - 1e-3) & (gaps <= 5.0 + 1e-3))
        assert s.buzz_velocities[0] == s.actual_velocity
        for k, velocity in enumerate(s.buzz_velocities):
            assert velocity == max(1, round(s.actual_velocity * 0.85**k))
    assert counts <= set(range(3, 9)) and len(counts) >= 4


def test_velocity_targets_and_weak_hand_for_an_ideal_player() -> None:
    config = PerformanceConfig()
    ideal = _profile(
        "professional",
        3,
        velocity_variance=0.01,
        accent_accuracy=1.0,
        accent_differentiation=16.0,
        fatigue=0.0,
        lr_velocity_ratio=1.0,
    )
    performance = generate_performance(get_rudiment("flam-paradiddle"), ideal, 100, seed=1)
    by_type: dict[str, list[int]] = {}
    for s in performance.strokes:
        key = "accent" if s.is_accent else s.stroke_type
        by_type.setdefault(key, []).append(s.actual_velocity)
    assert np.mean(by_type["tap"]) == pytest.approx(config.tap_velocity, abs=2)
    assert np.mean(by_type["grace"]) == pytest.approx(config.grace_velocity, abs=2)
    assert np.mean(by_type["diddle"]) == pytest.approx(config.diddle_velocity, abs=3)
    accents = generate_performance(get_rudiment("single-drag-tap"), ideal, 100, seed=1)
    assert np.mean([s.actual_velocity for s in accents.strokes if s.is_accent]) == pytest.approx(120, abs=2)

    weak = replace(ideal, lr_velocity_ratio=0.7, lr_timing_bias_ms=20.0)
    roll = generate_performance(get_rudiment("single-stroke-roll"), weak, 100, seed=1)
    right = [s for s in roll.strokes if s.hand == "R"]
    left = [s for s in roll.strokes if s.hand == "L"]
    ratio = np.mean([s.actual_velocity for s in left]) / np.mean([s.actual_velocity for s in right])
    assert ratio == pytest.approx(0.7, abs=0.03)
    lateness = np.mean([s.timing_error_ms for s in left]) - np.mean([s.timing_error_ms for s in right])
    assert lateness == pytest.approx(20.0, abs=6.0)


def test_beginners_are_less_accurate_than_professionals() -> None:
    profiles = generate_profiles(40, seed=5, tier_weights={"beginner": 1, "professional": 1})
    rudiment = get_rudiment("single-paradiddle")
    errors: dict[str, list[float]] = {"beginner": [], "professional": []}
    for k, profile in enumerate(profiles):
        performance = generate_performance(rudiment, profile, 90, num_cycles=8, seed=k)
        errors[profile.skill_tier].append(
            float(np.mean([abs(s.timing_error_ms) for s in performance.strokes]))
        )
    assert np.mean(errors["beginner"]) > 3 * np.mean(errors["professional"])
    assert min(errors["beginner"]) > np.median(errors["professional"])


def test_timing_error_grows_outside_the_comfort_range() -> None:
    rudiment = get_rudiment("single-stroke-roll")
    profile = _profile("beginner", 9, timing_consistency=0.0, fatigue=0.0, lr_timing_bias_ms=0.0)

    def spread(tempo: float) -> float:
        errors = []
        for seed in range(10):
            performance = generate_performance(rudiment, profile, tempo, num_cycles=8, seed=seed)
            errors += [s.timing_error_ms for s in performance.strokes]
        return float(np.std(errors))

    # 180 BPM is 80 BPM above the beginner's 60-100 comfort range: noise x1.8 (drift adds a little).
    assert spread(180) / spread(80) == pytest.approx(1.8, rel=0.2)


def test_default_length_is_about_four_bars_and_capped() -> None:
    rudiment = get_rudiment("single-paradiddle")  # one beat per cycle
    assert default_num_cycles(rudiment, 120) == 16
    assert default_num_cycles(rudiment, 60) == 12  # 16 beats at 60 BPM would be 16 s > 12 s cap
    roll = get_rudiment("seventeen-stroke-roll")  # five beats per cycle
    assert default_num_cycles(roll, 120) == 3
    performance = generate_performance(rudiment, PROFESSIONAL, 120, seed=0)
    assert performance.num_cycles == 16
    assert 8.0 < performance.duration_sec < 9.0


def test_left_handed_player_leads_with_the_left_hand() -> None:
    lefty = replace(PROFESSIONAL, dominant_hand="L")
    performance = generate_performance(get_rudiment("single-paradiddle"), lefty, 100, num_cycles=2, seed=0)
    assert [s.hand for s in performance.primary_strokes] == list("LRLLRLRR")


def test_bad_arguments_raise() -> None:
    rudiment = get_rudiment("flam")
    with pytest.raises(ValueError, match="tempo_bpm"):
        generate_performance(rudiment, PROFESSIONAL, 0)
    with pytest.raises(ValueError, match="tempo_bpm"):
        generate_performance(rudiment, PROFESSIONAL, float("nan"))
    with pytest.raises(ValueError, match="num_cycles"):
        generate_performance(rudiment, PROFESSIONAL, 100, num_cycles=0)
    with pytest.raises(ValueError, match="seed"):
        generate_performance(rudiment, PROFESSIONAL, 100, seed=-1)
    with pytest.raises(ValueError, match="unknown PerformanceConfig fields"):
        PerformanceConfig.from_dict({"loudness": 3})
    assert PerformanceConfig.from_dict(PerformanceConfig().to_dict()) == PerformanceConfig()


@settings(max_examples=40, deadline=None)
@given(
    slug=st.sampled_from(sorted(RUDIMENTS)),
    tier=st.sampled_from(["beginner", "intermediate", "advanced", "professional"]),
    profile_seed=st.integers(0, 10_000),
    tempo=st.floats(40.0, 240.0),
    num_cycles=st.one_of(st.none(), st.integers(1, 4)),
    seed=st.integers(0, 2**31),
)
def test_invariants_and_scores_hold_for_random_players(
    slug: str, tier: str, profile_seed: int, tempo: float, num_cycles: int | None, seed: int
) -> None:
    profile = sample_profile("p", tier, np.random.default_rng(profile_seed))  # type: ignore[arg-type]
    performance = generate_performance(get_rudiment(slug), profile, tempo, num_cycles=num_cycles, seed=seed)
    _check_invariants(performance, profile)
    scores = compute_exercise_scores(performance, profile)
    for name, value in scores.items():
        assert value is None or (np.isfinite(value) and 0.0 <= value <= 100.0), name


STEADY = _profile(
    "professional",
    6,
    velocity_variance=0.01,
    accent_accuracy=1.0,
    fatigue=0.0,
    lr_velocity_ratio=1.0,
    lr_timing_bias_ms=0.0,
    roll_sustain=0.0,
    diddle_evenness=1.0,
    timing_consistency=0.0,
)


def _velocities(performance: Performance) -> np.ndarray:
    return np.array([s.actual_velocity for s in performance.primary_strokes], dtype=float)


def test_fatigue_takes_velocity_away_towards_the_end() -> None:
    rudiment = get_rudiment("single-stroke-roll")
    fresh = generate_performance(rudiment, STEADY, 100, num_cycles=40, seed=3)
    tired = generate_performance(rudiment, replace(STEADY, fatigue=0.4), 100, num_cycles=40, seed=3)
    ratio = _velocities(tired) / _velocities(fresh)  # same seed: same noise draws
    tenth = len(ratio) // 10
    assert ratio[:tenth].mean() == pytest.approx(1 - 0.4 * 0.05, abs=0.02)
    assert ratio[-tenth:].mean() == pytest.approx(1 - 0.4 * 0.95, abs=0.02)
    assert np.all(np.diff(ratio[::tenth]) < 0)


def test_drift_is_a_recorded_linear_rush_or_drag() -> None:
    rudiment = get_rudiment("single-stroke-roll")
    profile = replace(STEADY, timing_accuracy_ms=20.0)
    recorded, fitted = [], []
    for seed in range(12):
        performance = generate_performance(rudiment, profile, 100, num_cycles=60, seed=seed)
        seconds = np.array([s.intended_time_ms for s in performance.strokes]) / 1000.0
        errors = np.array([s.timing_error_ms for s in performance.strokes])
        fitted.append(np.polyfit(seconds, errors, 1)[0])
        recorded.append(performance.tempo_drift_ms_per_s)
    recorded_arr = np.array(recorded)
    # drift sd is tempo_drift_scale (0.08) x timing accuracy = 1.6 ms/s; the fit error is ~0.15 ms/s
    assert 0.8 < recorded_arr.std() < 3.2
    assert np.abs(np.array(fitted) - recorded_arr).max() < 0.6


def test_diddle_evenness_controls_the_second_stroke() -> None:
    rudiment = get_rudiment("double-stroke-open-roll")

    def diddle_ratios(evenness: float) -> tuple[np.ndarray, np.ndarray]:
        performance = generate_performance(
            rudiment, replace(STEADY, diddle_evenness=evenness), 100, num_cycles=60, seed=8
        )
        strokes = performance.strokes
        timing, velocity = [], []
        for first, second in itertools.pairwise(strokes):
            if first.diddle_position == 1 and second.diddle_position == 2:
                intended = second.intended_time_ms - first.intended_time_ms
                timing.append((second.actual_time_ms - first.actual_time_ms) / intended)
                velocity.append(second.actual_velocity / first.actual_velocity)
        return np.array(timing), np.array(velocity)

    even_timing, even_velocity = diddle_ratios(1.0)
    assert len(even_timing) == 120
    assert np.allclose(even_timing, 1.0, atol=1e-6)  # a perfectly even diddle keeps the written gap
    assert abs(even_velocity.mean() - 1.0) < 0.02
    uneven_timing, uneven_velocity = diddle_ratios(0.8)
    assert uneven_timing.std() == pytest.approx(0.2, rel=0.25)  # gap x N(1, 1 - evenness)
    assert uneven_velocity.mean() == pytest.approx(0.8, abs=0.03)  # second stroke x N(evenness, ...)


def test_roll_sustain_decays_each_roll_span() -> None:
    rudiment = get_rudiment("seventeen-stroke-roll")
    sustained = generate_performance(rudiment, STEADY, 80, num_cycles=8, seed=2)
    decaying = generate_performance(rudiment, replace(STEADY, roll_sustain=0.4), 80, num_cycles=8, seed=2)
    ratio = _velocities(decaying) / _velocities(sustained)
    per_cycle = ratio.reshape(8, len(rudiment.strokes))
    assert per_cycle[:, 0] == pytest.approx(1.0, abs=0.03)  # a span starts at full level
    assert per_cycle[:, -2].mean() == pytest.approx(0.6, abs=0.05)  # last unaccented stroke lost ~0.4
    assert per_cycle[:, -1] == pytest.approx(1.0, abs=0.03)  # the closing accent is not part of the roll


def _check_physical_order(performance: Performance) -> None:
    """Written order kept (rows are in written order), minimum same-hand and grace gaps respected."""
    config = performance.config
    strokes = performance.strokes
    tolerance = 1e-3  # times are rounded to µs
    for a, b in itertools.pairwise(strokes):
        assert b.actual_time_ms - a.actual_time_ms >= config.min_order_gap_ms - tolerance, (a, b)
    for hand in ("R", "L"):
        times = [s.actual_time_ms for s in strokes if s.hand == hand]
        gaps = np.diff(times)
        assert np.all(gaps >= config.min_same_hand_gap_ms - tolerance), f"hand {hand}: {gaps.min()}"
    for s in strokes:
        if s.parent_stroke_index is not None:
            gap = strokes[s.parent_stroke_index].actual_time_ms - s.actual_time_ms
            assert gap >= config.min_grace_gap_ms - tolerance


def test_physical_minimums_are_named_and_plausible() -> None:
    config = PerformanceConfig()
    assert (config.min_same_hand_gap_ms, config.min_grace_gap_ms) == (10.0, 5.0)
    with pytest.raises(ValueError, match="minimum stroke gaps"):
        PerformanceConfig(min_grace_gap_ms=0.0)


@settings(max_examples=120, deadline=None)
@given(
    slug=st.sampled_from(sorted(RUDIMENTS)),
    tier=st.sampled_from(["beginner", "intermediate", "advanced", "professional"]),
    profile_seed=st.integers(0, 10_000),
    tempo=st.floats(40.0, 240.0),
    seed=st.integers(0, 2**31),
)
def test_noise_never_reorders_the_sticking(
    slug: str, tier: str, profile_seed: int, tempo: float, seed: int
) -> None:
    profile = sample_profile("p", tier, np.random.default_rng(profile_seed))  # type: ignore[arg-type]
    performance = generate_performance(get_rudiment(slug), profile, tempo, num_cycles=4, seed=seed)
    _check_physical_order(performance)


@pytest.mark.parametrize("slug", ["single-stroke-roll", "single-paradiddle", "flam-tap", "drag"])
def test_a_beginner_far_too_fast_plays_late_not_reordered(slug: str) -> None:
    # 240 BPM is 140 BPM above a beginner's comfort range: noise sd ~ 2.4 x 50 ms, above the 62.5 ms grid.
    for seed in range(20):
        performance = generate_performance(get_rudiment(slug), BEGINNER, 240, num_cycles=8, seed=seed)
        _check_physical_order(performance)
        heard = sorted(performance.strokes, key=lambda s: s.actual_time_ms)
        assert [s.hand for s in heard] == [s.hand for s in performance.strokes], "heard in written order"
        ioi = np.diff([s.actual_time_ms for s in performance.primary_strokes])
        assert ioi.std() > 10.0, "a player this far out of range is uneven"
