"""Groove MIDI Dataset loader, on a committed fixture in the dataset's layout."""

import csv
import importlib.util
import shutil
from pathlib import Path

import pytest
from drum_gen import gm
from drum_gen.corpus import generate_corpus, write_corpus
from drum_gen.groove_midi import GrooveMidiLayoutError, load_groove_midi
from drum_gen.validation import validate

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = FIXTURES / "groove_midi_mini"


def _make_fixture_module():
    spec = importlib.util.spec_from_file_location("drum_make_fixture", FIXTURES / "make_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_fixture_matches_its_generator(tmp_path: Path) -> None:
    _make_fixture_module().build(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(ROOT) for p in ROOT.rglob("*") if p.is_file())
    assert generated == committed
    for rel in generated:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


def test_loads_all_rows_with_metadata() -> None:
    records = load_groove_midi(ROOT)
    assert len(records) == 8
    first = records[0]
    assert (first.drummer, first.session, first.id) == (
        "drummer1",
        "drummer1/session1",
        "drummer1/session1/1",
    )
    assert (first.style, first.primary_style, first.bpm, first.beat_type) == (
        "funk/groove1",
        "funk",
        100.0,
        "beat",
    )
    assert first.time_signature == (4, 4) and first.split == "train"
    assert first.duration == pytest.approx(4.8)
    assert {r.time_signature for r in records} == {(4, 4), (3, 4), (6, 8), (7, 8)}


def test_filters() -> None:
    assert [r.id.rsplit("/", 1)[1] for r in load_groove_midi(ROOT, split="test")] == ["5", "8"]
    assert len(load_groove_midi(ROOT, split=["train", "validation"])) == 6
    assert [r.beat_type for r in load_groove_midi(ROOT, beat_type="fill")] == ["fill"]
    assert [r.time_signature for r in load_groove_midi(ROOT, time_signature=(7, 8))] == [(7, 8)]
    with pytest.raises(GrooveMidiLayoutError, match="valid splits: train, validation, test"):
        load_groove_midi(ROOT, split="dev")
    with pytest.raises(GrooveMidiLayoutError, match="unknown beat_type"):
        load_groove_midi(ROOT, beat_type="solo")


def test_style_mapping_default_and_custom() -> None:
    mapped = {r.style: r.mapped_style for r in load_groove_midi(ROOT)}
    assert mapped["funk/groove1"] == "Questlove"
    assert mapped["hiphop/groove2"] == "J Dilla"
    assert mapped["afrobeat"] == "Timbaland"
    assert mapped["rock"] is None
    kept = load_groove_midi(ROOT, style_map={"rock": "metro", "jazz/swing": "dilla"}, drop_unmapped=True)
    assert {r.style: r.mapped_style for r in kept} == {"rock": "Metro Boomin", "jazz/swing": "J Dilla"}
    with pytest.raises(GrooveMidiLayoutError, match="unknown style"):
        load_groove_midi(ROOT, style_map={"rock": "polka king"})


def test_patterns_are_lazy_reduced_and_valid() -> None:
    records = load_groove_midi(ROOT)
    assert "pattern" not in vars(records[0])  # nothing read yet
    for record in records:
        pattern = record.pattern
        assert pattern.time_signature == record.time_signature
        assert pattern.tempo_bpm == pytest.approx(record.bpm, abs=1e-3)
        assert pattern.num_bars == 2
        assert {n.pitch for n in pattern.notes} <= set(gm.CLASS_TO_PITCH)  # TD-11 22/26/40/58 folded
        assert validate(pattern).ok
    assert record.pattern is pattern  # cached
    raw = load_groove_midi(ROOT, reduce_to_classes=False)[0].pattern
    assert 22 in {n.pitch for n in raw.notes} and 26 in {n.pitch for n in raw.notes}
    fill = load_groove_midi(ROOT, beat_type="fill")[0].pattern
    assert {gm.CLASS_TO_PITCH[4], gm.CLASS_TO_PITCH[5], gm.CRASH} <= {n.pitch for n in fill.notes}


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(GrooveMidiLayoutError, match=r"info\.csv not found"):
        load_groove_midi(tmp_path)
    shutil.copytree(ROOT, tmp_path / "gmd")
    (tmp_path / "gmd" / "drummer2" / "session1" / "8_soul_88_beat_7-8.mid").unlink()
    with pytest.raises(GrooveMidiLayoutError, match="1 MIDI file"):
        load_groove_midi(tmp_path / "gmd")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "info.csv").write_text("drummer,style\nd1,funk\n")
    with pytest.raises(GrooveMidiLayoutError, match="missing columns"):
        load_groove_midi(bad)


def test_procedural_corpus_round_trips_through_the_loader(tmp_path: Path) -> None:
    items = generate_corpus(2, seed=0, bars=2)
    write_corpus(items, tmp_path, split_fractions=(1.0, 0.0, 0.0))
    records = load_groove_midi(tmp_path, drop_unmapped=True, eager=True)
    assert [r.mapped_style for r in records] == [i.style for i in items]
    assert all(r.split == "train" for r in records)
    assert [r.pattern.notes for r in records] == [i.pattern.notes for i in items]
    with (tmp_path / "info.csv").open() as handle:
        assert {row["beat_type"] for row in csv.DictReader(handle)} == {"beat"}
