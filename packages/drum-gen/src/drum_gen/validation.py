"""Musical validation of drum patterns, returning structured findings instead of a yes/no.

Time-signature aware (bars and beats come from the pattern's meter, never an assumed 4/4). Sparse
grooves are valid: density has only an upper bound by default, and an empty pattern is a warning.
Errors are things a drummer or a GM synth cannot play as written (two hi-hat states at once, a fifth
simultaneous limb, duplicated hits, non-GM pitches); warnings are suspicious but playable.

Style rules (:class:`~drum_gen.styles.BarRule`, e.g. a backbeat snare) are checked per bar by
:func:`check_style_rules`; ``validate(pattern, style=...)`` reports each violation as a ``style_rule``
warning, since a bar without a backbeat is unidiomatic, not unplayable.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from drum_gen import gm
from drum_gen.defaults import TEMPO_RANGE
from drum_gen.pattern import Pattern
from drum_gen.styles import BarRule, StyleSpec, get_style

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem: ``code`` is stable and machine-readable, ``message`` says what and where."""

    severity: Severity
    code: str
    message: str
    time: int | None = None
    bar: int | None = None
    pitch: int | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class PatternValidationError(ValueError):
    """Raised by :meth:`ValidationReport.raise_for_errors`; carries the report."""

    def __init__(self, report: ValidationReport, context: str = "pattern") -> None:
        self.report = report
        details = "; ".join(f"[{f.code}] {f.message}" for f in report.errors[:10])
        more = f" (+{len(report.errors) - 10} more)" if len(report.errors) > 10 else ""
        super().__init__(f"{context} failed validation with {len(report.errors)} error(s): {details}{more}")


@dataclass(frozen=True)
class ValidationReport:
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def raise_for_errors(self, context: str = "pattern") -> None:
        if not self.ok:
            raise PatternValidationError(self, context)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "findings": [f.to_dict() for f in self.findings]}


@dataclass(frozen=True)
class RuleViolation:
    """Bar ``bar`` (0-based) has no hit of rule ``rule`` at any of ``beats`` (one required slot)."""

    bar: int
    rule: str
    beats: tuple[float, ...]
    time: int

    @property
    def message(self) -> str:
        where = " or ".join(f"{b:g}" for b in self.beats)
        return f"bar {self.bar + 1}: no {self.rule} hit on beat {where}"


def _rules_of(style: StyleSpec | str | Sequence[BarRule]) -> tuple[BarRule, ...]:
    if isinstance(style, str | StyleSpec):
        return get_style(style).rules
    return tuple(style)


def check_style_rules(
    pattern: Pattern,
    style: StyleSpec | str | Sequence[BarRule],
    *,
    tolerance_ticks: int | None = None,
) -> tuple[RuleViolation, ...]:
    """Every missing rule hit, ordered by bar; empty when the pattern satisfies its style.

    A hit counts within ``tolerance_ticks`` of the position (default a 32nd note) so humanized patterns,
    whose snare is deliberately late, are judged like the grid they came from.
    """
    rules = _rules_of(style)
    tpb = pattern.ticks_per_beat
    tolerance = tpb // 8 if tolerance_ticks is None else tolerance_ticks
    bar_ticks = pattern.ticks_per_bar
    onsets: dict[int, list[int]] = defaultdict(list)
    for note in pattern.notes:
        onsets[note.pitch].append(note.time)
    violations = []
    for bar in range(pattern.num_bars):
        start = bar * bar_ticks
        for rule in rules:
            times = [t for p in rule.pitches for t in onsets.get(p, ())]
            for slot, ticks in zip(rule.beats, rule.slot_ticks(pattern.time_signature, tpb), strict=False):
                if not any(abs(t - (start + tick)) <= tolerance for tick in ticks for t in times):
                    violations.append(RuleViolation(bar, rule.name, slot, start + ticks[0]))
    return tuple(violations)


def rule_violation_rates(
    patterns: Iterable[Pattern], style: StyleSpec | str | Sequence[BarRule]
) -> dict[str, float]:
    """Per rule, the fraction of all bars of ``patterns`` that violate it (a bar counts once per rule)."""
    rules = _rules_of(style)
    bars = 0
    failing = dict.fromkeys((r.name for r in rules), 0)
    for pattern in patterns:
        bars += pattern.num_bars
        for rule_name, _bar in {(v.rule, v.bar) for v in check_style_rules(pattern, rules)}:
            failing[rule_name] += 1
    return {name: count / bars if bars else 0.0 for name, count in failing.items()}


