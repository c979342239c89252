"""Silent limits of the tokenizers: bar counts, tempo grids, pitch/duration ranges.

References are independent of the code under test: scores are written and read back with
pretty_midi (not symusic), and expected times are computed from the BPM in the test.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pretty_midi
import pytest
import symusic
from shared_audio_core.tokenize import (
    DrumTokenizer,
    DrumTokenizerConfig,
    MidiContentError,
    PianoTokenizer,
    PianoTokenizerConfig,
    TooManyBarsError,
)
from symusic import Note, Tempo, TimeSignature, Track

TPQ = 480
LONG_BARS = 300
LONG_TRACKS = 5
BPM = 120.0  # long scores: one 4/4 bar = 2 s
BAR_S = 4 * 60.0 / BPM
TOKENIZERS = {
    "piano": PianoTokenizer(),
    "octuple": PianoTokenizer(PianoTokenizerConfig(octuple=True)),
    "drums": DrumTokenizer(),
}


def _write_long_score(path: Path, *, bars: int = LONG_BARS, drums: bool = False) -> Path:
    """``bars`` bars x 5 tracks, four notes per bar per track on an 8th-note grid, via pretty_midi."""
    pm = pretty_midi.PrettyMIDI(resolution=TPQ, initial_tempo=BPM)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    for k in range(LONG_TRACKS):
        inst = pretty_midi.Instrument(program=0 if drums else k * 8, is_drum=drums, name=f"part{k}")
        for bar in range(bars):
            for beat in range(4):
                start = bar * BAR_S + beat * 0.5 + (k % 2) * 0.25  # 8th-note offsets per part
                pitch = 36 + (k * 7 + bar + beat) % 45 if drums else 30 + (k * 11 + bar * 3 + beat * 5) % 70
                inst.notes.append(
                    pretty_midi.Note(20 + (k * 13 + beat * 17 + bar) % 100, pitch, start, start + 0.2)
                )
        pm.instruments.append(inst)
    pm.write(str(path))
    return path


def _onsets(path: Path) -> Counter[tuple[int, float]]:
    """(pitch, onset in s rounded to 1 µs) of every note, read with pretty_midi."""
    pm = pretty_midi.PrettyMIDI(str(path))
    return Counter((n.pitch, round(n.start, 6)) for inst in pm.instruments for n in inst.notes)


# ----------------------------------------------------------------------------------- bars
def test_octuple_refuses_a_score_longer_than_its_bar_limit(tmp_path):
    """miditok clips a 300-bar score to 128 bars with only a warning; the wrapper raises instead."""
    path = _write_long_score(tmp_path / "long.mid")
    tok = PianoTokenizer(PianoTokenizerConfig(octuple=True))
    with pytest.raises(TooManyBarsError, match=r"300 bars but octuple_max_bars is 128") as info:
        tok.encode(path)
    assert (info.value.bars, info.value.limit) == (LONG_BARS, 128)
    assert isinstance(info.value, MidiContentError)


def test_octuple_bar_limit_boundary(tmp_path):
    tok = PianoTokenizer(PianoTokenizerConfig(octuple=True, octuple_max_bars=16))
    fits = _write_long_score(tmp_path / "16.mid", bars=16)
    assert tok.count_bars(fits) == 16
    assert sum(_onsets(tok.decode_to_file(tok.encode(fits), tmp_path / "rt.mid")).values()) == 16 * 4 * 5
    with pytest.raises(TooManyBarsError, match="17 bars"):
        tok.encode(_write_long_score(tmp_path / "17.mid", bars=17))


def test_octuple_sized_from_the_data_keeps_every_note(tmp_path):
    path = _write_long_score(tmp_path / "long.mid")
    assert PianoTokenizer().count_bars(path) == LONG_BARS
    tok = PianoTokenizer(PianoTokenizerConfig(octuple=True, octuple_max_bars=LONG_BARS))
    out = tok.decode_to_file(tok.encode(path), tmp_path / "rt.mid")
    expected = _onsets(path)
    assert sum(expected.values()) == LONG_BARS * 4 * LONG_TRACKS
    assert _onsets(out) == expected


def test_remi_piano_has_no_bar_limit(tmp_path):
    path = _write_long_score(tmp_path / "long.mid")
    tok = PianoTokenizer()
    assert _onsets(tok.decode_to_file(tok.encode(path), tmp_path / "rt.mid")) == _onsets(path)


def test_drums_have_no_bar_limit(tmp_path):
    path = _write_long_score(tmp_path / "long.mid", drums=True)
    tok = DrumTokenizer()
    assert _onsets(tok.decode_to_file(tok.encode(path), tmp_path / "rt.mid")) == _onsets(path)


# ---------------------------------------------------------------------- documented limits
def _single_note_score(pitch: int, duration_beats: float, *, is_drum: bool = False) -> symusic.Score:
    score = symusic.Score(TPQ)
    track = Track(name="t", program=0, is_drum=is_drum)
    track.notes.append(Note(0, int(duration_beats * TPQ), pitch, 80))
    track.notes.append(Note(TPQ, TPQ, 60, 80))
    score.tracks.append(track)
    return score


@pytest.mark.parametrize(
    ("kind", "pitch", "kept"),
    [
        ("piano", 20, 1),
        ("piano", 21, 2),
        ("piano", 108, 2),
        ("piano", 109, 1),
        ("drums", 26, 1),
        ("drums", 27, 2),
        ("drums", 87, 2),
        ("drums", 88, 1),
    ],
)
def test_notes_outside_the_pitch_range_are_dropped_as_documented(kind, pitch, kept):
    tok = TOKENIZERS[kind]
    score = _single_note_score(pitch, 1, is_drum=kind == "drums")
    assert tok.decode(tok.encode(score)).note_num() == kept


def test_piano_durations_are_capped_at_the_last_beat_res_span():
    """Default beat_res ends at 12 beats: a 20-beat note comes back 12 beats long (documented)."""
    tok = PianoTokenizer()
    notes = tok.decode(tok.encode(_single_note_score(48, 20))).tracks[0].notes
    assert sorted(n.duration / TPQ for n in notes) == [1.0, 12.0]
    longer = PianoTokenizer(PianoTokenizerConfig(beat_res=((0, 4, 8), (4, 24, 4))))
    notes = longer.decode(longer.encode(_single_note_score(48, 20))).tracks[0].notes
    assert sorted(n.duration / TPQ for n in notes) == [1.0, 20.0]


@pytest.mark.parametrize(("bpm", "expected"), [(30.0, 40.0), (300.0, 250.0)])
def test_tempos_outside_the_range_snap_to_its_end(bpm, expected):
    score = _single_note_score(60, 1)
    score.tempos.append(Tempo(0, bpm))
    tok = PianoTokenizer()
    assert [round(t.qpm, 3) for t in tok.decode(tok.encode(score)).tempos] == [expected]


# ---------------------------------------------------------------------------------- tempo
BARS = 16


def _groove(bpm: float, *, is_drum: bool) -> symusic.Score:
    """16 bars of quarter notes plus a closing hit on the downbeat of bar 17 (beat 64)."""
    score = symusic.Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    track = Track(name="g", program=0, is_drum=is_drum)
    for beat in range(BARS * 4 + 1):
        track.notes.append(Note(beat * TPQ, TPQ // 2, 36 if beat % 2 == 0 else 38, 100))
    score.tracks.append(track)
    return score


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_default_tempo_grid_is_1_bpm_over_40_to_250(name):
    assert TOKENIZERS[name].tempo_bins == tuple(float(b) for b in range(40, 251))


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_every_integer_bpm_round_trips_exactly(name, tmp_path):
    """Tempo and the end of a 16-bar groove (read back with pretty_midi) match the exact values."""
    tok = TOKENIZERS[name]
    wrong = []
    for bpm in range(40, 251):
        out = tok.decode_to_file(
            tok.encode(_groove(float(bpm), is_drum=name == "drums")), tmp_path / "rt.mid"
        )
        pm = pretty_midi.PrettyMIDI(str(out))
        _, tempi = pm.get_tempo_changes()
        end = max(n.start for inst in pm.instruments for n in inst.notes)
        exact_end = BARS * 4 * 60.0 / bpm
        # 1 µs per quarter is MIDI's tempo resolution: 64 quarters stay well inside 0.1 ms.
        if len(tempi) != 1 or abs(tempi[0] - bpm) > 1e-3 or abs(end - exact_end) > 1e-4:
            wrong.append((bpm, list(tempi), end - exact_end))
    assert wrong == []


@pytest.mark.parametrize(("bpm", "snapped"), [(96.4, 96.0), (96.6, 97.0), (119.51, 120.0)])
def test_default_grid_moves_fractional_tempos_at_most_half_a_bpm(bpm, snapped):
    tok = DrumTokenizer()
    (tempo,) = tok.decode(tok.encode(_groove(bpm, is_drum=True))).tempos
    assert abs(tempo.qpm - snapped) < 1e-3 and abs(tempo.qpm - bpm) <= 0.5


def test_tempo_change_mid_groove_keeps_exact_timing(tmp_path):
    score = _groove(96.0, is_drum=False)
    score.tempos.append(Tempo(8 * 4 * TPQ, 133.0))  # from bar 9
    tok = PianoTokenizer()
    pm = pretty_midi.PrettyMIDI(str(tok.decode_to_file(tok.encode(score), tmp_path / "rt.mid")))
    times, tempi = pm.get_tempo_changes()
    assert [round(t, 3) for t in tempi] == [96.0, 133.0]
    assert times[1] == pytest.approx(32 * 60 / 96, abs=1e-4)
    end = max(n.start for inst in pm.instruments for n in inst.notes)
    assert end == pytest.approx(32 * 60 / 96 + 32 * 60 / 133, abs=1e-4)


def test_coarser_tempo_grid_is_opt_in():
    """``num_tempos=43`` is the old 5-BPM grid: 96 BPM becomes 95 and 16 bars end 0.42 s late."""
    tok = DrumTokenizer(DrumTokenizerConfig(num_tempos=43))
    decoded = tok.decode(tok.encode(_groove(96.0, is_drum=True))).to(symusic.TimeUnit.second)
    assert round(decoded.tempos[0].qpm, 3) == 95.0
    end = max(n.time for n in decoded.tracks[0].notes)
    assert end - 64 * 60 / 96 == pytest.approx(64 * 60 / 95 - 64 * 60 / 96, abs=1e-4)
