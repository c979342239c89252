"""Honest evaluation measures on inputs with a known answer, and their place in the evaluate report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from drum_gen.corpus import generate_corpus
from drum_gen.honest_eval import (
    distribution_distances,
    honest_markdown,
    honest_measures,
    novelty,
    overlap_and_kl,
    timing_stats,
    two_sample_test,
)
from drum_gen.humanize import apply_swing
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.styles import get_style


def _corpus(style: str, n: int = 24, seed: int = 777) -> list[Pattern]:
    return [i.pattern for i in generate_corpus(n, seed, 4, [style])]


@pytest.fixture(scope="module")
def dilla() -> list[Pattern]:
    return _corpus("J Dilla")


@pytest.fixture(scope="module")
def metro() -> list[Pattern]:
    return _corpus("Metro Boomin")


def test_two_sample_identical_sets_are_indistinguishable(dilla: list[Pattern]) -> None:
    result = two_sample_test(dilla, list(dilla))
    assert result is not None
    assert abs(result.accuracy - 0.5) <= 2 * result.standard_error + 1e-9
    assert result.standard_error == pytest.approx(np.sqrt(0.25 / (2 * len(dilla))), rel=0.2)


def test_two_sample_different_styles_are_told_apart(dilla: list[Pattern], metro: list[Pattern]) -> None:
    result = two_sample_test(dilla, metro)
    assert result is not None and result.accuracy >= 0.9
    assert two_sample_test(dilla[:1], metro) is None


def test_distances_identical_and_different(dilla: list[Pattern], metro: list[Pattern]) -> None:
    same = distribution_distances(dilla, list(dilla))
    assert set(same) == {"density", "syncopation", "hihat_positions", "ioi_16ths"}
    for d in same.values():
        assert d["overlap"] == pytest.approx(1.0) and d["kl"] == pytest.approx(0.0, abs=1e-9)
    different = distribution_distances(dilla, metro)
    assert different["density"]["overlap"] < 0.2 and different["density"]["kl"] > 1.0


def test_overlap_and_kl_disjoint_discrete() -> None:
    overlap, kl = overlap_and_kl(np.array([1.0, 1.0]), np.array([3.0, 3.0]), discrete=True)
    assert overlap == 0.0 and kl > 10
    assert overlap_and_kl(np.zeros(0), np.ones(3), discrete=False) is None


def test_novelty_exact_copy_and_new_patterns(dilla: list[Pattern], metro: list[Pattern]) -> None:
    copy = novelty(dilla[:5], dilla)
    assert copy is not None
    assert copy.novelty_mean == pytest.approx(0.0) and copy.copy_fraction == 1.0
    new = novelty(metro, dilla)
    assert new is not None and new.copy_fraction == 0.0 and new.novelty_mean > 0.3
    clones = novelty([dilla[0]] * 3, dilla)
    assert clones is not None and clones.diversity == pytest.approx(0.0)
    assert novelty(dilla, []) is None


def _grid_pattern() -> Pattern:
    notes = [DrumNote(t * 120, 42, 80) for t in range(16)] + [DrumNote(480, 38, 100), DrumNote(1440, 38, 100)]
    return Pattern(notes=notes, tempo_bpm=100.0)


def test_timing_reads_back_a_known_offset_through_midi(tmp_path: Path) -> None:
    base = apply_swing(_grid_pattern(), 62.0, 16)
    late = round(base.ms_to_ticks(10.0))
    shifted = base.with_notes(
        [DrumNote(n.time + late, n.pitch, n.velocity) if n.pitch == 38 else n for n in base.notes]
    ).replace(humanized=True)
    path = shifted.write_midi(tmp_path / "late.mid")
    stats = timing_stats([Pattern.read_midi(path)], 62.0, 16)
    assert stats["snare"]["mean_offset_ms"] == pytest.approx(10.0, abs=0.3)
    assert stats["snare"]["std_offset_ms"] == pytest.approx(0.0, abs=0.3)
    assert stats["closed_hihat"]["mean_offset_ms"] == pytest.approx(0.0, abs=0.3)  # swing is not timing
    assert stats["snare"]["mean_velocity"] == 100 and stats["closed_hihat"]["n"] == 16


def test_honest_measures_bundle_and_markdown(dilla: list[Pattern]) -> None:
    spec = get_style("J Dilla")
    measures = honest_measures(spec, dilla[:6], dilla[6:12], dilla, [], [])
    data = measures.to_dict()
    assert data["novelty"]["copy_fraction"] == 1.0
    assert data["timing_targets"]["snare"]["offset_ms"] == spec.per_instrument_offsets_ms[38]
    text = "\n".join(honest_markdown({"J Dilla": measures}))
    for heading in ("(a) Two-sample", "(b) MGEval", "(c) Novelty", "(d) Micro-timing"):
        assert heading in text


def test_cli_evaluate_json_and_markdown_hold_the_honest_measures(tmp_path: Path) -> None:
    import json
    import shutil

    from drum_gen.cli import main
    from drum_gen.loader import clear_model_cache
    from drum_gen.shipped import default_model_dir

    model = tmp_path / "model"
    shutil.copytree(default_model_dir(), model)
    clear_model_cache()
    json_out, md_out = tmp_path / "eval.json", tmp_path / "eval.md"
    args = ["evaluate", "--model", str(model), "--device", "cpu", "--patterns-per-style", "2", "--bars", "1"]
    assert main([*args, "--json-out", str(json_out), "--markdown-out", str(md_out)]) == 0
    for style in json.loads(json_out.read_text())["styles"]:
        honest = style["honest"]
        assert set(honest) >= {"two_sample", "distances", "novelty", "timing_generated", "timing_targets"}
        assert 0.0 <= honest["two_sample"]["accuracy"] <= 1.0
        assert honest["novelty"]["n_training_windows"] > 0
        assert set(honest["distances"]) == {"density", "syncopation", "hihat_positions", "ioi_16ths"}
    assert "(a) Two-sample classifier test" in md_out.read_text()
