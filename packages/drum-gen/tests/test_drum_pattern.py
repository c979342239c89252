"""Pattern invariants, geometry and MIDI round trips."""

from pathlib import Path

import mido
import pytest
import symusic
from drum_gen import gm
from drum_gen.pattern import (
    DrumNote,
    NoDrumTrackError,
    Pattern,
    PatternError,
    metric_beats,
    ticks_per_bar_for,
)


def _pattern(**kwargs) -> Pattern:
    notes = (
        DrumNote(480, gm.SNARE, 100, 60),
        DrumNote(0, gm.KICK, 110, 60),
        DrumNote(0, gm.CLOSED_HIHAT, 80, 60),
        DrumNote(240, gm.CLOSED_HIHAT, 70, 60),
    )
    return Pattern(notes, **{"tempo_bpm": 93.0, **kwargs})


def test_numpy_and_integral_float_values_are_accepted() -> None:
    import numpy as np

    note = DrumNote(np.int64(480), np.int32(38), 100.0, np.int16(30))
    assert (note.time, note.pitch, note.velocity, note.duration) == (480, 38, 100, 30)
    assert type(note.time) is int
    pattern = Pattern((note,), np.float32(90.0), (np.int64(3), 4), np.int64(480), bars=np.int64(2))
    assert pattern.num_bars == 2 and type(pattern.ticks_per_beat) is int
    with pytest.raises(PatternError, match="must be an integer"):
        DrumNote(True, 38, 100, 30)


