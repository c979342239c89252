"""Tiny datasets for the labeler's tests, written in ``tmp_path``: audio with soundfile, MIDI with symusic,
and a 6-performance synthetic benchmark (``ratings.csv`` layout) built once per session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic

TICKS_PER_SECOND = 960  # 480 ticks per quarter at 120 qpm


def _write_audio(path: Path, seconds: float, rate: int = 8000, channels: int = 1) -> Path:
    """A quiet 220 Hz sine (amplitude 0.25) of `seconds`, mono or with identical channels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = round(seconds * rate)
    tone = 0.25 * np.sin(2 * np.pi * 220.0 * np.arange(n) / rate).astype(np.float32)
    sf.write(str(path), np.stack([tone] * channels, axis=1) if channels > 1 else tone, rate)
    return path


def _write_midi(
    path: Path,
    notes: Sequence[tuple[float, float, int, int]],
    pedal: Sequence[tuple[float, float]] = (),
) -> Path:
    """``notes`` as (start s, end s, pitch, velocity), ``pedal`` as (down s, up s) CC64 spans."""
    path.parent.mkdir(parents=True, exist_ok=True)
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(time=0, qpm=120))
    track = symusic.Track(name="piano", program=0, is_drum=False)
    for start, end, pitch, velocity in notes:
        a, b = round(start * TICKS_PER_SECOND), round(end * TICKS_PER_SECOND)
        track.notes.append(symusic.Note(time=a, duration=b - a, pitch=pitch, velocity=velocity))
    for down, up in pedal:
        track.controls.append(
            symusic.ControlChange(time=round(down * TICKS_PER_SECOND), number=64, value=127)
        )
        track.controls.append(symusic.ControlChange(time=round(up * TICKS_PER_SECOND), number=64, value=0))
    score.tracks.append(track)
    score.dump_midi(str(path))
    return path


@pytest.fixture()
def write_audio() -> Callable[..., Path]:
    return _write_audio


@pytest.fixture()
def write_midi() -> Callable[..., Path]:
    return _write_midi


@pytest.fixture()
def audio_folder(tmp_path) -> Path:
    """``a.wav`` (45 s, with ``a.mid``) and ``sub/b.flac`` (8 s, no MIDI): 45 s cuts into 20 + 25 s."""
    root = tmp_path / "takes"
    _write_audio(root / "a.wav", 45.0)
    _write_midi(root / "a.mid", [(1.0, 2.0, 60, 80), (21.0, 22.5, 64, 100), (44.0, 44.9, 67, 60)])
    _write_audio(root / "sub" / "b.flac", 8.0)
    return root


@pytest.fixture(scope="session")
def benchmark(tmp_path_factory) -> Path:
    """A synthetic benchmark folder (``ratings.csv`` with ratings on 0–1, audio, MIDI, scores): ~1 s."""
    from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark

    out = tmp_path_factory.mktemp("synthetic")
    build_benchmark(
        out, SyntheticBenchmarkConfig(generated_pieces=3, performances_per_piece=2, bars=2), progress=False
    )
    return out
