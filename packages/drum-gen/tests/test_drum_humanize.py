"""Humanization: MPC swing, micro-timing, ghost notes, accents, the once-only full chain."""

from pathlib import Path

import numpy as np
import pytest
from drum_gen import gm
from drum_gen.analysis import measure_swing
from drum_gen.corpus import generate_pattern
from drum_gen.humanize import (
    AlreadyHumanizedError,
    HumanizeConfig,
    HumanizeError,
    add_ghost_notes,
    add_microtiming,
    apply_accents,
    apply_swing,
    humanize,
    vary_velocity,
)
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.styles import get_style, list_styles
from drum_gen.validation import PatternValidationError, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PITCHES = [gm.KICK, gm.SNARE, gm.CLOSED_HIHAT, gm.RIDE, gm.HIGH_TOM]


@st.composite
def grid_patterns(draw, step: int = 120, meters=((4, 4), (3, 4), (6, 8), (7, 8))) -> Pattern:
    """Quantized patterns on a grid of ``step`` ticks, in several meters, with at least one off-beat."""
    time_signature = draw(st.sampled_from(meters))
    bar = time_signature[0] * 1920 // time_signature[1]
    bars = draw(st.integers(1, 3))
    slots = bars * bar // step
    cells = draw(
        st.sets(st.tuples(st.integers(0, slots - 1), st.sampled_from(PITCHES)), min_size=1, max_size=24)
    )
    notes = {(slot * step, pitch): draw(st.integers(1, 127)) for slot, pitch in cells}
    notes.setdefault((step, gm.CLOSED_HIHAT), 80)  # one guaranteed off-beat in the first pair
    tempo = draw(st.floats(60, 180))
    return Pattern(
        tuple(DrumNote(t, p, v, 30) for (t, p), v in notes.items()), tempo, time_signature, 480, bars=bars
    )


# ---------------------------------------------------------------- swing
def test_triplet_swing_at_eighth_resolution_hits_the_triplet_position() -> None:
    notes = tuple(DrumNote(t, gm.CLOSED_HIHAT, 90, 30) for t in range(0, 1920, 240))
    swung = apply_swing(Pattern(notes, 90.0), 66.67, resolution=8)
    # off-beat 8ths move from 240 to 320 = two thirds of a quarter: the 8th-note triplet
    assert [n.time for n in swung.notes] == [0, 320, 480, 800, 960, 1280, 1440, 1760]
    assert measure_swing(swung, 8) == pytest.approx(66.67, abs=50 / 480)


def test_sixteenth_swing_moves_only_off_beat_sixteenths_by_the_mpc_amount() -> None:
    notes = tuple(DrumNote(t, gm.CLOSED_HIHAT, 90, 30) for t in range(0, 480, 120))
    swung = apply_swing(Pattern(notes, 90.0), 75.0, resolution=16)
    assert [n.time for n in swung.notes] == [0, 180, 240, 420]  # 75% of a 240-tick pair, not (S-50)/50*1/4


def test_incomplete_pair_in_odd_meter_stays_straight() -> None:
    notes = tuple(DrumNote(t, gm.CLOSED_HIHAT, 90, 30) for t in range(0, 1680, 240))  # seven 8ths of 7/8
    swung = apply_swing(Pattern(notes, 90.0, (7, 8)), 60.0, resolution=8)
    assert [n.time for n in swung.notes] == [0, 288, 480, 768, 960, 1248, 1440]


@PROPERTY
@given(grid_patterns(), st.sampled_from([8, 16]))
def test_fifty_percent_swing_is_identity(pattern: Pattern, resolution: int) -> None:
    assert apply_swing(pattern, 50.0, resolution) == pattern


@PROPERTY
@given(grid_patterns(step=120), st.floats(50.0, 75.0))
def test_measured_swing_equals_requested_at_sixteenths(pattern: Pattern, swing: float) -> None:
    swung = apply_swing(pattern, swing, 16)
    assert measure_swing(swung, 16) == pytest.approx(swing, abs=50 / 240 + 1e-9)  # within half a tick


@PROPERTY
@given(grid_patterns(step=240, meters=((4, 4), (3, 4), (6, 8))), st.floats(50.0, 75.0))
def test_measured_swing_equals_requested_at_eighths(pattern: Pattern, swing: float) -> None:
    swung = apply_swing(pattern, swing, 8)
    assert measure_swing(swung, 8) == pytest.approx(swing, abs=50 / 480 + 1e-9)


@PROPERTY
@given(grid_patterns(), st.sampled_from(list_styles()), st.integers(0, 2**16))
def test_full_chain_invariants(pattern: Pattern, style, seed: int) -> None:
    before = pattern.to_dict()
    out = humanize(pattern, style, seed=seed)
    assert pattern.to_dict() == before and not pattern.humanized  # input untouched
    assert out.humanized
    assert all(n.time >= 0 for n in out.notes)
    assert all(1 <= n.velocity <= 127 for n in out.notes)
    assert all(n.time < out.length_ticks for n in out.notes)
    assert validate(out).ok
    assert humanize(pattern, style, seed=seed) == out  # seeded


