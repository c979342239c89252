"""Behaviour of shared_audio_core.synth: SoundFont resolution and MIDI rendering (drums included)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic
from shared_audio_core.synth import (
    EmptyMidiError,
    InvalidSoundFontError,
    MidiLoadError,
    SoundFontNotFoundError,
    _synthesizer,
    default_soundfont,
    example_drum_midi,
    find_system_soundfonts,
    prestosynth_compatible_soundfont,
    render_midi,
    velocity_gain,
)

SNARE = 38


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compatibility SoundFont copies go to a test folder, not ~/.cache."""
    monkeypatch.setenv("SHARED_AUDIO_CORE_CACHE", str(tmp_path_factory.getbasetemp() / "core_cache"))


def snare_score(
    onsets_s: list[float],
    *,
    is_drum: bool = True,
    bpm: float = 120.0,
    velocity: int = 110,
    pitch: int = SNARE,
) -> symusic.Score:
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, bpm))
    track = symusic.Track("snare", program=0, is_drum=is_drum)
    ticks_per_second = 480 * bpm / 60
    for onset in onsets_s:
        track.notes.append(symusic.Note(round(onset * ticks_per_second), 120, pitch, velocity))
    score.tracks.append(track)
    return score


def frame_rms(audio: np.ndarray, sr: int, start_s: float, length_s: float = 0.04) -> float:
    a = round(start_s * sr)
    return float(np.sqrt(np.mean(audio[a : a + round(length_s * sr)] ** 2)))


def spectral_flatness(audio: np.ndarray, sr: int, start_s: float) -> float:
    """Geometric / arithmetic mean of the power spectrum of 50 ms: ~1 for noise, ~0 for tones."""
    a = round(start_s * sr)
    power = np.abs(np.fft.rfft(audio[a : a + round(0.05 * sr)])) ** 2 + 1e-12
    return float(np.exp(np.mean(np.log(power))) / np.mean(power))


def test_default_soundfont_is_shipped_timgm() -> None:
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2" and path.is_file() and path.stat().st_size > 1_000_000


def test_example_groove_renders_ten_seconds_of_sound() -> None:
    sr = 22050
    audio = render_midi(example_drum_midi(), sample_rate=sr)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / sr == pytest.approx(10.0, abs=0.05)
    assert np.all(np.isfinite(audio))
    # non-silent throughout: every second of the groove carries energy
    per_second = [frame_rms(audio, sr, s, 1.0) for s in range(10)]
    assert min(per_second) > 0.01


def test_snare_only_drum_midi_renders_drums_with_energy_at_onsets(tmp_path: Path) -> None:
    sr = 22050
    onsets = [0.5, 1.5, 2.5, 3.5]
    midi_path = tmp_path / "snare.mid"
    snare_score(onsets).dump_midi(str(midi_path))
    assert symusic.Score(str(midi_path)).tracks[0].is_drum  # written on channel 10
    audio = render_midi(midi_path, sample_rate=sr)
    assert np.max(np.abs(audio)) > 0.05
    for onset in onsets:
        hit = frame_rms(audio, sr, onset)
        before = frame_rms(audio, sr, onset - 0.2)  # between hits: the previous one has decayed
        assert hit > 10 * max(before, 1e-6), (onset, hit, before)
    # percussion bank, not pitch 38 on a piano: the snare is noise-like (high spectral flatness)
    piano = render_midi(snare_score(onsets, is_drum=False), sample_rate=sr)
    assert spectral_flatness(audio, sr, 0.5) > 3 * spectral_flatness(piano, sr, 0.5)
    n = min(len(audio), len(piano))
    assert abs(np.corrcoef(audio[:n], piano[:n])[0, 1]) < 0.2


def test_sample_rate_sets_length_and_synthesizer_is_cached() -> None:
    score = snare_score([0.0, 0.5])
    _synthesizer.cache_clear()
    a = render_midi(score, sample_rate=16000)
    b = render_midi(score, sample_rate=32000)
    render_midi(score, sample_rate=16000)
    assert abs(len(b) - 2 * len(a)) <= 2
    info = _synthesizer.cache_info()
    assert info.misses == 2 and info.hits == 1


