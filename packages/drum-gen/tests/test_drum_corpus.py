"""Procedural corpus: determinism, tempo ranges, meters, style structure, Groove-MIDI-layout export."""

import csv
from collections import Counter
from pathlib import Path

import pytest
from drum_gen import gm
from drum_gen.corpus import (
    UnknownTemplateError,
    generate_corpus,
    generate_pattern,
    get_template,
    write_corpus,
)
from drum_gen.pattern import Pattern
from drum_gen.styles import get_style, list_styles


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(12, seed=7, bars=4)


def test_counts_styles_and_determinism(corpus) -> None:
    assert Counter(item.style for item in corpus) == {s.name: 12 for s in list_styles()}
    again = generate_corpus(12, seed=7, bars=4)
    assert [i.pattern for i in again] == [i.pattern for i in corpus]
    other = generate_corpus(12, seed=8, bars=4)
    assert [i.pattern for i in other] != [i.pattern for i in corpus]
    only = generate_corpus(3, seed=7, bars=4, styles=["metro"])
    assert [i.pattern for i in only] == [i.pattern for i in corpus if i.style == "Metro Boomin"][:3]


def test_patterns_are_quantized_in_range_and_varied(corpus) -> None:
    for item in corpus:
        pattern = item.pattern
        lo, hi = get_style(item.style).tempo_range
        assert lo <= pattern.tempo_bpm <= hi
        assert pattern.num_bars == 4 and not pattern.humanized
        assert all(n.time < pattern.length_ticks for n in pattern.notes)
        assert all(n.time % 20 == 0 for n in pattern.notes)  # 32nd (60) and 16th-triplet (80) grids
    for style in list_styles():
        patterns = [i.pattern.notes for i in corpus if i.style == style.name]
        assert len(set(patterns)) == len(patterns)  # random variations: no two patterns equal


def _onsets(pattern: Pattern, pitch_class: int) -> list[int]:
    return [
        n.time % pattern.ticks_per_bar for n in pattern.notes if gm.pitch_to_class(n.pitch) == pitch_class
    ]


def test_style_signatures(corpus) -> None:
    by_style = {s.name: [i.pattern for i in corpus if i.style == s.name] for s in list_styles()}
    for p in by_style["J Dilla"]:  # 8th-note hats, backbeat snare, sparse kicks
        assert all(t % 240 == 0 for t in _onsets(p, gm.CLOSED_HIHAT_CLASS))
        assert len(_onsets(p, gm.KICK_CLASS)) <= 4 * 4
    for p in by_style["Metro Boomin"]:  # half-time snare, rolls faster than 16ths
        snares = [n for n in p.notes if n.pitch == gm.SNARE]
        assert {n.time % 1920 for n in snares} == {960}
        assert any(t % 120 for t in _onsets(p, gm.CLOSED_HIHAT_CLASS))
    for p in by_style["Questlove"]:  # ghost notes: quiet snares off the backbeat
        ghosts = [n for n in p.notes if n.pitch == gm.SNARE and n.velocity < 50]
        assert ghosts and all(n.time % 480 for n in ghosts)
    for p in by_style["Timbaland"]:  # triplet hats and tom/perc stabs
        assert any(t % 160 == 0 and t % 120 for t in _onsets(p, gm.CLOSED_HIHAT_CLASS))
        assert any(gm.pitch_to_class(n.pitch) in (4, 5, 6) for n in p.notes)


@pytest.mark.parametrize("ts", [(3, 4), (6, 8), (7, 8), (5, 4)])
def test_other_meters(ts: tuple[int, int]) -> None:
    for item in generate_corpus(2, seed=3, bars=2, time_signature=ts):
        pattern = item.pattern
        assert pattern.time_signature == ts
        assert pattern.ticks_per_bar == ts[0] * 1920 // ts[1]
        assert all(n.time < 2 * pattern.ticks_per_bar for n in pattern.notes)
        assert any(n.pitch == gm.KICK and n.time % pattern.ticks_per_bar == 0 for n in pattern.notes)


def test_errors() -> None:
    with pytest.raises(UnknownTemplateError, match="valid templates: boom_bap, trap, funk, syncopated"):
        get_template("polka")
    with pytest.raises(ValueError, match="multiple of 24"):
        generate_pattern("dilla", seed=0, ticks_per_beat=100)
    with pytest.raises(ValueError, match="bars must be"):
        generate_pattern("dilla", seed=0, bars=0)
    assert generate_pattern("quest", seed=0, tempo_bpm=101.0).tempo_bpm == 101.0


def test_write_corpus_in_groove_midi_layout(tmp_path: Path) -> None:
    items = generate_corpus(3, seed=1, bars=2)
    info = write_corpus(items, tmp_path, seed=0)
    with info.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(items)
    assert {r["split"] for r in rows} <= {"train", "validation", "test"}
    for row, item in zip(rows, items, strict=True):
        assert row["style"] == get_style(item.style).slug
        back = Pattern.read_midi(tmp_path / row["midi_filename"])
        assert back.notes == item.pattern.notes
        assert float(row["bpm"]) == pytest.approx(item.pattern.tempo_bpm)
