"""Training recipe: linear warmup + cosine decay per optimizer step, and separate backbone/head learning rates.

Every module's ``configure_optimizers`` goes through :func:`configure_optimization`, so the recipe is the same
for all model families. Without a :class:`ScheduleConfig` it returns the bare AdamW optimizer (constant
learning rate, the modules' long-standing behaviour); with one it returns Lightning's
``{"optimizer", "lr_scheduler": {"scheduler", "interval": "step"}}`` dict.

The schedule factor at optimizer step ``s`` (0-based), warmup ``W``, total ``T`` and floor ``m`` is the one of
``transformers.get_cosine_with_min_lr_schedule_with_warmup`` (the standard HF recipe)::

    s < W:  s / W                                         (0 on the first step, the peak on step W)
    s >= W: m + (1 - m) * 0.5 * (1 + cos(pi * p)),  p = min(1, (s - W) / (T - W))

so it reaches the floor ``m * lr`` at step ``T`` and stays there (HF's would rise again past ``T``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from piano_eval.hub import DictConfig

HEAD_PREFIXES: tuple[str, ...] = ("scorer.", "objective.")
"""Parameter-name prefixes of a :class:`~piano_eval.training.PerformanceModule`'s head (scorer, learned loss
weights); every other trainable parameter belongs to the encoder/backbone."""


@dataclass
class ScheduleConfig(DictConfig):
    """Warmup + cosine decay of every param group's learning rate, stepped once per optimizer step.

    ``total_steps=None`` takes the steps left in the run from the trainer (``estimated_stepping_batches`` minus
    the steps already taken), which also fits a schedule rebuilt mid-run (A2's switch to the supervised stage).
    ``min_lr_ratio`` is the floor as a fraction of each group's peak rate (seed 001: 1e-6 of 1e-4 → 0.01).
    ``warmup_fraction`` sets the warmup as a fraction of the total steps instead of a step count, so one
    recipe fits a small and a large dataset alike.
    """

    warmup_steps: int = 0
    total_steps: int | None = None
    min_lr_ratio: float = 0.0
    warmup_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.warmup_fraction and self.warmup_steps:
            raise ValueError(
                f"set warmup_steps ({self.warmup_steps}) or warmup_fraction ({self.warmup_fraction}), not both"
            )
        if self.total_steps is not None and self.total_steps <= self.warmup_steps:
            raise ValueError(
                f"total_steps ({self.total_steps}) must exceed warmup_steps ({self.warmup_steps})"
            )
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


torch.serialization.add_safe_globals([ScheduleConfig])  # Lightning checkpoints keep it in the hparams


def check_backbone_lr_ratio(ratio: float) -> float:
    if ratio <= 0:
        raise ValueError(f"backbone_lr_ratio must be positive, got {ratio}")
    return float(ratio)


class WarmupCosine:
    """The schedule factor as a picklable callable: ``LambdaLR`` saves its attributes in the scheduler state,
    so a resumed run keeps the ``total_steps`` it started with."""

    def __init__(self, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> None:
        if total_steps <= warmup_steps:
            raise ValueError(f"total_steps ({total_steps}) must exceed warmup_steps ({warmup_steps})")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def resolve_total_steps(config: ScheduleConfig, trainer: L.Trainer | None) -> int:
    """``config.total_steps``, or the optimizer steps the attached trainer has left."""
    if config.total_steps is not None:
        return config.total_steps
    if trainer is None:
        raise ValueError("ScheduleConfig(total_steps=None) needs a Trainer (or set total_steps)")
    estimated = trainer.estimated_stepping_batches
    if not math.isfinite(estimated):
        raise ValueError("the run has no finite length (set max_steps or max_epochs, or total_steps)")
    remaining = int(estimated) - int(trainer.global_step)
    if remaining <= config.warmup_steps:
        raise ValueError(
            f"the run has {remaining} optimizer steps left, not more than warmup_steps={config.warmup_steps}"
        )
    return remaining


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int
) -> LambdaLR:
    """``LambdaLR`` applying :class:`WarmupCosine` to every param group's initial ``lr``."""
    return LambdaLR(
        optimizer, WarmupCosine(warmup_steps(config, total_steps), total_steps, config.min_lr_ratio)
    )


def warmup_steps(config: ScheduleConfig, total_steps: int) -> int:
    """The warmup in optimizer steps: ``warmup_steps``, or ``warmup_fraction`` of ``total_steps``."""
    if config.warmup_fraction:
        return round(config.warmup_fraction * total_steps)
    return config.warmup_steps


def backbone_head_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    learning_rate: float,
    backbone_lr_ratio: float = 1.0,
    head_prefixes: Sequence[str] = HEAD_PREFIXES,
) -> list[dict[str, Any]]:
    """Optimizer param groups over the trainable parameters.

    ``backbone_lr_ratio == 1``: one group at ``learning_rate`` (nothing to separate). Otherwise a ``"head"``
    group (names starting with ``head_prefixes``) at ``learning_rate`` and a ``"backbone"`` group (the rest)
    at ``learning_rate * backbone_lr_ratio``; empty groups are left out. Pretrained encoders usually want a
    smaller rate than freshly initialised heads (seed 001: backbone 1e-5, heads 1e-4).
    """
    check_backbone_lr_ratio(backbone_lr_ratio)
    trainable = [(name, p) for name, p in named_parameters if p.requires_grad]
    if backbone_lr_ratio == 1.0:
        return [{"params": [p for _, p in trainable], "lr": learning_rate}]
    prefixes = tuple(head_prefixes)
    head = [p for name, p in trainable if name.startswith(prefixes)]
    backbone = [p for name, p in trainable if not name.startswith(prefixes)]
    groups = [
        {"params": backbone, "lr": learning_rate * backbone_lr_ratio, "name": "backbone"},
        {"params": head, "lr": learning_rate, "name": "head"},
    ]
    return [group for group in groups if group["params"]]


def configure_optimization(
    module: L.LightningModule,
    param_groups: Sequence[dict[str, Any]],
    weight_decay: float,
    schedule: ScheduleConfig | None = None,
) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
    """AdamW over ``param_groups`` (each with its ``lr``), plus the per-step warmup + cosine schedule when
    ``schedule`` is given. The one place every module's ``configure_optimizers`` builds its optimizer."""
    optimizer = torch.optim.AdamW(list(param_groups), weight_decay=weight_decay)
    if schedule is None:
        return optimizer
    total_steps = resolve_total_steps(schedule, module._trainer)
    scheduler = warmup_cosine_scheduler(optimizer, schedule, total_steps)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
    }