def test_missing_soundfont_error_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "Grand.sf2"
    with pytest.raises(SoundFontNotFoundError, match=r"Grand\.sf2") as info:
        render_midi(example_drum_midi(), soundfont=missing)
    assert isinstance(info.value, FileNotFoundError)
    not_a_font = tmp_path / "notes.txt"
    not_a_font.write_text("hello")
    with pytest.raises(InvalidSoundFontError, match=r"notes\.txt"):
        render_midi(example_drum_midi(), soundfont=not_a_font)


def test_corrupt_soundfont_is_named_with_and_without_the_compat_copy(tmp_path: Path) -> None:
    broken = tmp_path / "Broken.sf2"
    broken.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    for compat in (True, False):
        with pytest.raises(InvalidSoundFontError, match=r"Broken\.sf2"):
            render_midi(snare_score([0.0]), soundfont=broken, sf2_compat=compat)


def test_explicit_soundfont_path_matches_default(tmp_path: Path) -> None:
    score = snare_score([0.0])
    np.testing.assert_array_equal(
        render_midi(score, soundfont=default_soundfont(), sample_rate=16000),
        render_midi(score, sample_rate=16000),
    )


def test_find_system_soundfonts_searches_given_dirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "Piano.sf2").write_bytes(b"x")
    (tmp_path / "a" / "sub" / "Drums.SF3").write_bytes(b"x")
    (tmp_path / "a" / "readme.txt").write_text("x")
    found = find_system_soundfonts([tmp_path / "a", tmp_path / "does-not-exist"])
    assert [p.name for p in found] == ["Piano.sf2", "Drums.SF3"] or sorted(p.name for p in found) == [
        "Drums.SF3",
        "Piano.sf2",
    ]
    assert len(found) == 2
    assert find_system_soundfonts([tmp_path / "does-not-exist"]) == []


