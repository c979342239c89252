"""Behaviour of the piano and drum tokenizers: framing, round trips, save/load, errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import symusic
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_audio_core.tokenize import (
    SPECIAL_TOKENS,
    DrumTokenizer,
    DrumTokenizerConfig,
    InvalidTokenError,
    MidiContentError,
    MidiError,
    MidiLoadError,
    PianoTokenizer,
    PianoTokenizerConfig,
    TokenizerConfigError,
)
from symusic import ControlChange, Note, Tempo, TimeSignature, Track

TPQ = 480


def _piano_score() -> symusic.Score:
    """Two bars at 120 BPM: a melody slightly off the 32nd grid, a chord, and two pedal presses."""
    score = symusic.Score(TPQ)
    score.tempos.append(Tempo(0, 120.0))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    track = Track(name="right hand", program=0, is_drum=False)
    notes = [  # (onset tick, duration, pitch, velocity)
        (0, 480, 60, 80),
        (487, 240, 64, 101),  # 7 ticks late: within one grid step (60 ticks)
        (720, 240, 67, 55),
        (960, 960, 48, 70),
        (960, 960, 52, 71),
        (960, 960, 55, 72),
        (1920, 480, 72, 120),
        (2410, 470, 21, 12),  # lowest piano key
        (2880, 960, 108, 127),  # highest piano key
    ]
    for onset, dur, pitch, vel in notes:
        track.notes.append(Note(onset, dur, pitch, vel))
    for tick, value in [(0, 127), (900, 0), (1920, 100), (2880, 0)]:
        track.controls.append(ControlChange(tick, 64, value))
    score.tracks.append(track)
    return score


def _drum_score(time_signature: tuple[int, int] = (4, 4)) -> symusic.Score:
    score = symusic.Score(TPQ)
    score.tempos.append(Tempo(0, 90.0))
    score.time_signatures.append(TimeSignature(0, *time_signature))
    drums = Track(name="kit", program=0, is_drum=True)
    pattern = [36, 42, 38, 42, 36, 36, 38, 46] * 2
    for step, pitch in enumerate(pattern):
        drums.notes.append(Note(step * 240 + (5 if step % 2 else 0), 60, pitch, 40 + step * 5))
    drums.notes.append(Note(0, 60, 49, 110))  # crash on the downbeat with the kick
    score.tracks.append(drums)
    return score


@pytest.fixture
def piano_midi(tmp_path: Path) -> Path:
    path = tmp_path / "piano.mid"
    _piano_score().dump_midi(path)
    return path


@pytest.fixture(scope="module")
def piano_tok() -> PianoTokenizer:
    return PianoTokenizer()


@pytest.fixture(scope="module")
def drum_tok() -> DrumTokenizer:
    return DrumTokenizer(DrumTokenizerConfig(extra_tokens=("Style_jdilla", "Style_metro", "TempoBin_90")))


def _note_tuples(score: symusic.Score) -> list[tuple[float, int, int]]:
    """(onset in quarters, pitch, velocity), sorted, for every note of every track."""
    q = score.to(symusic.TimeUnit.quarter)
    return sorted((n.time, n.pitch, n.velocity) for t in q.tracks for n in t.notes)


def _assert_notes_roundtrip(original, decoded, grid_quarters: float, velocity_bins) -> None:
    orig, dec = _note_tuples(original), _note_tuples(decoded)
    assert Counter(p for _, p, _ in orig) == Counter(p for _, p, _ in dec)
    bins = np.asarray(velocity_bins)
    # Match notes by pitch then onset order.
    for pitch in {p for _, p, _ in orig}:
        o = [(t, v) for t, p, v in orig if p == pitch]
        d = [(t, v) for t, p, v in dec if p == pitch]
        for (t_o, v_o), (t_d, v_d) in zip(o, d, strict=True):
            assert abs(t_o - t_d) <= grid_quarters + 1e-9, (pitch, t_o, t_d)
            # Same velocity bin: the decoded value is a bin value nearest to the original.
            assert v_d in bins and abs(v_d - v_o) == np.abs(bins - v_o).min(), (pitch, v_o, v_d)


# ------------------------------------------------------------------------------------- piano
def test_piano_encode_is_framed_list_of_ints(piano_tok, piano_midi):
    ids = piano_tok.encode(piano_midi)
    assert all(type(i) is int for i in ids)
    assert ids[0] == piano_tok.bos_id and ids[-1] == piano_tok.eos_id
    assert all(0 <= i < piano_tok.vocab_size for i in ids)
    assert piano_tok.pad_id not in ids and piano_tok.mask_id not in ids
    # Sustain pedal and tempo tokens are present.
    tokens = [piano_tok.id_to_token(i) for i in ids]
    assert "Pedal_0" in tokens and "PedalOff_0" in tokens
    assert "Tempo_120.0" in tokens
    assert 100 < piano_tok.vocab_size < 1000


def test_piano_default_vocabulary_is_88_keys_32_velocities_remi(piano_tok):
    vocab = piano_tok.vocab
    pitches = sorted(int(t.split("_")[1]) for t in vocab if t.startswith("Pitch_"))
    assert pitches == list(range(21, 109))
    velocities = sorted(int(t.split("_")[1]) for t in vocab if t.startswith("Velocity_"))
    assert len(velocities) == 32 and list(piano_tok.velocity_bins) == velocities
    assert velocities[-1] == 127 and len(set(np.diff(velocities[1:]))) <= 2  # evenly spaced over 0-127
    assert {"Bar_None", "Pedal_0", "PedalOff_0", "Tempo_120.0", "TimeSig_4/4"} <= set(vocab)
    assert not piano_tok.is_multi_vocab  # REMI: one flat vocabulary
    # notes just outside the keyboard are dropped, the keyboard's ends survive
    score = _piano_score()
    score.tracks[0].notes.append(Note(0, 480, 20, 80))
    score.tracks[0].notes.append(Note(0, 480, 109, 80))
    decoded = piano_tok.decode(piano_tok.encode(score))
    kept = sorted(n.pitch for n in decoded.tracks[0].notes)
    assert kept[0] == 21 and kept[-1] == 108 and len(kept) == 9


def test_piano_special_ids_distinct_and_named(piano_tok):
    ids = [piano_tok.pad_id, piano_tok.bos_id, piano_tok.eos_id, piano_tok.mask_id]
    assert len(set(ids)) == 4
    assert [piano_tok.id_to_token(i) for i in ids] == [f"{t}_None" for t in SPECIAL_TOKENS]
    assert piano_tok.pad_token_id == piano_tok.pad_id and piano_tok.mask_token_id == piano_tok.mask_id
    assert piano_tok.special_ids == frozenset(ids)
    assert piano_tok.id_to_token(np.int64(piano_tok.eos_id)) == "EOS_None"
    with pytest.raises(InvalidTokenError, match="must be an integer"):
        piano_tok.id_to_token(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError, match="outside the vocabulary"):
        piano_tok.id_to_token(-1)


def test_piano_roundtrip_preserves_notes(piano_tok, piano_midi):
    decoded = piano_tok.decode(piano_tok.encode(piano_midi))
    assert len(decoded.tracks) == 1 and not decoded.tracks[0].is_drum
    grid = 1 / piano_tok.config.positions_per_beat
    _assert_notes_roundtrip(symusic.Score(piano_midi), decoded, grid, piano_tok.velocity_bins)
    assert [round(t.qpm, 6) for t in decoded.tempos] == [120.0]


def test_piano_roundtrip_preserves_sustain_pedal(piano_tok, piano_midi, tmp_path):
    out = piano_tok.decode_to_file(piano_tok.encode(piano_midi), tmp_path / "out" / "rt.mid")
    reloaded = symusic.Score(out).to(symusic.TimeUnit.quarter)
    pedals = [(p.time, p.time + p.duration) for p in reloaded.tracks[0].pedals]
    # CC64 down at 0, up at 900 ticks (1.875 q → grid 1.875), down at 4 q, up at 6 q.
    expected = [(0.0, 1.875), (4.0, 6.0)]
    assert len(pedals) == 2
    for (s, e), (es, ee) in zip(pedals, expected, strict=True):
        assert abs(s - es) <= 1 / 8 and abs(e - ee) <= 1 / 8


def test_piano_merges_tracks_and_ignores_drums(piano_tok):
    score = _piano_score()
    left = Track(name="left hand", program=0, is_drum=False)
    left.notes.append(Note(0, 480, 36, 90))
    score.tracks.append(left)
    drums = _drum_score().tracks[0]
    score.tracks.append(drums)
    decoded = piano_tok.decode(piano_tok.encode(score))
    pitches = sorted(n.pitch for n in decoded.tracks[0].notes)
    assert pitches == sorted([60, 64, 67, 48, 52, 55, 72, 21, 108, 36])


def test_piano_accepts_score_and_path_equally(piano_tok, piano_midi):
    assert piano_tok.encode(symusic.Score(piano_midi)) == piano_tok.encode(str(piano_midi))


def test_piano_save_load_identical(piano_tok, piano_midi, tmp_path):
    cfg = PianoTokenizerConfig(num_velocities=16, beat_res=((0, 4, 4), (4, 8, 2)))
    tok = PianoTokenizer(cfg)
    saved = tok.save(tmp_path / "tok")
    assert (saved / "tokenizer_config.json").is_file() and (saved / "miditok.json").is_file()
    loaded = PianoTokenizer.load(saved)
    assert loaded.config == cfg
    assert loaded.encode(piano_midi) == tok.encode(piano_midi)
    assert loaded.vocab == tok.vocab
    assert PianoTokenizer.load(piano_tok.save(tmp_path / "default")).encode(piano_midi) == piano_tok.encode(
        piano_midi
    )


def test_load_errors(tmp_path, piano_tok):
    with pytest.raises(TokenizerConfigError, match=r"no tokenizer_config\.json"):
        PianoTokenizer.load(tmp_path / "missing")
    piano_tok.save(tmp_path / "p")
    with pytest.raises(TokenizerConfigError, match="'piano' tokenizer, not 'drums'"):
        DrumTokenizer.load(tmp_path / "p")
    with pytest.raises(TokenizerConfigError, match="unknown PianoTokenizerConfig fields"):
        PianoTokenizerConfig.from_dict({"pitch_range": [21, 108], "bogus": 1})


def test_bad_paths_raise_typed_errors(piano_tok, tmp_path):
    missing = tmp_path / "nope.mid"
    with pytest.raises(MidiLoadError, match=r"nope\.mid"):
        piano_tok.encode(missing)
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"not a midi file at all")
    with pytest.raises(MidiLoadError, match=r"garbage\.mid"):
        piano_tok.encode(garbage)
    with pytest.raises(MidiLoadError, match="expected a MIDI path"):
        piano_tok.encode(42)  # type: ignore[arg-type]
    assert issubclass(MidiLoadError, MidiError) and issubclass(MidiError, ValueError)


def test_piano_rejects_drum_only_midi(piano_tok):
    with pytest.raises(MidiContentError, match="no non-drum notes"):
        piano_tok.encode(_drum_score())


def test_decode_validation(piano_tok, piano_midi):
    ids = piano_tok.encode(piano_midi)
    # PAD after EOS and extra material after EOS are ignored; BOS is optional.
    padded = [*ids, piano_tok.pad_id, piano_tok.pad_id]
    assert _note_tuples(piano_tok.decode(padded)) == _note_tuples(piano_tok.decode(ids[1:-1]))
    truncated = [*ids[:-1], piano_tok.eos_id, *ids[1:-1]]
    assert _note_tuples(piano_tok.decode(truncated)) == _note_tuples(piano_tok.decode(ids))
    with pytest.raises(InvalidTokenError, match="outside the vocabulary"):
        piano_tok.decode([*ids[:-1], piano_tok.vocab_size])
    with pytest.raises(InvalidTokenError, match="MASK"):
        piano_tok.decode([ids[0], piano_tok.mask_id, *ids[1:]])
    with pytest.raises(InvalidTokenError, match="not an int"):
        piano_tok.decode([ids[0], "Pitch_60"])
    with pytest.raises(InvalidTokenError, match="not in the piano vocabulary"):
        piano_tok.token_to_id("Pitch_200")
    empty = piano_tok.decode([piano_tok.bos_id, piano_tok.eos_id])
    assert len(empty.tracks) == 1 and len(empty.tracks[0].notes) == 0


def test_decode_accepts_numpy_ids(piano_tok, piano_midi):
    ids = piano_tok.encode(piano_midi)
    assert _note_tuples(piano_tok.decode(np.asarray(ids, dtype=np.int64))) == _note_tuples(
        piano_tok.decode(ids)
    )


def test_piano_octuple_rows(piano_midi):
    tok = PianoTokenizer(PianoTokenizerConfig(octuple=True))
    ids = tok.encode(piano_midi)
    width = len(tok.vocab_sizes)
    assert width == 7 and tok.is_multi_vocab
    assert ids[0] == [tok.bos_id] * width and ids[-1] == [tok.eos_id] * width
    assert len(ids) == 9 + 2  # one row per note
    assert all(0 <= v < size for row in ids for v, size in zip(row, tok.vocab_sizes, strict=True))
    decoded = tok.decode(ids)
    _assert_notes_roundtrip(symusic.Score(piano_midi), decoded, 1 / 8, tok.velocity_bins)
    with pytest.raises(InvalidTokenError, match="rows of 7"):
        tok.decode([[tok.bos_id] * 3])


def test_piano_config_validation():
    with pytest.raises(TokenizerConfigError, match="pitch_range"):
        PianoTokenizerConfig(pitch_range=(100, 20))
    with pytest.raises(TokenizerConfigError, match="num_velocities"):
        PianoTokenizerConfig(num_velocities=0)
    with pytest.raises(TokenizerConfigError, match="needs a PianoTokenizerConfig"):
        PianoTokenizer(DrumTokenizerConfig())  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- drums
def test_drum_roundtrip_is_drum_track(drum_tok, tmp_path):
    original = _drum_score()
    ids = drum_tok.encode(original)
    tokens = [drum_tok.id_to_token(i) for i in ids]
    assert any(t.startswith("PitchDrum_") for t in tokens)
    assert not any(t.startswith("Pitch_") for t in tokens)
    decoded = drum_tok.decode(ids)
    assert len(decoded.tracks) == 1 and decoded.tracks[0].is_drum
    _assert_notes_roundtrip(original, decoded, 1 / 4, drum_tok.velocity_bins)
    # Written to disk the track stays a drum track (MIDI channel 10).
    path = drum_tok.decode_to_file(ids, tmp_path / "drums.mid")
    reloaded = symusic.Score(path)
    assert [t.is_drum for t in reloaded.tracks] == [True]
    assert len(reloaded.tracks[0].notes) == len(original.tracks[0].notes)


def test_drum_only_drum_tracks_are_encoded(drum_tok):
    score = _drum_score()
    score.tracks.append(_piano_score().tracks[0])
    assert drum_tok.encode(score) == drum_tok.encode(_drum_score())
    with pytest.raises(MidiContentError, match="no drum track"):
        drum_tok.encode(_piano_score())


def test_drum_extra_tokens_appended_and_mapped(drum_tok):
    base = DrumTokenizer()
    assert drum_tok.vocab_size == base.vocab_size + 3
    expected = {
        "Style_jdilla": base.vocab_size,
        "Style_metro": base.vocab_size + 1,
        "TempoBin_90": base.vocab_size + 2,
    }
    assert drum_tok.extra_token_ids == expected
    for token, token_id in expected.items():
        assert drum_tok.token_to_id(token) == token_id
        assert drum_tok.id_to_token(token_id) == token
    # Extra tokens do not shift the music ids.
    assert drum_tok.encode(_drum_score()) == base.encode(_drum_score())


def test_drum_prefix_tokens_and_decode_skips_them(drum_tok):
    plain = drum_tok.encode(_drum_score())
    ids = drum_tok.encode(_drum_score(), prefix_tokens=["Style_jdilla", "TempoBin_90"])
    assert ids[:3] == [
        drum_tok.bos_id,
        drum_tok.token_to_id("Style_jdilla"),
        drum_tok.token_to_id("TempoBin_90"),
    ]
    assert ids[3:] == plain[1:]
    assert _note_tuples(drum_tok.decode(ids)) == _note_tuples(drum_tok.decode(plain))
    with pytest.raises(InvalidTokenError, match="not in extra_tokens"):
        drum_tok.encode(_drum_score(), prefix_tokens=["Style_unknown"])


def test_drum_config_validation():
    with pytest.raises(TokenizerConfigError, match="16th-note grid"):
        DrumTokenizerConfig(positions_per_beat=2)
    with pytest.raises(TokenizerConfigError, match="Type_value"):
        DrumTokenizerConfig(extra_tokens=("no underscore",))
    with pytest.raises(TokenizerConfigError, match="duplicates"):
        DrumTokenizerConfig(extra_tokens=("Style_a", "Style_a"))
    with pytest.raises(TokenizerConfigError, match="collides"):
        DrumTokenizer(DrumTokenizerConfig(extra_tokens=("PitchDrum_36",)))


def test_drum_finer_grid_keeps_32nd_notes():
    score = symusic.Score(TPQ)
    track = Track(name="d", program=0, is_drum=True)
    for k in range(8):
        track.notes.append(Note(k * 60, 30, 42, 90))  # 32nd-note hi-hats
    score.tracks.append(track)
    fine = DrumTokenizer(DrumTokenizerConfig(positions_per_beat=8))
    onsets = [n.time for n in fine.decode(fine.encode(score)).tracks[0].notes]
    assert onsets == [k * 60 for k in range(8)]
    coarse = DrumTokenizer()
    coarse_onsets = [n.time for n in coarse.decode(coarse.encode(score)).tracks[0].notes]
    assert all(t % 120 == 0 for t in coarse_onsets)  # snapped to the 16th grid


def test_drum_odd_meter_roundtrip():
    tok = DrumTokenizer()
    original = _drum_score(time_signature=(7, 8))
    decoded = tok.decode(tok.encode(original))
    assert [(ts.numerator, ts.denominator) for ts in decoded.time_signatures] == [(7, 8)]
    _assert_notes_roundtrip(original, decoded, 1 / 4, tok.velocity_bins)


def test_drum_save_load_identical(drum_tok, tmp_path):
    loaded = DrumTokenizer.load(drum_tok.save(tmp_path / "drum_tok"))
    assert loaded.config == drum_tok.config
    assert loaded.extra_token_ids == drum_tok.extra_token_ids
    ids = drum_tok.encode(_drum_score(), prefix_tokens=["Style_metro"])
    assert loaded.encode(_drum_score(), prefix_tokens=["Style_metro"]) == ids


def test_unsupported_time_signature_and_out_of_range_notes_are_refused(piano_tok):
    score = _piano_score()
    score.time_signatures.append(TimeSignature(1920, 11, 8))
    with pytest.raises(MidiContentError, match=r"11/8 are not in the tokenizer's time_signature_range"):
        piano_tok.encode(score)
    roomy = PianoTokenizer(PianoTokenizerConfig(time_signature_range=((4, (4,)), (8, (11,)))))
    decoded = roomy.decode(roomy.encode(score))
    assert [(t.numerator, t.denominator) for t in decoded.time_signatures] == [(4, 4), (11, 8)]
    low = symusic.Score(TPQ)
    track = Track(name="p", program=0, is_drum=False)
    track.notes.append(Note(0, 480, 10, 80))  # below the piano range
    low.tracks.append(track)
    with pytest.raises(MidiContentError, match="no notes left"):
        piano_tok.encode(low)


_GM_KIT = (36, 38, 42, 44, 46, 49, 51, 43, 47, 50)


@settings(max_examples=25, deadline=None)
@given(
    hits=st.lists(
        st.tuples(st.integers(0, 31), st.sampled_from(_GM_KIT), st.integers(1, 127)),
        min_size=1,
        max_size=24,
        unique_by=lambda h: (h[0], h[1]),
    )
)
def test_drum_roundtrip_property_on_16th_grid(hits):
    """Any pattern on the 16th grid comes back with exact onsets, same pitches and binned velocities."""
    tok = DrumTokenizer()
    score = symusic.Score(TPQ)
    track = Track(name="d", program=0, is_drum=True)
    for step, pitch, velocity in hits:
        track.notes.append(Note(step * 120, 60, pitch, velocity))
    score.tracks.append(track)
    decoded = tok.decode(tok.encode(score))
    assert decoded.tracks[0].is_drum
    got = sorted((n.time, n.pitch) for n in decoded.tracks[0].notes)
    assert got == sorted((step * 120, pitch) for step, pitch, _ in hits)
    bins = np.asarray(tok.velocity_bins)
    velocities = {(n.time, n.pitch): n.velocity for n in decoded.tracks[0].notes}
    for step, pitch, velocity in hits:
        assert abs(velocities[(step * 120, pitch)] - velocity) == np.abs(bins - velocity).min()
