"""The shared multi-task objective, the pair batch format and the Lightning base class for every family.

Pair batch (what :func:`make_pair_collate` builds and :class:`PerformanceModule` consumes)::

    {"a": part_a, "b": part_b,                    # encoder inputs, whatever ``encode`` understands
     "labels_a": [B, K], "labels_b": [B, K],      # targets in [0, 1]
     "piece_ids_a": [B], "piece_ids_b": [B],      # long; same id = same piece (InfoNCE positives)
     optional "label_mask_a"/"label_mask_b": [B, K] bool (False = missing rating),
     optional "a_aug"/"b_aug": augmented copies of the parts (augmentation-invariance loss)}
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import lightning as L
import torch
from shared_audio_core import metrics
from torch import nn
from torch.utils.data import Dataset

from piano_eval.dimensions import NUM_PERCEPIANO_DIMENSIONS
from piano_eval.heads import HeadOutput, HierarchicalMultiTaskModel, PerformanceScorer
from piano_eval.losses import (
    UncertaintyWeightedLoss,
    ambiguity_mask,
    ccc_loss,
    dimension_ranking_loss,
    invariance_loss,
    listmle_loss,
    piece_infonce_loss,
    regression_loss,
    uncertainty_weighted_sum,
)

TASKS: tuple[str, ...] = ("ranking", "contrastive", "regression", "invariance", "listmle", "ccc")


@dataclass
class ObjectiveConfig:
    """Loss weights and hyper-parameters (defaults from the original's A/S/F experiments)."""

    lambda_ranking: float = 1.0
    lambda_contrastive: float = 0.3
    lambda_regression: float = 0.5
    lambda_invariance: float = 0.1
    # Optional extras (off by default): listwise ranking of the batch per dimension, and 1 − CCC.
    lambda_listmle: float = 0.0
    lambda_ccc: float = 0.0
    temperature: float = 0.07
    ambiguity_threshold: float = 0.05
    # Replace the fixed lambdas by learned Kendall & Gal weights over the tasks whose lambda is > 0.
    use_uncertainty_weighting: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("lambda_") and value < 0:
                raise ValueError(f"{f.name} must be >= 0, got {value}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.ambiguity_threshold < 0:
            raise ValueError(f"ambiguity_threshold must be >= 0, got {self.ambiguity_threshold}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectiveConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ObjectiveConfig keys {unknown}; expected {sorted(known)}")
        return cls(**dict(data))

    def weight(self, task: str) -> float:
        return float(getattr(self, f"lambda_{task}"))


# Lightning checkpoints store hyper-parameters with the module; torch.load(weights_only=True) must be allowed
# to rebuild this config when a checkpoint is loaded with ``load_from_checkpoint``.
torch.serialization.add_safe_globals([ObjectiveConfig])


class PerformanceObjective(nn.Module):
    """Ranking BCE + piece InfoNCE + regression MSE (+ augmentation invariance), weighted into ``total``."""

    def __init__(self, config: ObjectiveConfig | None = None) -> None:
        super().__init__()
        self.config = config or ObjectiveConfig()
        active = [t for t in TASKS if self.config.weight(t) > 0]
        self.uncertainty = UncertaintyWeightedLoss(active) if self.config.use_uncertainty_weighting else None

    def forward(
        self,
        out_a: HeadOutput,
        out_b: HeadOutput,
        ranking_logits: torch.Tensor,
        labels_a: torch.Tensor,
        labels_b: torch.Tensor,
        piece_ids_a: torch.Tensor,
        piece_ids_b: torch.Tensor,
        *,
        out_a_aug: HeadOutput | None = None,
        out_b_aug: HeadOutput | None = None,
        label_mask_a: torch.Tensor | None = None,
        label_mask_b: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        cfg = self.config
        pair_mask = None
        if label_mask_a is not None or label_mask_b is not None:
            ones = torch.ones_like(labels_a, dtype=torch.bool)
            mask_a = ones if label_mask_a is None else label_mask_a.bool()
            mask_b = ones if label_mask_b is None else label_mask_b.bool()
            pair_mask = mask_a & mask_b
            labels_a = torch.where(mask_a, labels_a, torch.zeros_like(labels_a))
            labels_b = torch.where(mask_b, labels_b, torch.zeros_like(labels_b))
        losses: dict[str, torch.Tensor] = {
            "ranking": dimension_ranking_loss(
                ranking_logits, labels_a, labels_b, cfg.ambiguity_threshold, label_mask=pair_mask
            ),
            "contrastive": piece_infonce_loss(
                torch.cat([out_a.projection, out_b.projection]),
                torch.cat([piece_ids_a, piece_ids_b]),
                cfg.temperature,
            ),
            "regression": regression_loss(
                torch.cat([out_a.scores, out_b.scores]),
                torch.cat([labels_a, labels_b]),
                None if pair_mask is None else torch.cat([mask_a, mask_b]),
            ),
        }
        if cfg.lambda_listmle > 0 or cfg.lambda_ccc > 0:
            scores = torch.cat([out_a.scores, out_b.scores])
            targets = torch.cat([labels_a, labels_b])
            observed = None if pair_mask is None else torch.cat([mask_a, mask_b])
            if cfg.lambda_listmle > 0:
                # One list per dimension over every performance in the batch.
                losses["listmle"] = listmle_loss(
                    scores.T, targets.T, None if observed is None else observed.T
                )
            if cfg.lambda_ccc > 0:
                if observed is not None and not bool(observed.all()):
                    raise ValueError("the CCC loss needs complete labels; set lambda_ccc=0 with label masks")
                losses["ccc"] = ccc_loss(scores, targets)
        augmented = [(o, a) for o, a in ((out_a, out_a_aug), (out_b, out_b_aug)) if a is not None]
        if augmented:
            losses["invariance"] = torch.stack([invariance_loss(o.z, a.z) for o, a in augmented]).mean()
        losses["total"] = self.combine(losses)
        return losses

    def combine(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Fixed-lambda sum, or the uncertainty-weighted sum over the active tasks present."""
        present = {t: losses[t] for t in TASKS if t in losses and self.config.weight(t) > 0}
        if not present:
            raise ValueError("every loss weight is zero; nothing to optimise")
        if self.uncertainty is not None:
            return self.uncertainty(present)
        return torch.stack([self.config.weight(t) * v for t, v in present.items()]).sum()


class HubComponentsMixin(abc.ABC):
    """Hub saving for Lightning modules built from plain Hub-saveable models.

    :meth:`hub_components` names the parts; :meth:`save_components` writes each with ``save_pretrained``
    (config, safetensors weights, model card) into its own folder and :meth:`load_components` restores them
    through ``from_pretrained``. Lightning checkpoints keep working as usual.
    """

    @abc.abstractmethod
    def hub_components(self) -> dict[str, nn.Module]:
        """The plain Hub-saveable models this module is made of, by folder name."""

    def save_components(self, directory: str | Path) -> Path:
        """``save_pretrained`` every Hub component into ``directory/<name>`` (config, weights, model card)."""
        directory = Path(directory)
        for name, model in self.hub_components().items():
            model.save_pretrained(directory / name)
        return directory

    def load_components(self, directory: str | Path) -> None:
        """Load weights saved by :meth:`save_components` through each component's ``from_pretrained``."""
        directory = Path(directory)
        for name, model in self.hub_components().items():
            if not (directory / name).is_dir():
                raise FileNotFoundError(f"no saved component {name!r} under {directory}")
            loaded = type(model).from_pretrained(directory / name, strict=True)
            model.load_state_dict(loaded.state_dict(), strict=True)


class PerformanceModule(HubComponentsMixin, L.LightningModule):
    """Encoder → :class:`PerformanceScorer` (head + antisymmetric comparator) → :class:`PerformanceObjective`.

    Subclasses implement :meth:`encode` (one side of a pair → frame features and mask) and may override
    :meth:`training_step` for their pretraining stage. Hub saving goes through the plain
    ``nn.Module`` models listed by :meth:`hub_components` (:meth:`save_components`/:meth:`load_components`);
    Lightning checkpoints keep working as usual.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 512,
        projection_dim: int = 256,
        num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS,
        dropout: float = 0.2,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
    ) -> None:
        super().__init__()
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.num_dimensions = num_dimensions
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.scorer = PerformanceScorer(input_dim, hidden_dim, projection_dim, num_dimensions, dropout)
        self.objective = PerformanceObjective(objective or ObjectiveConfig())
        self._val_outputs: list[dict[str, torch.Tensor]] = []

    @property
    def head(self) -> nn.Module:
        return self.scorer.head

    @property
    def comparator(self) -> nn.Module:
        return self.scorer.comparator

    def hub_components(self) -> dict[str, nn.Module]:
        """The plain Hub-saveable models this module is made of; subclasses add their encoders."""
        return {"scorer": self.scorer}

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

    def _log_losses(self, stage: str, losses: Mapping[str, torch.Tensor], batch_size: int) -> None:
        for name, value in losses.items():
            self.log(f"{stage}/{name}", value, batch_size=batch_size, prog_bar=name == "total")

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        losses, _ = self.pair_losses(batch)
        self._log_losses("train", losses, batch["labels_a"].shape[0])
        return losses["total"]

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        losses, outputs = self.pair_losses(batch)
        self._log_losses("val", losses, batch["labels_a"].shape[0])
        labels_a, labels_b = batch["labels_a"].detach(), batch["labels_b"].detach()
        observed_a = batch.get("label_mask_a", torch.ones_like(labels_a, dtype=torch.bool)).bool()
        observed_b = batch.get("label_mask_b", torch.ones_like(labels_b, dtype=torch.bool)).bool()
        both = observed_a & observed_b
        # Missing ratings become exact ties (excluded by pairwise accuracy) and are dropped from R².
        self._val_outputs.append(
            {
                "logits": outputs["logits"].detach(),
                "labels_a": torch.where(both, labels_a, torch.zeros_like(labels_a)),
                "labels_b": torch.where(both, labels_b, torch.zeros_like(labels_b)),
                "scores": torch.cat([outputs["scores_a"], outputs["scores_b"]]).detach(),
                "targets": torch.cat([labels_a, labels_b]),
                "observed": torch.cat([observed_a, observed_b]),
            }
        )
        return losses["total"]

    def on_validation_epoch_start(self) -> None:
        self._val_outputs = []

    def on_validation_epoch_end(self) -> None:
        """Log pooled pairwise accuracy and R² (the core's definitions) over the whole validation set."""
        if not self._val_outputs:
            return
        merged = {k: torch.cat([o[k] for o in self._val_outputs]).cpu() for k in self._val_outputs[0]}
        self._val_outputs = []
        threshold = self.objective.config.ambiguity_threshold
        if bool(ambiguity_mask(merged["labels_a"], merged["labels_b"], threshold).any()):
            accuracy = metrics.pairwise_accuracy(
                merged["logits"].float(), merged["labels_a"].float(), merged["labels_b"].float(), threshold
            )
            self.log("val/pairwise_accuracy", accuracy.overall)
        observed = merged["observed"]
        scores, targets = merged["scores"][observed].float(), merged["targets"][observed].float()
        if targets.numel() >= 2 and float(targets.var()) > 0:
            self.log("val/r2", metrics.r2(scores, targets))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay)


class EmbeddingPerformanceModule(PerformanceModule):
    """Trains the head on cached frame embeddings: parts are ``{"features": [B,T,D], "mask": [B,T]}``."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 512,
        projection_dim: int = 256,
        num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS,
        dropout: float = 0.2,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
    ) -> None:
        super().__init__(
            input_dim,
            hidden_dim,
            projection_dim,
            num_dimensions,
            dropout,
            learning_rate,
            weight_decay,
            objective,
        )
        self.save_hyperparameters()

    def encode(self, part: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(part, Mapping) or "features" not in part:
            raise TypeError("EmbeddingPerformanceModule expects parts {'features': [B,T,D], 'mask': [B,T]}")
        features = part["features"]
        mask = part.get("mask")
        if mask is None:
            mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
        return features, mask


class HierarchicalMultiTaskModule(HubComponentsMixin, L.LightningModule):
    """Regression with the seed-001 stack: BiLSTM aggregator, per-dimension heads and an uncertainty-weighted
    per-dimension MSE (Kendall & Gal). Batches: ``{"features", "mask", "labels"}`` (+ ``"label_mask"``).
    Hub saving: :meth:`save_components` writes the :class:`HierarchicalMultiTaskModel` under ``model/``."""

    def __init__(
        self,
        input_dim: int,
        lstm_hidden_dim: int = 256,
        num_lstm_layers: int = 2,
        num_attention_heads: int = 4,
        aggregated_dim: int = 512,
        shared_dim: int = 256,
        head_hidden_dim: int = 128,
        num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS,
        dropout: float = 0.1,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
    ) -> None:
        super().__init__()
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.save_hyperparameters()
        self.model = HierarchicalMultiTaskModel(
            input_dim,
            lstm_hidden_dim,
            num_lstm_layers,
            num_attention_heads,
            aggregated_dim,
            shared_dim,
            head_hidden_dim,
            num_dimensions,
            dropout,
        )
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay

    def hub_components(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(features, mask)[0].scores

    def loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(total, per-dimension MSE)`` for a batch."""
        out, _ = self.model(batch["features"], batch.get("mask"))
        per_dimension = regression_loss(
            out.scores, batch["labels"], batch.get("label_mask"), reduction="per_dimension"
        )
        return uncertainty_weighted_sum(per_dimension, out.log_variances), per_dimension

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        total, per_dimension = self.loss(batch)
        batch_size = batch["labels"].shape[0]
        self.log("train/total", total, prog_bar=True, batch_size=batch_size)
        self.log("train/mse", per_dimension.mean(), batch_size=batch_size)
        return total

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        total, per_dimension = self.loss(batch)
        batch_size = batch["labels"].shape[0]
        self.log("val/total", total, batch_size=batch_size)
        self.log("val/mse", per_dimension.mean(), batch_size=batch_size)
        return total

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)


# ---------------------------------------------------------------------------------------------------------
# Pair datasets and collation
# ---------------------------------------------------------------------------------------------------------


def pad_sequences(
    sequences: Sequence[torch.Tensor], pad_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``[T_i, ...]`` tensors to ``[B, T_max, ...]`` and return a bool validity mask ``[B, T_max]``."""
    if not sequences:
        raise ValueError("cannot pad an empty list of sequences")
    lengths = [int(s.shape[0]) for s in sequences]
    if min(lengths) == 0:
        raise ValueError("sequences must be non-empty")
    padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=pad_value)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return padded, mask


def collate_feature_parts(parts: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collate ``[T_i, D]`` frame embeddings into the part format of :class:`EmbeddingPerformanceModule`."""
    features, mask = pad_sequences(parts)
    return {"features": features, "mask": mask}


class PerformancePairDataset(Dataset):
    """Pairs of performances of the same piece, built from per-performance inputs, labels and piece ids.

    ``pairs`` defaults to every ordered pair ``(i, j), i ≠ j`` within a piece; each item carries both
    inputs, both label vectors and both piece ids. Inputs can be anything the part collate function handles.
    """

    def __init__(
        self,
        inputs: Sequence[Any],
        labels: torch.Tensor,
        piece_ids: torch.Tensor,
        pairs: Sequence[tuple[int, int]] | None = None,
        label_mask: torch.Tensor | None = None,
    ) -> None:
        if labels.dim() != 2 or labels.shape[0] != len(inputs) or piece_ids.shape != (len(inputs),):
            raise ValueError(
                f"need labels [N, K] and piece_ids [N] for N={len(inputs)} inputs, got "
                f"{tuple(labels.shape)} and {tuple(piece_ids.shape)}"
            )
        if label_mask is not None and label_mask.shape != labels.shape:
            raise ValueError("label_mask must have the shape of labels")
        self.inputs = list(inputs)
        self.labels = labels.float()
        self.piece_ids = piece_ids.long()
        self.label_mask = label_mask
        self.pairs = list(pairs) if pairs is not None else self.same_piece_pairs(self.piece_ids)
        if not self.pairs:
            raise ValueError("no pairs: every piece needs at least two performances")

    @staticmethod
    def same_piece_pairs(piece_ids: torch.Tensor) -> list[tuple[int, int]]:
        groups: dict[int, list[int]] = {}
        for index, piece in enumerate(piece_ids.tolist()):
            groups.setdefault(int(piece), []).append(index)
        return [pair for members in groups.values() for pair in itertools.permutations(members, 2)]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, j = self.pairs[index]
        item = {
            "a": self.inputs[i],
            "b": self.inputs[j],
            "labels_a": self.labels[i],
            "labels_b": self.labels[j],
            "piece_ids_a": self.piece_ids[i],
            "piece_ids_b": self.piece_ids[j],
        }
        if self.label_mask is not None:
            item["label_mask_a"] = self.label_mask[i]
            item["label_mask_b"] = self.label_mask[j]
        return item


def make_pair_collate(
    part_collate: Callable[[Sequence[Any]], Any],
) -> Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]]:
    """Build a DataLoader ``collate_fn`` for pair items: parts go through ``part_collate``, tensors stack."""

    def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not items:
            raise ValueError("empty batch")
        batch: dict[str, Any] = {}
        for key in items[0]:
            values = [item[key] for item in items]
            if key in ("a", "b", "a_aug", "b_aug"):
                batch[key] = part_collate(values)
            else:
                batch[key] = torch.stack([torch.as_tensor(v) for v in values])
        return batch

    return collate


collate_embedding_pairs = make_pair_collate(collate_feature_parts)
