"""Pseudo-labels of one segment from the performance MIDI aligned to the score MIDI.

Every label is computed from the notes of the segment only: performed notes whose onset lies in
``[start, end)``, and score notes the performance missed whose expected time (the alignment's time map)
lies there. The alignment itself is global (a note is matched in the context of the piece), the labels
are local. Each label is in [0, 100] (100 = no defect of that kind), or ``None`` when the segment holds
too little to judge (documented per label). The formulas are also in ``docs/pseudo-labels.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from piano_eval.alignment.curves import fit_spline
from piano_eval.alignment.midi import PerformanceNotes, ScoreNotes
from piano_eval.alignment.symbolic import NoteAlignment
from piano_eval.alignment.timemap import TimeMap

from .harmony import harmony_changes

#: A missed score note and an extra performed note this close in time are one wrong note.
WRONG_NOTE_SECONDS = 0.15
#: Knot spacing (quarters) of the tempo curve and of the dynamic trend.
TEMPO_KNOT_QUARTERS = 2.0
DYNAMICS_KNOT_QUARTERS = 2.0
#: Rhythm: 100·exp(−σ / RHYTHM_SCALE) with σ the RMS onset residual in seconds.
RHYTHM_SCALE = 0.05
#: Dynamics (MIDI velocity units): shaping needed for full marks, shaping beyond which it is overdone
#: (and the decay scale), unevenness tolerated (and the decay scale). Set on seed 1 of the benchmark.
DYNAMICS_SHAPING = 4.0
DYNAMICS_OVERDONE = 8.0
DYNAMICS_OVERDONE_SCALE = 8.0
DYNAMICS_NOISE_FREE = 5.0
DYNAMICS_NOISE_SCALE = 10.0
#: Articulation: tolerated |log2 duration ratio| and the decay scale beyond it.
ARTICULATION_FREE = 0.15
ARTICULATION_SCALE = 0.6
#: Pedal: a change is judged from the pedal within [t − PEDAL_BEFORE, t + PEDAL_AFTER] of it.
PEDAL_BEFORE = 0.3
PEDAL_AFTER = 0.1
PEDAL_EARLY = 0.05  # a re-press more than this before the new harmony catches the old one: blurred
PEDAL_PROMPT = 0.15  # a re-press within this after the change is on time
PEDAL_LATE = 0.5  # … and this late scores 0
MIN_RHYTHM_NOTES = 4
MIN_RHYTHM_ONSETS = 3


@dataclass(frozen=True)
class AlignedPerformance:
    """A performance, its score and their alignment, with the global score → performance time map."""

    score: ScoreNotes
    performance: PerformanceNotes
    alignment: NoteAlignment
    timemap: TimeMap
    harmony_quarters: np.ndarray  # score times of the harmony changes
    harmony_seconds: np.ndarray  # … placed in the performance by the time map

    @classmethod
    def build(cls, score: ScoreNotes, performance: PerformanceNotes, alignment: NoteAlignment):
        m = alignment.matches
        timemap = TimeMap.fit(score.onset_quarter[m[:, 0]], performance.onset[m[:, 1]])
        changes = harmony_changes(score)
        return cls(score, performance, alignment, timemap, changes, timemap(changes))


@dataclass(frozen=True)
class SegmentNotes:
    """The segment's notes classified against the score."""

    matches: np.ndarray  # [C, 2] (score, performance) played as written
    wrong: np.ndarray  # [W, 2] a score note played at another pitch (a missing and an extra note together)
    missing: np.ndarray  # [M] score notes not played
    extra: np.ndarray  # [E] performed notes not in the score


