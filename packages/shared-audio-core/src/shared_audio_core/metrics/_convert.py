"""Input normalisation: torch tensors, numpy arrays and sequences become validated float64/int64 tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .errors import MetricInputError

__all__ = [
    "ABS_TOLERANCE",
    "ArrayLike",
    "as_2d",
    "as_float",
    "as_labels",
    "check_same_shape",
    "input_dtype",
]

ArrayLike = torch.Tensor | np.ndarray | Sequence[Any]

# Absolute slack for comparisons against user thresholds: float64 rounding makes 0.35 - 0.30 fall
# just below 0.05 while 0.55 - 0.50 lands just above it.
ABS_TOLERANCE = 1e-9

_NUMPY_FLOATS = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32}


def _to_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as err:
        raise MetricInputError(f"{name}: cannot convert {type(x).__name__} to an array: {err}") from err


def input_dtype(*xs: ArrayLike) -> torch.dtype:
    """The coarsest floating dtype the inputs arrive in (float64 for integers, booleans, lists).

    Metrics compute in float64, but a float32 ``0.7`` is not the float64 ``0.7``: comparisons with
    bin edges and thresholds use this dtype's precision so such values are not misclassified.
    """
    dtypes = [_dtype(x) for x in xs]
    return max(dtypes, key=lambda d: torch.finfo(d).eps)


def _dtype(x: ArrayLike) -> torch.dtype:
    if isinstance(x, torch.Tensor):
        return x.dtype if x.is_floating_point() else torch.float64
    try:
        return _NUMPY_FLOATS.get(np.asarray(x).dtype, torch.float64)
    except (TypeError, ValueError):
        return torch.float64


def as_float(x: ArrayLike, name: str, *, ndim: tuple[int, ...] = (1, 2)) -> torch.Tensor:
    """Finite, non-empty float64 tensor with one of the allowed numbers of dimensions."""
    t = _to_tensor(x, name)
    if t.is_complex():
        raise MetricInputError(f"{name}: complex values are not supported")
    t = t.to(torch.float64)
    if t.ndim not in ndim:
        raise MetricInputError(
            f"{name}: expected {' or '.join(f'{d}-D' for d in ndim)} input, got shape {tuple(t.shape)}"
        )
    if t.numel() == 0:
        raise MetricInputError(f"{name}: input is empty")
    if not torch.isfinite(t).all():
        raise MetricInputError(f"{name}: contains NaN or infinite values")
    return t


def as_labels(x: ArrayLike, name: str) -> torch.Tensor:
    """Non-empty 1-D int64 tensor of non-negative class indices."""
    t = _to_tensor(x, name)
    if t.is_floating_point():
        if not torch.isfinite(t).all() or not torch.equal(t, t.round()):
            raise MetricInputError(f"{name}: class labels must be integers")
    elif t.dtype == torch.bool or t.is_complex():
        raise MetricInputError(f"{name}: class labels must be integers, got {t.dtype}")
    t = t.to(torch.int64)
    if t.ndim != 1 or t.numel() == 0:
        raise MetricInputError(
            f"{name}: expected a non-empty 1-D array of labels, got shape {tuple(t.shape)}"
        )
    if (t < 0).any():
        raise MetricInputError(f"{name}: class labels must be >= 0")
    return t


def check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise MetricInputError(f"{names}: shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")


def as_2d(t: torch.Tensor) -> torch.Tensor:
    """``[N]`` → ``[N, 1]``; ``[N, D]`` unchanged."""
    return t.unsqueeze(1) if t.ndim == 1 else t
