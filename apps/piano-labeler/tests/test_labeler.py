"""The labelling session without a browser: resume, saving, navigation, and the calibration pass."""

from __future__ import annotations

import json

import pytest
from piano_labeler.config import LabelerConfig
from piano_labeler.labeler import Labeler, SaveError, default_calibration_path
from piano_labeler.segments import load_segments
from piano_labeler.store import read_labels
from scipy.stats import pearsonr

DIMS = ("phrasing", "musicality", "tone_quality")


@pytest.fixture()
def segments(audio_folder):
    return load_segments(audio_folder, segment_seconds=10.0)  # a.wav: 5 pieces, sub/b.flac: 1


def _config(**overrides) -> LabelerConfig:
    return LabelerConfig(**({"dimensions": DIMS, "labeller": "anna"} | overrides))


def test_labels_are_saved_and_a_new_session_resumes_at_the_first_unlabelled(segments, tmp_path):
    out = tmp_path / "labels.jsonl"
    session = Labeler(segments, _config(), out)
    assert (session.total, session.first_unlabelled(), session.labelled_count()) == (6, 0, 0)
    fresh = session.view(0)
    assert fresh.labels == (50.0, 50.0, 50.0) and fresh.uncertain == (False,) * 3 and not fresh.labelled
    session.save(segments[0].key, [70, 55.5, 10], [False, True, False], "muddy pedal")
    session.save(segments[1].key, [20, 30, 40], [False, False, False], None)
    session.save(segments[0].key, [71, 55.5, 10], [False, True, False], "muddy pedal")  # changed again

    resumed = Labeler(segments, _config(), out)
    assert resumed.first_unlabelled() == 2 and resumed.labelled_count() == 2
    first = resumed.view(0)
    assert first.labelled and first.labels == (71, 55.5, 10) and first.uncertain == (False, True, False)
    assert first.comment == "muddy pedal"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["key"] for line in lines] == [segments[0].key, segments[1].key]
    assert lines[0]["labels"] == {"phrasing": 71, "musicality": 55.5, "tone_quality": 10}
    assert lines[0]["uncertain"] == {"phrasing": False, "musicality": True, "tone_quality": False}
    assert lines[0]["labeller"] == "anna" and lines[0]["pass"] == "main"
    assert (lines[1]["start_time"], lines[1]["end_time"]) == (10.0, 20.0)
    assert lines[0]["updated_at"].endswith("+00:00")


def test_navigation_clamps_and_next_unlabelled_wraps(segments, tmp_path):
    session = Labeler(segments, _config(), tmp_path / "labels.jsonl")
    for i in (0, 1, 3, 5):
        session.save(segments[i].key, [1, 2, 3], [False] * 3, "")
    assert (session.step(0, -1), session.step(5, +1), session.step(2, +1)) == (0, 5, 3)
    assert session.next_unlabelled(2) == 4 and session.next_unlabelled(4) == 2  # wraps past the end
    for i in (2, 4):
        session.save(segments[i].key, [1, 2, 3], [False] * 3, "")
    assert session.next_unlabelled(4) == 4 and session.first_unlabelled() == 0  # all done


def test_bad_saves_are_refused(segments, tmp_path):
    session = Labeler(segments, _config(), tmp_path / "labels.jsonl")
    key = segments[0].key
    with pytest.raises(SaveError, match="unknown segment 'nope'"):
        session.save("nope", [1, 2, 3], [False] * 3, "")
    with pytest.raises(SaveError, match=r"musicality: no value \(type a number from 0 to 100\)"):
        session.save(key, [1, None, 3], [False] * 3, "")
    with pytest.raises(SaveError, match="tone_quality: 101 is outside 0–100"):
        session.save(key, [1, 2, 101], [False] * 3, "")
    with pytest.raises(SaveError, match="expected 3 labels"):
        session.save(key, [1, 2], [False] * 3, "")
    assert not (tmp_path / "labels.jsonl").exists()


def test_labels_of_dimensions_outside_the_config_are_kept(segments, tmp_path):
    out = tmp_path / "labels.jsonl"
    Labeler(segments, _config(dimensions=("phrasing", "pedaling_technique")), out).save(
        segments[0].key, [10, 20], [True, False], ""
    )
    session = Labeler(segments, _config(), out)
    assert session.view(0).labels == (10, 50.0, 50.0)  # phrasing from before, the others at the default
    session.save(segments[0].key, [11, 22, 33], [False, False, False], "")
    record = read_labels(out)[segments[0].key]
    assert record.labels == {"phrasing": 11, "pedaling_technique": 20, "musicality": 22, "tone_quality": 33}
    assert record.uncertain == {
        "phrasing": False,
        "pedaling_technique": False,
        "musicality": False,
        "tone_quality": False,
    }


