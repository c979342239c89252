"""Train/validation/test split by player profile, stratified by skill tier.

Splitting by profile keeps one player's recordings out of two splits (otherwise a model can learn the
player, not the rudiment). Within each tier, profiles are shuffled with the dataset seed and dealt
out so the tier mix is the same in every split; rounding is resolved globally (largest remainder) so
the split sizes hit 70/15/15 as closely as the profile count allows, and every split gets at least one
profile when there are three or more.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sousa_rudiments.dataset.seeding import stable_seed

__all__ = ["SPLIT_NAMES", "SPLIT_RATIOS", "SplitAssignment", "split_profiles"]

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
SPLIT_RATIOS: tuple[float, ...] = (0.70, 0.15, 0.15)


@dataclass(frozen=True)
class SplitAssignment:
    """Profile ids per split (sorted) and the reverse lookup."""

    profiles: dict[str, list[str]]
    ratios: tuple[float, ...] = SPLIT_RATIOS
    split_of: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}
        for split, ids in self.profiles.items():
            for profile_id in ids:
                if profile_id in lookup:
                    raise ValueError(f"profile {profile_id} is in both {lookup[profile_id]} and {split}")
                lookup[profile_id] = split
        object.__setattr__(self, "split_of", lookup)


def _targets(total: int, ratios: Sequence[float]) -> list[int]:
    """Split sizes summing to ``total`` (largest remainder), each ≥ 1 when total ≥ number of splits."""
    raw = [total * r for r in ratios]
    sizes = [math.floor(x) for x in raw]
    order = sorted(range(len(ratios)), key=lambda i: (raw[i] - sizes[i], -i), reverse=True)
    for i in order[: total - sum(sizes)]:
        sizes[i] += 1
    if total >= len(ratios):
        for i in range(len(sizes)):
            if sizes[i] == 0:
                donor = max(range(len(sizes)), key=lambda j: sizes[j])
                sizes[donor] -= 1
                sizes[i] += 1
    return sizes


def split_profiles(
    profiles: Sequence[tuple[str, str]], seed: int, ratios: Sequence[float] = SPLIT_RATIOS
) -> SplitAssignment:
    """Assign ``(profile_id, skill_tier)`` pairs to :data:`SPLIT_NAMES`, deterministically from ``seed``."""
    if len(ratios) != len(SPLIT_NAMES) or not math.isclose(sum(ratios), 1.0):
        raise ValueError(f"ratios must be {len(SPLIT_NAMES)} fractions summing to 1, got {ratios}")
    by_tier: dict[str, list[str]] = defaultdict(list)
    for profile_id, tier in profiles:
        by_tier[tier].append(profile_id)
    tiers = sorted(by_tier)
    targets = _targets(len(profiles), ratios)

    # Per-tier floor quotas, then hand out the remaining seats per split to the tiers with the largest
    # fractional remainders that still have unassigned profiles.
    counts = {t: [math.floor(len(by_tier[t]) * r) for r in ratios] for t in tiers}
    remainders = sorted(
        ((len(by_tier[t]) * r - counts[t][s], t, s) for t in tiers for s, r in enumerate(ratios)),
        key=lambda x: (-x[0], x[1], x[2]),
    )

    def free(tier: str) -> int:
        return len(by_tier[tier]) - sum(counts[tier])

    def missing(split: int) -> int:
        return targets[split] - sum(counts[t][split] for t in tiers)

    for _, tier, split in remainders:
        if free(tier) > 0 and missing(split) > 0:
            counts[tier][split] += 1
    for tier in tiers:  # any seat still open goes to the split furthest below target
        while free(tier) > 0:
            split = max(range(len(ratios)), key=lambda s: (missing(s), -s))
            counts[tier][split] += 1
    # Move single profiles between tiers' allocations if a split is still empty/over (tiny datasets).
    for split in range(len(ratios)):
        while missing(split) > 0:
            donor = min(
                (s for s in range(len(ratios)) if missing(s) < 0),
                key=lambda s: missing(s),
            )
            tier = next(t for t in tiers if counts[t][donor] > 0)
            counts[tier][donor] -= 1
            counts[tier][split] += 1

    assigned: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for tier in tiers:
        rng = np.random.default_rng(stable_seed(seed, "splits", tier))
        ids = sorted(by_tier[tier])
        shuffled = [ids[i] for i in rng.permutation(len(ids))]
        start = 0
        for split, name in enumerate(SPLIT_NAMES):
            assigned[name].extend(shuffled[start : start + counts[tier][split]])
            start += counts[tier][split]
    return SplitAssignment({name: sorted(ids) for name, ids in assigned.items()}, tuple(ratios))