@PROPERTY
@given(grid_patterns(), st.floats(0.0, 40.0), st.integers(0, 1000))
def test_microtiming_never_negative_nor_reordered(pattern: Pattern, sigma: float, seed: int) -> None:
    out = add_microtiming(
        pattern, sigma, seed=seed, per_instrument_offsets_ms={gm.KICK: -30.0, gm.SNARE: 25.0}
    )
    assert all(n.time >= 0 for n in out.notes)
    assert len(out.notes) == len(pattern.notes)
    for pitch in {n.pitch for n in pattern.notes}:
        times = [n.time for n in out.notes if n.pitch == pitch]
        assert len(set(times)) == len(times)


@PROPERTY
@given(grid_patterns(), st.floats(0.0, 1.0), st.integers(0, 1000))
def test_ghost_notes_never_duplicate_a_snare(pattern: Pattern, prob: float, seed: int) -> None:
    out = add_ghost_notes(pattern, prob, seed=seed)
    originals = {(n.time, n.pitch) for n in pattern.notes}
    ghosts = [n for n in out.notes if (n.time, n.pitch) not in originals]
    snares = [n.time for n in pattern.notes if gm.pitch_to_class(n.pitch) == gm.SNARE_CLASS]
    for ghost in ghosts:
        assert ghost.pitch == gm.SNARE and 20 <= ghost.velocity <= 45
        assert all(abs(ghost.time - t) >= 60 for t in snares)
    assert set(originals) <= {(n.time, n.pitch) for n in out.notes}
    assert validate(out).ok or not validate(pattern).ok


@st.composite
def loose_patterns(draw) -> Pattern:
    """Off-grid patterns like model output or recordings (any tick, any drum)."""
    pitches = [*PITCHES, gm.OPEN_HIHAT, gm.PEDAL_HIHAT, gm.CRASH, gm.LOW_TOM]
    cells = draw(
        st.sets(st.tuples(st.integers(0, 2 * 1920 - 1), st.sampled_from(pitches)), min_size=1, max_size=40)
    )
    return Pattern(tuple(DrumNote(t, p, 90, 30) for t, p in cells), 100.0, bars=2)


@PROPERTY
@given(loose_patterns(), st.sampled_from(list_styles()), st.integers(0, 2**16))
def test_any_valid_input_humanizes_to_a_valid_pattern(pattern: Pattern, style, seed: int) -> None:
    if not validate(pattern).ok:
        with pytest.raises(PatternValidationError, match="input to humanize"):
            humanize(pattern, style, seed=seed)
        return
    out = humanize(pattern, style, seed=seed)
    assert validate(out).ok and out.humanized
    assert all(0 <= n.time < out.length_ticks for n in out.notes)


# ---------------------------------------------------------------- individual steps
def _hats(step: int = 120, bars: int = 1) -> Pattern:
    return Pattern(
        tuple(DrumNote(t, gm.CLOSED_HIHAT, 80, 30) for t in range(0, 1920 * bars, step)), 100.0, bars=bars
    )


def test_laid_back_snare_offset() -> None:
    pattern = Pattern((DrumNote(480, gm.SNARE, 100, 30), DrumNote(480, gm.KICK, 100, 30)), 100.0)
    out = add_microtiming(pattern, 0.0, per_instrument_offsets_ms={gm.SNARE: 30.0})
    ticks_30ms = round(0.030 * 100 / 60 * 480)
    assert {n.pitch: n.time for n in out.notes} == {gm.SNARE: 480 + ticks_30ms, gm.KICK: 480}
    electric = Pattern((DrumNote(480, gm.ELECTRIC_SNARE, 100, 30),), 100.0)
    assert add_microtiming(electric, 0.0, per_instrument_offsets_ms={gm.SNARE: 30.0}).notes[0].time == 504


def test_microtiming_spread_matches_sigma() -> None:
    pattern = Pattern(tuple(DrumNote(480 * i + 240, gm.KICK, 90, 10) for i in range(400)), 120.0)
    out = add_microtiming(pattern, 10.0, seed=1)
    deviation_ms = np.array([o.time - n.time for o, n in zip(out.notes, pattern.notes, strict=True)]) * (
        pattern.seconds_per_tick * 1000
    )
    assert abs(deviation_ms.mean()) < 1.5
    assert 8.0 < deviation_ms.std() < 11.0
    assert np.abs(deviation_ms).max() <= 25.0 + 1.1  # clipped at 2.5 sigma (+ rounding)


