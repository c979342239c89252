"""Groove analysis: onset grids, muspy-style consistency metrics, swing measured back from MIDI ticks.

- ``groove_consistency``: 1 - mean normalised Hamming distance between neighbouring bars' onset
  position vectors (muspy's definition, any instrument).
- ``empty_beat_rate``: fraction of notated beats (numerator per bar) without an onset.
- ``density``: onsets per bar.
- ``measure_swing``: the MPC swing percentage, read back from where off-beat notes sit inside their
  bar-anchored pairs; exact (to the tick) on quantized-then-swung input. Swing is the shared off-beat
  grid; pass ``instrument_offsets_ms`` to remove a style's fixed per-instrument push/drag (micro-timing,
  such as a laid-back snare) before measuring. ``measure_swing_pooled`` pools many patterns.

Metrics that are undefined for a pattern (one bar, no off-beats) raise :class:`InsufficientDataError`
rather than returning NaN; :func:`summarize` skips such patterns and reports how many were measured.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from drum_gen import gm
from drum_gen.humanize import instrument_offset_ms, swing_step_ticks
from drum_gen.pattern import Pattern


class InsufficientDataError(ValueError):
    """The metric is undefined for this pattern (too short, empty, or without the needed onsets)."""


def _grid_step(pattern: Pattern, steps_per_beat: int) -> tuple[int, int]:
    if steps_per_beat < 1 or pattern.ticks_per_beat % steps_per_beat:
        raise ValueError(
            f"steps_per_beat={steps_per_beat} does not divide ticks_per_beat={pattern.ticks_per_beat}"
        )
    step = pattern.ticks_per_beat // steps_per_beat
    if pattern.ticks_per_bar % step:
        raise ValueError(
            f"a {pattern.time_signature} bar is not a whole number of {steps_per_beat}-per-beat steps"
        )
    return step, pattern.ticks_per_bar // step


def onset_grid(pattern: Pattern, steps_per_beat: int = 4, *, velocity: bool = False) -> np.ndarray:
    """``[bars, steps_per_bar, 9]`` float32 grid of onsets snapped to the nearest step.

    ``steps_per_beat`` counts per quarter note (4 -> 16ths), so a 7/8 bar has 14 steps. Values are 1.0
    (or velocity/127 with ``velocity=True``); an onset rounding past the last step stays in the last cell.
    """
    step, steps_per_bar = _grid_step(pattern, steps_per_beat)
    bars = pattern.num_bars
    grid = np.zeros((bars, steps_per_bar, gm.NUM_DRUM_CLASSES), dtype=np.float32)
    total = bars * steps_per_bar
    for note in pattern.notes:
        index = min(math.floor(note.time / step + 0.5), total - 1)
        bar, pos = divmod(index, steps_per_bar)
        value = note.velocity / 127.0 if velocity else 1.0
        cls = gm.pitch_to_class(note.pitch)
        grid[bar, pos, cls] = max(grid[bar, pos, cls], value)
    return grid


def groove_consistency(pattern: Pattern, steps_per_beat: int = 4) -> float:
    """1 - mean Hamming distance (normalised by steps per bar) between consecutive bars' onset positions."""
    if pattern.num_bars < 2:
        raise InsufficientDataError("groove consistency needs at least two bars")
    positions = onset_grid(pattern, steps_per_beat).max(axis=2) > 0
    distances = np.mean(positions[1:] != positions[:-1], axis=1)
    return float(1.0 - distances.mean())


