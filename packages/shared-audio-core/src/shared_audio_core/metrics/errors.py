"""Typed errors for metrics: bad input vs. a metric that is mathematically undefined for the input."""

from __future__ import annotations

__all__ = ["MetricError", "MetricInputError", "UndefinedMetricError"]


class MetricError(ValueError):
    """Base class of metric errors."""


class MetricInputError(MetricError):
    """Inputs have the wrong shape, type or range, are empty, or contain NaN/inf."""


class UndefinedMetricError(MetricError):
    """The metric has no value for this input (constant series, zero variance, no unambiguous pair...)."""
