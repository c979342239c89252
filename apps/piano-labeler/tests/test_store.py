"""The labels file: round trips, atomic rewrites, picking up edits, and refusing (not clobbering) bad files."""

from __future__ import annotations

import json
import os

import pytest
import shared_audio_core.files as files
from piano_labeler.store import Annotation, LabelFileError, LabelStore, read_labels


def _annotation(key: str, value: float = 60, **fields) -> Annotation:
    return Annotation(
        key=key,
        audio_path=f"{key}.wav",
        start_time=0.0,
        end_time=20.0,
        labels={"phrasing": value, "musicality": 40},
        uncertain={"phrasing": True, "musicality": False},
        comment=fields.pop("comment", ""),
        labeller="anna",
        updated_at="2025-01-31T10:00:00+00:00",
        **fields,
    )


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_put_writes_one_object_per_segment_and_replaces_in_place(tmp_path):
    path = tmp_path / "deep" / "labels.jsonl"
    store = LabelStore(path)
    assert len(store) == 0 and not path.exists()
    store.put(_annotation("a", comment="rushed"))
    store.put(_annotation("b", midi_path="b.mid", piece_id="op28"))
    store.put(_annotation("a", 75))
    records = _lines(path)
    assert [r["key"] for r in records] == ["a", "b"]  # "a" rewritten where it was
    assert records[0] == {
        "key": "a",
        "audio_path": "a.wav",
        "midi_path": None,
        "start_time": 0.0,
        "end_time": 20.0,
        "labels": {"phrasing": 75, "musicality": 40},
        "uncertain": {"phrasing": True, "musicality": False},
        "comment": "",
        "labeller": "anna",
        "updated_at": "2025-01-31T10:00:00+00:00",
        "pass": "main",
    }
    assert records[1]["midi_path"] == "b.mid" and records[1]["piece_id"] == "op28"
    again = LabelStore(path)
    assert again.records() == store.records()
    assert again.get("a").labels == {"phrasing": 75, "musicality": 40}
    assert "b" in again and "c" not in again and list(again) == ["a", "b"]


def test_each_write_goes_through_a_temporary_and_os_replace(tmp_path, monkeypatch):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.put(_annotation("a"))
    before = path.read_bytes()
    replaced = []
    real_replace = os.replace

    def crash_on_replace(src, dst):  # the process dies just before the rename
        replaced.append((src, dst))
        raise OSError("disk pulled out")

    monkeypatch.setattr(files.os, "replace", crash_on_replace)
    with pytest.raises(OSError, match="disk pulled out"):
        store.put(_annotation("b"))
    assert path.read_bytes() == before  # the previous version, whole
    (src, dst) = replaced[0]
    assert os.path.dirname(src) == str(tmp_path) and os.path.basename(src).startswith(".labels.jsonl.")
    assert str(dst) == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.jsonl"]  # no temporary left behind
    monkeypatch.setattr(files.os, "replace", real_replace)
    store.put(_annotation("b"))
    assert [r["key"] for r in _lines(path)] == ["a", "b"]


def test_edits_on_disk_are_picked_up_and_not_clobbered(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.put(_annotation("a"))
    other = LabelStore(path)  # a second session (or a hand edit) adds a record
    other.put(_annotation("x", comment="from elsewhere"))
    store.put(_annotation("b"))
    assert [r["key"] for r in _lines(path)] == ["a", "x", "b"]
    assert store.get("x").comment == "from elsewhere"
    path.write_text(path.read_text().replace("from elsewhere", "edited"))
    assert store.refresh() is True and store.get("x").comment == "edited"
    assert store.refresh() is False


def test_fields_written_by_someone_else_survive_a_rewrite(tmp_path):
    path = tmp_path / "labels.jsonl"
    record = _annotation("a").to_json() | {"reviewed": True}
    path.write_text(json.dumps(record) + "\n")
    store = LabelStore(path)
    assert store.get("a").extra == {"reviewed": True}
    store.put(store.get("a"))
    assert _lines(path)[0]["reviewed"] is True


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"key": "b", "audio_path": "b.wav", "start_time": 0, "end_time": 1, "labels": {', "not valid JSON"),
        ("42", "expected a JSON object, got int"),
        (
            '{"audio_path": "b.wav", "start_time": 0, "end_time": 1, "labels": {}}',
            "key: expected a non-empty",
        ),
        ('{"key": "b", "audio_path": "b.wav", "start_time": 0, "end_time": 1}', "labels: expected an object"),
        (
            '{"key": "b", "audio_path": "b.wav", "start_time": 0, "end_time": 1, "labels": {"phrasing": 101}}',
            "labels.phrasing: 101 is outside the 0–100 scale",
        ),
        (
            '{"key": "b", "audio_path": "b.wav", "start_time": 0, "end_time": 1, "labels": {"phrasing": "7"}}',
            "labels.phrasing: expected a number, got '7'",
        ),
        (
            '{"key": "b", "audio_path": "b.wav", "start_time": 0, "end_time": 1, "labels": {},'
            ' "uncertain": {"phrasing": 1}}',
            "uncertain: expected an object {dimension: true/false}",
        ),
        (
            '{"key": "a", "audio_path": "a.wav", "start_time": 0, "end_time": 1, "labels": {}}',
            "segment 'a' is already on line 1",
        ),
    ],
)
def test_a_corrupt_file_is_refused_with_file_and_line_and_left_alone(tmp_path, line, message):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(_annotation("a").to_json()) + "\n" + line + "\n")
    before = path.read_bytes()
    with pytest.raises(LabelFileError, match=message) as info:
        LabelStore(path)
    assert str(info.value).startswith(f"{path} line 2")
    with pytest.raises(LabelFileError):
        read_labels(path)
    assert path.read_bytes() == before


def test_a_file_corrupted_during_the_session_stops_saving(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.put(_annotation("a"))
    path.write_text(path.read_text() + "{truncated\n")
    with pytest.raises(LabelFileError, match=r"line 2: not valid JSON"):
        store.put(_annotation("b"))
    assert path.read_text().endswith("{truncated\n")  # the damaged file is not overwritten