def empty_beat_rate(pattern: Pattern) -> float:
    """Fraction of notated beats (1/denominator notes, numerator per bar) that contain no onset."""
    if pattern.num_bars == 0:
        raise InsufficientDataError("empty beat rate needs a pattern with at least one bar")
    beat = pattern.ticks_per_beat * 4 // pattern.time_signature[1]
    n_beats = pattern.num_bars * pattern.time_signature[0]
    occupied = {min(n.time // beat, n_beats - 1) for n in pattern.notes}
    return 1.0 - len(occupied) / n_beats


def density(pattern: Pattern) -> float:
    """Onsets per bar."""
    if pattern.num_bars == 0:
        raise InsufficientDataError("density needs a pattern with at least one bar")
    return len(pattern.notes) / pattern.num_bars


def pair_offsets(pattern: Pattern, resolution: int = 16) -> np.ndarray:
    """Position of every note inside its bar-anchored swing pair, as a fraction of the pair's span."""
    span = 2 * swing_step_ticks(pattern.ticks_per_beat, resolution)
    bar_ticks = pattern.ticks_per_bar
    fractions = []
    for note in pattern.notes:
        rel = note.time % bar_ticks
        pair = rel // span
        if (pair + 1) * span <= bar_ticks:  # incomplete pairs are never swung
            fractions.append((rel - pair * span) / span)
    return np.asarray(fractions, dtype=np.float64)


_STRAIGHT_LATTICE = np.array(sorted({i / 8 for i in range(9)} | {i / 6 for i in range(7)}))
"""Straight positions inside a pair: 32nds and (16th-)triplets."""


def _unswing(fractions: np.ndarray, swing: float) -> np.ndarray:
    """Invert the MPC warp: where notes at ``fractions`` sat before swinging by ``swing`` (0-1)."""
    return np.where(
        fractions <= swing, fractions * 0.5 / swing, 0.5 + (fractions - swing) * 0.5 / (1.0 - swing)
    )


def remove_instrument_offsets(pattern: Pattern, instrument_offsets_ms: Mapping[int, float]) -> Pattern:
    """Undo fixed per-instrument push/drag (ms, looked up like :func:`~drum_gen.humanize.add_microtiming`:
    exact pitch, then drum class) so that only the shared grid (swing) and zero-mean jitter remain."""
    if not instrument_offsets_ms:
        return pattern
    notes = [
        dataclasses.replace(
            n,
            time=max(
                0, round(n.time - pattern.ms_to_ticks(instrument_offset_ms(n.pitch, instrument_offsets_ms)))
            ),
        )
        for n in pattern.notes
    ]
    return pattern.with_notes(notes)


def _swing_from_fractions(fractions: np.ndarray, tolerance: float, resolution: int) -> float:
    candidates = np.sort(fractions[(fractions >= 0.35) & (fractions < 0.9)])
    if candidates.size == 0:
        raise InsufficientDataError(f"no off-beat notes at {resolution}th resolution to measure swing from")
    clusters = np.split(candidates, np.flatnonzero(np.diff(candidates) > 0.03) + 1)
    medians = [float(np.median(c)) for c in clusters]
    best: tuple[int, float] | None = None
    for swing in medians:
        straight = _unswing(fractions, swing)
        explained = int(
            np.sum(np.min(np.abs(straight[:, None] - _STRAIGHT_LATTICE[None, :]), axis=1) <= tolerance)
        )
        key = (explained, -abs(swing - 0.5))
        if best is None or key > (best[0], -abs(best[1] - 0.5)):
            best = (explained, swing)
    assert best is not None
    if best[0] >= 0.9 * fractions.size:
        return best[1] * 100.0
    largest = max(range(len(clusters)), key=lambda i: len(clusters[i]))
    return medians[largest] * 100.0


def measure_swing(
    pattern: Pattern, resolution: int = 16, *, instrument_offsets_ms: Mapping[int, float] | None = None
) -> float:
    """MPC swing percent (50 = straight) read back from note positions inside bar-anchored pairs.

    **Definition.** Swing is a property of the shared off-beat grid: the position of the off-beat
    note inside each pair of ``resolution`` steps, the same for every instrument. A fixed
    per-instrument push or drag (a laid-back snare, a pushed kick) is micro-timing, not swing. Pass
    the offsets the pattern was humanized with as ``instrument_offsets_ms`` (GM pitch -> ms, e.g. a
    style's ``per_instrument_offsets_ms``) to remove them first (:func:`remove_instrument_offsets`);
    without it, the plain positions are read, and a late snare ghost on an off-beat 16th reads as
    extra swing (J Dilla's +18 ms snare adds 4 points at 90 BPM).

    Off-beat candidates sit between 35% and 90% of their pair (on-beats played early or late and
    swung 32nds fall outside) and are clustered. For grid-based input, each cluster is tried as the
    swing value and the one that maps the most notes back onto a straight 32nd/triplet lattice wins
    (ties: closest to 50%, since straight triplets and 66.7% swing are the same music); its median
    position is returned, exact to the tick on quantized+swung input. Loose (humanized) input, where
    no candidate explains 90% of the notes, falls back to the median of the largest cluster: a
    pattern's few off-beats give a noisy reading, so pool several with :func:`measure_swing_pooled`.
    """
    if instrument_offsets_ms:
        pattern = remove_instrument_offsets(pattern, instrument_offsets_ms)
    fractions = pair_offsets(pattern, resolution)
    span = 2 * swing_step_ticks(pattern.ticks_per_beat, resolution)
    return _swing_from_fractions(fractions, 1.01 / span, resolution)


def measure_swing_pooled(
    patterns: Sequence[Pattern],
    resolution: int = 16,
    *,
    instrument_offsets_ms: Mapping[int, float] | None = None,
) -> float:
    """:func:`measure_swing` over the off-beats of all ``patterns`` together (same definition and options).

    Each pattern's notes are placed in its own bar-anchored pairs (tempo and meter may differ), then
    one estimate is made from the pooled positions: the robust reading for humanized patterns.
    Raises :class:`InsufficientDataError` when there are no patterns or no off-beat notes.
    """
    if not patterns:
        raise InsufficientDataError("pooled swing needs at least one pattern")
    fractions = []
    spans = []
    for pattern in patterns:
        if instrument_offsets_ms:
            pattern = remove_instrument_offsets(pattern, instrument_offsets_ms)
        fractions.append(pair_offsets(pattern, resolution))
        spans.append(2 * swing_step_ticks(pattern.ticks_per_beat, resolution))
    return _swing_from_fractions(np.concatenate(fractions), 1.01 / min(spans), resolution)


def try_measure_swing(
    pattern: Pattern, resolution: int = 16, *, instrument_offsets_ms: Mapping[int, float] | None = None
) -> float | None:
    """:func:`measure_swing`, or None where it is undefined (no off-beat notes)."""
    try:
        return measure_swing(pattern, resolution, instrument_offsets_ms=instrument_offsets_ms)
    except InsufficientDataError:
        return None


def microtiming_deviation_ms(pattern: Pattern, steps_per_beat: int = 4) -> float:
    """Mean absolute distance (ms) of onsets from the straight grid: looseness, swing included."""
    if not pattern.notes:
        raise InsufficientDataError("micro-timing needs at least one note")
    step = pattern.ticks_per_beat / steps_per_beat
    times = np.array([n.time for n in pattern.notes], dtype=np.float64)
    deviation = np.abs(times - np.round(times / step) * step)
    return float(deviation.mean() * pattern.seconds_per_tick * 1000.0)


def instrument_distribution(patterns: Sequence[Pattern]) -> dict[str, float]:
    """Share of onsets per drum class over all patterns."""
    counts = np.zeros(gm.NUM_DRUM_CLASSES)
    for pattern in patterns:
        for note in pattern.notes:
            counts[gm.pitch_to_class(note.pitch)] += 1
    total = counts.sum()
    return {name: float(c / total) if total else 0.0 for name, c in zip(gm.DRUM_CLASSES, counts, strict=True)}


METRICS: dict[str, Callable[[Pattern], float]] = {
    "groove_consistency": groove_consistency,
    "empty_beat_rate": empty_beat_rate,
    "density": density,
    "swing": measure_swing,
    "microtiming_ms": microtiming_deviation_ms,
}
"""Per-pattern metrics reported by :func:`summarize` and :func:`compare`."""


def metric_values(patterns: Sequence[Pattern], metric: str) -> np.ndarray:
    """Values of one metric over patterns, skipping patterns where it is undefined."""
    fn = METRICS[metric]
    values = []
    for pattern in patterns:
        try:
            values.append(fn(pattern))
        except InsufficientDataError:
            continue
    return np.asarray(values, dtype=np.float64)


def summarize(patterns: Sequence[Pattern]) -> dict[str, Any]:
    """Mean, std and count of every metric in :data:`METRICS`, plus tempo and instrument shares."""
    summary: dict[str, Any] = {"n_patterns": len(patterns)}
    for metric in METRICS:
        values = metric_values(patterns, metric)
        summary[metric] = {
            "mean": float(values.mean()) if values.size else None,
            "std": float(values.std()) if values.size else None,
            "n": int(values.size),
        }
    tempos = np.array([p.tempo_bpm for p in patterns])
    summary["tempo_bpm"] = {"mean": float(tempos.mean()) if tempos.size else None, "n": int(tempos.size)}
    summary["instruments"] = instrument_distribution(patterns)
    return summary


def group_by_style(items: Iterable[Any]) -> dict[str, list[Pattern]]:
    """Group corpus items (``.style``) or Groove MIDI records (``.mapped_style``) by style for :func:`compare`.

    Records without a mapped style are skipped.
    """
    groups: dict[str, list[Pattern]] = {}
    for item in items:
        style = getattr(item, "mapped_style", None) or getattr(item, "style", None)
        if getattr(item, "mapped_style", "") is None or style is None:
            continue
        groups.setdefault(style, []).append(item.pattern)
    return groups


def overlapping_area(a: np.ndarray, b: np.ndarray, bins: int = 20) -> float | None:
    """MGEval-style overlap (0-1) of two value distributions, from histograms on a shared range."""
    if a.size == 0 or b.size == 0:
        return None
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    if hi - lo < 1e-12:
        return 1.0
    ha, _ = np.histogram(a, bins=bins, range=(lo, hi))
    hb, _ = np.histogram(b, bins=bins, range=(lo, hi))
    return float(np.minimum(ha / ha.sum(), hb / hb.sum()).sum())


@dataclass(frozen=True)
class ComparisonRow:
    style: str
    metric: str
    generated: float | None
    corpus: float | None
    difference: float | None
    overlap: float | None
    n_generated: int
    n_corpus: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ComparisonTable:
    rows: tuple[ComparisonRow, ...]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]

    def to_markdown(self) -> str:
        def fmt(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        lines = [
            "| style | metric | generated | corpus | difference | overlap | n gen | n corpus |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.style} | {r.metric} | {fmt(r.generated)} | {fmt(r.corpus)} | {fmt(r.difference)} "
                f"| {fmt(r.overlap)} | {r.n_generated} | {r.n_corpus} |"
            )
        return "\n".join(lines)


def compare(
    generated_by_style: Mapping[str, Sequence[Pattern]],
    corpus_by_style: Mapping[str, Sequence[Pattern]],
    metrics: Sequence[str] = tuple(METRICS),
) -> ComparisonTable:
    """Per style and metric: generated vs corpus means, their difference and distribution overlap.

    Styles present on only one side still get rows (the other side reads n/a).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; valid: {', '.join(METRICS)}")
    styles = list(dict.fromkeys([*generated_by_style, *corpus_by_style]))
    rows = []
    for style in styles:
        for metric in metrics:
            gen = metric_values(generated_by_style.get(style, ()), metric)
            ref = metric_values(corpus_by_style.get(style, ()), metric)
            g = float(gen.mean()) if gen.size else None
            c = float(ref.mean()) if ref.size else None
            rows.append(
                ComparisonRow(
                    style=style,
                    metric=metric,
                    generated=g,
                    corpus=c,
                    difference=None if g is None or c is None else g - c,
                    overlap=overlapping_area(gen, ref),
                    n_generated=int(gen.size),
                    n_corpus=int(ref.size),
                )
            )
    return ComparisonTable(tuple(rows))