def test_vary_velocity_statistics_and_range() -> None:
    pattern = _hats(step=60, bars=4)
    out = vary_velocity(pattern, 0.2, seed=3)
    velocities = np.array([n.velocity for n in out.notes])
    assert 70 < velocities.mean() < 90 and 12 < velocities.std() < 20
    loud = Pattern(tuple(DrumNote(t, gm.KICK, 127, 10) for t in range(0, 1920, 120)), 100.0)
    assert max(n.velocity for n in vary_velocity(loud, 1.0, seed=0).notes) == 127
    assert vary_velocity(pattern, 0.0) == pattern


def test_accents_follow_meter() -> None:
    out = apply_accents(_hats(step=120), 0.5)
    by_time = {n.time: n.velocity for n in out.notes}
    assert by_time[0] == 120  # downbeat x1.5
    assert by_time[480] == 100  # beat x1.25
    assert by_time[240] == 80  # 8th off-beat unchanged
    assert by_time[120] == 60  # 16th x0.75
    compound = Pattern(
        tuple(DrumNote(t, gm.CLOSED_HIHAT, 80, 30) for t in range(0, 1440, 240)), 100.0, (6, 8)
    )
    velocities = [n.velocity for n in apply_accents(compound, 0.5).notes]
    assert velocities == [120, 80, 80, 100, 80, 80]  # 6/8 is felt in two
    kick = Pattern((DrumNote(0, gm.KICK, 80, 30),), 100.0)
    assert apply_accents(kick, 0.5) == kick  # only time-keepers are accented


def test_custom_accent_pattern_repeats_from_each_bar_line() -> None:
    out = apply_accents(_hats(step=120, bars=2), 0.5, accent_pattern=(1.0, -1.0, -1.0))
    velocities = [n.velocity for n in out.notes]
    assert velocities[:6] == [120, 40, 40, 120, 40, 40]
    assert velocities[16] == 120  # bar 2 restarts the 3-step cycle
    with pytest.raises(HumanizeError, match="accent_pattern"):
        apply_accents(_hats(), 0.5, accent_pattern=(2.0,))
    config = HumanizeConfig(accent_strength=0.5, accent_pattern=[1, -1])
    assert HumanizeConfig.from_dict(config.to_dict()) == config
    accented = humanize(_hats(), config=config, seed=0)
    assert [n.velocity for n in accented.notes][:2] == [120, 40]


def test_humanize_refuses_twice_even_through_midi(tmp_path: Path) -> None:
    pattern = generate_pattern("dilla", seed=0, bars=2)
    once = humanize(pattern, "dilla", seed=1)
    with pytest.raises(AlreadyHumanizedError, match="already humanized"):
        humanize(once, "dilla", seed=1)
    reread = Pattern.read_midi(once.write_midi(tmp_path / "h.mid"))
    with pytest.raises(AlreadyHumanizedError):
        humanize(reread, "dilla", seed=1)


def test_humanize_validates_input() -> None:
    clash = Pattern((DrumNote(0, gm.OPEN_HIHAT, 90, 30), DrumNote(0, gm.CLOSED_HIHAT, 90, 30)), 100.0)
    with pytest.raises(PatternValidationError, match=r"input to humanize.*hihat_conflict"):
        humanize(clash, "quest", seed=0)


def test_dilla_humanization_is_swung_and_late_on_the_snare() -> None:
    style = get_style("dilla")
    patterns = [generate_pattern(style, seed=s, bars=4) for s in range(6)]
    lateness = []
    for seed, pattern in enumerate(patterns):
        out = humanize(pattern, style, seed=seed)
        originals = sorted(n.time for n in pattern.notes if n.pitch == gm.SNARE and n.time % 480 == 0)
        humanized = sorted(n.time for n in out.notes if n.pitch == gm.SNARE and n.velocity > 50)
        lateness += [h - o for h, o in zip(humanized, originals, strict=False) if abs(h - o) < 120]
    mean_ms = np.mean(lateness) * 60 / (90 * 480) * 1000
    assert 8.0 < mean_ms < 30.0  # the 18 ms laid-back snare shows through the jitter


def test_config_round_trip_and_errors() -> None:
    config = HumanizeConfig.from_style("quest")
    assert HumanizeConfig.from_dict(config.to_dict()) == config
    assert config.swing_percent == 58.0 and config.ghost_note_prob == 0.5
    with pytest.raises(HumanizeError, match="swing resolution"):
        apply_swing(_hats(), 60.0, resolution=12)
    with pytest.raises(HumanizeError, match="swing_percent"):
        apply_swing(_hats(), 100.0)
    with pytest.raises(HumanizeError, match="needs a style"):
        humanize(_hats())
    straight = humanize(_hats(), config=HumanizeConfig(), seed=0)
    assert [n.time for n in straight.notes] == [n.time for n in _hats().notes]
