"""Piece-disjoint folds: every performance of a piece is in exactly one fold.

PercePiano's published protocol is 4-fold cross-validation by piece; the original project's folds let a
piece into two folds, which inflates every score (the model has heard the piece). :func:`piece_folds`
builds balanced piece-disjoint folds and :func:`check_piece_folds` refuses any assignment that leaks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .errors import FoldLeakError


def piece_folds(piece_ids: Sequence[str], k: int = 4, *, seed: int = 0) -> list[int]:
    """Fold index per item: pieces are dealt largest first to the fold with fewest items (ties by seed)."""
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    counts = Counter(piece_ids)
    if len(counts) < k:
        raise ValueError(f"{len(counts)} pieces cannot fill {k} piece-disjoint folds")
    rng = np.random.default_rng(seed)
    pieces = sorted(counts, key=lambda p: (-counts[p], rng.random()))
    sizes = [0] * k
    fold_of: dict[str, int] = {}
    for piece in pieces:
        fold = min(range(k), key=lambda f: (sizes[f], rng.random()))
        fold_of[piece] = fold
        sizes[fold] += counts[piece]
    return [fold_of[p] for p in piece_ids]


def check_piece_folds(piece_ids: Sequence[str], folds: Sequence[int], *, source: str = "folds") -> None:
    """Raise :class:`FoldLeakError` naming the first piece that appears in two folds."""
    if len(folds) != len(piece_ids):
        raise ValueError(f"{source}: {len(folds)} fold entries for {len(piece_ids)} items")
    seen: dict[str, int] = {}
    for piece, fold in zip(piece_ids, folds, strict=True):
        if seen.setdefault(piece, fold) != fold:
            raise FoldLeakError(f"{source}: piece {piece!r} is in folds {seen[piece]} and {fold}")
