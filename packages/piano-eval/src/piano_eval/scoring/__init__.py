"""Using a trained model outside the benchmark: save/load a model folder with what it reads
(:mod:`.model_files`), score one performance with uncertainty and an attention timeline (:mod:`.score`),
and plot it (:mod:`.plot`, imported on demand: it pulls in matplotlib)."""

from .model_files import (
    SIDECAR,
    WEIGHTS,
    ModelFolderError,
    SavedModel,
    load_model_folder,
    read_sidecar,
    save_model_folder,
)
from .score import AttentionTimeline, Passage, PerformanceScore, resolve_weights, score_performance

__all__ = [
    "SIDECAR",
    "WEIGHTS",
    "AttentionTimeline",
    "ModelFolderError",
    "Passage",
    "PerformanceScore",
    "SavedModel",
    "load_model_folder",
    "read_sidecar",
    "resolve_weights",
    "save_model_folder",
    "score_performance",
]
