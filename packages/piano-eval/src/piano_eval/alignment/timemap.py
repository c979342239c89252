"""A monotone map from score time to performance time, fitted through aligned onsets.

Used where a score position must be placed in the performance without a played note there: a missed
note, a harmony change, a segment boundary. The map is the median performed onset of each score onset,
made non-decreasing by isotonic regression (pool-adjacent-violators, weighted by the number of notes),
linearly interpolated between onsets and extrapolated with the overall least-squares tempo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def isotonic(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of ``values`` (pool adjacent violators)."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    means: list[float] = []
    mass: list[float] = []
    counts: list[int] = []
    for value, weight in zip(values, weights, strict=True):
        means.append(float(value))
        mass.append(float(weight))
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = mass[-2] + mass[-1]
            merged = (means[-2] * mass[-2] + means[-1] * mass[-1]) / total
            count = counts[-2] + counts[-1]
            del means[-1], mass[-1], counts[-1]
            means[-1], mass[-1], counts[-1] = merged, total, count
    return np.repeat(means, counts)


@dataclass(frozen=True)
class TimeMap:
    """Piecewise-linear, non-decreasing score → performance map (``score`` and ``performance`` knots)."""

    score: np.ndarray  # [K] strictly increasing score times
    performance: np.ndarray  # [K] non-decreasing performance times
    slope: float  # performance seconds per score unit outside the knots

    @classmethod
    def fit(cls, score_times: np.ndarray, performance_times: np.ndarray) -> TimeMap:
        score_times = np.asarray(score_times, dtype=np.float64)
        performance_times = np.asarray(performance_times, dtype=np.float64)
        if score_times.size == 0:
            raise ValueError("a time map needs at least one aligned onset")
        knots, inverse, counts = np.unique(score_times, return_inverse=True, return_counts=True)
        medians = np.array([np.median(performance_times[inverse == k]) for k in range(knots.size)])
        fitted = isotonic(medians, counts)
        slope = float(np.polyfit(knots, fitted, 1, w=np.sqrt(counts))[0]) if knots.size >= 2 else 1.0
        return cls(knots, fitted, max(slope, 1e-6))

    def __call__(self, score_times: np.ndarray | float) -> np.ndarray:
        x = np.asarray(score_times, dtype=np.float64)
        y = np.interp(x, self.score, self.performance)
        y = np.where(x < self.score[0], self.performance[0] + (x - self.score[0]) * self.slope, y)
        return np.where(x > self.score[-1], self.performance[-1] + (x - self.score[-1]) * self.slope, y)

    def inverse(self, performance_times: np.ndarray | float) -> np.ndarray:
        """Score time of each performance time (the map is monotone; flat stretches give their start)."""
        y = np.asarray(performance_times, dtype=np.float64)
        perf, keep = np.unique(self.performance, return_index=True)
        x = np.interp(y, perf, self.score[keep])
        x = np.where(y < perf[0], self.score[keep[0]] + (y - perf[0]) / self.slope, x)
        return np.where(y > perf[-1], self.score[keep[-1]] + (y - perf[-1]) / self.slope, x)
