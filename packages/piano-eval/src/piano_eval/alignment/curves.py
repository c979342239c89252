"""Smooth fits used by the labels: a piecewise-linear spline through (score time, value) points.

A tempo curve is performed onset as a function of score onset; its residuals are the timing errors, its
local slope the local beat period. The same spline is the slow dynamic trend of velocities. The spline
has a knot every ``spacing`` score units (quarters); a small penalty on the second differences of the
knot values keeps it defined where a knot interval holds no note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SMOOTHING = 1e-3  # weight of the second-difference penalty relative to the data (per knot)


def _knots(x: np.ndarray, spacing: float) -> np.ndarray:
    low, high = float(x.min()), float(x.max())
    count = max(2, int(np.ceil((high - low) / spacing)) + 1)
    return np.linspace(low, max(high, low + 1e-9), count)


def hat_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``[n, K]`` piecewise-linear interpolation weights of ``x`` on ``knots`` (clamped at the ends)."""
    x = np.clip(np.asarray(x, dtype=np.float64), knots[0], knots[-1])
    k = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 2)
    t = (x - knots[k]) / (knots[k + 1] - knots[k])
    basis = np.zeros((x.size, knots.size))
    basis[np.arange(x.size), k] = 1.0 - t
    basis[np.arange(x.size), k + 1] = t
    return basis


@dataclass(frozen=True)
class SplineFit:
    knots: np.ndarray
    coefficients: np.ndarray  # knot values, then the coefficients of the extra columns
    fitted: np.ndarray  # [n] fitted values at the data
    residuals: np.ndarray  # [n]
    parameters: int  # number of fitted coefficients (for the degrees-of-freedom correction)

    def rms(self) -> float:
        """Residual RMS corrected for the fitted parameters: ``sqrt(Σ r² / max(1, n − p))``."""
        n = self.residuals.size
        return float(np.sqrt(np.sum(self.residuals**2) / max(1, n - self.parameters)))

    def slope(self, x: np.ndarray) -> np.ndarray:
        """Derivative of the spline part at ``x`` (the slope of the knot interval holding it)."""
        knots, values = self.knots, self.coefficients[: self.knots.size]
        k = np.clip(
            np.searchsorted(knots, np.asarray(x, dtype=np.float64), side="right") - 1, 0, knots.size - 2
        )
        return (values[k + 1] - values[k]) / (knots[k + 1] - knots[k])


def fit_spline(x: np.ndarray, y: np.ndarray, spacing: float, extra: np.ndarray | None = None) -> SplineFit:
    """Least-squares ``y ≈ spline(x) + extra @ β`` with knots every ``spacing`` (see module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    knots = _knots(x, spacing)
    design = hat_basis(x, knots)
    if extra is not None:
        design = np.hstack([design, np.asarray(extra, dtype=np.float64).reshape(x.size, -1)])
    penalty = np.zeros((max(0, knots.size - 2), design.shape[1]))
    for row in range(penalty.shape[0]):
        penalty[row, row : row + 3] = (1.0, -2.0, 1.0)
    scale = np.sqrt(SMOOTHING * x.size)
    system = np.vstack([design, scale * penalty])
    target = np.concatenate([y, np.zeros(penalty.shape[0])])
    coefficients = np.linalg.lstsq(system, target, rcond=None)[0]
    fitted = design @ coefficients
    parameters = min(design.shape[1], int(np.linalg.matrix_rank(design)))
    return SplineFit(knots, coefficients, fitted, y - fitted, parameters)
