"""Swing as the acceptance defines it: the off-beat grid, with per-instrument push/drag removed."""

from __future__ import annotations

import pytest
from drum_gen.analysis import (
    InsufficientDataError,
    measure_swing,
    measure_swing_pooled,
    remove_instrument_offsets,
    try_measure_swing,
)
from drum_gen.corpus import generate_corpus
from drum_gen.evaluate import StyleResult, pooled_swing
from drum_gen.gm import CLOSED_HIHAT, KICK, SNARE
from drum_gen.humanize import HumanizeConfig, apply_swing, humanize
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.styles import get_style


def test_remove_instrument_offsets_undoes_the_style_drag() -> None:
    dilla = get_style("J Dilla")  # snare +18 ms, kick -6 ms
    pattern = Pattern((DrumNote(1000, SNARE, 100, 60), DrumNote(1000, KICK, 100, 60)), tempo_bpm=90.0, bars=1)
    restored = remove_instrument_offsets(pattern, dilla.per_instrument_offsets_ms)
    by_pitch = {n.pitch: n.time for n in restored.notes}
    assert by_pitch[SNARE] == 1000 - 13  # 18 ms at 90 BPM, 480 tpb = 12.96 ticks
    assert by_pitch[KICK] == 1000 + 4  # 6 ms = 4.32 ticks


def test_remove_instrument_offsets_looks_offsets_up_by_class_like_humanize() -> None:
    """An offset given for snare 38 also moved rimshot 40 in humanize, so it must be removed from 40 too."""
    pattern = Pattern((DrumNote(960, 40, 100, 60),), tempo_bpm=90.0, bars=1)
    moved = humanize(pattern, config=HumanizeConfig(per_instrument_offsets_ms={SNARE: 18.0}))
    assert moved.notes[0].time == 960 + 13
    assert remove_instrument_offsets(moved, {SNARE: 18.0}).notes[0].time == 960


def _dilla_like_without_jitter() -> tuple[HumanizeConfig, list[Pattern]]:
    """J Dilla's swing, snare drag and ghost notes, with no random timing: the truth is known exactly."""
    dilla = get_style("J Dilla")
    config = HumanizeConfig(
        swing_percent=dilla.swing_percent,
        per_instrument_offsets_ms=dilla.per_instrument_offsets_ms,
        ghost_note_prob=0.6,
    )
    items = generate_corpus(6, seed=3, bars=4, styles=["J Dilla"])
    return config, [humanize(i.pattern, config=config, seed=n) for n, i in enumerate(items)]


def test_offset_compensated_swing_reads_the_grid_and_plain_swing_reads_the_late_snare() -> None:
    config, patterns = _dilla_like_without_jitter()
    offsets = config.per_instrument_offsets_ms
    for pattern in patterns:
        # exact to a tick (pair = 320 ticks at 16ths) once the drag is removed ...
        assert measure_swing(pattern, 16, instrument_offsets_ms=offsets) == pytest.approx(62.0, abs=100 / 320)
    # ... while the plain reading counts the +18 ms snare ghosts on the off-beat 16ths as swing
    plain = measure_swing_pooled(patterns, 16)
    assert plain > 64.0
    assert measure_swing_pooled(patterns, 16, instrument_offsets_ms=offsets) == pytest.approx(62.0, abs=0.35)
    assert pooled_swing(patterns, get_style("J Dilla")) == pytest.approx(62.0, abs=0.35)


def test_pooled_swing_is_exact_on_swung_quantized_patterns_of_mixed_tempo_and_meter() -> None:
    items = generate_corpus(3, seed=2, bars=2, styles=["Questlove"])
    patterns = [apply_swing(i.pattern, 58.0, 16) for i in items]
    waltz = Pattern(
        tuple(DrumNote(t, CLOSED_HIHAT, 90, 30) for t in range(0, 2 * 1440, 240)),
        tempo_bpm=140.0,
        bars=2,
        time_signature=(3, 4),
    )
    patterns.append(apply_swing(waltz, 58.0, 16))
    assert measure_swing_pooled(patterns, 16) == pytest.approx(58.0, abs=100 / 320)
    assert pooled_swing(patterns, get_style("Questlove")) is not None
    assert pooled_swing([], get_style("Questlove")) is None
    with pytest.raises(InsufficientDataError, match="at least one pattern"):
        measure_swing_pooled([], 16)
    on_beats = Pattern((DrumNote(0, KICK, 100, 60), DrumNote(480, SNARE, 100, 60)), tempo_bpm=90.0, bars=1)
    with pytest.raises(InsufficientDataError, match="no off-beat"):
        measure_swing_pooled([on_beats], 16, instrument_offsets_ms={SNARE: 18.0})
    assert try_measure_swing(on_beats, instrument_offsets_ms={SNARE: 18.0}) is None


@pytest.mark.parametrize("style", ["J Dilla", "Metro Boomin", "Questlove", "Timbaland"])
def test_pooled_swing_recovers_each_style_after_full_humanization(style: str) -> None:
    spec = get_style(style)
    items = generate_corpus(10, seed=5, bars=4, styles=[style])
    humanized = [humanize(i.pattern, spec, seed=n) for n, i in enumerate(items)]
    assert abs(pooled_swing(humanized, spec) - spec.swing_percent) <= 2.0


def _result(accuracy: float, swing: float | None) -> StyleResult:
    return StyleResult(
        style="J Dilla",
        n_generated=40,
        classifier_accuracy=accuracy,
        classifier_accuracy_corpus=1.0,
        predictions={},
        swing_target=62.0,
        swing_generated=swing,
        swing_corpus=62.1,
        swing_generated_per_pattern_mean=None,
        rejected_samples=0,
        seconds=1.0,
    )


def test_style_passes_only_with_80_percent_accuracy_and_swing_within_2_points() -> None:
    assert _result(0.8, 64.0).passes and _result(0.8, 60.0).passes  # both bounds inclusive
    assert not _result(0.79, 62.0).passes
    assert not _result(1.0, 64.01).passes and not _result(1.0, 59.9).passes
    assert not _result(1.0, None).passes  # no off-beats to measure: not a pass
    assert _result(1.0, 63.5).to_dict()["swing_error"] == pytest.approx(1.5)
