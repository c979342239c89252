"""LightningModules of the three recognition models (LightningCLI-buildable: plain typed ``__init__``).

Each logs ``val/acc`` (or ``val/loss`` for the stroke-feature model) for checkpointing; the
classifier of the two-stage pipeline reads a trained, frozen feature model (a ``save_pretrained``
directory or a ``FeatureModelModule`` checkpoint), so what it learns from is exactly what it will get
at inference: stage-1 predictions on detections. Validation/test metrics are averaged over processes
(``sync_dist``), so a distributed run monitors the same figure a single process would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch import nn

from sousa_rudiments.recognition.features import STROKE_FEATURES
from sousa_rudiments.recognition.models import (
    DirectAudioModel,
    FeatureInferenceModel,
    OnsetTransformer,
    Standardize,
)


class _StagedModule(L.LightningModule):
    """Train/validation/test steps shared by every module: each defines ``_step(batch, stage)``."""

    def training_step(self, batch: dict[str, torch.Tensor], _: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], _: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], _: int) -> None:
        self._step(batch, "test")

    def _log(
        self, name: str, value: torch.Tensor, stage: str, batch_size: int, prog_bar: bool = False
    ) -> None:
        self.log(
            f"{stage}/{name}", value, prog_bar=prog_bar, batch_size=batch_size, sync_dist=stage != "train"
        )


class _Classifier(_StagedModule):
    """Cross-entropy on rudiment logits; subclasses say where the logits come from (``_logits``)."""

    _logits: Callable[[dict[str, torch.Tensor]], torch.Tensor]

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        logits = self._logits(batch)
        loss = nn.functional.cross_entropy(
            logits, batch["label"], label_smoothing=self.hparams.label_smoothing
        )
        acc = (logits.argmax(-1) == batch["label"]).float().mean()
        self._log("loss", loss, stage, len(logits), prog_bar=stage != "train")
        self._log("acc", acc, stage, len(logits), prog_bar=True)
        return loss

    def predict_step(self, batch: dict[str, torch.Tensor], _: int) -> dict[str, torch.Tensor]:
        """Rudiment probabilities (class order ``cache.RUDIMENT_SLUGS``) with the batch's true labels."""
        return {"probabilities": self._logits(batch).softmax(-1), "label": batch["label"]}

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        total = self.trainer.estimated_stepping_batches
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.hparams.lr, total_steps=int(total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class FeatureModelModule(_StagedModule):
    """Stage 1: masked BCE + MSE on detections aligned to the strokes table.

    Without ``input_mean``/``input_std`` the inputs are standardised with the training split's
    statistics of the data module it is fitted on (``RudimentDataModule.input_statistics``, as
    ``train_recognizer`` does); they are then recorded in the hyper-parameters and the weights.
    """

    def __init__(
        self,
        hidden: int = 64,
        dilations: tuple[int, ...] = (1, 2, 4, 8),
        dropout: float = 0.1,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        input_mean: list[float] | None = None,
        input_std: list[float] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = FeatureInferenceModel(
            hidden=hidden,
            dilations=tuple(dilations),
            dropout=dropout,
            input_mean=input_mean,
            input_std=input_std,
        )

    def setup(self, stage: str) -> None:
        statistics = getattr(self.trainer.datamodule, "input_statistics", None)
        if self.hparams.input_mean is None and self.hparams.input_std is None and callable(statistics):
            mean, std = statistics()
            self.model.input_norm.load_state_dict(Standardize(len(mean), mean, std).state_dict())
            self.hparams.input_mean, self.hparams.input_std = mean, std

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        size = len(batch["inputs"])
        mask, matched = batch["mask"], batch["matched"]
        loss = self.model.loss(batch["inputs"], batch["targets"], matched, mask)
        self._log("loss", loss, stage, size, prog_bar=True)
        if stage != "train":
            with torch.no_grad():  # every detection in context, as at inference
                predicted = self.model.features(batch["inputs"], mask) > 0.5
                is_stroke = self.model.stroke_probability(batch["inputs"], mask) > 0.5
            for index, name in ((2, "grace"), (3, "accent"), (5, "diddle"), (6, "hand")):
                correct = predicted[..., index] == (batch["targets"][..., index] > 0.5)
                self._log(f"{name}_acc", correct[matched].float().mean(), stage, size)
            self._log("is_stroke_acc", (is_stroke == matched)[mask].float().mean(), stage, size)
        return loss

    def predict_step(self, batch: dict[str, torch.Tensor], _: int) -> dict[str, torch.Tensor]:
        """Stroke features of every onset (``features.STROKE_FEATURES``) and the mask of real onsets."""
        return {"features": self.model.features(batch["inputs"], batch["mask"]), "mask": batch["mask"]}

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )


def load_feature_model(path: str) -> FeatureInferenceModel:
    """A trained stage-1 model: a ``FeatureModelModule`` checkpoint (``*.ckpt``) or ``save_pretrained`` dir."""
    if path.endswith(".ckpt"):
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"feature model checkpoint not found: {path} (train the feature model first)"
            )
        return FeatureModelModule.load_from_checkpoint(path, map_location="cpu").model
    return FeatureInferenceModel.from_pretrained(path)


class OnsetClassifierModule(_Classifier):
    """Stage 2: the rudiment from stage-1 stroke features plus the onset inputs.

    ``feature_model_dir``: the frozen stage-1 model, see :func:`load_feature_model`.
    """

    def __init__(
        self,
        feature_model_dir: str,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 3,
        dropout: float = 0.1,
        lr: float = 2e-3,
        weight_decay: float = 1e-2,
        label_smoothing: float = 0.05,
        onset_dropout: float = 0.05,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.feature_model = load_feature_model(feature_model_dir)
        self.feature_model.requires_grad_(False)
        # stroke features and p_stroke are probabilities/beat fractions already; the onset inputs reuse
        # stage 1's scaling
        mean = [0.0] * (len(STROKE_FEATURES) + 1) + self.feature_model.input_norm.mean.tolist()
        std = [1.0] * (len(STROKE_FEATURES) + 1) + self.feature_model.input_norm.std.tolist()
        self.model = OnsetTransformer(
            d_model=d_model,
            num_heads=num_heads,
            num_layers=num_layers,
            dropout=dropout,
            input_mean=mean,
            input_std=std,
        )

    def train(self, mode: bool = True) -> OnsetClassifierModule:
        super().train(mode)
        self.feature_model.eval()  # frozen: its dropout stays off, as at inference
        return self

    def classifier_inputs(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.feature_model.classifier_inputs(inputs, mask)

    def _logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = batch["mask"]
        if self.training and self.hparams.onset_dropout > 0:
            # missed detections: drop onsets at random (never all of them)
            keep = torch.rand(mask.shape, device=mask.device) >= self.hparams.onset_dropout
            keep[:, 0] = True
            mask = mask & keep
        return self.model(self.classifier_inputs(batch["inputs"], mask), mask)


class DirectAudioModule(_Classifier):
    """The direct model: rudiment from the clip's log-mel, trained from scratch."""

    def __init__(
        self,
        n_mels: int = 64,
        channels: tuple[int, ...] = (16, 32, 48, 64),
        hidden: int = 64,
        dropout: float = 0.2,
        lr: float = 3e-3,
        weight_decay: float = 1e-2,
        label_smoothing: float = 0.05,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = DirectAudioModel(n_mels=n_mels, channels=tuple(channels), hidden=hidden, dropout=dropout)

    def _logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["mel"], batch["mask"])
