"""SOUSA dataset generation, storage, checks and statistics (layout, resume and sharding: package README)."""

from sousa_rudiments.dataset.check import CheckReport, check_dataset
from sousa_rudiments.dataset.generate import (
    GenerateConfig,
    GenerateResult,
    IncompleteDatasetError,
    generate,
    merge_shards,
)
from sousa_rudiments.dataset.plan import PerformanceTask, SampleSpec, Shard, plan_tasks
from sousa_rudiments.dataset.splits import SPLIT_NAMES, SplitAssignment, split_profiles
from sousa_rudiments.dataset.stats import dataset_stats
from sousa_rudiments.dataset.storage import CorruptDatasetError, DatasetIdentity, DatasetMismatchError

__all__ = [
    "SPLIT_NAMES",
    "CheckReport",
    "CorruptDatasetError",
    "DatasetIdentity",
    "DatasetMismatchError",
    "GenerateConfig",
    "GenerateResult",
    "IncompleteDatasetError",
    "PerformanceTask",
    "SampleSpec",
    "Shard",
    "SplitAssignment",
    "check_dataset",
    "dataset_stats",
    "generate",
    "merge_shards",
    "plan_tasks",
    "split_profiles",
]
