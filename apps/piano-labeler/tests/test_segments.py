"""Segment lists from the three kinds of dataset folder, and the errors for folders that cannot be used."""

from __future__ import annotations

import csv
import json

import pytest
import soundfile as sf
from piano_labeler.segments import (
    DataFolderError,
    SegmentFileError,
    SegmentRangeError,
    cut_times,
    load_segments,
)


def _jsonl(path, *objects):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects))
    return path


# ------------------------------------------------------------------------------------------------ cutting
@pytest.mark.parametrize(
    ("duration", "seconds", "expected"),
    [
        (45.0, 20.0, [(0.0, 20.0), (20.0, 45.0)]),  # 5 s remainder joins the last piece
        (50.0, 20.0, [(0.0, 20.0), (20.0, 40.0), (40.0, 50.0)]),  # 10 s = half a segment: its own piece
        (40.0, 20.0, [(0.0, 20.0), (20.0, 40.0)]),
        (8.0, 20.0, [(0.0, 8.0)]),  # shorter than a segment: the whole file
        (45.0, 10.0, [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0), (40.0, 45.0)]),
        (0.0, 20.0, []),
    ],
)
def test_cut_times_cover_the_recording_without_stubs(duration, seconds, expected):
    assert cut_times(duration, seconds) == expected


# ------------------------------------------------------------------------------------------- audio folder
def test_audio_folder_is_cut_with_same_stem_midi(audio_folder, write_audio):
    write_audio(audio_folder / ".hidden" / "c.wav", 3.0)  # hidden folders are skipped
    (audio_folder / "notes.txt").write_text("not audio")
    segments = load_segments(audio_folder)
    assert segments.kind == "audio folder" and segments.source == audio_folder
    assert [(s.key, s.start_time, s.end_time) for s in segments] == [
        ("a.wav@0.000-20.000", 0.0, 20.0),
        ("a.wav@20.000-45.000", 20.0, 45.0),
        ("sub/b.flac@0.000-8.000", 0.0, 8.0),
    ]
    assert segments[0].midi_path == segments[1].midi_path == audio_folder / "a.mid"
    assert segments[2].midi_path is None
    assert segments.index("sub/b.flac@0.000-8.000") == 2


def test_segment_length_is_configurable(audio_folder):
    segments = load_segments(audio_folder, segment_seconds=10.0)
    assert [s.end_time for s in segments][:5] == [10.0, 20.0, 30.0, 40.0, 45.0]
    assert len(segments) == 6


def test_missing_and_empty_folders_are_named(tmp_path):
    with pytest.raises(DataFolderError, match=r"no-such: no such file or folder"):
        load_segments(tmp_path / "no-such")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFolderError, match=r"empty: nothing to label: no segments.jsonl, no ratings.csv"):
        load_segments(tmp_path / "empty")
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(DataFolderError, match=r"x.csv: expected a folder or a segments.jsonl-style"):
        load_segments(tmp_path / "x.csv")