def validate(
    pattern: Pattern,
    *,
    style: StyleSpec | str | None = None,
    max_simultaneous: int = 4,
    simultaneity_ticks: int | None = None,
    allow_non_gm: bool = False,
    tempo_range: tuple[float, float] = TEMPO_RANGE,
    max_onsets_per_beat: float = 12.0,
    min_onsets_per_bar: float = 0.0,
    min_same_pitch_gap_ticks: int | None = None,
    hihat_window_ticks: int | None = None,
) -> ValidationReport:
    """Check ``pattern``; see the module docstring for the error/warning split.

    ``simultaneity_ticks`` (default a 64th note) is the window within which hits count as
    simultaneous, so micro-timed (humanized) chords are still counted as one chord.
    ``max_onsets_per_beat`` is per quarter note, so the bound scales with any meter.
    ``min_onsets_per_bar`` defaults to 0: sparse grooves are never rejected.
    ``hihat_window_ticks`` (default a 192nd note) is how close an open and a closed/pedal hi-hat may
    come before they count as played at once; tighter than chords because 32nd rolls are legitimate.
    ``style`` adds its :class:`~drum_gen.styles.BarRule` violations as ``style_rule`` warnings.
    """
    tpb = pattern.ticks_per_beat
    window = tpb // 16 if simultaneity_ticks is None else simultaneity_ticks
    hihat_window = tpb // 48 if hihat_window_ticks is None else hihat_window_ticks
    min_gap = max(1, tpb // 32) if min_same_pitch_gap_ticks is None else min_same_pitch_gap_ticks
    bar_ticks = pattern.ticks_per_bar
    findings: list[Finding] = []

    def add(
        severity: Severity, code: str, message: str, time: int | None = None, pitch: int | None = None
    ) -> None:
        bar = None if time is None else time // bar_ticks
        where = "" if time is None else f" at tick {time} (bar {bar + 1})"
        findings.append(Finding(severity, code, message + where, time, bar, pitch))

    # meter and tempo
    numerator, denominator = pattern.time_signature
    if not 1 <= numerator <= 16 or denominator not in (2, 4, 8, 16):
        add(
            "error",
            "time_signature",
            f"time signature {numerator}/{denominator} outside 1-16 / (2, 4, 8, 16)",
        )
    lo, hi = tempo_range
    if not lo <= pattern.tempo_bpm <= hi:
        add("warning", "tempo_range", f"tempo {pattern.tempo_bpm:g} bpm outside {lo:g}-{hi:g}")

    if style is not None:
        for violation in check_style_rules(pattern, style):
            add("warning", "style_rule", violation.message.split(": ", 1)[1], violation.time)

    if not pattern.notes:
        add("warning", "empty_pattern", "pattern has no notes")
        return ValidationReport(tuple(findings))

    # per-note ranges (DrumNote already guarantees MIDI-representable values)
    lo_pitch, hi_pitch = gm.GM_DRUM_RANGE
    length = pattern.length_ticks
    for note in pattern.notes:
        if not allow_non_gm and not lo_pitch <= note.pitch <= hi_pitch:
            add("error", "non_gm_pitch", f"pitch {note.pitch} outside the GM drum map {lo_pitch}-{hi_pitch}",
                note.time, note.pitch)  # fmt: skip
        if pattern.bars is not None and note.time >= length:
            add("error", "note_after_end", f"{gm.drum_name(note.pitch)} starts after the {pattern.bars} declared bars",
                note.time, note.pitch)  # fmt: skip

    # duplicates and near-duplicates per voice; hi-hat states that clash
    by_voice: dict[int, list] = defaultdict(list)
    for note in pattern.notes:
        by_voice[gm.voice(note.pitch)].append(note)
    for voice, notes in by_voice.items():
        for prev, cur in itertools.pairwise(notes):
            gap = cur.time - prev.time
            if prev.pitch == cur.pitch and gap == 0:
                add("error", "duplicate_hit", f"duplicate {gm.drum_name(cur.pitch)}", cur.time, cur.pitch)
            elif (
                voice == gm.CLOSED_HIHAT
                and prev.pitch != cur.pitch
                and gap <= hihat_window
                and (gm.OPEN_HIHAT in (prev.pitch, cur.pitch))
            ):
                add("error", "hihat_conflict",
                    f"open hi-hat together with {gm.drum_name(prev.pitch if cur.pitch == gm.OPEN_HIHAT else cur.pitch)}",
                    cur.time, cur.pitch)  # fmt: skip
            elif prev.pitch == cur.pitch and gap < min_gap:
                add("warning", "near_duplicate", f"{gm.drum_name(cur.pitch)} hits {gap} ticks apart",
                    cur.time, cur.pitch)  # fmt: skip
            if prev.pitch == cur.pitch and prev.end > cur.time and gap > 0:
                add("warning", "overlapping_notes", f"{gm.drum_name(cur.pitch)} still sounding when hit again",
                    cur.time, cur.pitch)  # fmt: skip

    # simultaneous limbs: chords = hits within `window` of the chord's first hit
    notes = pattern.notes
    start = 0
    while start < len(notes):
        end = start
        while end < len(notes) and notes[end].time - notes[start].time <= window:
            end += 1
        chord = {gm.voice(n.pitch) for n in notes[start:end]}
        if len(chord) > max_simultaneous:
            names = ", ".join(sorted(gm.drum_name(n.pitch) for n in notes[start:end]))
            add("error", "too_many_simultaneous", f"{len(chord)} simultaneous hits (max {max_simultaneous}): {names}",
                notes[start].time)  # fmt: skip
        start = end

    # density per bar, scaled by the bar's length in quarter notes (meter aware)
    counts = [0] * max(1, pattern.num_bars)
    for note in notes:
        counts[min(note.time // bar_ticks, len(counts) - 1)] += 1
    quarters_per_bar = bar_ticks / tpb
    for bar, count in enumerate(counts):
        if count > max_onsets_per_beat * quarters_per_bar:
            add("warning", "too_dense",
                f"{count} onsets in a bar of {quarters_per_bar:g} quarters (max {max_onsets_per_beat:g}/quarter)",
                bar * bar_ticks)  # fmt: skip
        if count < min_onsets_per_bar:
            add("warning", "too_sparse", f"{count} onsets (min {min_onsets_per_bar:g})", bar * bar_ticks)
    return ValidationReport(tuple(findings))
