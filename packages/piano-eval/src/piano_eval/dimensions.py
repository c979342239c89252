"""Perceptual dimensions scored by the models.

PercePiano (Park et al., Sci. Rep. 2024) rates 19 dimensions on a 1–7 scale; the per-dimension mean is divided
by 7 so that targets live in [0, 1], which is what the sigmoid regression heads predict. Any other list of
dimension names (or just a count) is accepted so that the same models train on other rubrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PERCEPIANO_DIMENSIONS: tuple[str, ...] = (
    "timing",
    "articulation_length",
    "articulation_touch",
    "pedal_amount",
    "pedal_clarity",
    "timbre_variety",
    "timbre_depth",
    "timbre_brightness",
    "timbre_loudness",
    "dynamic_range",
    "tempo",
    "space",
    "balance",
    "drama",
    "mood_valence",
    "mood_energy",
    "mood_imagination",
    "sophistication",
    "interpretation",
)
NUM_PERCEPIANO_DIMENSIONS: int = len(PERCEPIANO_DIMENSIONS)

PERCEPIANO_RATING_MIN: float = 1.0
PERCEPIANO_RATING_MAX: float = 7.0
# Annotator means above this are data-entry errors in PercePiano and are dropped, not clipped.
PERCEPIANO_RATING_CEILING: float = 7.1


class DimensionError(ValueError):
    """A dimension specification or rating that cannot be used."""


def resolve_dimensions(spec: Sequence[str] | int | None = None) -> tuple[str, ...]:
    """Turn a dimension spec into an ordered tuple of unique names.

    ``None`` gives PercePiano's 19 dimensions, an int ``k`` gives ``dim_0 … dim_{k-1}`` and a sequence of
    names is validated (non-empty, unique, non-blank).
    """
    if spec is None:
        return PERCEPIANO_DIMENSIONS
    if isinstance(spec, bool):
        raise DimensionError(f"dimension spec must be names or a positive count, got {spec!r}")
    if isinstance(spec, int):
        if spec < 1:
            raise DimensionError(f"number of dimensions must be >= 1, got {spec}")
        return tuple(f"dim_{i}" for i in range(spec))
    if isinstance(spec, str):
        raise DimensionError("pass a sequence of dimension names, not a single string")
    names = tuple(spec)
    if not names:
        raise DimensionError("dimension list is empty")
    blank = [n for n in names if not isinstance(n, str) or not n.strip()]
    if blank:
        raise DimensionError(f"dimension names must be non-empty strings, got {blank!r}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DimensionError(f"duplicate dimension names: {duplicates}")
    return names


def dimension_index(name: str, dimensions: Sequence[str] = PERCEPIANO_DIMENSIONS) -> int:
    """Position of ``name`` in ``dimensions`` with an error that lists the valid names."""
    try:
        return tuple(dimensions).index(name)
    except ValueError:
        raise DimensionError(f"unknown dimension {name!r}; expected one of {list(dimensions)}") from None


def dimension_names(num_dimensions: int) -> tuple[str, ...]:
    """Names for ``num_dimensions`` model outputs: PercePiano's when there are 19, else ``dim_0 …``.

    Used for per-dimension metric names (``val/r2_timing``) by models that only know their output count.
    """
    if num_dimensions == NUM_PERCEPIANO_DIMENSIONS:
        return PERCEPIANO_DIMENSIONS
    return resolve_dimensions(num_dimensions)


def normalize_percepiano_rating(mean_rating: float) -> float:
    """Map a PercePiano annotator mean (1–7 scale) to the [0, 1] target used by the models (mean / 7).

    Means in (7, 7.1] are clipped to 7 as in PercePiano; anything else off the scale raises, naming the value:
    0 or blank is PercePiano's "don't know", other values below 1 and above 7.1 are data errors.
    """
    if not math.isfinite(mean_rating):
        raise DimensionError(f"rating must be finite, got {mean_rating!r}")
    scale = f"the {PERCEPIANO_RATING_MIN:g}–{PERCEPIANO_RATING_MAX:g} scale"
    if mean_rating == 0:
        raise DimensionError(
            f"rating {mean_rating} is below {scale}: 0/blank is PercePiano's 'don't know'; drop it or mask it"
        )
    if mean_rating < PERCEPIANO_RATING_MIN:
        raise DimensionError(f"rating {mean_rating} is below {scale} (PercePiano ratings are 1–7)")
    if mean_rating > PERCEPIANO_RATING_CEILING:
        raise DimensionError(
            f"rating {mean_rating} is above {scale} (means above {PERCEPIANO_RATING_CEILING} are dropped)"
        )
    return min(mean_rating, PERCEPIANO_RATING_MAX) / PERCEPIANO_RATING_MAX