def test_bad_and_empty_midi_errors(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(MidiLoadError, match=r"garbage\.mid"):
        render_midi(bad)
    with pytest.raises(MidiLoadError, match=r"absent\.mid"):
        render_midi(tmp_path / "absent.mid")
    with pytest.raises(EmptyMidiError):
        render_midi(symusic.Score(480))


def active_seconds(audio: np.ndarray, sr: int, threshold: float = 1e-3) -> float:
    loud = np.nonzero(np.abs(audio) > threshold)[0]
    return 0.0 if len(loud) == 0 else float((loud[-1] - loud[0]) / sr)


@pytest.mark.parametrize(("drum", "pitch"), [(True, 40), (True, 36), (False, 60)])
def test_velocity_controls_loudness_with_sf2_curve(drum: bool, pitch: int) -> None:
    sr = 16000
    loud = render_midi(snare_score([0.1], is_drum=drum, pitch=pitch, velocity=127), sample_rate=sr)
    soft = render_midi(snare_score([0.1], is_drum=drum, pitch=pitch, velocity=40), sample_rate=sr)
    measured_db = 20 * np.log10(np.max(np.abs(soft)) / np.max(np.abs(loud)))
    expected_db = 20 * np.log10(velocity_gain(40) / velocity_gain(127))
    assert expected_db == pytest.approx(40 * np.log10(40 / 127))
    assert measured_db == pytest.approx(expected_db, abs=1.0)
    # prestosynth alone ignores velocity for loudness: that is the defect velocity_dynamics fixes
    raw_loud = render_midi(
        snare_score([0.1], is_drum=drum, pitch=pitch, velocity=127), sample_rate=sr, velocity_dynamics=False
    )
    raw_soft = render_midi(
        snare_score([0.1], is_drum=drum, pitch=pitch, velocity=40), sample_rate=sr, velocity_dynamics=False
    )
    assert np.max(np.abs(raw_soft)) == pytest.approx(np.max(np.abs(raw_loud)), rel=0.05)


def test_mixed_velocities_sum_layers_in_place() -> None:
    sr = 16000
    mixed = snare_score([0.1, 1.1], velocity=127, pitch=40)
    mixed.tracks[0].notes[1].velocity = 50
    audio = render_midi(mixed, sample_rate=sr)
    first = np.max(np.abs(audio[:sr]))
    second = np.max(np.abs(audio[sr:]))
    assert 20 * np.log10(second / first) == pytest.approx(40 * np.log10(50 / 127), abs=1.0)


def test_every_gm_drum_key_sounds_not_a_click() -> None:
    sr = 16000
    for key in (35, 36, 38, 40, 42, 46, 49, 56, 60, 69, 75):
        fixed = render_midi(snare_score([0.1], pitch=key), sample_rate=sr)
        assert active_seconds(fixed, sr) > 0.05, key
    # prestosynth alone truncates TimGM6mb's acoustic snare (no sustain generator) to a click
    raw = render_midi(snare_score([0.1]), sample_rate=sr, sf2_compat=False)
    assert active_seconds(raw, sr) < 0.02


def strongest_frequency(audio: np.ndarray, sr: int) -> float:
    window = audio * np.hanning(len(audio))
    spectrum = np.abs(np.fft.rfft(window, n=8 * len(audio)))
    return float(np.fft.rfftfreq(8 * len(audio), 1 / sr)[np.argmax(spectrum)])


@pytest.mark.parametrize(("program", "key"), [(0, 57), (0, 69), (40, 69), (24, 64)])
def test_melodic_notes_sound_at_their_pitch(program: int, key: int) -> None:
    sr = 22050
    score = symusic.Score(480)
    track = symusic.Track("melody", program=program)
    track.notes.append(symusic.Note(0, 960, key, 100))
    score.tracks.append(track)
    expected = 440.0 * 2 ** ((key - 69) / 12)
    audio = render_midi(score, sample_rate=sr)[1000 : sr // 2]
    assert strongest_frequency(audio, sr) == pytest.approx(expected, rel=0.02)
    if program == 0:  # raw prestosynth ignores the zones' root keys: the piano is far out of tune
        raw = render_midi(score, sample_rate=sr, sf2_compat=False)[1000 : sr // 2]
        assert abs(np.log2(strongest_frequency(raw, sr) / expected)) > 0.5


def test_compatible_copy_is_cached_and_rejects_non_soundfonts(tmp_path: Path) -> None:
    first = prestosynth_compatible_soundfont(cache_dir=tmp_path)
    mtime = first.stat().st_mtime_ns
    assert first.parent == tmp_path and first.suffix == ".sf2"
    assert prestosynth_compatible_soundfont(default_soundfont(), cache_dir=tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp files left
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    with pytest.raises(InvalidSoundFontError, match=r"fake\.sf2"):
        prestosynth_compatible_soundfont(fake, cache_dir=tmp_path / "out")


def test_drum_key_map_remaps_drum_keys_only() -> None:
    sr = 16000
    remapped = render_midi(snare_score([0.1]), sample_rate=sr, drum_key_map={38: 40})
    direct = render_midi(snare_score([0.1], pitch=40), sample_rate=sr)
    np.testing.assert_array_equal(remapped, direct)


def test_score_time_unit_does_not_change_the_render() -> None:
    score = snare_score([0.1, 0.6], pitch=40)
    score.tracks[0].notes[1].velocity = 60
    ticks = render_midi(score, sample_rate=16000)
    np.testing.assert_allclose(render_midi(score.to("second"), sample_rate=16000), ticks, atol=1e-4)
    np.testing.assert_allclose(render_midi(score.to("quarter"), sample_rate=16000), ticks, atol=1e-4)


# ----------------------------------------------------------------------------- .sf2 / .sf3 files
def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _name(text: str) -> bytes:
    return text.encode().ljust(20, b"\0")


def write_sine_soundfont(
    path: Path, *, compressed: bool, freq: float = 440.0, header_pitch: int = 60, root_key: int = 69
) -> Path:
    """A one-preset SoundFont whose only sample is a sine of ``freq`` Hz.

    The sample header claims ``header_pitch`` while the zone's ``overridingRootKey`` says
    ``root_key`` (the correct one), so rendering key ``root_key`` must give ``freq`` only if the
    root-key override is honoured. ``compressed`` writes an SF3: version 3, Ogg Vorbis sample data
    addressed by byte offsets (the MuseScore format).
    """
    sr = 22050
    wave = (0.5 * np.sin(2 * np.pi * freq * np.arange(sr) / sr)).astype(np.float32)
    if compressed:
        buffer = io.BytesIO()
        sf.write(buffer, wave, sr, format="OGG", subtype="VORBIS")
        smpl, end, sample_type = buffer.getvalue(), len(buffer.getvalue()), 0x11
    else:
        pcm = np.round(wave * 32767).astype("<i2")
        smpl, end, sample_type = pcm.tobytes() + bytes(92), len(pcm), 0x01
    info = b"INFO" + _chunk(b"ifil", struct.pack("<HH", 3 if compressed else 2, 1))
    info += _chunk(b"isng", b"EMU8000\0") + _chunk(b"INAM", b"sine\0\0")
    generators = [(43, 127 << 8), (58, root_key), (53, 0)]  # keyRange 0-127, root key, sampleID
    pdta = b"pdta" + b"".join(
        _chunk(cid, body)
        for cid, body in (
            (b"phdr", _name("Sine") + bytes(18) + _name("EOP") + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0)),
            (b"pbag", struct.pack("<HHHH", 0, 0, 1, 0)),
            (b"pmod", bytes(10)),
            (b"pgen", struct.pack("<HHHH", 41, 0, 0, 0)),  # instrument 0
            (b"inst", _name("SineInst") + struct.pack("<H", 0) + _name("EOI") + struct.pack("<H", 1)),
            (b"ibag", struct.pack("<HHHH", 0, 0, len(generators), 0)),
            (b"imod", bytes(10)),
            (b"igen", b"".join(struct.pack("<HH", *g) for g in generators) + bytes(4)),
            (
                b"shdr",
                _name("sine")
                + struct.pack("<IIIIIBbHH", 0, end, 0, 0, sr, header_pitch, 0, 0, sample_type)
                + _name("EOS")
                + bytes(26),
            ),
        )
    )
    body = b"sfbk" + _chunk(b"LIST", info) + _chunk(b"LIST", b"sdta" + _chunk(b"smpl", smpl))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(_chunk(b"LIST", pdta))) + body)
    with path.open("ab") as handle:
        handle.write(_chunk(b"LIST", pdta))
    return path


def a4_score() -> symusic.Score:
    score = symusic.Score(480)
    track = symusic.Track("sine", program=0)
    track.notes.append(symusic.Note(0, 960, 69, 100))
    score.tracks.append(track)
    return score


@pytest.mark.parametrize("suffix", [".sf2", ".sf3"])
def test_given_soundfont_file_renders_at_the_zone_root_key(tmp_path: Path, suffix: str) -> None:
    sr = 22050
    font = write_sine_soundfont(tmp_path / f"Sine{suffix}", compressed=suffix == ".sf3")
    audio = render_midi(a4_score(), soundfont=font, sample_rate=sr)
    assert strongest_frequency(audio[1000 : sr // 2], sr) == pytest.approx(440.0, rel=0.01)
    assert 0.2 < np.max(np.abs(audio)) < 0.6  # the sine itself, scaled by velocity 100
    assert find_system_soundfonts([tmp_path]) == [font.resolve()]


def test_sf3_renders_like_the_same_sf2(tmp_path: Path) -> None:
    """The SF3 compatibility copy duplicates Ogg streams instead of shifting byte offsets."""
    sr = 22050
    pcm = render_midi(a4_score(), write_sine_soundfont(tmp_path / "a.sf2", compressed=False), sr)
    ogg = render_midi(a4_score(), write_sine_soundfont(tmp_path / "a.sf3", compressed=True), sr)
    assert len(ogg) == len(pcm)
    body = slice(1000, sr // 2)
    assert np.corrcoef(ogg[body], pcm[body])[0, 1] > 0.99
    assert np.max(np.abs(ogg)) == pytest.approx(np.max(np.abs(pcm)), rel=0.05)