def test_notes_are_sorted_by_time_then_pitch() -> None:
    pattern = _pattern()
    assert [(n.time, n.pitch) for n in pattern.notes] == [(0, 36), (0, 42), (240, 42), (480, 38)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time": -1}, "time must be >= 0"),
        ({"pitch": 128}, "pitch must be in 0..127"),
        ({"velocity": 0}, "velocity must be in 1..127"),
        ({"velocity": 128}, "velocity must be in 1..127"),
        ({"duration": 0}, "duration must be >= 1"),
        ({"time": 1.5}, "must be an integer"),
    ],
)
def test_drum_note_rejects_unrepresentable_values(kwargs: dict, message: str) -> None:
    base = {"time": 0, "pitch": 36, "velocity": 100, "duration": 10}
    with pytest.raises(PatternError, match=message):
        DrumNote(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tempo_bpm": 0}, "tempo_bpm"),
        ({"time_signature": (4, 3)}, "denominator"),
        ({"time_signature": (0, 4)}, "numerator"),
        ({"ticks_per_beat": 0}, "ticks_per_beat"),
        ({"bars": 0}, "bars"),
    ],
)
def test_pattern_rejects_bad_meter(kwargs: dict, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        _pattern(**kwargs)


@pytest.mark.parametrize(
    ("ts", "bar", "beats"),
    [
        ((4, 4), 1920, [0, 480, 960, 1440]),
        ((3, 4), 1440, [0, 480, 960]),
        ((6, 8), 1440, [0, 720]),
        ((7, 8), 1680, [0, 480, 960]),
        ((5, 8), 1200, [0, 480]),
        ((12, 8), 2880, [0, 720, 1440, 2160]),
        ((2, 2), 1920, [0, 960]),
    ],
)
def test_time_signature_geometry(ts: tuple[int, int], bar: int, beats: list[int]) -> None:
    assert ticks_per_bar_for(ts, 480) == bar
    groups = metric_beats(ts, 480)
    assert [start for start, _ in groups] == beats
    assert sum(length for _, length in groups) == bar


def test_num_bars_duration_and_declared_length() -> None:
    pattern = _pattern()
    assert pattern.ticks_per_bar == 1920
    assert pattern.num_bars == 1
    assert pattern.duration_seconds == pytest.approx(4 * 60 / 93.0)
    sparse = _pattern(bars=4)  # trailing empty bars of a sparse groove are kept
    assert sparse.num_bars == 4
    assert sparse.duration_seconds == pytest.approx(16 * 60 / 93.0)
    waltz = _pattern(time_signature=(3, 4))
    assert waltz.ticks_per_bar == 1440
    late = waltz.with_notes([DrumNote(1440, gm.KICK, 100, 10)])
    assert late.num_bars == 2
    assert pytest.approx(late.ms_to_ticks(1000.0)) == 93.0 / 60 * 480


def test_with_notes_and_quantized_are_pure() -> None:
    pattern = _pattern()
    shifted = pattern.with_notes([DrumNote(130, gm.KICK, 90, 30), DrumNote(110, gm.KICK, 100, 30)])
    quantized = shifted.quantized(4)
    assert [(n.time, n.velocity) for n in quantized.notes] == [(120, 100)]  # collision keeps the louder hit
    assert [n.time for n in shifted.notes] == [110, 130]
    assert len(pattern.notes) == 4
    with pytest.raises(PatternError, match="does not divide"):
        pattern.quantized(7)


def test_reduced_to_classes_maps_td11_pitches() -> None:
    pattern = Pattern((DrumNote(0, 22, 50, 10), DrumNote(0, 42, 80, 10), DrumNote(10, 26, 90, 10)), 100.0)
    reduced = pattern.reduced_to_classes()
    assert [(n.time, n.pitch, n.velocity) for n in reduced.notes] == [(0, 42, 80), (10, 46, 90)]


def test_slice_bars_shifts_times() -> None:
    notes = [DrumNote(bar * 1920 + 480, gm.SNARE, 100, 10) for bar in range(4)]
    part = Pattern(tuple(notes), 90.0).slice_bars(1, 3)
    assert part.bars == 2
    assert [n.time for n in part.notes] == [480, 2400]


@pytest.mark.parametrize("ts", [(4, 4), (3, 4), (6, 8), (7, 8)])
def test_midi_round_trip_preserves_everything(tmp_path: Path, ts: tuple[int, int]) -> None:
    pattern = _pattern(time_signature=ts)
    path = pattern.write_midi(tmp_path / "sub" / "p.mid")
    back = Pattern.read_midi(path)
    assert back.notes == pattern.notes
    assert back.tempo_bpm == pytest.approx(93.0, abs=1e-3)
    assert back.time_signature == ts
    assert back.ticks_per_beat == 480
    assert back.humanized is False


def test_midi_file_uses_channel_10_with_meta_and_note_offs(tmp_path: Path) -> None:
    path = _pattern(time_signature=(7, 8)).write_midi(tmp_path / "p.mid")
    messages = [m for track in mido.MidiFile(path).tracks for m in track]
    note_msgs = [m for m in messages if m.type in ("note_on", "note_off")]
    assert {m.channel for m in note_msgs} == {gm.DRUM_CHANNEL}
    ons = [m for m in note_msgs if m.type == "note_on" and m.velocity > 0]
    offs = [m for m in note_msgs if m.type == "note_off" or m.velocity == 0]
    assert len(ons) == len(offs) == 4
    tempo = next(m for m in messages if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo.tempo) == pytest.approx(93.0, abs=1e-3)
    sig = next(m for m in messages if m.type == "time_signature")
    assert (sig.numerator, sig.denominator) == (7, 8)
    # delta times are never negative, i.e. events are written in time order
    assert all(m.time >= 0 for track in mido.MidiFile(path).tracks for m in track)


def test_humanized_flag_survives_midi(tmp_path: Path) -> None:
    pattern = _pattern().replace(humanized=True)
    assert Pattern.read_midi(pattern.write_midi(tmp_path / "h.mid")).humanized is True


def test_from_score_resamples_and_rejects_melodic_only(tmp_path: Path) -> None:
    score = _pattern().to_score()
    back = Pattern.from_score(score, ticks_per_beat=96)
    assert back.ticks_per_beat == 96
    assert [n.time for n in back.notes] == [0, 0, 48, 96]
    melodic = symusic.Score(480)
    melodic.tracks.append(symusic.Track("piano", program=0, is_drum=False))
    with pytest.raises(NoDrumTrackError, match="no drum track"):
        Pattern.from_score(melodic)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(PatternError, match=r"bad\.mid"):
        Pattern.read_midi(bad)
    with pytest.raises(FileNotFoundError):
        Pattern.read_midi(tmp_path / "missing.mid")


def test_dict_round_trip() -> None:
    pattern = _pattern(bars=2, time_signature=(6, 8))
    assert Pattern.from_dict(pattern.to_dict()) == pattern


def test_write_midi_to_a_directory_is_a_clear_error_and_writes_leave_no_temporaries(tmp_path: Path) -> None:
    pattern = Pattern((DrumNote(0, 36, 100, 60), DrumNote(480, 38, 90, 60)), 95.0, bars=1)
    with pytest.raises(PatternError, match=r"it is a directory; give a file name such as .*groove\.mid"):
        pattern.write_midi(tmp_path)
    target = tmp_path / "new" / "groove.mid"
    target.parent.mkdir()
    target.write_bytes(b"old and much longer content than a tiny MIDI file would ever need" * 40)
    assert pattern.write_midi(target) == target
    assert Pattern.read_midi(target).notes == pattern.notes  # replaced whole, not overwritten in place
    assert sorted(p.name for p in target.parent.iterdir()) == ["groove.mid"]