def segment_notes(aligned: AlignedPerformance, start: float, end: float) -> SegmentNotes:
    """Classify the notes of ``[start, end)`` (see :data:`WRONG_NOTE_SECONDS` for wrong notes)."""
    a, perf, score = aligned.alignment, aligned.performance, aligned.score
    inside = (perf.onset >= start) & (perf.onset < end)
    matches = a.matches[inside[a.matches[:, 1]]]
    expected = aligned.timemap(score.onset_quarter[a.deletions])
    deleted = a.deletions[(expected >= start) & (expected < end)]
    inserted = a.insertions[inside[a.insertions]]
    deleted_time = aligned.timemap(score.onset_quarter[deleted])
    candidates = sorted(
        (abs(perf.onset[i] - t), int(d), int(i))
        for d, t in zip(deleted, deleted_time, strict=True)
        for i in inserted
        if abs(perf.onset[i] - t) <= WRONG_NOTE_SECONDS
    )
    used_d: set[int] = set()
    used_i: set[int] = set()
    wrong = []
    for _, d, i in candidates:
        if d not in used_d and i not in used_i:
            used_d.add(d)
            used_i.add(i)
            wrong.append((d, i))
    return SegmentNotes(
        matches,
        np.array(wrong, dtype=int).reshape(-1, 2),
        np.array([d for d in deleted if d not in used_d], dtype=int),
        np.array([i for i in inserted if i not in used_i], dtype=int),
    )


def note_accuracy(notes: SegmentNotes) -> float | None:
    """``100 · C / (C + W + M + E)``: correct notes over all note events (correct, wrong, missing,
    extra); a wrong note counts once, not as a missing plus an extra. ``None`` for a segment without
    notes."""
    c, w = notes.matches.shape[0], notes.wrong.shape[0]
    total = c + w + notes.missing.size + notes.extra.size
    return None if total == 0 else 100.0 * c / total


def _tempo_fit(aligned: AlignedPerformance, notes: SegmentNotes):
    m = notes.matches
    if m.shape[0] < MIN_RHYTHM_NOTES:
        return None
    x = aligned.score.onset_quarter[m[:, 0]]
    if np.unique(x).size < MIN_RHYTHM_ONSETS:
        return None
    return fit_spline(x, aligned.performance.onset[m[:, 1]], TEMPO_KNOT_QUARTERS)


def rhythmic_precision(aligned: AlignedPerformance, notes: SegmentNotes) -> float | None:
    """``100 · exp(−σ / 50 ms)`` with σ the RMS residual of the segment's matched onsets around a tempo
    curve (performed onset vs score onset, piecewise linear with a knot every 2 quarters, fitted in the
    segment; RMS corrected for the fitted parameters). The curve absorbs tempo, rubato and ritardando;
    what is left is onset jitter, chord spread and unsteadiness faster than two quarters. ``None`` below
    4 matched notes or 3 distinct score onsets."""
    fit = _tempo_fit(aligned, notes)
    return None if fit is None else 100.0 * float(np.exp(-fit.rms() / RHYTHM_SCALE))


def _is_top(score: ScoreNotes, index: np.ndarray) -> np.ndarray:
    """Whether each score note is the highest of the notes sounding at its onset (the melody)."""
    onsets, ends = score.onset_quarter, score.onset_quarter + score.duration_quarter
    top = np.zeros(index.size)
    for k, s in enumerate(index):
        t = onsets[s]
        sounding = (onsets <= t + 1e-9) & (ends > t + 1e-9)
        top[k] = float(score.pitch[s] >= score.pitch[sounding].max())
    return top


def dynamics_control(aligned: AlignedPerformance, notes: SegmentNotes) -> float | None:
    """``100 · min(1, shaping / 4) · exp(−max(0, shaping − 8) / 8) · exp(−max(0, unevenness − 5) / 10)``.

    The segment's matched velocities are modelled as a slow trend over score time (piecewise linear, a
    knot every 2 quarters) plus a melody offset (notes that are the highest sounding at their onset).
    *Shaping* is the standard deviation of that model — phrase dynamics and voicing: near 0 for flat
    playing, large for overdone contrasts; *unevenness* the RMS of what it leaves — erratic velocities.
    Both in MIDI velocity units. Full marks for shaping in [4, 8] with unevenness ≤ 5. ``None`` below 4
    matched notes."""
    m = notes.matches
    if m.shape[0] < MIN_RHYTHM_NOTES:
        return None
    x = aligned.score.onset_quarter[m[:, 0]]
    velocity = aligned.performance.velocity[m[:, 1]].astype(np.float64)
    fit = fit_spline(x, velocity, DYNAMICS_KNOT_QUARTERS, extra=_is_top(aligned.score, m[:, 0])[:, None])
    shaping = float(np.std(fit.fitted))
    unevenness = fit.rms()
    value = (
        min(1.0, shaping / DYNAMICS_SHAPING)
        * np.exp(-max(0.0, shaping - DYNAMICS_OVERDONE) / DYNAMICS_OVERDONE_SCALE)
        * np.exp(-max(0.0, unevenness - DYNAMICS_NOISE_FREE) / DYNAMICS_NOISE_SCALE)
    )
    return 100.0 * float(value)


