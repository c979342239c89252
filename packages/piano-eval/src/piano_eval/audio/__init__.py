"""Audio track: backbones (MuQ, MERT, any HF audio model, a log-mel CNN/Transformer), layer selection,
30 s chunking, the frozen-embedding cache, and the A1 (LoRA), A2 (staged) and A3 (unfreezing) models."""

from piano_eval.audio.backbones import (
    Backbone,
    BackboneConfig,
    BackboneError,
    BackboneLoadError,
    BackboneNotInstalledError,
    BackboneOutput,
    HFBackbone,
    MuQBackbone,
    build_backbone,
    list_backbones,
    register_backbone,
)
from piano_eval.audio.cache import (
    CacheConfig,
    CachedEmbeddingDataset,
    CachedPairDataset,
    EmbeddingCache,
    EmbeddingCacheError,
    collate_cached_embeddings,
    extract_embeddings,
)
from piano_eval.audio.chunking import ChunkingConfig, merge_chunk_frames, split_into_chunks
from piano_eval.audio.encoder import AudioEncoder, SampleRateMismatchError, Waveforms
from piano_eval.audio.layers import LayerSelection, LayerSelectionError
from piano_eval.audio.logmel import LogMelBackbone
from piano_eval.audio.lora import (
    LoRAMultitaskModel,
    LoRASettings,
    apply_lora,
    find_lora_targets,
    lora_module_names,
)
from piano_eval.audio.models import AudioPerformanceModule, collate_waveform_parts
from piano_eval.audio.staged import StagedAdaptationModel
from piano_eval.audio.unfreezing import GradualUnfreezingModel, default_unfreeze_schedule

__all__ = [
    "AudioEncoder",
    "AudioPerformanceModule",
    "Backbone",
    "BackboneConfig",
    "BackboneError",
    "BackboneLoadError",
    "BackboneNotInstalledError",
    "BackboneOutput",
    "CacheConfig",
    "CachedEmbeddingDataset",
    "CachedPairDataset",
    "ChunkingConfig",
    "EmbeddingCache",
    "EmbeddingCacheError",
    "GradualUnfreezingModel",
    "HFBackbone",
    "LayerSelection",
    "LayerSelectionError",
    "LoRAMultitaskModel",
    "LoRASettings",
    "LogMelBackbone",
    "MuQBackbone",
    "SampleRateMismatchError",
    "StagedAdaptationModel",
    "Waveforms",
    "apply_lora",
    "build_backbone",
    "collate_cached_embeddings",
    "collate_waveform_parts",
    "default_unfreeze_schedule",
    "extract_embeddings",
    "find_lora_targets",
    "list_backbones",
    "lora_module_names",
    "merge_chunk_frames",
    "register_backbone",
    "split_into_chunks",
]
