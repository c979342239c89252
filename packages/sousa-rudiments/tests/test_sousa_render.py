"""Timbre pool (SoundFont × GM kit × snare note), synthesis and recorded augmentation."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from shared_audio_core.augment import flat_param_columns
from shared_audio_core.synth import SoundFontNotFoundError, default_soundfont
from sousa_rudiments.midi import performance_to_score
from sousa_rudiments.performance import generate_performance
from sousa_rudiments.presets import DRUM_KITS, SAMPLED_KIT
from sousa_rudiments.profiles import generate_profiles
from sousa_rudiments.render import (
    SoundFontFormatError,
    Timbre,
    TimbrePool,
    augment_audio,
    percussion_presets,
    preset_headers,
    render_clip,
    resolve_soundfonts,
    single_kit_preset,
    synthesize,
)
from sousa_rudiments.rudiments import get_rudiment

SR = 22050


def _riff(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _fake_soundfont(path: Path, presets: list[tuple[str, int, int]]) -> Path:
    """A SoundFont skeleton whose preset table (pdta/phdr) lists ``(name, preset, bank)``."""
    records = b"".join(
        name.encode().ljust(20, b"\0") + struct.pack("<HHHIII", preset, bank, 0, 0, 0, 0)
        for name, preset, bank in [*presets, ("EOP", 0, 0)]
    )
    pdta = b"pdta" + _riff(b"phdr", records)
    path.write_bytes(_riff(b"RIFF", b"sfbk" + _riff(b"LIST", b"INFO") + _riff(b"LIST", pdta)))
    return path


@pytest.fixture(scope="module")
def score():
    profile = generate_profiles(4, seed=1)[2]
    performance = generate_performance(get_rudiment("flam-tap"), profile, 120, num_cycles=1, seed=4)
    return performance_to_score(performance)


GM_KITS = [kit for kit in DRUM_KITS if kit != SAMPLED_KIT]


def test_default_soundfont_has_every_gm_kit():
    assert {DRUM_KITS[kit] for kit in GM_KITS} <= percussion_presets(default_soundfont())
    assert single_kit_preset(default_soundfont()) is None


def test_percussion_presets_reads_only_bank_128(tmp_path):
    sf2 = _fake_soundfont(tmp_path / "fake.sf2", [("Piano", 0, 0), ("Standard", 0, 128), ("Brush", 40, 128)])
    assert percussion_presets(sf2) == frozenset({0, 40})


def test_preset_headers_lists_names_programs_and_banks_without_the_terminal_record(tmp_path):
    sf2 = _fake_soundfont(tmp_path / "fake.sf2", [("Piano", 0, 0), ("Brush", 40, 128)])
    assert preset_headers(sf2) == (("Piano", 0, 0), ("Brush", 40, 128))


@pytest.mark.parametrize(
    ("presets", "expected"),
    [
        ([("Black_Pearl_4pc", 0, 0)], 0),  # Debian's avldrums
        ([("Acoustic Drum Kit", 0, 0)], 0),
        ([("Grand Piano", 0, 0)], None),  # one instrument that is not a kit
        ([("Kit A", 0, 0), ("Kit B", 1, 0)], None),  # several presets: which one would be ambiguous
        ([("Drum Kit", 0, 0), ("Standard", 0, 128)], None),  # a GM percussion bank is used instead
    ],
)
def test_single_kit_soundfonts_are_recognised_by_one_preset_named_as_a_kit(tmp_path, presets, expected):
    assert single_kit_preset(_fake_soundfont(tmp_path / "one.sf2", presets)) == expected


def test_pool_offers_the_sampled_kit_of_a_single_kit_soundfont_only(tmp_path):
    kit = _fake_soundfont(tmp_path / "kit.sf2", [("Red_Zeppelin_4pc", 0, 0)])
    piano = _fake_soundfont(tmp_path / "piano.sf2", [("Grand Piano", 0, 0)])
    pool = TimbrePool([kit], list(DRUM_KITS), [38])
    assert [(t.kit, t.drum_channel) for t in pool.timbres] == [(SAMPLED_KIT, False)]
    with pytest.raises(SoundFontFormatError, match="none of the SoundFonts"):
        TimbrePool([piano], list(DRUM_KITS), [38])


def test_sampled_kit_plays_on_a_melodic_channel(score):
    from sousa_rudiments.midi import set_timbre

    voiced = set_timbre(score, program=0, snare_note=38, drum_channel=False)
    assert [track.is_drum for track in voiced.tracks] == [False]
    assert [track.is_drum for track in score.tracks] == [True]  # the input is left alone


def test_not_a_soundfont_is_a_format_error(tmp_path):
    bogus = tmp_path / "bogus.sf2"
    bogus.write_bytes(b"not a soundfont at all")
    with pytest.raises(SoundFontFormatError, match=r"bogus\.sf2"):
        percussion_presets(bogus)


def test_pool_only_offers_kits_the_soundfont_has(tmp_path):
    sf2 = _fake_soundfont(tmp_path / "two_kits.sf2", [("Standard", 0, 128), ("Brush", 40, 128)])
    pool = TimbrePool([sf2], ["standard", "room", "brush"], [38, 40])
    assert {(t.kit, t.snare_note) for t in pool.timbres} == {
        ("standard", 38),
        ("standard", 40),
        ("brush", 38),
        ("brush", 40),
    }
    with pytest.raises(SoundFontFormatError, match="none of the SoundFonts"):
        TimbrePool([sf2], ["room", "power"], [38])


def test_pool_multiplies_timbres_and_draws_reproducibly():
    pool = TimbrePool([default_soundfont()], list(DRUM_KITS), [38, 40])
    assert len(pool) == len(GM_KITS) * 2  # a GM SoundFont has no single "sampled" kit
    draws = [pool.choose(np.random.default_rng(seed)) for seed in range(40)]
    assert draws == [pool.choose(np.random.default_rng(seed)) for seed in range(40)]
    assert len({(t.kit, t.snare_note) for t in draws}) > 4


def test_missing_soundfont_path_is_refused(tmp_path):
    with pytest.raises(SoundFontNotFoundError, match=r"missing\.sf2"):
        resolve_soundfonts([tmp_path / "missing.sf2"])
    with pytest.raises(SoundFontNotFoundError):
        TimbrePool([tmp_path / "missing.sf2"], ["standard"], [38])


def test_resolve_soundfonts_defaults_to_the_core_soundfont_first():
    fonts = resolve_soundfonts(include_system=False)
    assert fonts == [default_soundfont()]


@pytest.mark.parametrize(
    ("kit", "note"), [("room", 38), ("power", 38), ("electronic", 38), ("brush", 38), ("standard", 40)]
)
def test_synthesis_depends_on_kit_and_note(score, kit, note):
    # Kits and the electric snare are different samples in TimGM6mb (its jazz kit reuses the standard
    # snare, so jazz is not in this list).
    base = synthesize(score, Timbre(default_soundfont(), "standard", 38), SR)
    assert base.dtype == np.float32
    assert float(np.max(np.abs(base))) == pytest.approx(10 ** (-3 / 20), rel=1e-4)
    other = synthesize(score, Timbre(default_soundfont(), kit, note), SR)
    n = min(len(base), len(other))
    assert np.abs(base[:n] - other[:n]).mean() > 1e-3


def test_augmentation_is_seeded_and_fully_recorded(score):
    dry = synthesize(score, Timbre(default_soundfont(), "standard", 38), SR)
    a, params_a = augment_audio(dry, SR, "practice_room", seed=7)
    b, params_b = augment_audio(dry, SR, "practice_room", seed=7)
    c, _ = augment_audio(dry, SR, "practice_room", seed=8)
    np.testing.assert_array_equal(a, b)
    assert params_a == params_b
    assert not np.array_equal(a, c)
    assert set(flat_param_columns()) <= set(params_a)
    assert params_a["aug_peak_scale"] <= 1.0
    assert float(np.max(np.abs(a))) <= 1.0


def test_render_clip_records_timbre_and_preset(score):
    timbre = Timbre(default_soundfont(), "brush", 40)
    clip = render_clip(score, timbre, sample_rate=SR, augmentation_preset="garage", seed=3)
    assert clip.timbre == timbre and clip.augmentation_preset == "garage"
    assert clip.sample_rate == SR and clip.audio.ndim == 1
    assert len(clip.audio) == pytest.approx(score.to("second").end() * SR, abs=SR * 0.01)
