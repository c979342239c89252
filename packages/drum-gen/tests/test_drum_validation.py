"""Validation: structured findings, meter awareness, sparse grooves allowed."""

import pytest
from drum_gen import gm
from drum_gen.corpus import generate_corpus
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.validation import Finding, PatternValidationError, validate


def _p(notes, **kwargs) -> Pattern:
    return Pattern(tuple(DrumNote(*n) for n in notes), **{"tempo_bpm": 100.0, **kwargs})


def test_sparse_groove_is_valid() -> None:
    sparse = _p([(0, gm.KICK, 100, 30), (2 * 1920 + 960, gm.SNARE, 100, 30)], bars=4)
    report = validate(sparse)
    assert report.ok and len(report) == 0


def test_empty_pattern_is_a_warning_not_an_error() -> None:
    report = validate(Pattern((), 90.0, bars=2))
    assert report.ok
    assert report.codes() == {"empty_pattern"}


def test_duplicate_and_hihat_conflict_are_errors_with_positions() -> None:
    report = validate(
        _p([(1920 + 480, gm.SNARE, 100, 30), (1920 + 480, gm.SNARE, 90, 30), (0, gm.OPEN_HIHAT, 90, 30),
            (0, gm.CLOSED_HIHAT, 90, 30), (960, gm.PEDAL_HIHAT, 90, 30), (960, gm.OPEN_HIHAT, 90, 30)])
    )  # fmt: skip
    assert not report.ok
    dup = next(f for f in report.errors if f.code == "duplicate_hit")
    assert (dup.time, dup.bar, dup.pitch) == (2400, 1, gm.SNARE)
    assert "bar 2" in dup.message
    assert [f.time for f in report.errors if f.code == "hihat_conflict"] == [0, 960]
    closed_and_pedal = _p([(0, gm.CLOSED_HIHAT, 90, 30), (0, gm.PEDAL_HIHAT, 90, 30)])
    assert validate(closed_and_pedal).ok  # foot chick under a closed stroke is playable


def test_simultaneous_limit_counts_limbs_within_a_window() -> None:
    pitches = [gm.KICK, gm.SNARE, gm.CLOSED_HIHAT, gm.CRASH, gm.HIGH_TOM]
    five = _p([(i * 5, p, 100, 30) for i, p in enumerate(pitches)])  # humanized chord, 20 ticks wide
    report = validate(five)
    assert [f.code for f in report.errors] == ["too_many_simultaneous"]
    assert validate(five, max_simultaneous=5).ok
    assert validate(_p([(i * 5, p, 100, 30) for i, p in enumerate(pitches[:4])])).ok


def test_non_gm_pitch_and_notes_after_declared_end() -> None:
    report = validate(_p([(0, 22, 100, 30), (1920, gm.KICK, 100, 30)], bars=1))
    assert {f.code for f in report.errors} == {"non_gm_pitch", "note_after_end"}
    assert validate(_p([(0, 22, 100, 30)]), allow_non_gm=True).ok


def test_density_bounds_scale_with_meter() -> None:
    notes_4_4 = [(t, gm.CLOSED_HIHAT, 80, 10) for t in range(0, 1920, 30)]  # 64 per bar, 16 per quarter
    assert "too_dense" in validate(_p(notes_4_4)).codes()
    waltz = [(t, gm.CLOSED_HIHAT, 80, 10) for t in range(0, 1440, 60)]  # 24 in 3 quarters
    assert "too_dense" not in validate(_p(waltz, time_signature=(3, 4))).codes()
    sparse = validate(_p([(0, gm.KICK, 100, 10)], bars=2), min_onsets_per_bar=2)
    assert [f.bar for f in sparse.warnings if f.code == "too_sparse"] == [0, 1]
    assert sparse.ok  # sparse is only ever a warning


@pytest.mark.parametrize("ts", [(3, 4), (6, 8), (7, 8)])
def test_meter_aware_bars(ts: tuple[int, int]) -> None:
    bar = ts[0] * 1920 // ts[1]
    inside = _p([(bar - 10, gm.KICK, 100, 5)], time_signature=ts, bars=1)
    assert validate(inside).ok
    outside = _p([(bar, gm.KICK, 100, 5)], time_signature=ts, bars=1)
    assert validate(outside).codes() == {"note_after_end"}


def test_meta_and_overlap_warnings() -> None:
    report = validate(
        _p([(0, gm.KICK, 100, 500), (240, gm.KICK, 100, 10), (250, gm.KICK, 90, 10)], tempo_bpm=400.0)
    )
    assert report.ok
    assert {"tempo_range", "overlapping_notes", "near_duplicate"} <= report.codes()
    assert "time_signature" in validate(_p([(0, 36, 90, 10)], time_signature=(4, 32))).codes()


def test_report_serialises_and_raises() -> None:
    report = validate(_p([(0, gm.SNARE, 100, 30), (0, gm.SNARE, 90, 30)]))
    data = report.to_dict()
    assert data["ok"] is False
    assert data["findings"][0]["code"] == "duplicate_hit"
    assert isinstance(report.findings[0], Finding)
    with pytest.raises(
        PatternValidationError, match=r"generated pattern failed validation with 1 error\(s\)"
    ) as info:
        report.raise_for_errors("generated pattern")
    assert info.value.report is report


def test_whole_procedural_corpus_is_valid_in_several_meters() -> None:
    for ts in [(4, 4), (3, 4), (6, 8), (7, 8)]:
        for item in generate_corpus(4, seed=11, bars=2, time_signature=ts):
            report = validate(item.pattern)
            assert report.ok, (ts, item.style, report.errors)
