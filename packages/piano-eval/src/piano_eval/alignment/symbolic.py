"""Performance ↔ score note alignment with parangonar, checked before anything is computed from it.

parangonar's matchers pair every performed note with the score note of the same pitch it plays, leaving
deletions (score notes not played) and insertions (played notes not in the score). The default is
``DualDTWNoteMatcher`` (onset DTW forward and backward, then note matching); ``AutomaticNoteMatcher``
(piano-roll DTW, windowed symbolic matching) is available as ``matcher="automatic"``; on the synthetic
benchmark the dual-DTW matcher recovers more true matches (99.9 % against 78 %) in under a tenth of the
time (docs/pseudo-labels.md). A matcher always returns *some* pairing, even for a different piece, so the
result carries a quality score and :func:`align_notes` refuses to return one below a threshold.

Quality = note F-measure × timing coherence:

- ``F = 2 M / (N_score + N_perf)`` with ``M`` matched pairs: the share of notes that found a partner.
- coherence = the fraction of matched pairs whose performed onset lies within 0.25 s (or 10 % of the
  piece's length, whichever is larger) of a monotone time map fitted through all matches (the median
  performed onset per score onset, made non-decreasing). A real alignment's matches lie on one
  tempo curve; chance pitch coincidences of a different piece scatter.

On the synthetic benchmark (24 pieces × 6 performances, seeds 0 and 1) performances of their own score
scored ≥ 0.71 — the worst have 20 % wrong or missing notes — and performances aligned to another
generated piece ≤ 0.42, except two on seed 1 (0.68 and 0.71) aligned to a piece sharing 86 of their
110 score notes (the accompaniment): the default threshold 0.6 refuses a different piece, not one that
shares most of its notes (docs/pseudo-labels.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .curves import fit_spline
from .errors import AlignmentError
from .midi import PerformanceNotes, ScoreNotes, load_performance, load_score
from .timemap import TimeMap

DEFAULT_THRESHOLD = 0.6
COHERENCE_TOLERANCE_SECONDS = 0.25
COHERENCE_TOLERANCE_FRACTION = 0.1
LEFTOVER_TOLERANCE_SECONDS = 0.15
OUTLIER_SECONDS = 0.15
OUTLIER_KNOT_QUARTERS = 2.0

Matcher = Literal["automatic", "dual-dtw"]


@dataclass(frozen=True)
class NoteAlignment:
    """Which score note each performed note plays. Indices follow :mod:`piano_eval.alignment.midi`'s order."""

    score_path: Path
    performance_path: Path
    matches: np.ndarray  # [M, 2] int: (score index, performance index), sorted by performance index
    deletions: np.ndarray  # [D] score indices nobody played
    insertions: np.ndarray  # [I] performance indices that play no score note
    n_score: int
    n_performance: int
    f_measure: float
    coherence: float

    @property
    def score(self) -> float:
        """Alignment quality in [0, 1]: F-measure × timing coherence (module docstring)."""
        return self.f_measure * self.coherence

    def performance_to_score(self) -> np.ndarray:
        """``[N_perf]`` score index of each performed note, −1 for insertions."""
        out = np.full(self.n_performance, -1, dtype=int)
        out[self.matches[:, 1]] = self.matches[:, 0]
        return out


def _run_matcher(matcher: Matcher, score_array: np.ndarray, perf_array: np.ndarray) -> list[dict]:
    import parangonar

    if matcher == "automatic":
        engine = parangonar.AutomaticNoteMatcher()
    elif matcher == "dual-dtw":
        engine = parangonar.DualDTWNoteMatcher()
    else:
        raise ValueError(f"unknown matcher {matcher!r}: use 'automatic' or 'dual-dtw'")
    with warnings.catch_warnings():  # parangonar warns about every empty window of its piano-roll cut
        warnings.simplefilter("ignore")
        return engine(score_array, perf_array)


def _coherence(score: ScoreNotes, performance: PerformanceNotes, matches: np.ndarray) -> float:
    if matches.shape[0] < 2:
        return 0.0
    s_on = score.onset_quarter[matches[:, 0]]
    p_on = performance.onset[matches[:, 1]]
    fitted = TimeMap.fit(s_on, p_on)(s_on)
    span = float(performance.onset.max() - performance.onset.min())
    tolerance = max(COHERENCE_TOLERANCE_SECONDS, COHERENCE_TOLERANCE_FRACTION * span)
    return float(np.mean(np.abs(p_on - fitted) <= tolerance))


