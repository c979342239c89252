"""Using a trained model outside the benchmark: save/load a model folder with what it reads
(:mod:`.model_files`), score one performance with uncertainty and an attention timeline (:mod:`.score`),
and plot it (:mod:`.plot`, imported on demand: it pulls in matplotlib)."""

from .ensemble import PerformanceEnsemble, member_spec
from .model_files import (
    SIDECAR,
    WEIGHTS,
    ModelFolderError,
    SavedModel,
    default_model_dir,
    load_model,
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
    "PerformanceEnsemble",
    "PerformanceScore",
    "SavedModel",
    "default_model_dir",
    "load_model",
    "load_model_folder",
    "member_spec",
    "read_sidecar",
    "resolve_weights",
    "save_model_folder",
    "score_performance",
]
