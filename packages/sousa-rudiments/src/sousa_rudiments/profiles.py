"""Synthetic player profiles: four skill tiers with correlated, seeded parameters.

Each tier draws its parameters from N(mean, sd) (``TIER_PARAMETERS``, the SOUSA reference table; parameters
the reference gives only a mean for get a small documented sd), clipped to ``PARAMETER_RANGES``. Parameters
are correlated through a one-factor model: every profile has a latent skill ``z ~ N(0, 1)`` and each
parameter's standardised deviation is ``loading * direction * z + sqrt(1 - loading**2) * e`` with independent
``e ~ N(0, 1)``. Within a tier the correlation between parameters *i* and *j* is therefore
``loading_i * loading_j * direction_i * direction_j`` (see :func:`parameter_correlation_matrix`): a player who
is tighter in time is also, on average, more even between hands and more consistent in velocity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from .rudiments import Hand, other_hand

SkillTier = Literal["beginner", "intermediate", "advanced", "professional"]
SKILL_TIERS: tuple[SkillTier, ...] = ("beginner", "intermediate", "advanced", "professional")
SKILL_TIER_BINARY: dict[str, str] = {
    "beginner": "novice",
    "intermediate": "novice",
    "advanced": "skilled",
    "professional": "skilled",
}
LEFT_HANDED_FRACTION = 0.10
COMFORT_PENALTY_PER_BPM = 0.01
"""Timing error grows by this fraction per BPM outside the player's comfort range."""

__all__ = [
    "COMFORT_PENALTY_PER_BPM",
    "LEFT_HANDED_FRACTION",
    "PARAMETER_LOADINGS",
    "PARAMETER_RANGES",
    "SKILL_TIERS",
    "SKILL_TIER_BINARY",
    "TIER_PARAMETERS",
    "TIER_TEMPO_COMFORT",
    "PlayerProfile",
    "SkillTier",
    "generate_profiles",
    "parameter_correlation_matrix",
    "sample_profile",
    "tier_counts",
]

# parameter -> tier -> (mean, sd). Units: *_ms in milliseconds, ratios/fractions unitless.
TIER_PARAMETERS: dict[str, dict[str, tuple[float, float]]] = {
    "timing_accuracy_ms": {  # sd of per-stroke timing noise
        "beginner": (50.0, 10.0), "intermediate": (28.0, 8.0), "advanced": (14.0, 4.0), "professional": (7.0, 2.0),
    },
    "timing_consistency": {  # AR(1) persistence of timing errors (higher = errors persist in streaks)
        "beginner": (0.6, 0.15), "intermediate": (0.35, 0.1), "advanced": (0.15, 0.05), "professional": (0.08, 0.03),
    },
    "velocity_variance": {  # coefficient of variation of per-stroke velocity
        "beginner": (0.12, 0.04), "intermediate": (0.15, 0.04), "advanced": (0.10, 0.03),
        "professional": (0.07, 0.02),
    },
    "accent_differentiation": {  # accent height; >= 16 reaches the full 120-vs-65 target contrast
        "beginner": (6.0, 2.0), "intermediate": (10.0, 2.0), "advanced": (14.0, 2.0), "professional": (16.0, 1.5),
    },
    "accent_accuracy": {  # probability that a written accent is actually played accented
        "beginner": (0.70, 0.08), "intermediate": (0.88, 0.05), "advanced": (0.96, 0.02),
        "professional": (0.99, 0.005),
    },
    "lr_velocity_ratio": {  # weak-hand velocity / dominant-hand velocity
        "beginner": (0.72, 0.08), "intermediate": (0.85, 0.05), "advanced": (0.94, 0.03),
        "professional": (0.98, 0.015),
    },
    "lr_timing_bias_ms": {  # weak hand plays this much late
        "beginner": (8.0, 5.0), "intermediate": (4.0, 3.0), "advanced": (1.5, 1.5), "professional": (0.5, 0.5),
    },
    "flam_spacing_ms": {  # grace-to-primary distance of a flam
        "beginner": (50.0, 15.0), "intermediate": (35.0, 8.0), "advanced": (28.0, 4.0), "professional": (25.0, 2.0),
    },
    "diddle_evenness": {  # 1 = both diddle strokes identical in velocity and spacing
        "beginner": (0.75, 0.06), "intermediate": (0.90, 0.03), "advanced": (0.97, 0.01),
        "professional": (0.99, 0.004),
    },
    "roll_sustain": {  # fraction of velocity lost across a roll (0 = fully sustained)
        "beginner": (0.30, 0.08), "intermediate": (0.15, 0.05), "advanced": (0.05, 0.02), "professional": (0.02, 0.01),
    },
    "fatigue": {  # fraction of velocity lost / timing noise gained by the end of a performance
        "beginner": (0.15, 0.05), "intermediate": (0.08, 0.03), "advanced": (0.03, 0.01), "professional": (0.01, 0.005),
    },
}  # fmt: skip