def _drop_incoherent(
    score: ScoreNotes, performance: PerformanceNotes, pairs: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Drop matches far off the tempo curve of the others.

    A wrong note that happens to have the pitch of a nearby score note gets matched to it, a few hundred
    milliseconds away from where that note belongs. Such a pair lies off a smooth tempo curve through
    all matches (piecewise linear, a knot every :data:`OUTLIER_KNOT_QUARTERS`): a match whose onset is
    more than max(:data:`OUTLIER_SECONDS`, 3.5 robust σ) from it is split into a deletion and an insertion.
    """
    if len(pairs) < 8:
        return pairs
    matched = np.array(pairs)
    x = score.onset_quarter[matched[:, 0]]
    if np.unique(x).size < 3:
        return pairs
    residuals = fit_spline(x, performance.onset[matched[:, 1]], OUTLIER_KNOT_QUARTERS).residuals
    spread = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    keep = np.abs(residuals) <= max(OUTLIER_SECONDS, 3.5 * spread)
    return [pair for pair, k in zip(pairs, keep, strict=True) if k]


def _pair_leftovers(
    score: ScoreNotes, performance: PerformanceNotes, pairs: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Pair unmatched score and performed notes of one pitch within :data:`LEFTOVER_TOLERANCE_SECONDS` of
    where the time map of the matches puts the score note, nearest first."""
    if len(pairs) < 2:
        return []
    matched = np.array(pairs)
    timemap = TimeMap.fit(score.onset_quarter[matched[:, 0]], performance.onset[matched[:, 1]])
    deleted = np.setdiff1d(np.arange(len(score)), matched[:, 0])
    inserted = np.setdiff1d(np.arange(len(performance)), matched[:, 1])
    if deleted.size == 0 or inserted.size == 0:
        return []
    expected = timemap(score.onset_quarter[deleted])
    candidates = sorted(
        (abs(performance.onset[i] - t), int(d), int(i))
        for d, t in zip(deleted, expected, strict=True)
        for i in inserted
        if performance.pitch[i] == score.pitch[d]
        and abs(performance.onset[i] - t) <= LEFTOVER_TOLERANCE_SECONDS
    )
    used_s: set[int] = set()
    used_p: set[int] = set()
    extra = []
    for _, d, i in candidates:
        if d not in used_s and i not in used_p:
            used_s.add(d)
            used_p.add(i)
            extra.append((d, i))
    return extra


def match_notes(
    score: ScoreNotes,
    performance: PerformanceNotes,
    matcher: Matcher = "dual-dtw",
    *,
    drop_incoherent: bool = True,
    pair_leftovers: bool = True,
) -> NoteAlignment:
    """Align without judging the result (:func:`align_notes` adds the threshold check).

    ``drop_incoherent`` removes matches far off the tempo curve of the others (:func:`_drop_incoherent`).
    parangonar matches one of two score notes of one pitch and onset (a unison of two voices) and leaves
    the second and its performed note unmatched; ``pair_leftovers`` pairs such leftovers afterwards (same
    pitch, at the time the other matches predict).
    """
    raw = _run_matcher(matcher, score.note_array, performance.note_array)
    score_index = {f"n{i}": i for i in range(len(score))}
    perf_index = {f"n{i}": i for i in range(len(performance))}
    pairs = [
        (score_index[str(a["score_id"])], perf_index[str(a["performance_id"])])
        for a in raw
        if a["label"] == "match"
    ]
    if drop_incoherent:
        pairs = _drop_incoherent(score, performance, pairs)
    if pair_leftovers:
        pairs += _pair_leftovers(score, performance, pairs)
    matches = np.array(sorted(pairs, key=lambda p: (p[1], p[0])), dtype=int).reshape(-1, 2)
    deletions = np.setdiff1d(np.arange(len(score)), matches[:, 0])
    insertions = np.setdiff1d(np.arange(len(performance)), matches[:, 1])
    f_measure = 2.0 * matches.shape[0] / (len(score) + len(performance))
    return NoteAlignment(
        score.path,
        performance.path,
        matches,
        deletions,
        insertions,
        len(score),
        len(performance),
        float(f_measure),
        _coherence(score, performance, matches),
    )


def align_notes(
    score: ScoreNotes | str | Path,
    performance: PerformanceNotes | str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    matcher: Matcher = "dual-dtw",
) -> NoteAlignment:
    """Align a performance to its score; :class:`AlignmentError` when the quality is below ``threshold``.

    Paths are read with :func:`~piano_eval.alignment.midi.load_score` / ``load_performance`` (a MIDI
    file without notes is an :class:`~piano_eval.data.errors.EmptyMidiError` naming it).
    """
    score = score if isinstance(score, ScoreNotes) else load_score(score)
    performance = performance if isinstance(performance, PerformanceNotes) else load_performance(performance)
    result = match_notes(score, performance, matcher)
    if result.score < threshold:
        raise AlignmentError(
            f"could not align {performance.path} to {score.path}: alignment score {result.score:.3f} < "
            f"threshold {threshold:.3f} (notes matched F = {result.f_measure:.3f}, timing coherence "
            f"{result.coherence:.3f}); is it a performance of this score?"
        )
    return result
