"""Where a score's harmony changes — the points where a pianist changes the sustain pedal.

A harmony change is a *bass attack*: a score onset where a note starts that is the lowest of the notes
sounding at that moment (a new bass note under the texture), at least ``min_gap`` quarters after the
previous change. Broken-chord accompaniments above a held bass do not count (they are not the lowest
note); a new bass note does, whether the chord changes or is restated, as pianists re-pedal on a
restated bass too. A purely monophonic line has a "bass attack" on every note; the gap keeps that to
one change per beat.
"""

from __future__ import annotations

import numpy as np

from piano_eval.alignment.midi import ScoreNotes

MIN_GAP_QUARTERS = 1.0


def harmony_changes(score: ScoreNotes, *, min_gap: float = MIN_GAP_QUARTERS) -> np.ndarray:
    """Score times (quarters) of the harmony changes, sorted."""
    onsets = score.onset_quarter
    ends = onsets + score.duration_quarter
    changes: list[float] = []
    for t in np.unique(onsets):
        sounding = (onsets <= t + 1e-9) & (ends > t + 1e-9)
        starting = np.isclose(onsets, t)
        if not starting.any():
            continue
        if score.pitch[starting].min() <= score.pitch[sounding].min() and (
            not changes or t - changes[-1] >= min_gap - 1e-9
        ):
            changes.append(float(t))
    return np.array(changes)