def articulation(aligned: AlignedPerformance, notes: SegmentNotes) -> float | None:
    """``100 · exp(−max(0, |log2 r| − 0.15) / 0.6)`` with ``r`` the median over the segment's matched
    notes of performed key-down duration / expected duration, expected = the score duration (quarters)
    × the local slope of the segment's tempo curve (seconds per quarter). Sustain pedal does not
    lengthen a note here (key release is what the player articulates). ``None`` where the tempo curve
    is (see :func:`rhythmic_precision`)."""
    fit = _tempo_fit(aligned, notes)
    if fit is None:
        return None
    m = notes.matches
    x = aligned.score.onset_quarter[m[:, 0]]
    expected = aligned.score.duration_quarter[m[:, 0]] * fit.slope(x)
    performed = aligned.performance.duration[m[:, 1]]
    ok = expected > 0
    if not ok.any():
        return None
    ratio = float(np.median(performed[ok] / expected[ok]))
    deviation = abs(np.log2(max(ratio, 1e-6)))
    return 100.0 * float(np.exp(-max(0.0, deviation - ARTICULATION_FREE) / ARTICULATION_SCALE))


def _pedal_down(perf: PerformanceNotes, t: float) -> bool:
    k = np.searchsorted(perf.pedal_time, t, side="right") - 1
    return bool(k >= 0 and perf.pedal_value[k] >= 64)


def _change_score(perf: PerformanceNotes, t: float, next_change: float) -> float:
    times, down = perf.pedal_time, perf.pedal_value >= 64
    lifts = [
        float(u)
        for u, d in zip(times, down, strict=True)
        if not d and t - PEDAL_BEFORE <= u <= t + PEDAL_AFTER
    ]
    if not _pedal_down(perf, t - PEDAL_BEFORE):
        lifts.append(t - PEDAL_BEFORE)
    if not lifts:
        return 0.0  # held through the change: the old harmony rings into the new one
    lift = max(lifts)
    presses = times[(times > lift) & down]
    if presses.size == 0 or presses[0] >= next_change:
        return 1.0  # no pedal after the change: dry, but clean
    latency = float(presses[0]) - t
    if latency < -PEDAL_EARLY:
        return 0.0  # pressed again before the new harmony: it catches the old one
    if latency <= PEDAL_PROMPT:
        return 1.0
    return max(0.0, 1.0 - (latency - PEDAL_PROMPT) / (PEDAL_LATE - PEDAL_PROMPT))


def pedaling(aligned: AlignedPerformance, start: float, end: float) -> float | None:
    """``100 · mean over the segment's harmony changes of a per-change score``: 0 when the pedal is held
    through the change (not up at any time within 0.3 s before to 0.1 s after it) or pressed again more
    than 50 ms before it; otherwise 1 for a re-press within 0.15 s after the change (legato pedalling)
    or no re-press before the next change (dry), falling linearly to 0 for a re-press 0.5 s late.
    Harmony changes are the score's bass attacks (:mod:`.harmony`) placed by the alignment's time map.
    ``None`` when no harmony change falls in the segment."""
    times = aligned.harmony_seconds
    inside = np.flatnonzero((times >= start) & (times < end))
    if inside.size == 0:
        return None
    scores = []
    for k in inside:
        next_change = float(times[k + 1]) if k + 1 < times.size else np.inf
        scores.append(_change_score(aligned.performance, float(times[k]), next_change))
    return 100.0 * float(np.mean(scores))


def midi_labels(aligned: AlignedPerformance, start: float, end: float) -> dict[str, float | None]:
    """The five MIDI-based labels of ``[start, end)``."""
    notes = segment_notes(aligned, start, end)
    return {
        "note_accuracy": note_accuracy(notes),
        "rhythmic_precision": rhythmic_precision(aligned, notes),
        "dynamics_control": dynamics_control(aligned, notes),
        "articulation": articulation(aligned, notes),
        "pedaling": pedaling(aligned, start, end),
    }
