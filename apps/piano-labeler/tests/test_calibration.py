"""Self-consistency between first and calibration ratings, and which segments become anchors."""

from __future__ import annotations

from pathlib import Path

import pytest
from piano_labeler.calibration import (
    CalibrationError,
    choose_anchors,
    report_markdown,
    self_consistency,
)
from piano_labeler.segments import Segment
from piano_labeler.store import Annotation
from scipy.stats import pearsonr


def _records(
    values: dict[str, list[float]], keys: list[str], pass_name: str = "main"
) -> dict[str, Annotation]:
    return {
        key: Annotation(
            key=key,
            audio_path="x.wav",
            start_time=0.0,
            end_time=20.0,
            labels={dim: column[i] for dim, column in values.items()},
            uncertain={},
            pass_name=pass_name,
        )
        for i, key in enumerate(keys)
    }


KEYS = ["s1", "s2", "s3", "s4"]


def test_pearson_and_mean_difference_per_dimension_match_hand_computed_values():
    first = _records({"phrasing": [10, 20, 30, 40], "musicality": [10, 20, 30, 40]}, KEYS)
    second = _records({"phrasing": [12, 18, 33, 41], "musicality": [40, 30, 20, 10]}, KEYS, "calibration")
    report = self_consistency(first, second, ["phrasing", "musicality"])
    assert report.pairs == 4
    phrasing, musicality = report.dimensions
    # by hand: deviations (-15,-5,5,15) and (-14,-8,7,15): r = 510 / sqrt(500 * 534)
    assert phrasing.pearson == pytest.approx(0.986994074638134, abs=1e-12)
    assert phrasing.pearson == pytest.approx(pearsonr([10, 20, 30, 40], [12, 18, 33, 41]).statistic)
    assert phrasing.mean_abs_difference == pytest.approx(2.0)  # |2| + |2| + |3| + |1| over 4
    assert musicality.pearson == pytest.approx(-1.0) and musicality.mean_abs_difference == pytest.approx(20.0)
    assert report.mean_pearson == pytest.approx((0.986994074638134 - 1.0) / 2)
    text = report_markdown(report)
    assert "| phrasing | 4 | 0.99 | 2.0 |  |" in text
    assert "| musicality | 4 | -1.00 | 20.0 | below target |" in text
    assert "over 4 anchors rated twice (target r > 0.7)" in text


def test_only_segments_rated_on_both_passes_count():
    first = _records({"phrasing": [10, 20, 30, 40]}, KEYS)
    second = _records({"phrasing": [11, 19, 35, 99]}, ["s1", "s2", "s3", "elsewhere"], "calibration")
    report = self_consistency(first, second, ["phrasing"])
    assert report.pairs == 3
    assert report.dimensions[0].pearson == pytest.approx(pearsonr([10, 20, 30], [11, 19, 35]).statistic)


def test_fewer_than_three_anchors_give_a_clear_message_not_a_number():
    first = _records({"phrasing": [10, 20]}, KEYS[:2])
    second = _records({"phrasing": [15, 25]}, KEYS[:2], "calibration")
    report = self_consistency(first, second, ["phrasing"])
    (row,) = report.dimensions
    assert row.pearson is None and row.reason == "needs ≥ 3 anchors rated twice, has 2"
    assert row.mean_abs_difference == pytest.approx(5.0)
    assert report.mean_pearson is None
    assert report_markdown(report) == (
        "**Self-consistency:** 2 anchor(s) rated twice so far; Pearson needs at least 3."
    )


def test_constant_ratings_make_pearson_undefined_with_the_reason():
    first = _records({"phrasing": [50, 50, 50], "musicality": [10, 20, 30]}, KEYS[:3])
    second = _records({"phrasing": [40, 50, 60], "musicality": [70, 70, 70]}, KEYS[:3], "calibration")
    phrasing, musicality = self_consistency(first, second, ["phrasing", "musicality"]).dimensions
    assert phrasing.pearson is None and phrasing.reason == "the first pass rated every anchor the same"
    assert musicality.pearson is None and musicality.reason == "the second pass rated every anchor the same"


def _segments(n: int) -> list[Segment]:
    return [Segment(f"s{i}", Path(f"s{i}.wav"), 0.0, 20.0) for i in range(n)]


def test_anchors_are_spread_evenly_over_the_labelled_segments():
    segments = _segments(12)
    labelled = _records({"phrasing": [50] * 10}, [f"s{i}" for i in range(10)])
    assert [s.key for s in choose_anchors(segments, labelled, count=4)] == ["s0", "s3", "s6", "s9"]
    assert len(choose_anchors(segments, labelled, count=50)) == 10  # all labelled ones, no more
    chosen = choose_anchors(segments, labelled, count=3, keys=["s7", "s2"])
    assert [s.key for s in chosen] == ["s2", "s7"]  # dataset order


def test_anchors_need_first_ratings():
    segments = _segments(4)
    labelled = _records({"phrasing": [50]}, ["s0"])
    with pytest.raises(CalibrationError, match="no segment has a first rating yet"):
        choose_anchors(segments, {}, count=20)
    with pytest.raises(CalibrationError, match=r"anchors without a first rating to compare with: \['s1'\]"):
        choose_anchors(segments, labelled, count=20, keys=["s0", "s1"])
    with pytest.raises(CalibrationError, match=r"anchor keys not among the dataset's segments: \['zz'\]"):
        choose_anchors(segments, labelled, count=20, keys=["zz"])
