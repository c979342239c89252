"""Tiny synthetic audio performances with a planted signal, for smoke training of waveform models.

Each piece is a chord of sine partials at its own pitch; each performance has quality labels
``q ∈ [0, 1]^K`` that set its loudness (dimension 0), brightness (weight of upper partials, dimension 1)
and tremolo depth (dimension 2, cycling for larger K). A log-mel model can therefore learn both the
ranking and the scores, and performances of one piece share a spectrum (InfoNCE positives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from piano_eval.audio.models import collate_waveform_parts
from piano_eval.training import PerformancePairDataset, make_pair_collate


@dataclass
class SyntheticAudioPerformances:
    waveforms: list[torch.Tensor]  # each [N_i] float32 at sample_rate
    labels: torch.Tensor  # [P, K]
    piece_ids: torch.Tensor  # [P]
    sample_rate: int


def synthesize_performance(
    quality: np.ndarray, base_hz: float, seconds: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """One tone whose loudness, brightness and tremolo follow ``quality``."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    loud = 0.05 + 0.6 * quality[0 % len(quality)]
    bright = quality[1 % len(quality)]
    tremolo = quality[2 % len(quality)]
    tone = np.zeros_like(t)
    for harmonic in range(1, 6):
        weight = (1.0 - bright) / harmonic if harmonic == 1 else bright / harmonic
        tone += weight * np.sin(2 * np.pi * base_hz * harmonic * t + rng.uniform(0, 2 * np.pi))
    envelope = 1.0 - 0.8 * tremolo * (0.5 + 0.5 * np.sin(2 * np.pi * 6.0 * t))
    audio = loud * envelope * tone / (np.abs(tone).max() + 1e-9) + 0.002 * rng.standard_normal(t.shape)
    return audio.astype(np.float32)


def make_synthetic_audio_performances(
    num_pieces: int = 3,
    performances_per_piece: int = 3,
    num_dimensions: int = 3,
    min_seconds: float = 0.2,
    max_seconds: float = 0.4,
    sample_rate: int = 24_000,
    seed: int = 0,
) -> SyntheticAudioPerformances:
    if performances_per_piece < 2:
        raise ValueError("performances_per_piece must be >= 2 to form pairs")
    rng = np.random.default_rng(seed)
    bases = 110.0 * 2 ** (rng.permutation(24)[:num_pieces] / 12)
    waves, labels, pieces = [], [], []
    for piece in range(num_pieces):
        for _ in range(performances_per_piece):
            quality = rng.uniform(0, 1, num_dimensions)
            seconds = rng.uniform(min_seconds, max_seconds)
            waves.append(
                torch.from_numpy(synthesize_performance(quality, bases[piece], seconds, sample_rate, rng))
            )
            labels.append(quality)
            pieces.append(piece)
    return SyntheticAudioPerformances(
        waves, torch.tensor(np.stack(labels), dtype=torch.float32), torch.tensor(pieces), sample_rate
    )


collate_waveform_pairs = make_pair_collate(collate_waveform_parts)


def make_synthetic_audio_pair_loader(batch_size: int = 6, seed: int = 0, **kwargs: float) -> DataLoader:
    """Pairs of synthetic audio performances of the same piece; parts are waveform dicts."""
    perf = make_synthetic_audio_performances(seed=seed, **kwargs)  # type: ignore[arg-type]
    inputs = [{"waveform": w, "sample_rate": perf.sample_rate} for w in perf.waveforms]
    dataset = PerformancePairDataset(inputs, perf.labels, perf.piece_ids)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        collate_fn=collate_waveform_pairs,
        generator=torch.Generator().manual_seed(seed),
    )
