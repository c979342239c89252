"""Training: the shared objective (:mod:`.objective`), Lightning modules (:mod:`.modules`), datasets and
the within-piece pair sampler (:mod:`.datasets`), batch formats and collate functions (:mod:`.collate`), the
optimizer recipe — warmup + cosine, backbone/head rates (:mod:`.schedule`) — and validation metrics
(:mod:`.metrics`)."""

from piano_eval.training.collate import (
    collate_embedding_pairs,
    collate_feature_parts,
    feature_part,
    make_pair_collate,
    multi_task_collate_fn,
    pad_sequences,
)
from piano_eval.training.datasets import (
    AugmentedEmbeddingDataset,
    CompetitionDataset,
    MIDIPretrainingDataset,
    PerformancePairDataset,
    WithinPiecePairSampler,
)
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
from piano_eval.training.schedule import (
    ScheduleConfig,
    WarmupCosine,
    backbone_head_groups,
    configure_optimization,
    warmup_cosine_scheduler,
)

__all__ = [
    "TASKS",
    "AugmentedEmbeddingDataset",
    "CompetitionDataset",
    "EmbeddingPerformanceModule",
    "HierarchicalMultiTaskModule",
    "MIDIPretrainingDataset",
    "ObjectiveConfig",
    "PairValidationMetrics",
    "PerformanceModule",
    "PerformanceObjective",
    "PerformancePairDataset",
    "PretrainableModule",
    "ScheduleConfig",
    "Stage",
    "WarmupCosine",
    "WithinPiecePairSampler",
    "backbone_head_groups",
    "collate_embedding_pairs",
    "collate_feature_parts",
    "configure_optimization",
    "feature_part",
    "is_lightning_checkpoint",
    "load_part_weights",
    "load_pretrained_part",
    "make_pair_collate",
    "multi_task_collate_fn",
    "pad_sequences",
    "part_state_dict",
    "r2_metrics",
    "warmup_cosine_scheduler",
]
