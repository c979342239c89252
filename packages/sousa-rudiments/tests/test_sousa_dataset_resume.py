"""Killing `sousa generate` mid-run and rerunning it gives exactly the clean run's dataset; so do workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shared_audio_core.synth import default_soundfont
from sousa_rudiments.dataset import GenerateConfig, check_dataset, generate
from sousa_rudiments.dataset.storage import LABEL_TABLES
from sousa_rudiments.presets import get_preset

TINY = get_preset("tiny")


def label_bytes(root: Path) -> dict[str, bytes]:
    files = {name: (root / "labels" / f"{name}.parquet").read_bytes() for name in LABEL_TABLES}
    files["splits"] = (root / "splits.json").read_bytes()
    return files


def _cli(out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sousa_rudiments",
        "generate",
        "--preset",
        "tiny",
        "--with-audio",
        "--no-system-soundfonts",
        "--out",
        str(out),
        "--quiet",
    ]


@pytest.mark.slow
def test_killed_generate_resumes_to_the_clean_result(tmp_path):
    clean = tmp_path / "clean"
    generate(
        GenerateConfig(
            clean, TINY, seed=0, with_audio=True, soundfonts=(default_soundfont(),), progress=False
        )
    )

    resumed = tmp_path / "resumed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(_cli(resumed), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    done_before_kill = 0
    try:
        while time.monotonic() < deadline and process.poll() is None:
            done_before_kill = len(list((resumed / "_parts").glob("*/*.json")))
            if done_before_kill >= 2:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode() if process.stderr else ""
    assert 2 <= done_before_kill < TINY.num_performances()
    assert not (resumed / "labels").exists(), "the killed run must not have finished"

    rerun = subprocess.run(_cli(resumed), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "reused" in rerun.stdout
    assert label_bytes(resumed) == label_bytes(clean)
    media = sorted(p.relative_to(clean) for p in clean.rglob("*") if p.suffix in (".flac", ".mid"))
    assert (
        sorted(p.relative_to(resumed) for p in resumed.rglob("*") if p.suffix in (".flac", ".mid")) == media
    )
    # the interrupted run's audio and MIDI are the clean run's, byte for byte
    assert [p for p in media if (resumed / p).read_bytes() != (clean / p).read_bytes()] == []
    assert check_dataset(resumed).ok


@pytest.mark.slow
def test_worker_processes_give_the_same_bytes(tmp_path):
    single = tmp_path / "single"
    generate(GenerateConfig(single, TINY, seed=3, progress=False))
    parallel = tmp_path / "parallel"
    generate(GenerateConfig(parallel, TINY, seed=3, workers=2, progress=False))
    assert label_bytes(parallel) == label_bytes(single)
    midi = sorted(p.relative_to(single) for p in (single / "midi").rglob("*.mid"))
    assert midi == sorted(p.relative_to(parallel) for p in (parallel / "midi").rglob("*.mid"))
    assert all((single / p).read_bytes() == (parallel / p).read_bytes() for p in midi)
