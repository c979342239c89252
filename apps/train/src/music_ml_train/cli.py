"""``train``: one LightningCLI over the workspace libraries' LightningModules and DataModules.

Every model is a ``class_path`` in a YAML config (``apps/train/configs/<package>/<model>.yaml``), so a new
package's models need a config, not code. What every run shares lives here, so the configs stay short:
a checkpoint on the config's monitored metric (``checkpoint.monitor``/``mode``, with ``best.ckpt`` and
``last.ckpt`` in ``<trainer.default_root_dir>/checkpoints``), early stopping on the same metric, CSV and
TensorBoard logs, a learning-rate monitor, a rich progress bar, ``seed_everything`` (0 unless the config
says otherwise), the config saved next to the logs, and ``predict`` output written to a file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from jsonargparse import DefaultHelpFormatter
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.callbacks.progress import ProgressBar
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info

from music_ml_train.configs import configs_epilog
from music_ml_train.predictions import SavePredictions

DEFAULT_ROOT_DIR = "runs/train"
CHECKPOINT_DEFAULTS = {"filename": "best", "save_top_k": 1, "mode": "min"}
LAST_CHECKPOINT = "last"
EARLY_STOPPING_PATIENCE = 10

DESCRIPTION = """\
Train, validate, test or predict with any model of the workspace from one YAML config:

  train fit -c apps/train/configs/sousa-rudiments/feature_model.yaml
  train fit -c CONFIG --trainer.max_epochs=5 --data.init_args.batch_size=16    (overrides)
  train fit -c CONFIG --ckpt_path RUN/checkpoints/last.ckpt                     (resume)
  train validate -c CONFIG --ckpt_path RUN/checkpoints/best.ckpt
  train fit -c CONFIG --print_config                                           (the full resolved config)

RUN is the config's trainer.default_root_dir. `train fit --model.help CLASS_PATH` lists a model's options.
See apps/train/README.md for the configs, the data each needs, DDP and SLURM."""


class HelpFormatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of the description and the configs list; options are formatted as usual."""


FIT_DESCRIPTION = """\
Runs the full optimization routine. Every run checkpoints on checkpoint.monitor (best.ckpt + last.ckpt in
<trainer.default_root_dir>/checkpoints), stops early on the same metric (early_stopping.patience), logs CSV
(<root>/csv/version_N/metrics.csv, with the resolved config.yaml) and TensorBoard (<root>/tensorboard), and
monitors the learning rate. Resume with --ckpt_path <root>/checkpoints/last.ckpt."""


def checkpoint_dir(default_root_dir: str | None) -> str:
    """Checkpoints go to a fixed folder of the run, so later configs can name ``best.ckpt`` by path."""
    return str(Path(default_root_dir or DEFAULT_ROOT_DIR) / "checkpoints")