TIER_TEMPO_COMFORT: dict[str, tuple[float, float]] = {
    "beginner": (60.0, 100.0),
    "intermediate": (70.0, 150.0),
    "advanced": (60.0, 180.0),
    "professional": (50.0, 220.0),
}

PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    "timing_accuracy_ms": (2.0, 90.0),
    "timing_consistency": (0.0, 0.95),
    "velocity_variance": (0.01, 0.35),
    "accent_differentiation": (0.0, 24.0),
    "accent_accuracy": (0.3, 1.0),
    "lr_velocity_ratio": (0.4, 1.0),
    "lr_timing_bias_ms": (0.0, 30.0),
    "flam_spacing_ms": (8.0, 100.0),
    "diddle_evenness": (0.5, 1.0),
    "roll_sustain": (0.0, 0.6),
    "fatigue": (0.0, 0.4),
}

# (loading on the latent skill, direction): direction +1 when a higher value means a better player.
PARAMETER_LOADINGS: dict[str, tuple[float, int]] = {
    "timing_accuracy_ms": (0.7, -1),
    "timing_consistency": (0.6, -1),
    "velocity_variance": (0.5, -1),
    "accent_differentiation": (0.5, +1),
    "accent_accuracy": (0.5, +1),
    "lr_velocity_ratio": (0.6, +1),
    "lr_timing_bias_ms": (0.5, -1),
    "flam_spacing_ms": (0.4, -1),
    "diddle_evenness": (0.6, +1),
    "roll_sustain": (0.5, -1),
    "fatigue": (0.4, -1),
}

PARAMETER_NAMES: tuple[str, ...] = tuple(TIER_PARAMETERS)


def parameter_correlation_matrix() -> np.ndarray:
    """Within-tier correlation matrix of the parameters (order ``PARAMETER_NAMES``) before clipping."""
    signed = np.array([PARAMETER_LOADINGS[p][0] * PARAMETER_LOADINGS[p][1] for p in PARAMETER_NAMES])
    matrix = np.outer(signed, signed)
    np.fill_diagonal(matrix, 1.0)
    return matrix


@dataclass(frozen=True)
class PlayerProfile:
    """One synthetic player. Parameter meanings and units: see ``TIER_PARAMETERS``."""

    profile_id: str
    skill_tier: SkillTier
    dominant_hand: Hand
    timing_accuracy_ms: float
    timing_consistency: float
    velocity_variance: float
    accent_differentiation: float
    accent_accuracy: float
    lr_velocity_ratio: float
    lr_timing_bias_ms: float
    flam_spacing_ms: float
    diddle_evenness: float
    roll_sustain: float
    fatigue: float
    tempo_comfort_min_bpm: float
    tempo_comfort_max_bpm: float
    latent_skill: float = 0.0

    def __post_init__(self) -> None:
        if self.skill_tier not in SKILL_TIERS:
            raise ValueError(f"skill_tier must be one of {SKILL_TIERS}, got {self.skill_tier!r}")
        if self.dominant_hand not in ("R", "L"):
            raise ValueError(f"dominant_hand must be 'R' or 'L', got {self.dominant_hand!r}")
        if not self.tempo_comfort_min_bpm < self.tempo_comfort_max_bpm:
            raise ValueError("tempo_comfort_min_bpm must be below tempo_comfort_max_bpm")
        for name, (low, high) in PARAMETER_RANGES.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"{name}={value} outside [{low}, {high}]")

    @property
    def weak_hand(self) -> Hand:
        return other_hand(self.dominant_hand)

    @property
    def skill_tier_binary(self) -> str:
        """``novice`` (beginner, intermediate) or ``skilled`` (advanced, professional)."""
        return SKILL_TIER_BINARY[self.skill_tier]

    def tempo_penalty(self, tempo_bpm: float) -> float:
        """Timing-noise multiplier: 1 inside the comfort range, +1% per BPM outside it."""
        outside = max(0.0, self.tempo_comfort_min_bpm - tempo_bpm, tempo_bpm - self.tempo_comfort_max_bpm)
        return 1.0 + COMFORT_PENALTY_PER_BPM * outside

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlayerProfile:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown PlayerProfile fields: {sorted(unknown)}")
        return cls(**dict(data))


