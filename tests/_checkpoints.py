"""Lightning checkpoints as tests read them: the whole file, and the monitored checkpoint's best score."""

from __future__ import annotations

from pathlib import Path

import torch


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def best_score(checkpoint: dict) -> float:
    """``best_model_score`` of the monitored ModelCheckpoint (the latest-epoch one has no monitor)."""
    (state,) = [
        v for k, v in checkpoint["callbacks"].items() if k.startswith("ModelCheckpoint") and v["monitor"]
    ]
    return float(state["best_model_score"])