def test_unreadable_audio_in_a_folder_names_the_file(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(SegmentFileError, match=r"broken.wav"):
        load_segments(tmp_path)


# ------------------------------------------------------------------------------------------ segments.jsonl
def test_segments_jsonl_in_the_pseudo_label_format(audio_folder):
    absolute_b = audio_folder / "sub" / "b.flac"
    _jsonl(
        audio_folder / "segments.jsonl",
        {
            "audio_path": "a.wav",
            "midi_path": "a.mid",
            "score_path": None,
            "start_time": 10.0,
            "end_time": 30.0,
            "labels": {"note_accuracy": 85.2},
        },
        "",  # blank lines are allowed
        {"audio_path": str(absolute_b), "start_time": 0, "end_time": 8.0, "key": "b-whole", "piece_id": "p1"},
        {"audio_path": "a.wav", "midi_path": None, "start_time": 30.0, "end_time": 45.02},  # within tolerance
    )
    segments = load_segments(audio_folder)  # segments.jsonl wins over the audio files
    assert segments.kind == "segments.jsonl"
    assert [s.key for s in segments] == ["a.wav@10.000-30.000", "b-whole", "a.wav@30.000-45.020"]
    first, second, third = segments
    assert (first.audio_path, first.midi_path, first.score_path) == (
        audio_folder / "a.wav",
        audio_folder / "a.mid",
        None,
    )
    assert (first.start_time, first.end_time, first.duration) == (10.0, 30.0, 20.0)
    assert second.audio_path == absolute_b and second.piece_id == "p1" and second.midi_path is None
    assert third.end_time == pytest.approx(45.0)  # clamped to the audio's end
    assert load_segments(audio_folder / "segments.jsonl").segments == segments.segments  # the file itself


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        ("{not json", SegmentFileError, r"segments.jsonl line 2: not valid JSON"),
        ("[1, 2]", SegmentFileError, r"line 2: expected a JSON object, got list"),
        ('{"start_time": 0, "end_time": 1}', SegmentFileError, r"line 2: missing 'audio_path'"),
        (
            '{"audio_path": "gone.wav", "start_time": 0, "end_time": 1}',
            SegmentFileError,
            r"line 2, audio_path: .*gone.wav does not exist",
        ),
        (
            '{"audio_path": "a.wav", "midi_path": "gone.mid", "start_time": 0, "end_time": 1}',
            SegmentFileError,
            r"line 2, midi_path: .*gone.mid does not exist",
        ),
        ('{"audio_path": "a.wav", "start_time": 0}', SegmentFileError, r"line 2: missing 'end_time'"),
        (
            '{"audio_path": "a.wav", "start_time": "0", "end_time": 1}',
            SegmentFileError,
            r"line 2, start_time: expected a finite number of seconds, got '0'",
        ),
        (
            '{"audio_path": "a.wav", "start_time": 5, "end_time": 5}',
            SegmentRangeError,
            r"line 2: need 0 ≤ start_time < end_time, got 5–5 s",
        ),
        (
            '{"audio_path": "a.wav", "start_time": 40, "end_time": 60}',
            SegmentRangeError,
            r"line 2: end_time 60 s is beyond the end of .*a.wav \(45.000 s\)",
        ),
        (
            '{"audio_path": "a.wav", "start_time": 0, "end_time": 20}',
            SegmentFileError,
            r"line 2: segment 'a.wav@0.000-20.000' is already listed on line 1",
        ),
    ],
)
def test_bad_jsonl_lines_name_file_line_and_field(audio_folder, line, error, message):
    path = _jsonl(
        audio_folder / "segments.jsonl", {"audio_path": "a.wav", "start_time": 0, "end_time": 20}, line
    )
    with pytest.raises(error, match=message) as info:
        load_segments(audio_folder)
    assert str(info.value).startswith(f"{path} line 2")


def test_empty_segments_file_is_an_error(tmp_path):
    (tmp_path / "segments.jsonl").write_text("\n")
    with pytest.raises(DataFolderError, match=r"segments.jsonl: no segments"):
        load_segments(tmp_path)


# --------------------------------------------------------------------------------------------- ratings.csv
def test_rating_folder_cuts_every_performance(benchmark):
    with (benchmark / "ratings.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    segments = load_segments(benchmark, segment_seconds=2.0)
    assert segments.kind == "ratings.csv"
    expected = []
    for row in rows:
        duration = sf.info(str(benchmark / row["audio"])).duration
        expected += [
            (f"{row['audio']}@{a:.3f}-{b:.3f}", row["piece_id"]) for a, b in cut_times(duration, 2.0)
        ]
    assert [(s.key, s.piece_id) for s in segments] == expected
    assert len(segments) > len(rows)  # the ~5 s renderings are cut in two
    first = segments[0]
    assert first.audio_path == benchmark / rows[0]["audio"]
    assert first.midi_path == benchmark / rows[0]["midi"]
    assert first.score_path == benchmark / rows[0]["score_midi"]
    assert first.performance_id == rows[0]["performance_id"]
    # the default 20 s gives one segment per performance, the whole rendering
    assert [s.start_time for s in load_segments(benchmark)] == [0.0] * len(rows)


def test_rating_folder_without_ratings_yet(audio_folder):
    (audio_folder / "ratings.csv").write_text("performance_id,piece_id,audio,midi\nt1,op28,a.wav,a.mid\n")
    (segment, second) = load_segments(audio_folder)
    assert segment.performance_id == "t1" and segment.piece_id == "op28" and segment.midi_path.name == "a.mid"
    assert second.key == "a.wav@20.000-45.000"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("piece_id,midi\np,a.mid\n", r"ratings.csv: no 'audio' column"),
        ("piece_id,audio\np,\n", r"ratings.csv row 2, audio: empty"),
        ("piece_id,audio\np,a.wav\np,gone.wav\n", r"ratings.csv row 3, audio: .*gone.wav does not exist"),
        (
            "piece_id,audio\np,a.wav\nq,a.wav\n",
            r"ratings.csv row 3, audio: .*a.wav is already the audio of row 2",
        ),
        ("piece_id,audio\n", r"ratings.csv: no performances"),
    ],
)
def test_bad_rating_folders_name_the_row(audio_folder, table, message):
    (audio_folder / "ratings.csv").write_text(table)
    with pytest.raises((SegmentFileError, DataFolderError), match=message):
        load_segments(audio_folder)
