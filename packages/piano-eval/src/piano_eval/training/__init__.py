"""Training: the shared objective (:mod:`.objective`), Lightning modules (:mod:`.modules`), pair datasets
(:mod:`.datasets`), batch formats and collate functions (:mod:`.collate`) and validation metrics
(:mod:`.metrics`)."""

from piano_eval.training.collate import (
    collate_embedding_pairs,
    collate_feature_parts,
    feature_part,
    make_pair_collate,
    pad_sequences,
)
from piano_eval.training.datasets import PerformancePairDataset
from piano_eval.training.metrics import PairValidationMetrics, r2_metrics
from piano_eval.training.modules import (
    EmbeddingPerformanceModule,
    HierarchicalMultiTaskModule,
    PerformanceModule,
    PretrainableModule,
    Stage,
    is_lightning_checkpoint,
    load_part_weights,
    load_pretrained_part,
    part_state_dict,
)
from piano_eval.training.objective import TASKS, ObjectiveConfig, PerformanceObjective

__all__ = [
    "TASKS",
    "EmbeddingPerformanceModule",
    "HierarchicalMultiTaskModule",
    "ObjectiveConfig",
    "PairValidationMetrics",
    "PerformanceModule",
    "PerformanceObjective",
    "PerformancePairDataset",
    "PretrainableModule",
    "Stage",
    "collate_embedding_pairs",
    "collate_feature_parts",
    "feature_part",
    "is_lightning_checkpoint",
    "load_part_weights",
    "load_pretrained_part",
    "make_pair_collate",
    "pad_sequences",
    "part_state_dict",
    "r2_metrics",
]
