"""Calibration: re-rate anchor segments labelled before and measure how consistent the labeller is.

Seed 001 §3.3: label a set, re-label the same segments a day later, and check the correlation per
dimension (aim for r > 0.7) before trusting a rubric. The second ratings live in their own file (pass
``calibration``) so the first ones are never overwritten; the anchors are presented with the sliders at
their defaults, not at the first ratings, so the second pass is not anchored on the first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from piano_labeler.config import MIN_ANCHORS
from piano_labeler.segments import Segment
from piano_labeler.store import Annotation

CONSISTENCY_TARGET = 0.7  # seed 001 §3.3


class CalibrationError(ValueError):
    """Calibration cannot start: no first ratings, or an anchor that is unknown or not labelled yet."""


def choose_anchors(
    segments: Sequence[Segment],
    labelled: Mapping[str, Annotation],
    *,
    count: int,
    keys: Sequence[str] | None = None,
) -> list[Segment]:
    """The anchors, in dataset order: the given ``keys``, else ``count`` segments spread evenly over the
    labelled ones (every k-th; all of them when fewer are labelled)."""
    done = [s for s in segments if s.key in labelled]
    if keys is not None:
        by_key = {s.key: s for s in segments}
        unknown = [k for k in keys if k not in by_key]
        if unknown:
            raise CalibrationError(f"anchor keys not among the dataset's segments: {unknown[:5]}")
        unlabelled = [k for k in keys if k not in labelled]
        if unlabelled:
            raise CalibrationError(f"anchors without a first rating to compare with: {unlabelled[:5]}")
        wanted = set(keys)
        return [s for s in segments if s.key in wanted]
    if not done:
        raise CalibrationError("no segment has a first rating yet: label some before calibrating")
    if count >= len(done):
        return done
    picks = sorted({int(i) for i in np.linspace(0, len(done) - 1, count).round()})
    return [done[i] for i in picks]


@dataclass(frozen=True)
class DimensionConsistency:
    dimension: str
    pairs: int
    pearson: float | None  # None when undefined; ``reason`` says why
    mean_abs_difference: float | None
    reason: str | None = None


@dataclass(frozen=True)
class ConsistencyReport:
    pairs: int  # anchors rated on both passes
    dimensions: tuple[DimensionConsistency, ...]

    @property
    def mean_pearson(self) -> float | None:
        values = [d.pearson for d in self.dimensions if d.pearson is not None]
        return float(np.mean(values)) if values else None


def self_consistency(
    first: Mapping[str, Annotation],
    second: Mapping[str, Annotation],
    dimensions: Sequence[str],
) -> ConsistencyReport:
    """Pearson r and mean |difference| per dimension between the two ratings of each twice-rated segment.

    Undefined (``pearson=None`` with a reason) under ``MIN_ANCHORS`` pairs or when one pass gave every
    anchor the same value (zero variance).
    """
    keys = [k for k in second if k in first]
    rows = []
    for dim in dimensions:
        pairs = [
            (first[k].labels[dim], second[k].labels[dim])
            for k in keys
            if dim in first[k].labels and dim in second[k].labels
        ]
        a = np.array([p[0] for p in pairs], dtype=np.float64)
        b = np.array([p[1] for p in pairs], dtype=np.float64)
        mad = float(np.mean(np.abs(a - b))) if len(a) else None
        if len(a) < MIN_ANCHORS:
            rows.append(
                DimensionConsistency(
                    dim, len(a), None, mad, f"needs ≥ {MIN_ANCHORS} anchors rated twice, has {len(a)}"
                )
            )
            continue
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            which = "first" if np.ptp(a) == 0 else "second"
            rows.append(
                DimensionConsistency(dim, len(a), None, mad, f"the {which} pass rated every anchor the same")
            )
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        rows.append(DimensionConsistency(dim, len(a), r if math.isfinite(r) else None, mad))
    return ConsistencyReport(len(keys), tuple(rows))


def report_markdown(report: ConsistencyReport, target: float = CONSISTENCY_TARGET) -> str:
    """The report as a Markdown table for the page, with dimensions under ``target`` flagged."""
    if report.pairs < MIN_ANCHORS:
        return (
            f"**Self-consistency:** {report.pairs} anchor(s) rated twice so far; Pearson needs at least "
            f"{MIN_ANCHORS}."
        )
    lines = [
        f"**Self-consistency** over {report.pairs} anchors rated twice (target r > {target:g}):",
        "",
        "| dimension | pairs | Pearson r | mean abs. difference | |",
        "|---|---:|---:|---:|---|",
    ]
    for d in report.dimensions:
        r = "–" if d.pearson is None else f"{d.pearson:.2f}"
        mad = "–" if d.mean_abs_difference is None else f"{d.mean_abs_difference:.1f}"
        flag = d.reason or ("" if d.pearson is None or d.pearson > target else "below target")
        lines.append(f"| {d.dimension} | {d.pairs} | {r} | {mad} | {flag} |")
    mean = report.mean_pearson
    if mean is not None:
        lines += ["", f"Mean r over the defined dimensions: **{mean:.2f}**"]
    return "\n".join(lines)


__all__ = [
    "CONSISTENCY_TARGET",
    "CalibrationError",
    "ConsistencyReport",
    "DimensionConsistency",
    "choose_anchors",
    "report_markdown",
    "self_consistency",
]