class TrainCLI(LightningCLI):
    """LightningCLI with the workspace's defaults (see the module docstring)."""

    def __init__(self, args: ArgsType = None, run: bool = True) -> None:
        epilog = configs_epilog()
        subcommands = {
            name: {"epilog": epilog, "formatter_class": HelpFormatter} for name in self.subcommands()
        }
        subcommands["fit"]["description"] = FIT_DESCRIPTION
        super().__init__(
            model_class=None,
            datamodule_class=None,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"default_root_dir": DEFAULT_ROOT_DIR, "log_every_n_steps": 10},
            seed_everything_default=0,
            parser_kwargs={
                "description": DESCRIPTION,
                "epilog": epilog,
                "formatter_class": HelpFormatter,
                **subcommands,
            },
            args=args,
            run=run,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--num_threads",
            type=int | None,
            default=None,
            help="torch intra-op threads of each process (torch.set_num_threads); null: torch's default "
            "(all cores, or OMP_NUM_THREADS). With N processes on one machine use cores / N.",
        )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({f"checkpoint.{k}": v for k, v in CHECKPOINT_DEFAULTS.items()})
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({"early_stopping.patience": EARLY_STOPPING_PATIENCE})
        # one monitored metric: what is checkpointed is what stops the run
        parser.link_arguments("checkpoint.monitor", "early_stopping.monitor")
        parser.link_arguments("checkpoint.mode", "early_stopping.mode")
        parser.link_arguments("trainer.default_root_dir", "checkpoint.dirpath", compute_fn=checkpoint_dir)

    def before_instantiate_classes(self) -> None:
        if self.subcommand == "fit" and self._get(self.config, "checkpoint").monitor is None:
            self._parser(self.subcommand).error(
                "checkpoint.monitor is not set: name the metric to checkpoint and stop early on "
                "(a key the model logs, e.g. val/loss with checkpoint.mode=min, val/acc with max)"
            )
        threads = self._get(self.config, "num_threads")
        if threads:
            torch.set_num_threads(threads)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except ValueError as error:  # a model or data class refused its arguments; jsonargparse says which
            self._parser(self.subcommand).error(f"cannot build the run from this config: {error}")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = self._get(self.config_init, "trainer", default={})
        root = trainer.get("default_root_dir") or DEFAULT_ROOT_DIR
        callbacks = list(trainer.get("callbacks") or [])
        logger = trainer.get("logger")
        if logger is None:  # the default: CSV + TensorBoard, no account needed
            logger = [CSVLogger(root, name="csv"), TensorBoardLogger(root, name="tensorboard")]
        if logger is not False and self.subcommand == "fit":
            callbacks.append(LearningRateMonitor())
        if trainer.get("enable_progress_bar") is not False and not any(
            isinstance(c, ProgressBar) for c in callbacks
        ):
            callbacks.append(RichProgressBar())
        if self.subcommand == "predict":
            callbacks.append(SavePredictions(Path(root) / "predictions"))
        instance = super().instantiate_trainer(callbacks=callbacks, logger=logger, **kwargs)
        if self.subcommand == "fit":
            # Lightning >= 2.6 writes `save_last` only when a top-k checkpoint is saved, so last.ckpt
            # would be the best epoch and a resumed run would redo every epoch after it: the latest
            # epoch gets its own callback (no monitor: it keeps the newest, overwritten each epoch),
            # appended after `checkpoint` so that one stays `trainer.checkpoint_callback` ("best").
            instance.callbacks.append(
                ModelCheckpoint(
                    dirpath=checkpoint_dir(root), filename=LAST_CHECKPOINT, enable_version_counter=False
                )
            )
        return instance

    def after_fit(self) -> None:
        checkpoint = self.trainer.checkpoint_callback
        if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_path:
            score = checkpoint.best_model_score
            value = f"{float(score):.4g}" if score is not None else "n/a"
            rank_zero_info(f"best checkpoint: {checkpoint.best_model_path} ({checkpoint.monitor}={value})")
            latest = [
                c.best_model_path
                for c in self.trainer.checkpoint_callbacks
                if c.monitor is None and c.filename == LAST_CHECKPOINT
            ]
            rank_zero_info(f"last checkpoint: {latest[0] if latest else 'none'}")
        if self.trainer.log_dir:
            rank_zero_info(f"logs and config: {self.trainer.log_dir}")


def cli(args: ArgsType = None, run: bool = True) -> TrainCLI:
    """Parse ``args`` (default: ``sys.argv``) and run the subcommand; returns the CLI (trainer, model, data)."""
    return TrainCLI(args=args, run=run)


def main(args: ArgsType = None) -> None:
    """Console entry point of ``train``."""
    try:
        cli(args)
    finally:
        # A DDP run leaves its gloo process group alive; torn down by the interpreter's exit instead, its
        # threads now and then abort the finished process ("terminate called without an active exception").
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


__all__ = ["TrainCLI", "checkpoint_dir", "cli", "main"]
