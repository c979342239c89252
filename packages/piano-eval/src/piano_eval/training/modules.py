"""Lightning modules: the pairwise base every encoder family subclasses, its cached-embedding and
pretrain-then-finetune variants, and the seed-001 hierarchical regression module.

Every constructor is typed and takes nested settings as dataclasses (``head: HeadConfig``,
``objective: ObjectiveConfig``, ...) or their dict form, so ``LightningCLI`` builds each module from YAML and
the Hub mixin round-trips them through ``config.json``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import lightning as L
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn

from piano_eval.dimensions import dimension_names
from piano_eval.heads import (
    HeadConfig,
    HeadOutput,
    HierarchicalConfig,
    HierarchicalMultiTaskModel,
    PerformanceScorer,
)
from piano_eval.hub import HubComponentsMixin, coerce_config
from piano_eval.losses import regression_loss, uncertainty_weighted_sum
from piano_eval.training.collate import feature_part
from piano_eval.training.metrics import PairValidationMetrics, r2_metrics
from piano_eval.training.objective import ObjectiveConfig, PerformanceObjective
from piano_eval.training.schedule import (
    HEAD_PREFIXES,
    ScheduleConfig,
    backbone_head_groups,
    check_backbone_lr_ratio,
    configure_optimization,
)

Stage = Literal["pretrain", "finetune"]
STAGES: tuple[str, ...] = ("pretrain", "finetune")
M = TypeVar("M", bound=nn.Module)

# Lightning checkpoints store hyper-parameters with the module; torch.load(weights_only=True) must be allowed
# to rebuild these configs when a checkpoint is loaded with ``load_from_checkpoint``.
torch.serialization.add_safe_globals([ObjectiveConfig, HeadConfig, HierarchicalConfig, ScheduleConfig])


def load_pretrained_part(model_class: type[M], source: str, **expected: Any) -> M:
    """``model_class.from_pretrained(source)``, checked against the sizes the module was configured with.

    ``from_pretrained`` returns eval mode; the part is put back into train mode like every freshly built
    submodule, because Lightning's ``fit`` keeps each submodule's mode as it finds it (a loaded encoder would
    otherwise fine-tune with dropout off). ``module.eval()`` / ``.train()`` still switch it with the rest.
    """
    model = model_class.from_pretrained(source)  # type: ignore[attr-defined]
    wrong = {name: getattr(model, name) for name, value in expected.items() if getattr(model, name) != value}
    if wrong:
        found = ", ".join(f"{name}={value}" for name, value in wrong.items())
        wanted = ", ".join(f"{name}={expected[name]}" for name in wrong)
        raise ValueError(f"pretrained {model_class.__name__} at {source} has {found}, expected {wanted}")
    return model.train()


def is_lightning_checkpoint(source: str | Path) -> bool:
    """``True`` for a Lightning checkpoint file (``*.ckpt``, e.g. a pretraining run's ``best.ckpt``)."""
    return str(source).endswith(".ckpt")


def part_state_dict(source: str | Path, prefix: str) -> dict[str, torch.Tensor]:
    """The weights under ``prefix`` (e.g. ``"encoder."``, prefix removed) of a Lightning checkpoint file or
    of a ``save_pretrained`` folder's ``model.safetensors``.

    This is how a finetune run starts from a pretrain run's output: ``train fit`` writes Lightning
    checkpoints, whose ``state_dict`` holds the whole module.
    """
    path = Path(source)
    if is_lightning_checkpoint(path):
        if not path.is_file():
            raise ValueError(f"pretrained checkpoint not found: {path} (run the pretraining config first)")
        state = torch.load(path, map_location="cpu", weights_only=True).get("state_dict", {})
    elif (path / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(path / "model.safetensors"))
    else:
        raise ValueError(
            f"{path} is neither a Lightning checkpoint (*.ckpt) nor a folder with model.safetensors"
        )
    part = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    if not part:
        raise ValueError(f"{path} holds no weights under {prefix!r}")
    return part


def load_part_weights(part: M, source: str | Path, prefix: str = "encoder.") -> M:
    """Load ``part``'s weights from :func:`part_state_dict`; sizes must match the part as configured.

    The part is returned in train mode, like :func:`load_pretrained_part`.
    """
    state = part_state_dict(source, prefix)
    own = part.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = [
            f"{label} {names[:4]}{' ...' if len(names) > 4 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("shape differs:", wrong))
            if names
        ]
        raise ValueError(
            f"{source}: the {prefix.rstrip('.')} weights do not fit the configured "
            f"{type(part).__name__} ({'; '.join(details)}); use the sizes of the run that wrote it"
        )
    part.load_state_dict(state, strict=True)
    return part.train()


class PerformanceModule(HubComponentsMixin, L.LightningModule):
    """Encoder → :class:`PerformanceScorer` (head + antisymmetric comparator) → :class:`PerformanceObjective`.

    Subclasses implement :meth:`encode` (one side of a pair → frame features and mask) and may override
    :meth:`training_step` for a pretraining stage. Validation logs, over the whole validation set,
    ``val/pairwise_accuracy`` (+ ``_<dim>``), ``val/r2`` = mean of the per-dimension R² (+ ``val/r2_<dim>``)
    and ``val/r2_pooled``, with PercePiano's dimension names when there are 19 dimensions. Hub saving goes
    through the plain ``nn.Module`` models listed by :meth:`hub_components`.

    Optimisation (:mod:`piano_eval.training.schedule`): AdamW at ``learning_rate``; ``schedule`` adds a
    per-step warmup + cosine decay, and ``backbone_lr_ratio`` trains the encoder (everything outside the
    scorer and the learned loss weights) at ``learning_rate * backbone_lr_ratio``. The defaults (no schedule,
    ratio 1) keep one constant rate. Subclasses that build their own groups override :meth:`param_groups`.
    Every concrete module takes both as constructor arguments (LightningCLI ``init_args``, Hub
    ``config.json``) and refers here; those without a trainable encoder (cached embeddings, frozen
    encoders) take only ``schedule``.
    """

    head_prefixes: tuple[str, ...] = HEAD_PREFIXES

    def __init__(
        self,
        input_dim: int,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.head_config = coerce_config(HeadConfig, head) or HeadConfig()
        self.num_dimensions = self.head_config.num_dimensions
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.schedule = coerce_config(ScheduleConfig, schedule)
        self.backbone_lr_ratio = check_backbone_lr_ratio(backbone_lr_ratio)
        self.scorer = PerformanceScorer(input_dim, self.head_config)
        self.objective = PerformanceObjective(coerce_config(ObjectiveConfig, objective) or ObjectiveConfig())
        self.validation_metrics = PairValidationMetrics(
            dimension_names(self.num_dimensions), self.objective.config.ambiguity_threshold
        )

    @property
    def head(self) -> nn.Module:
        return self.scorer.head

    @property
    def comparator(self) -> nn.Module:
        return self.scorer.comparator

    def hub_components(self) -> dict[str, nn.Module]:
        """The plain Hub-saveable models this module is made of; subclasses add their encoders."""
        return {"scorer": self.scorer}

    def record_init_arg(self, name: str, value: Any) -> None:
        """Keep a constructor argument changed after construction (e.g. the training stage) in the Lightning
        hparams and, for Hub models, in ``config.json``: checkpoints and ``save_pretrained`` then rebuild
        the module as it is now, not as it was built."""
        self.hparams[name] = value
        hub_config = getattr(self, "_hub_mixin_config", None)
        if isinstance(hub_config, dict):
            hub_config[name] = value

    @abc.abstractmethod
    def encode(self, part: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Map one side of a pair to ``(features [B,T,D], mask [B,T] bool)``."""

    def forward(self, part: Any) -> HeadOutput:
        features, mask = self.encode(part)
        return self.scorer(features, mask)

    def predict_scores(self, part: Any) -> torch.Tensor:
        """Absolute per-dimension scores in [0, 1]."""
        return self(part).scores

    def ranking_logits(self, out_a: HeadOutput, out_b: HeadOutput) -> torch.Tensor:
        """Antisymmetric ranking logits ``[B, K]`` from two head outputs (the scorer's comparator)."""
        return self.scorer.compare(out_a, out_b)

    def compare(self, part_a: Any, part_b: Any) -> torch.Tensor:
        """Ranking logits ``[B, K]``: positive where a is better than b."""
        return self.ranking_logits(self(part_a), self(part_b))

    def pair_losses(
        self, batch: Mapping[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Run both sides and the objective; return ``(losses, outputs)``."""
        out_a, out_b = self(batch["a"]), self(batch["b"])
        logits = self.ranking_logits(out_a, out_b)
        out_a_aug = self(batch["a_aug"]) if "a_aug" in batch else None
        out_b_aug = self(batch["b_aug"]) if "b_aug" in batch else None
        losses = self.objective(
            out_a,
            out_b,
            logits,
            batch["labels_a"],
            batch["labels_b"],
            batch["piece_ids_a"],
            batch["piece_ids_b"],
            out_a_aug=out_a_aug,
            out_b_aug=out_b_aug,
            label_mask_a=batch.get("label_mask_a"),
            label_mask_b=batch.get("label_mask_b"),
        )
        return losses, {"logits": logits, "scores_a": out_a.scores, "scores_b": out_b.scores}

    def log_losses(self, prefix: str, losses: Mapping[str, torch.Tensor], batch_size: int) -> None:
        """``prefix/<name>`` for every loss; ``total`` also on the progress bar."""
        for name, value in losses.items():
            self.log(f"{prefix}/{name}", value, batch_size=batch_size, prog_bar=name == "total")

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        losses, _ = self.pair_losses(batch)
        self.log_losses("train", losses, batch["labels_a"].shape[0])
        return losses["total"]

    def _evaluation_step(self, prefix: str, batch: Mapping[str, Any]) -> torch.Tensor:
        losses, outputs = self.pair_losses(batch)
        self.log_losses(prefix, losses, batch["labels_a"].shape[0])
        self.validation_metrics.update(
            outputs["logits"],
            batch["labels_a"],
            batch["labels_b"],
            outputs["scores_a"],
            outputs["scores_b"],
            batch.get("label_mask_a"),
            batch.get("label_mask_b"),
        )
        return losses["total"]

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        return self._evaluation_step("val", batch)

    def on_validation_epoch_start(self) -> None:
        self.validation_metrics.reset()

    def on_validation_epoch_end(self) -> None:
        for name, value in self.validation_metrics.compute().items():
            self.log(f"val/{name}", value)

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        """Same losses and metrics as validation, logged as ``test/…`` (held-out pieces)."""
        return self._evaluation_step("test", batch)

    def on_test_epoch_start(self) -> None:
        self.validation_metrics.reset()

    def on_test_epoch_end(self) -> None:
        for name, value in self.validation_metrics.compute().items():
            self.log(f"test/{name}", value)

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        """Pair batches → ranking logits and both sides' scores; a single-part batch → its scores."""
        if "a" in batch:
            out_a, out_b = self(batch["a"]), self(batch["b"])
            return {
                "logits": self.ranking_logits(out_a, out_b),
                "scores_a": out_a.scores,
                "scores_b": out_b.scores,
            }
        return {"scores": self(batch).scores}

    def param_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        """Trainable parameters as optimizer groups: one at ``learning_rate``, or backbone/head groups when
        ``backbone_lr_ratio != 1`` (:func:`~piano_eval.training.schedule.backbone_head_groups`)."""
        return backbone_head_groups(
            self.named_parameters(), learning_rate, self.backbone_lr_ratio, self.head_prefixes
        )

    def configure_optimizers(self) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
        return configure_optimization(
            self, self.param_groups(self.learning_rate), self.weight_decay, self.schedule
        )


class EmbeddingPerformanceModule(PerformanceModule):
    """Trains the head on cached frame embeddings: parts are ``{"features": [B,T,D], "mask": [B,T]}``.

    There is no encoder, so only ``schedule`` (warmup + cosine) applies, not a backbone learning rate.
    """

    def __init__(
        self,
        input_dim: int,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
    ) -> None:
        super().__init__(input_dim, head, learning_rate, weight_decay, objective, schedule)
        self.save_hyperparameters()

    def encode(self, part: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return feature_part(part, type(self).__name__)


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"stage must be 'pretrain' or 'finetune', got {stage!r}")
    return stage


class PretrainableModule(PerformanceModule):
    """A :class:`PerformanceModule` with a self-supervised ``"pretrain"`` stage before the shared pairwise
    ``"finetune"`` objective (S1 masked tokens, S2 link prediction, S3 wav2vec-style contrast).

    Subclasses implement :meth:`pretrain_losses` (a dict with ``"total"``) and :meth:`pretrain_batch_size`.
    :meth:`set_stage` records the stage as a constructor argument, so a Lightning checkpoint or
    ``save_pretrained`` taken after :meth:`switch_to_finetune` restores the finetune stage. Pretraining logs
    ``pretrain/<loss>`` and ``val_pretrain/<loss>``.
    """

    def __init__(
        self,
        input_dim: int,
        stage: Stage = "finetune",
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__(input_dim, head, learning_rate, weight_decay, objective, schedule, backbone_lr_ratio)
        self.stage: str = check_stage(stage)

    def set_stage(self, stage: Stage) -> None:
        """Switch between ``"pretrain"`` and ``"finetune"`` (recorded in the hparams and Hub config)."""
        self.stage = check_stage(stage)
        self.record_init_arg("stage", stage)

    def switch_to_finetune(self) -> None:
        self.set_stage("finetune")

    @abc.abstractmethod
    def pretrain_losses(self, batch: Any) -> dict[str, torch.Tensor]:
        """The pretraining losses of a batch, ``"total"`` being the one optimised."""

    @abc.abstractmethod
    def pretrain_batch_size(self, batch: Any) -> int:
        """How many examples a pretraining batch holds (for logging)."""

    def _pretrain_step(self, prefix: str, batch: Any) -> torch.Tensor:
        losses = self.pretrain_losses(batch)
        self.log_losses(prefix, losses, self.pretrain_batch_size(batch))
        return losses["total"]

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.stage == "finetune":
            return super().training_step(batch, batch_idx)
        return self._pretrain_step("pretrain", batch)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.stage == "finetune":
            return super().validation_step(batch, batch_idx)
        return self._pretrain_step("val_pretrain", batch)

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.stage == "finetune":
            return super().test_step(batch, batch_idx)
        return self._pretrain_step("test_pretrain", batch)

    def on_test_epoch_end(self) -> None:
        if self.stage == "finetune":
            super().on_test_epoch_end()


class HierarchicalMultiTaskModule(HubComponentsMixin, L.LightningModule):
    """Regression with the seed-001 stack: BiLSTM aggregator, per-dimension heads and an uncertainty-weighted
    per-dimension MSE (Kendall & Gal). Batches: ``{"features", "mask", "labels"}`` (+ ``"label_mask"``).
    Validation logs ``val/mse`` and the per-dimension R² (``val/r2`` = their mean, ``val/r2_<dim>``,
    ``val/r2_pooled``). Hub saving: :meth:`save_components` writes the model under ``model/``.
    ``schedule`` adds the per-step warmup + cosine decay (seed 001's recipe); features arrive precomputed, so
    there is no backbone rate to separate."""

    def __init__(
        self,
        architecture: HierarchicalConfig,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        schedule: ScheduleConfig | None = None,
    ) -> None:
        super().__init__()
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.save_hyperparameters()
        config = coerce_config(HierarchicalConfig, architecture)
        self.model = HierarchicalMultiTaskModel(config)
        self.names = dimension_names(config.num_dimensions)
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.schedule = coerce_config(ScheduleConfig, schedule)
        self._validation: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def hub_components(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(features, mask)[0].scores

    def loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, per-dimension MSE, scores)`` for a batch."""
        out, _ = self.model(batch["features"], batch.get("mask"))
        per_dimension = regression_loss(
            out.scores, batch["labels"], batch.get("label_mask"), reduction="per_dimension"
        )
        return uncertainty_weighted_sum(per_dimension, out.log_variances), per_dimension, out.scores

    def _log_step(self, prefix: str, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        total, per_dimension, scores = self.loss(batch)
        batch_size = batch["labels"].shape[0]
        self.log(f"{prefix}/total", total, prog_bar=prefix == "train", batch_size=batch_size)
        self.log(f"{prefix}/mse", per_dimension.mean(), batch_size=batch_size)
        return total, scores

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._log_step("train", batch)[0]

    def _evaluation_step(self, prefix: str, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total, scores = self._log_step(prefix, batch)
        labels = batch["labels"]
        observed = batch.get("label_mask", torch.ones_like(labels, dtype=torch.bool))
        self._validation.append((scores.detach().cpu(), labels.detach().cpu(), observed.bool().cpu()))
        return total

    def _log_r2(self, prefix: str) -> None:
        if not self._validation:
            return
        scores, labels, observed = (torch.cat(parts) for parts in zip(*self._validation, strict=True))
        self._validation = []
        for name, value in r2_metrics(scores, labels, observed, self.names).items():
            self.log(f"{prefix}/{name}", value)

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._evaluation_step("val", batch)

    def on_validation_epoch_start(self) -> None:
        self._validation = []

    def on_validation_epoch_end(self) -> None:
        self._log_r2("val")

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._evaluation_step("test", batch)

    def on_test_epoch_start(self) -> None:
        self._validation = []

    def on_test_epoch_end(self) -> None:
        self._log_r2("test")

    def predict_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return {"scores": self(batch["features"], batch.get("mask"))}

    def configure_optimizers(self) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
        groups = [{"params": list(self.parameters()), "lr": self.learning_rate}]
        return configure_optimization(self, groups, self.weight_decay, self.schedule)
