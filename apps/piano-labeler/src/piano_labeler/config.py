"""What a labelling session rates and how: the dimensions, the slider scale, the labeller, calibration.

The default dimensions are seed 001's rubric (§3.2): six technical ones, which the pseudo-labels of
``piano-eval pseudo-label`` also score, and four interpretive ones that only a listener can judge.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from piano_eval.dimensions import DimensionError, resolve_dimensions

TECHNICAL_DIMENSIONS: tuple[str, ...] = (
    "note_accuracy",
    "rhythmic_precision",
    "dynamics_control",
    "articulation_quality",
    "pedaling_technique",
    "tone_quality",
)
INTERPRETIVE_DIMENSIONS: tuple[str, ...] = ("phrasing", "musicality", "overall_quality", "expressiveness")
DEFAULT_DIMENSIONS: tuple[str, ...] = TECHNICAL_DIMENSIONS + INTERPRETIVE_DIMENSIONS

SCALE_MIN = 0.0
SCALE_MAX = 100.0
DEFAULT_SEGMENT_SECONDS = 20.0
DEFAULT_ANCHORS = 20  # seed 001 §3.3: re-label 20 segments to check self-consistency
MIN_ANCHORS = 3  # fewer pairs give no meaningful Pearson correlation

# Dimension names become JSON keys and HTML element ids (``slider-<name>``): keep them plain.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def default_labeller() -> str:
    """The login name: who labelled is part of every record, and most people label on their own account."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def parse_dimensions(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"a,b,c"`` or a sequence of names → validated unique names (``DimensionError`` otherwise)."""
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else [str(n).strip() for n in spec]
    dims = resolve_dimensions(names)
    bad = [n for n in dims if not _NAME.match(n)]
    if bad:
        raise DimensionError(
            f"dimension names must start with a letter and hold only letters, digits, _ or -, got {bad}"
        )
    return dims


@dataclass(frozen=True)
class LabelerConfig:
    """One session's settings. ``anchor_keys`` (segment keys) wins over ``anchors`` (a count)."""

    dimensions: tuple[str, ...] = DEFAULT_DIMENSIONS
    labeller: str = field(default_factory=default_labeller)
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    slider_default: float = 50.0
    calibration: bool = False
    anchors: int = DEFAULT_ANCHORS
    anchor_keys: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", parse_dimensions(self.dimensions))
        if not self.labeller.strip():
            raise ValueError("labeller name is empty")
        if not self.segment_seconds > 0:
            raise ValueError(f"segment_seconds must be positive, got {self.segment_seconds}")
        if not SCALE_MIN <= self.slider_default <= SCALE_MAX:
            raise ValueError(f"slider_default must be within {SCALE_MIN:g}–{SCALE_MAX:g}")
        if self.anchors < 1:
            raise ValueError(f"anchors must be ≥ 1, got {self.anchors}")


__all__ = [
    "DEFAULT_ANCHORS",
    "DEFAULT_DIMENSIONS",
    "DEFAULT_SEGMENT_SECONDS",
    "INTERPRETIVE_DIMENSIONS",
    "MIN_ANCHORS",
    "SCALE_MAX",
    "SCALE_MIN",
    "TECHNICAL_DIMENSIONS",
    "DimensionError",
    "LabelerConfig",
    "default_labeller",
    "parse_dimensions",
]
