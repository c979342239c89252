"""Synthetic room impulse responses, cached as WAV files for audiomentations' ``ApplyImpulseResponse``.

A synthetic IR is a unit direct path followed (after a short pre-delay) by Gaussian noise under an
exponential envelope that falls 60 dB in ``rt60`` seconds: the classic statistical model of a
diffuse late reverberant field. It is cheap, needs no downloaded IR corpus, and its RT60 and
direct-to-reverberant ratio (DRR) are known exactly, so they can be recorded as labels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from shared_audio_core.files import atomic_output

__all__ = ["default_ir_cache_dir", "synthesize_impulse_response", "synthetic_ir_file"]

_LN_1000 = float(np.log(1000.0))  # amplitude ratio of a 60 dB decay
RT60_STEP_S = 0.05
DRR_STEP_DB = 1.0


def default_ir_cache_dir() -> Path:
    """``$SHARED_AUDIO_CORE_CACHE/impulse_responses`` or ``~/.cache/shared_audio_core/impulse_responses``."""
    root = os.environ.get("SHARED_AUDIO_CORE_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "shared_audio_core"
    return base / "impulse_responses"


def synthesize_impulse_response(
    rt60_s: float,
    sample_rate: int,
    *,
    drr_db: float = 3.0,
    predelay_s: float = 0.005,
    seed: int = 0,
) -> np.ndarray:
    """Mono float32 IR: direct impulse, then noise decaying 60 dB over ``rt60_s``.

    ``drr_db`` is the energy ratio of the direct impulse (energy 1) to the whole reverberant tail.
    """
    if rt60_s <= 0:
        raise ValueError(f"rt60_s must be positive, got {rt60_s}")
    rng = np.random.default_rng(seed)
    predelay = round(predelay_s * sample_rate)
    tail_len = max(1, round(rt60_s * sample_rate))
    t = np.arange(tail_len) / sample_rate
    tail = rng.standard_normal(tail_len) * np.exp(-_LN_1000 * t / rt60_s)
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    ir = np.zeros(1 + predelay + tail_len, dtype=np.float32)
    ir[0] = 1.0
    ir[1 + predelay :] = tail
    return ir


def quantize(value: float, step: float) -> float:
    """Snap to a grid so the on-disk IR cache stays small (values are recorded after snapping)."""
    return round(round(value / step) * step, 6)


def synthetic_ir_file(
    rt60_s: float,
    drr_db: float,
    sample_rate: int,
    *,
    variant: int = 0,
    cache_dir: Path | None = None,
) -> Path:
    """Path of a cached synthetic IR WAV (created atomically on first use; safe with parallel workers)."""
    cache_dir = default_ir_cache_dir() if cache_dir is None else Path(cache_dir)
    name = f"synthetic_rt60-{rt60_s:.2f}s_drr{drr_db:+.0f}dB_sr{sample_rate}_v{variant}.wav"
    path = cache_dir / name
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    seed = (variant * 1_000_003 + round(rt60_s * 1000) * 101 + round(drr_db) + 31) & 0xFFFFFFFF
    ir = synthesize_impulse_response(rt60_s, sample_rate, drr_db=drr_db, seed=seed)
    with atomic_output(path) as tmp:
        sf.write(tmp, ir, sample_rate, format="WAV", subtype="FLOAT")
    return path
