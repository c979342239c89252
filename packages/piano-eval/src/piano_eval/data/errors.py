"""Errors the data loaders raise: each names the file and, where there is one, the row and field."""

from __future__ import annotations


class DatasetLayoutError(ValueError):
    """A corpus folder is not in the published layout (a metadata file or column is missing)."""


class LabelFileError(ValueError):
    """A label/ratings file is malformed: a missing dimension, a rating outside its scale, a bad row."""


class FoldLeakError(ValueError):
    """Two folds share a piece (piece-disjoint folds are the point of cross-validation by piece)."""
