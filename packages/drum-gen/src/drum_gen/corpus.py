"""Procedural drum corpus: per-style templates with random variations, so training and demos work offline.

Each template writes *quantized* (straight) patterns whose onset grid alone identifies the style:

- ``boom_bap`` (J Dilla): 8th-note hats, sparse kicks (downbeat + 1-2 pushes), backbeat snare.
- ``trap`` (Metro Boomin): half-time snare (one per bar), syncopated long 808 kicks, 16th hats with
  32nd / 16th-triplet rolls.
- ``funk`` (Questlove): busy accented 16th hats, backbeat snare plus ghost notes on the e/a, tom fills.
- ``syncopated`` (Timbaland): triplet hats, off-16th kicks, tom/perc stabs, a displaced snare.

A pattern keeps one kick/perc motif across its bars (grooves repeat) and varies bar by bar (dropped or
added kicks, open hats, fills on the last bar, a crash on the first). Tempos are drawn from the style's
range. All templates are time-signature aware through the bar's felt beats (:func:`metric_beats`).
Humanization (swing, late snares, ghost notes) is a separate, optional step: ``humanize=True``.
"""

from __future__ import annotations

import csv
import io
import itertools
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shared_audio_core.files import atomic_write_text
from tqdm import tqdm

from drum_gen import gm
from drum_gen.pattern import DrumNote, Pattern, metric_beats, ticks_per_bar_for
from drum_gen.styles import StyleSpec, get_style, list_styles


class UnknownTemplateError(ValueError):
    """A corpus template name that does not exist; the message lists valid templates."""