def test_paths_are_relative_to_the_labels_file_when_inside_it(audio_folder, segments, tmp_path):
    inside = Labeler(segments, _config(), audio_folder / "labels.jsonl")
    inside.save(segments[0].key, [1, 2, 3], [False] * 3, "")
    record = read_labels(audio_folder / "labels.jsonl")[segments[0].key]
    assert (record.audio_path, record.midi_path) == ("a.wav", "a.mid")
    outside = Labeler(segments, _config(), tmp_path / "elsewhere" / "labels.jsonl")
    outside.save(segments[5].key, [1, 2, 3], [False] * 3, "")
    record = read_labels(tmp_path / "elsewhere" / "labels.jsonl")[segments[5].key]
    assert record.audio_path == (audio_folder / "sub" / "b.flac").resolve().as_posix()
    assert record.midi_path is None
    # a labels file is itself a segments.jsonl: the same segments, the same keys
    again = load_segments(audio_folder / "labels.jsonl")
    assert [s.key for s in again] == [segments[0].key] and again[0].midi_path == audio_folder / "a.mid"


def test_records_of_another_dataset_are_reported_and_kept(segments, tmp_path, audio_folder):
    out = tmp_path / "labels.jsonl"
    other = load_segments(audio_folder / "sub")
    Labeler(other, _config(), out).save(other[0].key, [1, 2, 3], [False] * 3, "")
    session = Labeler(segments, _config(), out)
    assert session.unmatched_records() == ["b.flac@0.000-8.000"]
    session.save(segments[0].key, [1, 2, 3], [False] * 3, "")
    assert list(read_labels(out)) == ["b.flac@0.000-8.000", segments[0].key]


def test_calibration_rerates_anchors_into_a_separate_file(segments, tmp_path):
    out = tmp_path / "labels.jsonl"
    first = Labeler(segments, _config(), out)
    firsts = {0: [10, 80, 50], 1: [20, 70, 50], 2: [30, 60, 50], 3: [40, 50, 50], 4: [50, 40, 50]}
    for i, values in firsts.items():
        first.save(segments[i].key, values, [False] * 3, "first")
    before = out.read_bytes()

    calibration = Labeler(segments, _config(calibration=True, anchors=3), out)
    assert calibration.store.path == tmp_path / "labels.calibration.jsonl"
    assert [s.key for s in calibration.items] == [segments[i].key for i in (0, 2, 4)]  # every 2nd of 5
    view = calibration.view(0)
    assert view.labels == (50.0, 50.0, 50.0) and not view.labelled and view.comment == ""  # not the first
    second = {0: [12, 78, 50], 2: [33, 61, 50], 4: [49, 45, 50]}
    for i, values in second.items():
        calibration.save(segments[i].key, values, [False] * 3, "")
    assert out.read_bytes() == before  # the first ratings are untouched
    saved = read_labels(tmp_path / "labels.calibration.jsonl")
    assert [r.pass_name for r in saved.values()] == ["calibration"] * 3
    assert calibration.labelled_count() == 3 and calibration.view(1).labels == (33, 61, 50)

    report = calibration.consistency()
    phrasing, musicality, tone = report.dimensions
    assert report.pairs == 3
    assert phrasing.pearson == pytest.approx(pearsonr([10, 30, 50], [12, 33, 49]).statistic)
    assert musicality.pearson == pytest.approx(pearsonr([80, 60, 40], [78, 61, 45]).statistic)
    assert tone.pearson is None and "rated every anchor the same" in tone.reason
    assert Labeler(segments, _config(), out).consistency() is None


def test_calibration_needs_first_ratings_and_its_own_file(segments, tmp_path):
    from piano_labeler.calibration import CalibrationError

    out = tmp_path / "labels.jsonl"
    with pytest.raises(CalibrationError, match="no segment has a first rating yet"):
        Labeler(segments, _config(calibration=True), out)
    Labeler(segments, _config(), out).save(segments[0].key, [1, 2, 3], [False] * 3, "")
    with pytest.raises(ValueError, match="the calibration file must not be the labels file"):
        Labeler(segments, _config(calibration=True), out, calibration_out=out)
    assert default_calibration_path(tmp_path / "mine.jsonl") == tmp_path / "mine.calibration.jsonl"


def test_a_change_overtaken_by_a_newer_one_from_the_same_page_is_dropped(segments, tmp_path):
    out = tmp_path / "labels.jsonl"
    session = Labeler(segments, _config(), out)
    key, other = segments[0].key, segments[1].key
    assert session.save(key, [10, 10, 10], [False] * 3, "", order=("page-a", 1)) is not None
    assert session.save(key, [30, 30, 30], [False] * 3, "", order=("page-a", 3)) is not None
    assert session.save(key, [20, 20, 20], [False] * 3, "", order=("page-a", 2)) is None  # arrived late
    assert read_labels(out)[key].labels["phrasing"] == 30
    # numbers count per page and segment: another segment, or a reloaded page, starts afresh
    assert session.save(other, [5, 5, 5], [False] * 3, "", order=("page-a", 2)) is not None
    assert session.save(key, [40, 40, 40], [False] * 3, "", order=("page-b", 1)) is not None
    assert read_labels(out)[key].labels["phrasing"] == 40
    # a refused change does not count as the newest one
    with pytest.raises(SaveError):
        session.save(key, [None, 1, 1], [False] * 3, "", order=("page-b", 5))
    assert session.save(key, [45, 45, 45], [False] * 3, "", order=("page-b", 4)) is not None
