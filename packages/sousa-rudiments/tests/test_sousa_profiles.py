"""Player profiles: tier distributions, correlations, handedness, tempo comfort, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from sousa_rudiments.profiles import (
    PARAMETER_NAMES,
    PARAMETER_RANGES,
    SKILL_TIERS,
    TIER_PARAMETERS,
    PlayerProfile,
    generate_profiles,
    parameter_correlation_matrix,
    sample_profile,
    tier_counts,
)


@pytest.fixture(scope="module")
def many_profiles() -> list[PlayerProfile]:
    return generate_profiles(4000, seed=7)


def test_same_seed_same_profiles_and_different_seed_differs() -> None:
    first, again, other = (
        generate_profiles(12, seed=3),
        generate_profiles(12, seed=3),
        generate_profiles(12, seed=4),
    )
    assert first == again
    assert first != other
    assert len({p.profile_id for p in first}) == 12
    assert [p.profile_id for p in first[:3]] == ["beg-0001", "beg-0002", "beg-0003"]


def test_tier_counts_use_largest_remainder_and_validate_weights() -> None:
    assert tier_counts(10) == {"beginner": 3, "intermediate": 3, "advanced": 2, "professional": 2}
    assert tier_counts(7, {"beginner": 1, "professional": 1}) == {
        "beginner": 4,
        "intermediate": 0,
        "advanced": 0,
        "professional": 3,
    }
    assert sum(tier_counts(101, {"beginner": 0.2, "intermediate": 0.3, "advanced": 0.3}).values()) == 101
    with pytest.raises(ValueError, match="unknown skill tiers"):
        tier_counts(4, {"expert": 1.0})
    with pytest.raises(ValueError, match="non-negative"):
        tier_counts(4, {"beginner": -1.0, "advanced": 2.0})
    with pytest.raises(ValueError, match="seed"):
        generate_profiles(4, seed=-2)
    profiles = generate_profiles(8, seed=0, tier_weights={"advanced": 1.0})
    assert {p.skill_tier for p in profiles} == {"advanced"}


def test_ten_percent_left_handed(many_profiles: list[PlayerProfile]) -> None:
    fraction = np.mean([p.dominant_hand == "L" for p in many_profiles])
    assert abs(fraction - 0.10) < 0.015
    assert {p.weak_hand for p in many_profiles if p.dominant_hand == "L"} == {"R"}


def test_parameters_follow_the_tier_table(many_profiles: list[PlayerProfile]) -> None:
    for tier in SKILL_TIERS:
        chosen = [p for p in many_profiles if p.skill_tier == tier]
        assert len(chosen) == 1000
        for name in ("timing_accuracy_ms", "flam_spacing_ms", "lr_velocity_ratio", "accent_differentiation"):
            mean, sd = TIER_PARAMETERS[name][tier]
            values = np.array([getattr(p, name) for p in chosen])
            low, high = PARAMETER_RANGES[name]
            assert values.min() >= low and values.max() <= high
            # Clipping at a range edge shifts the mean a little; allow 0.15 sd (+ sampling error).
            assert abs(values.mean() - mean) < 0.15 * sd + 3 * sd / np.sqrt(len(values)), (tier, name)
            if high > mean + 3 * sd and low < mean - 3 * sd:
                assert abs(values.std() - sd) < 0.1 * sd, (tier, name)
    by_tier = {
        t: np.mean([p.timing_accuracy_ms for p in many_profiles if p.skill_tier == t]) for t in SKILL_TIERS
    }
    assert by_tier["beginner"] > by_tier["intermediate"] > by_tier["advanced"] > by_tier["professional"]
    assert {(p.skill_tier, p.tempo_comfort_min_bpm, p.tempo_comfort_max_bpm) for p in many_profiles} == {
        ("beginner", 60, 100),
        ("intermediate", 70, 150),
        ("advanced", 60, 180),
        ("professional", 50, 220),
    }


def test_parameters_are_correlated_as_documented(many_profiles: list[PlayerProfile]) -> None:
    matrix = parameter_correlation_matrix()
    assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0)
    assert np.linalg.eigvalsh(matrix).min() > 0
    chosen = [p for p in many_profiles if p.skill_tier == "intermediate"]
    names = ["timing_accuracy_ms", "lr_velocity_ratio", "timing_consistency"]  # never clipped in this tier
    data = np.array([[getattr(p, n) for n in names] for p in chosen])
    empirical = np.corrcoef(data.T)
    index = [PARAMETER_NAMES.index(n) for n in names]
    expected = matrix[np.ix_(index, index)]
    assert expected[0, 1] == pytest.approx(-0.42)  # better timing goes with more even hands
    assert np.abs(empirical - expected).max() < 0.08
    latent = np.array([p.latent_skill for p in chosen])
    assert np.corrcoef(latent, data[:, 0])[0, 1] < -0.6


def test_tempo_comfort_penalty_is_one_percent_per_bpm_outside() -> None:
    profile = sample_profile("beg-x", "beginner", np.random.default_rng(0))
    assert profile.tempo_penalty(80) == 1.0
    assert profile.tempo_penalty(100) == 1.0
    assert profile.tempo_penalty(150) == pytest.approx(1.5)
    assert profile.tempo_penalty(40) == pytest.approx(1.2)


def test_profile_round_trip_and_validation() -> None:
    profile = generate_profiles(1, seed=11)[0]
    assert PlayerProfile.from_dict(profile.to_dict()) == profile
    assert profile.skill_tier_binary == "novice"
    with pytest.raises(ValueError, match="unknown PlayerProfile fields"):
        PlayerProfile.from_dict({**profile.to_dict(), "shoe_size": 44})
    with pytest.raises(ValueError, match="timing_accuracy_ms"):
        PlayerProfile.from_dict({**profile.to_dict(), "timing_accuracy_ms": -3.0})
    with pytest.raises(ValueError, match="skill_tier"):
        PlayerProfile.from_dict({**profile.to_dict(), "skill_tier": "legend"})
    with pytest.raises(ValueError, match="dominant_hand"):
        PlayerProfile.from_dict({**profile.to_dict(), "dominant_hand": "B"})


# shared/reference/sousa-dataset.md, "Skill tiers", copied independently of the library: parameter ->
# (beginner, intermediate, advanced, professional); a pair is (mean, sd), a bare number a mean only.
REFERENCE_TIER_TABLE: dict[str, tuple[object, ...]] = {
    "timing_accuracy_ms": ((50, 10), (28, 8), (14, 4), (7, 2)),
    "timing_consistency": ((0.6, 0.15), (0.35, 0.1), (0.15, 0.05), (0.08, 0.03)),
    "velocity_variance": ((0.12, 0.04), (0.15, 0.04), (0.10, 0.03), (0.07, 0.02)),
    "accent_differentiation": ((6, 2), (10, 2), (14, 2), (16, 1.5)),
    "accent_accuracy": (0.70, 0.88, 0.96, 0.99),
    "lr_velocity_ratio": ((0.72, 0.08), (0.85, 0.05), (0.94, 0.03), (0.98, 0.015)),
    "lr_timing_bias_ms": ((8, 5), (4, 3), (1.5, 1.5), (0.5, 0.5)),
    "flam_spacing_ms": ((50, 15), (35, 8), (28, 4), (25, 2)),
    "diddle_evenness": (0.75, 0.90, 0.97, 0.99),
    "roll_sustain": (0.30, 0.15, 0.05, 0.02),
    "fatigue": (0.15, 0.08, 0.03, 0.01),
}


def test_tier_parameters_are_the_reference_table() -> None:
    assert set(TIER_PARAMETERS) == set(REFERENCE_TIER_TABLE)
    for name, per_tier in REFERENCE_TIER_TABLE.items():
        for tier, expected in zip(SKILL_TIERS, per_tier, strict=True):
            mean, sd = TIER_PARAMETERS[name][tier]
            if isinstance(expected, tuple):
                assert (mean, sd) == pytest.approx(expected), (name, tier)
            else:  # the reference gives only a mean; the library adds a small sd
                assert mean == pytest.approx(expected) and 0 < sd <= 0.4 * max(mean, 0.05), (name, tier)
