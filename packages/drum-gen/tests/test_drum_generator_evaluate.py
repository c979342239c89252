"""Evaluation helpers: offset-compensated pooled swing measured back from humanized MIDI."""

from __future__ import annotations

import pytest
from drum_gen.corpus import generate_corpus
from drum_gen.evaluate import pooled_swing, remove_instrument_offsets
from drum_gen.gm import KICK, SNARE
from drum_gen.humanize import apply_swing, humanize
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.styles import get_style


def test_remove_instrument_offsets_undoes_the_style_drag() -> None:
    dilla = get_style("J Dilla")  # snare +18 ms, kick -6 ms
    pattern = Pattern((DrumNote(1000, SNARE, 100, 60), DrumNote(1000, KICK, 100, 60)), tempo_bpm=90.0, bars=1)
    restored = remove_instrument_offsets(pattern, dilla)
    by_pitch = {n.pitch: n.time for n in restored.notes}
    assert by_pitch[SNARE] == 1000 - round(pattern.ms_to_ticks(18.0))
    assert by_pitch[KICK] == 1000 + round(pattern.ms_to_ticks(6.0))


def test_pooled_swing_is_exact_on_swung_quantized_patterns() -> None:
    spec = get_style("Questlove")
    patterns = [
        apply_swing(i.pattern, 58.0, 16) for i in generate_corpus(3, seed=2, bars=2, styles=["Questlove"])
    ]
    assert pooled_swing(patterns, spec) == pytest.approx(58.0, abs=0.3)
    assert pooled_swing([], spec) is None


@pytest.mark.parametrize("style", ["J Dilla", "Metro Boomin", "Questlove", "Timbaland"])
def test_pooled_swing_recovers_each_style_after_full_humanization(style: str) -> None:
    spec = get_style(style)
    items = generate_corpus(10, seed=5, bars=4, styles=[style])
    humanized = [humanize(i.pattern, spec, seed=n) for n, i in enumerate(items)]
    assert abs(pooled_swing(humanized, spec) - spec.swing_percent) <= 2.0
