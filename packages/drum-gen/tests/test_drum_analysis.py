"""Groove analysis metrics, swing read-back, and style separability of the procedural corpus."""

from pathlib import Path

import numpy as np
import pytest
from drum_gen import gm
from drum_gen.analysis import (
    InsufficientDataError,
    compare,
    density,
    empty_beat_rate,
    groove_consistency,
    group_by_style,
    measure_swing,
    onset_grid,
    overlapping_area,
    summarize,
    try_measure_swing,
)
from drum_gen.corpus import generate_corpus
from drum_gen.humanize import apply_swing, humanize
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.styles import list_styles


def _p(notes, **kwargs) -> Pattern:
    return Pattern(tuple(DrumNote(t, p, 100, 10) for t, p in notes), **{"tempo_bpm": 100.0, **kwargs})


def test_onset_grid_shape_and_cells_in_odd_meter() -> None:
    pattern = _p([(0, gm.KICK), (1200, gm.SNARE), (1680 + 118, 22)], time_signature=(7, 8))
    grid = onset_grid(pattern)
    assert grid.shape == (2, 14, 9) and grid.dtype == np.float32
    assert grid[0, 0, gm.KICK_CLASS] == 1 and grid[0, 10, gm.SNARE_CLASS] == 1
    assert grid[1, 1, gm.CLOSED_HIHAT_CLASS] == 1  # 118 ticks snaps to the 2nd 16th; TD-11 pitch 22 is a hat
    assert grid.sum() == 3
    assert onset_grid(pattern, velocity=True).max() == pytest.approx(100 / 127)
    with pytest.raises(ValueError, match="does not divide"):
        onset_grid(pattern, steps_per_beat=7)


def test_groove_consistency_density_and_empty_beats() -> None:
    bar = [(0, gm.KICK), (480, gm.SNARE), (960, gm.KICK), (1440, gm.SNARE)]
    same = _p([(t + b * 1920, p) for b in range(3) for t, p in bar])
    assert groove_consistency(same) == 1.0
    assert density(same) == 4.0
    assert empty_beat_rate(same) == 0.0
    changed = _p([*bar, (1920 + 240, gm.KICK)])  # bar 2: 1 of 16 positions on, bar 1: 4 on -> 5 differ
    assert groove_consistency(changed) == pytest.approx(1 - 5 / 16)
    sparse = _p([(0, gm.KICK)], bars=2)
    assert empty_beat_rate(sparse) == pytest.approx(7 / 8)
    assert density(sparse) == 0.5
    waltz = _p([(0, gm.KICK), (1440, gm.KICK)], time_signature=(3, 4))
    assert empty_beat_rate(waltz) == pytest.approx(4 / 6)
    with pytest.raises(InsufficientDataError, match="two bars"):
        groove_consistency(_p(bar))


def test_swing_measurement_is_exact_on_quantized_swung_corpus() -> None:
    for item in generate_corpus(5, seed=2, bars=2):
        for swing, resolution in [(50.0, 16), (58.0, 16), (62.0, 16), (66.67, 8), (54.0, 8)]:
            measured = try_measure_swing(apply_swing(item.pattern, swing, resolution), resolution)
            if measured is not None:  # an 8th-only pattern has no 16th off-beats
                span = 2 * 480 * 4 // resolution
                assert measured == pytest.approx(swing, abs=50 / span), (item.style, swing, resolution)
    with pytest.raises(InsufficientDataError, match="no off-beat"):
        measure_swing(_p([(0, gm.KICK), (480, gm.SNARE)]))


def test_swing_read_back_from_humanized_patterns_is_close() -> None:
    patterns = [item.pattern for item in generate_corpus(6, seed=4, bars=4, styles=["quest"])]
    measured = [measure_swing(humanize(p, "quest", seed=i)) for i, p in enumerate(patterns)]
    assert np.mean(measured) == pytest.approx(58.0, abs=3.0)


def test_corpus_styles_are_separable_from_the_quantized_onset_grid() -> None:
    """A nearest-centroid classifier on mean onset grids tells the four styles apart on unseen seeds."""

    def features(items):
        x = np.stack([onset_grid(i.pattern).mean(axis=0).ravel() for i in items])
        return x, [i.style for i in items]

    x_train, y_train = features(generate_corpus(20, seed=100, bars=4))
    x_test, y_test = features(generate_corpus(20, seed=200, bars=4))
    names = sorted(set(y_train))
    centroids = np.stack([x_train[[y == n for y in y_train]].mean(axis=0) for n in names])
    predicted = [names[i] for i in np.argmin(((x_test[:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    accuracy = np.mean([p == y for p, y in zip(predicted, y_test, strict=True)])
    assert accuracy >= 0.95


def test_summarize_and_compare_generated_vs_corpus() -> None:
    corpus = {s.name: [] for s in list_styles()}
    for item in generate_corpus(6, seed=5, bars=4):
        corpus[item.style].append(item.pattern)
    generated = {name: [humanize(p, name, seed=i) for i, p in enumerate(ps)] for name, ps in corpus.items()}
    summary = summarize(corpus["Metro Boomin"])
    assert summary["n_patterns"] == 6
    assert summary["swing"]["mean"] == 50.0 and summary["swing"]["n"] == 6
    assert summary["density"]["mean"] > 16  # 16th hats plus rolls
    assert summary["instruments"]["closed_hihat"] > 0.5
    assert set(summary) >= {"groove_consistency", "empty_beat_rate", "microtiming_ms", "tempo_bpm"}
    table = compare(generated, corpus)
    rows = {(r.style, r.metric): r for r in table.rows}
    assert len(table.rows) == 4 * 5
    dilla_swing = rows[("J Dilla", "swing")]
    assert dilla_swing.corpus == 50.0 and dilla_swing.generated > 55.0
    assert rows[("J Dilla", "microtiming_ms")].difference > 5.0
    markdown = table.to_markdown()
    assert markdown.splitlines()[0].startswith("| style | metric | generated | corpus")
    assert "| Questlove | swing |" in markdown
    one_sided = compare({"X": corpus["Questlove"]}, {}, metrics=["density"])
    assert one_sided.rows[0].corpus is None and "n/a" in one_sided.to_markdown()
    with pytest.raises(ValueError, match="unknown metrics"):
        compare(generated, corpus, metrics=["vibes"])


def test_group_by_style_accepts_corpus_items_and_records() -> None:
    from drum_gen.groove_midi import GrooveMidiRecord

    items = generate_corpus(2, seed=0, bars=1, styles=["metro", "quest"])
    groups = group_by_style(items)
    assert {k: len(v) for k, v in groups.items()} == {"Metro Boomin": 2, "Questlove": 2}
    record = GrooveMidiRecord("d", "s", "i", "rock", 100.0, "beat", (4, 4), Path("x.mid"), "train")
    assert group_by_style([record]) == {}  # unmapped GMD style is skipped, not filed under "rock"


def test_overlapping_area() -> None:
    a = np.array([1.0, 2.0, 3.0])
    assert overlapping_area(a, a) == pytest.approx(1.0)
    assert overlapping_area(a, a + 100) == 0.0
    assert overlapping_area(np.array([5.0]), np.array([5.0])) == 1.0
    assert overlapping_area(np.array([]), a) is None