@dataclass(frozen=True)
class BarLayout:
    """Tick geometry of one bar, shared by all templates."""

    ticks_per_beat: int
    time_signature: tuple[int, int]

    @property
    def bar_ticks(self) -> int:
        return ticks_per_bar_for(self.time_signature, self.ticks_per_beat)

    @property
    def beats(self) -> tuple[tuple[int, int], ...]:
        return metric_beats(self.time_signature, self.ticks_per_beat)

    @property
    def s16(self) -> int:
        return self.ticks_per_beat // 4

    @property
    def s8(self) -> int:
        return self.ticks_per_beat // 2

    @property
    def backbeats(self) -> tuple[int, ...]:
        """Odd-numbered felt beats (2 and 4 in 4/4); the bar's second half for a one-beat bar."""
        starts = [start for i, (start, _) in enumerate(self.beats) if i % 2 == 1]
        return tuple(starts) or (self.bar_ticks // 2 // self.s16 * self.s16,)

    @property
    def halftime_snare(self) -> int:
        """Where a half-time snare lands: mid-bar for an even beat count, else the last beat."""
        beats = self.beats
        if len(beats) % 2 == 0:
            return beats[len(beats) // 2][0]
        return beats[-1][0] if len(beats) > 1 else self.backbeats[0]

    def grid(self, step: int) -> list[int]:
        return list(range(0, self.bar_ticks, step))


class _Notes:
    """Collects hits keyed by (tick, pitch); later hits replace earlier ones; hi-hat states exclude each other."""

    def __init__(self, rng: np.random.Generator, duration: int) -> None:
        self.rng = rng
        self.duration = duration
        self.hits: dict[tuple[int, int], tuple[int, int]] = {}

    def add(self, tick: int, pitch: int, velocity: int, duration: int | None = None, jitter: int = 6) -> None:
        if jitter:
            velocity += int(self.rng.integers(-jitter, jitter + 1))
        if pitch in gm.HIHAT_PITCHES:
            for other in gm.HIHAT_PITCHES - {pitch}:
                self.hits.pop((tick, other), None)
        self.hits[(tick, pitch)] = (int(np.clip(velocity, 1, 127)), duration or self.duration)

    def remove(self, tick: int, pitches: Iterable[int]) -> None:
        for pitch in pitches:
            self.hits.pop((tick, pitch), None)

    def has(self, tick: int, pitch: int) -> bool:
        return (tick, pitch) in self.hits

    def notes(self) -> list[DrumNote]:
        """Notes with durations trimmed so that no hit rings past the next hit of the same pitch."""
        by_pitch: dict[int, list[int]] = {}
        for tick, pitch in self.hits:
            by_pitch.setdefault(pitch, []).append(tick)
        next_onset: dict[tuple[int, int], int] = {}
        for pitch, ticks in by_pitch.items():
            ticks.sort()
            for a, b in itertools.pairwise(ticks):
                next_onset[(a, pitch)] = b
        notes = []
        for (tick, pitch), (velocity, duration) in self.hits.items():
            limit = next_onset.get((tick, pitch))
            if limit is not None:
                duration = max(1, min(duration, limit - tick))
            notes.append(DrumNote(tick, pitch, velocity, duration))
        return notes


def _choose(rng: np.random.Generator, options: Sequence[int], k: int) -> list[int]:
    k = max(0, min(k, len(options)))
    if k == 0:
        return []
    return sorted(int(x) for x in rng.choice(np.asarray(options), size=k, replace=False))


def _pick(rng: np.random.Generator, options: Sequence[int]) -> list[int]:
    """Zero or one random element, so tiny bars (1/4, 3/16) never fail on an empty choice."""
    return _choose(rng, options, 1)


def _kick_candidates(layout: BarLayout, exclude: Iterable[int]) -> list[int]:
    excluded = set(exclude) | {0}
    return [t for t in layout.grid(layout.s16) if t not in excluded]


def _crash_and_fill(
    notes: _Notes,
    rng: np.random.Generator,
    layout: BarLayout,
    bar: int,
    bars: int,
    offset: int,
    fill_prob: float,
) -> set[int]:
    """Crash on the pattern's first downbeat (sometimes) and a tom fill over the last beat (sometimes).

    Returns the ticks the fill occupies, where hats must stay silent.
    """
    if bar == 0 and rng.random() < 0.35:
        notes.add(offset, gm.CRASH, 105)
    fill_ticks: set[int] = set()
    if bar == bars - 1 and bars > 1 and rng.random() < fill_prob:
        start, length = layout.beats[-1]
        toms = [gm.HIGH_TOM, gm.HI_MID_TOM, gm.LOW_TOM, gm.LOW_TOM]
        for i, tick in enumerate(range(start, start + length, layout.s16)):
            pitch = toms[min(i * len(toms) // max(1, length // layout.s16), len(toms) - 1)]
            if rng.random() < 0.2:
                pitch = gm.SNARE
            notes.add(offset + tick, pitch, 95 + 3 * i)
            fill_ticks.add(offset + tick)
    return fill_ticks


def _boom_bap(rng: np.random.Generator, layout: BarLayout, bars: int) -> list[DrumNote]:
    notes = _Notes(rng, layout.ticks_per_beat // 8)
    motif = _choose(rng, _kick_candidates(layout, layout.backbeats), int(rng.integers(1, 3)))
    open_hat_prob = float(rng.uniform(0.0, 0.5))
    for bar in range(bars):
        off = bar * layout.bar_ticks
        fill = _crash_and_fill(notes, rng, layout, bar, bars, off, fill_prob=0.35)
        for tick in layout.grid(layout.s8):
            if off + tick in fill or (tick % layout.ticks_per_beat and rng.random() < 0.08):
                continue
            notes.add(off + tick, gm.CLOSED_HIHAT, 88 if tick % layout.ticks_per_beat == 0 else 66)
        if rng.random() < open_hat_prob:
            notes.add(off + layout.bar_ticks - layout.s8, gm.OPEN_HIHAT, 80)
        kicks = [0, *motif]
        if rng.random() < 0.3:  # bar variation: move or add one push
            kicks += _pick(rng, _kick_candidates(layout, layout.backbeats))
        for tick in kicks:
            if off + tick not in fill:
                notes.add(off + tick, gm.KICK, 108)
        for tick in layout.backbeats:
            notes.add(off + tick, gm.SNARE, 110)
    return notes.notes()


def _trap(rng: np.random.Generator, layout: BarLayout, bars: int) -> list[DrumNote]:
    tpb = layout.ticks_per_beat
    notes = _Notes(rng, tpb // 8)
    snare = layout.halftime_snare
    motif = _choose(rng, _kick_candidates(layout, {snare}), int(rng.integers(2, 5)))
    roll_density = float(rng.uniform(0.3, 0.7))
    for bar in range(bars):
        off = bar * layout.bar_ticks
        if bar == 0 and rng.random() < 0.5:
            notes.add(off, gm.CRASH, 100)
        for tick in layout.grid(layout.s16):
            notes.add(off + tick, gm.CLOSED_HIHAT, 84 if tick % layout.s8 == 0 else 62)
        # hi-hat rolls: 32nds or 16th triplets over whole beats, at least one per bar
        beat_starts = [s for s, _ in layout.beats]
        n_rolls = 1 + int(rng.random() < roll_density) + int(rng.random() < roll_density / 2)
        for start in _choose(rng, beat_starts, n_rolls):
            length = next(length for s, length in layout.beats if s == start)
            # a roll lasts at most a quarter; a longer (compound) beat rolls over its last quarter
            roll_len = min(tpb, length)
            roll_start = start + length - roll_len
            step = tpb // 8 if rng.random() < 0.6 else tpb // 6
            for tick in range(roll_start, roll_start + roll_len, layout.s16):
                notes.remove(off + tick, [gm.CLOSED_HIHAT])
            for i, tick in enumerate(range(roll_start, roll_start + roll_len, step)):
                notes.add(off + tick, gm.CLOSED_HIHAT, 50 + 6 * i, duration=step // 2)
        if rng.random() < 0.3:
            for tick in _pick(rng, [t for t in layout.grid(layout.s8) if t % tpb]):
                notes.add(off + tick, gm.OPEN_HIHAT, 78)
        kicks = [0, *motif]
        if rng.random() < 0.35:
            kicks = [k for k in kicks if k == 0 or rng.random() > 0.3]
            kicks += _pick(rng, _kick_candidates(layout, {snare}))
        for tick in kicks:
            notes.add(off + tick, gm.KICK, 115, duration=tpb)  # long 808 tail, trimmed at the next kick
        notes.add(off + snare, gm.SNARE, 118)
    return notes.notes()


def _funk(rng: np.random.Generator, layout: BarLayout, bars: int) -> list[DrumNote]:
    tpb = layout.ticks_per_beat
    notes = _Notes(rng, tpb // 8)
    backbeats = set(layout.backbeats)
    kick_motif = _choose(rng, _kick_candidates(layout, backbeats), int(rng.integers(2, 4)))
    ea = [t for t in layout.grid(layout.s16) if t % layout.s8 and t not in backbeats]
    ghost_motif = _choose(rng, ea, int(rng.integers(2, 5)))
    open_hat_prob = float(rng.uniform(0.2, 0.6))
    for bar in range(bars):
        off = bar * layout.bar_ticks
        fill = _crash_and_fill(notes, rng, layout, bar, bars, off, fill_prob=0.5)
        for tick in layout.grid(layout.s16):
            if off + tick in fill:
                continue
            accent = tick % tpb == 0
            notes.add(off + tick, gm.CLOSED_HIHAT, 96 if accent else (78 if tick % layout.s8 == 0 else 52))
        if rng.random() < open_hat_prob:
            candidates = [t for t in layout.grid(layout.s8) if t % tpb and off + t not in fill]
            for tick in _pick(rng, candidates):
                notes.add(off + tick, gm.OPEN_HIHAT, 84)
        kicks = [0, *kick_motif]
        if rng.random() < 0.3:
            kicks += _pick(rng, _kick_candidates(layout, backbeats))
        for tick in kicks:
            if off + tick not in fill:
                notes.add(off + tick, gm.KICK, 104)
        for tick in backbeats:
            notes.add(off + tick, gm.SNARE, 112)
        ghosts = [t for t in ghost_motif if rng.random() > 0.15]
        if rng.random() < 0.5:
            ghosts += _pick(rng, ea)
        for tick in ghosts:
            if off + tick not in fill:
                notes.add(off + tick, gm.SNARE, int(rng.integers(28, 46)), jitter=0)
    return notes.notes()


def _syncopated(rng: np.random.Generator, layout: BarLayout, bars: int) -> list[DrumNote]:
    tpb = layout.ticks_per_beat
    notes = _Notes(rng, tpb // 8)
    backbeats = list(layout.backbeats)
    off16 = [t for t in layout.grid(layout.s16) if t % layout.s8]
    kick_motif = _choose(rng, [t for t in off16 if t not in backbeats], int(rng.integers(2, 4)))
    perc_pitches = [gm.HIGH_TOM, gm.LOW_TOM, gm.HI_MID_TOM]
    perc_ticks = _choose(rng, [t for t in layout.grid(layout.s16) if t not in backbeats and t], 3)
    perc_motif = [(t, int(rng.choice(perc_pitches))) for t in perc_ticks]
    burst_prob = float(rng.uniform(0.1, 0.4))
    displaced = rng.random() < 0.5
    for bar in range(bars):
        off = bar * layout.bar_ticks
        if bar == 0 and rng.random() < 0.3:
            notes.add(off, gm.CRASH, 100)
        for start, length in layout.beats:
            step = tpb // 6 if rng.random() < burst_prob else tpb // 3
            for i, tick in enumerate(range(start, start + length, step)):
                notes.add(off + tick, gm.CLOSED_HIHAT, 90 if i == 0 else 60, duration=min(step, tpb // 8))
        kicks = [0, *kick_motif]
        if rng.random() < 0.3:
            kicks += _pick(rng, off16)
        snares = list(backbeats)
        if displaced and bar % 2 == 1:
            snares[-1] = min(snares[-1] + layout.s16, layout.bar_ticks - layout.s16)
        for tick in kicks:
            if tick not in snares:
                notes.add(off + tick, gm.KICK, 112)
        for tick in snares:
            notes.add(off + tick, gm.SNARE, 108)
        for tick, pitch in perc_motif:
            if tick not in snares and rng.random() > 0.1:
                notes.add(off + tick, pitch, 92)
        if rng.random() < 0.25:
            notes.add(off + layout.bar_ticks - layout.s8, gm.OPEN_HIHAT, 82)
    return notes.notes()


TemplateFn = Callable[[np.random.Generator, BarLayout, int], list[DrumNote]]

TEMPLATES: dict[str, TemplateFn] = {
    "boom_bap": _boom_bap,
    "trap": _trap,
    "funk": _funk,
    "syncopated": _syncopated,
}
"""Template name -> ``fn(rng, layout, bars) -> notes``; styles refer to templates by name."""


def get_template(name: str) -> TemplateFn:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplateError(
            f"unknown corpus template {name!r}; valid templates: {', '.join(TEMPLATES)}"
        ) from None


@dataclass(frozen=True)
class CorpusItem:
    """One generated pattern with its style's canonical name."""

    style: str
    pattern: Pattern

    @property
    def style_slug(self) -> str:
        return get_style(self.style).slug


def _style_seed(seed: int, style: StyleSpec, index: int) -> np.random.Generator:
    # per-(style, index) streams: adding a style or more patterns never changes existing ones
    return np.random.default_rng([seed, zlib.crc32(style.slug.encode()), index])


def generate_pattern(
    style: str | StyleSpec,
    seed: int,
    bars: int = 4,
    *,
    time_signature: tuple[int, int] = (4, 4),
    ticks_per_beat: int = 480,
    tempo_bpm: float | None = None,
    index: int = 0,
) -> Pattern:
    """One quantized pattern from ``style``'s template; tempo drawn from its range unless given."""
    spec = get_style(style)
    if bars < 1:
        raise ValueError(f"bars must be >= 1, got {bars}")
    if ticks_per_beat % 24:
        raise ValueError(
            f"ticks_per_beat must be a multiple of 24 (32nds and triplets), got {ticks_per_beat}"
        )
    rng = _style_seed(seed, spec, index)
    layout = BarLayout(ticks_per_beat, tuple(time_signature))
    notes = get_template(spec.template)(rng, layout, bars)
    lo, hi = spec.tempo_range
    tempo = tempo_bpm if tempo_bpm is not None else round(float(rng.uniform(lo, hi)), 1)
    return Pattern(tuple(notes), tempo, tuple(time_signature), ticks_per_beat, bars=bars)


def generate_corpus(
    patterns_per_style: int,
    seed: int,
    bars: int = 4,
    styles: Iterable[str | StyleSpec] | None = None,
    *,
    time_signature: tuple[int, int] = (4, 4),
    ticks_per_beat: int = 480,
    humanize: bool = False,
    progress: bool = False,
) -> list[CorpusItem]:
    """``patterns_per_style`` quantized patterns for each style (all registered styles by default).

    With ``humanize=True`` each pattern goes once through :func:`drum_gen.humanize.humanize` with its
    style (seeded per item), giving swung, late-snare, ghost-noted versions.
    """
    if patterns_per_style < 0:
        raise ValueError(f"patterns_per_style must be >= 0, got {patterns_per_style}")
    specs = [get_style(s) for s in styles] if styles is not None else list_styles()
    for spec in specs:
        get_template(spec.template)
    humanize_fn = None
    if humanize:
        from drum_gen.humanize import humanize as humanize_fn
    items = []
    jobs = [(spec, i) for spec in specs for i in range(patterns_per_style)]
    for spec, i in tqdm(jobs, desc="corpus", disable=not progress):
        pattern = generate_pattern(
            spec, seed, bars, time_signature=time_signature, ticks_per_beat=ticks_per_beat, index=i
        )
        if humanize_fn is not None:
            pattern = humanize_fn(pattern, spec, seed=int(_style_seed(seed + 1, spec, i).integers(2**31)))
        items.append(CorpusItem(spec.name, pattern))
    return items


INFO_COLUMNS = (
    "drummer",
    "session",
    "id",
    "style",
    "bpm",
    "beat_type",
    "time_signature",
    "midi_filename",
    "audio_filename",
    "duration",
    "split",
)


def write_corpus(
    items: Sequence[CorpusItem],
    root: str | Path,
    *,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> Path:
    """Write MIDI files plus an ``info.csv`` in the Groove MIDI Dataset layout (style column = style slug).

    The corpus can then be read back with :func:`drum_gen.groove_midi.load_groove_midi` and an identity
    style map, so real and procedural data share one loader. Returns the ``info.csv`` path.
    """
    if len(split_fractions) != 3 or abs(sum(split_fractions) - 1.0) > 1e-6 or min(split_fractions) < 0:
        raise ValueError(
            f"split_fractions must be three non-negative numbers summing to 1, got {split_fractions}"
        )
    root = Path(root)
    rng = np.random.default_rng(seed)
    draws = rng.random(len(items))
    edges = np.cumsum(split_fractions)
    rows = []
    for i, (item, draw) in enumerate(zip(items, draws, strict=True)):
        slug = get_style(item.style).slug
        split = ("train", "validation", "test")[int(np.searchsorted(edges, draw, side="right").clip(0, 2))]
        rel = Path("procedural") / slug / f"{i:06d}_{slug}_{round(item.pattern.tempo_bpm)}_beat.mid"
        item.pattern.write_midi(root / rel)
        num, den = item.pattern.time_signature
        rows.append(
            {
                "drummer": "procedural",
                "session": f"procedural/{slug}",
                "id": f"procedural/{slug}/{i}",
                "style": slug,
                "bpm": f"{item.pattern.tempo_bpm:g}",
                "beat_type": "beat",
                "time_signature": f"{num}-{den}",
                "midi_filename": rel.as_posix(),
                "audio_filename": "",
                "duration": f"{item.pattern.duration_seconds:.6f}",
                "split": split,
            }
        )
    # info.csv is written last and atomically: it only ever lists MIDI files that are complete
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=INFO_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(root / "info.csv", buffer.getvalue())
