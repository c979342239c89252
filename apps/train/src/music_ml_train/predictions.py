"""``train predict`` output: what the model's ``predict_step`` returned, saved with ``torch.save``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info


class SavePredictions(BasePredictionWriter):
    """Writes ``predictions.pt`` (``predictions-rank<N>.pt`` per process in a distributed run).

    The file holds ``{"predictions": [one predict_step output per batch], "batch_indices": ...}``.
    """

    def __init__(self, out_dir: str | Path) -> None:
        super().__init__(write_interval="epoch")
        self.out_dir = Path(out_dir)

    def path(self, trainer: Trainer) -> Path:
        name = "predictions.pt" if trainer.world_size == 1 else f"predictions-rank{trainer.global_rank}.pt"
        return self.out_dir / name

    def write_on_epoch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        path = self.path(trainer)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"predictions": list(predictions), "batch_indices": list(batch_indices)}, path)
        rank_zero_info(f"predictions written to {path}")