def sample_profile(
    profile_id: str, skill_tier: SkillTier, rng: np.random.Generator, dominant_hand: Hand | None = None
) -> PlayerProfile:
    """Draw one profile of ``skill_tier`` from its correlated parameter distribution."""
    if skill_tier not in SKILL_TIERS:
        raise ValueError(f"skill_tier must be one of {SKILL_TIERS}, got {skill_tier!r}")
    latent = float(rng.standard_normal())
    independent = rng.standard_normal(len(PARAMETER_NAMES))
    left = bool(rng.random() < LEFT_HANDED_FRACTION)
    values: dict[str, float] = {}
    for name, noise in zip(PARAMETER_NAMES, independent, strict=True):
        mean, sd = TIER_PARAMETERS[name][skill_tier]
        loading, direction = PARAMETER_LOADINGS[name]
        standardised = loading * direction * latent + math.sqrt(1.0 - loading**2) * noise
        low, high = PARAMETER_RANGES[name]
        values[name] = float(np.clip(mean + sd * standardised, low, high))
    comfort_min, comfort_max = TIER_TEMPO_COMFORT[skill_tier]
    hand: Hand = dominant_hand if dominant_hand is not None else ("L" if left else "R")
    return PlayerProfile(
        profile_id=profile_id,
        skill_tier=skill_tier,
        dominant_hand=hand,
        tempo_comfort_min_bpm=comfort_min,
        tempo_comfort_max_bpm=comfort_max,
        latent_skill=latent,
        **values,
    )


def tier_counts(n: int, tier_weights: Mapping[str, float] | None = None) -> dict[str, int]:
    """Profiles per tier for ``n`` profiles (largest-remainder rounding, so splits can stratify by tier)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    weights = dict(tier_weights) if tier_weights is not None else {t: 1.0 for t in SKILL_TIERS}
    unknown = set(weights) - set(SKILL_TIERS)
    if unknown:
        raise ValueError(f"unknown skill tiers in tier_weights: {sorted(unknown)}; valid: {SKILL_TIERS}")
    if any(w < 0 or not math.isfinite(w) for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"tier_weights must be non-negative with a positive sum, got {weights}")
    total = sum(weights.values())
    exact = {t: n * weights.get(t, 0.0) / total for t in SKILL_TIERS}
    counts = {t: math.floor(v) for t, v in exact.items()}
    remainder = n - sum(counts.values())
    for tier in sorted(SKILL_TIERS, key=lambda t: (counts[t] - exact[t], SKILL_TIERS.index(t)))[:remainder]:
        counts[tier] += 1
    return counts


def generate_profiles(
    n: int, seed: int, tier_weights: Mapping[str, float] | None = None
) -> list[PlayerProfile]:
    """``n`` reproducible profiles; tiers in proportion to ``tier_weights`` (default: equal).

    Ids are ``<tier prefix>-<4-digit counter>`` (``beg-0001``, ``pro-0003``); profile *k* of a tier is
    drawn from its own child seed, so the same seed always yields the same players.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    counts = tier_counts(n, tier_weights)
    profiles: list[PlayerProfile] = []
    for tier_index, tier in enumerate(SKILL_TIERS):
        for k in range(counts[tier]):
            rng = np.random.default_rng(np.random.SeedSequence([seed, tier_index, k]))
            profiles.append(sample_profile(f"{tier[:3]}-{k + 1:04d}", tier, rng))
    return profiles
