"""Test helpers: tiny synthetic pair data with a planted, learnable signal for fast tests and smoke training
runs, hand-written piano MIDI files, and building a module the way a LightningCLI config does.

Each performance has a hidden quality vector ``q ∈ [0, 1]^K`` (its labels). Its frames are
``piece_vector + q @ W + noise`` for a fixed random ``W``, so a model can recover the ranking and the
scores from the features, and segments of the same piece share a direction (InfoNCE has a signal too).
Lengths vary so that padding and masks are exercised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from piano_eval.training import PerformancePairDataset, collate_embedding_pairs


@dataclass
class SyntheticPerformances:
    """Per-performance tensors behind a synthetic pair dataset."""

    features: list[torch.Tensor]  # each [T_i, D]
    labels: torch.Tensor  # [N, K] in [0, 1]
    piece_ids: torch.Tensor  # [N]
    signal_matrix: torch.Tensor  # [K, D] planted label → feature map


def make_synthetic_performances(
    num_pieces: int = 4,
    performances_per_piece: int = 4,
    feature_dim: int = 16,
    num_dimensions: int = 3,
    min_frames: int = 6,
    max_frames: int = 12,
    noise: float = 0.05,
    signal_strength: float = 2.0,
    seed: int = 0,
) -> SyntheticPerformances:
    """Draw performances with labels that are a linear function of their (noisy) frames."""
    if min_frames < 1 or max_frames < min_frames:
        raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    if performances_per_piece < 2:
        raise ValueError("performances_per_piece must be >= 2 to form pairs")
    generator = torch.Generator().manual_seed(seed)
    signal = (
        torch.randn(num_dimensions, feature_dim, generator=generator) * signal_strength / num_dimensions**0.5
    )
    piece_vectors = torch.randn(num_pieces, feature_dim, generator=generator)
    features, labels, pieces = [], [], []
    for piece in range(num_pieces):
        for _ in range(performances_per_piece):
            quality = torch.rand(num_dimensions, generator=generator)
            length = int(torch.randint(min_frames, max_frames + 1, (1,), generator=generator))
            frames = piece_vectors[piece] + (quality - 0.5) @ signal
            frames = frames.expand(length, feature_dim) + noise * torch.randn(
                length, feature_dim, generator=generator
            )
            features.append(frames.contiguous())
            labels.append(quality)
            pieces.append(piece)
    return SyntheticPerformances(features, torch.stack(labels), torch.tensor(pieces), signal)


def make_synthetic_pair_dataset(**kwargs: int | float) -> PerformancePairDataset:
    """A :class:`PerformancePairDataset` over :func:`make_synthetic_performances` (same keyword args)."""
    perf = make_synthetic_performances(**kwargs)  # type: ignore[arg-type]
    return PerformancePairDataset(perf.features, perf.labels, perf.piece_ids)


def make_synthetic_pair_loader(
    batch_size: int = 8, shuffle: bool = True, seed: int = 0, **kwargs: int | float
) -> DataLoader:
    """DataLoader of collated embedding pairs (parts ``{"features", "mask"}``), deterministic with ``seed``."""
    dataset = make_synthetic_pair_dataset(seed=seed, **kwargs)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_embedding_pairs,
        generator=torch.Generator().manual_seed(seed),
    )


def make_smoke_trainer(max_steps: int = 20, callbacks: Sequence[L.Callback] = ()) -> L.Trainer:
    """A quiet CPU ``Trainer`` for smoke-training tests (no logger, checkpoints or progress bars)."""
    return L.Trainer(
        max_steps=max_steps,
        callbacks=list(callbacks),
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


@dataclass(eq=False)
class TrainingProbe(L.Callback):
    """Calls ``probe(module, batch)`` at the start of every training batch and keeps what it returns.

    For checks that only hold inside a running ``fit`` (e.g. which submodules are in train mode: Lightning
    keeps each submodule's mode as it finds it).
    """

    probe: Callable[[L.LightningModule, Any], Any]
    records: list[Any] = field(default_factory=list)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.records.append(self.probe(pl_module, batch))


MIDI_TICKS_PER_SECOND = 960  # 480 ticks per quarter at 120 qpm: a quarter lasts 0.5 s


def write_piano_midi(
    path: str | Path,
    notes: Sequence[tuple[float, float, int, int]],
    pedal: Sequence[tuple[float, int]] = (),
) -> Path:
    """A one-track piano MIDI at 120 qpm from ``notes`` (start s, end s, pitch, velocity) and ``pedal``
    (time s, CC64 value): inputs whose every onset, length and pedal change a test knows by hand."""
    import symusic

    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(time=0, qpm=120.0))
    track = symusic.Track(name="piano", program=0, is_drum=False)
    for start, end, pitch, velocity in notes:
        tick = round(start * MIDI_TICKS_PER_SECOND)
        duration = max(1, round(end * MIDI_TICKS_PER_SECOND) - tick)
        track.notes.append(
            symusic.Note(time=tick, duration=duration, pitch=int(pitch), velocity=int(velocity))
        )
    for time, value in pedal:
        track.controls.append(
            symusic.ControlChange(time=round(time * MIDI_TICKS_PER_SECOND), number=64, value=value)
        )
    score.tracks.append(track)
    score.dump_midi(str(path))
    return Path(path)


def lightning_cli_for(class_path: str, init_args: dict[str, Any], tmp_path: Path) -> Any:
    """The ``LightningCLI`` a training config with ``model: {class_path, init_args}`` builds (subclass mode,
    nothing run; ``.model`` is the module, ``.parser``/``.config`` the parsed run); needs jsonargparse, a dev
    dependency."""
    import json

    from lightning.pytorch.cli import LightningCLI

    path = Path(tmp_path) / "config.json"  # JSON is YAML: the same file a YAML config would be
    path.write_text(json.dumps({"model": {"class_path": class_path, "init_args": init_args}}))
    cli = LightningCLI(
        L.LightningModule,
        subclass_mode_model=True,
        run=False,
        args=["--config", str(path)],
        save_config_callback=None,
        seed_everything_default=False,
        trainer_defaults={"logger": False, "enable_checkpointing": False, "enable_progress_bar": False},
    )
    return cli
