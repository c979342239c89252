"""The committed measurement scripts still run (small settings) and check what they claim."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys) -> str:
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    return capsys.readouterr().out


def test_kv_cache_benchmark_draws_identical_tokens_with_and_without_cache(monkeypatch, capsys) -> None:
    out = _run(
        "bench_kv_cache.py",
        ["--tokens", "12", "--repeats", "1", "--batch", "2", "--json"],
        monkeypatch,
        capsys,
    )
    result = json.loads(out)
    assert result["identical_tokens"] is True
    assert result["mean_sequence_length"] == 3 + 12  # BOS, style, tempo + the fixed number of new tokens
    assert result["seconds_with_cache"] > 0 and result["seconds_without_cache"] > 0


def test_swing_readback_script_reports_the_acceptance_definition(monkeypatch, capsys) -> None:
    out = _run("swing_readback.py", ["--patterns", "3", "--bars", "2"], monkeypatch, capsys)
    rows = {line.split("|")[1].strip(): line.split("|")[2:6] for line in out.splitlines()[2:]}
    assert list(rows) == ["J Dilla", "Metro Boomin", "Questlove", "Timbaland"]
    target, removed, _, plain = (float(x) for x in rows["J Dilla"])
    assert target == 62.0 and plain - removed > 3.0  # the late snare reads as swing only when not removed
