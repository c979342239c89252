"""Tiny randomly initialised backbones of real ``transformers`` families, saved like Hub checkpoints.

Tests (and offline demos) load them through the same ``build_backbone(<directory>)`` →
``AutoModel.from_pretrained`` path that real MERT/wav2vec2/HuBERT ids use, so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

Family = Literal["wav2vec2", "hubert", "wav2vec2-conformer"]


def save_tiny_audio_model(
    directory: str | Path,
    family: Family = "wav2vec2",
    *,
    num_layers: int = 3,
    hidden_size: int = 32,
    sample_rate: int | None = 24_000,
    seed: int = 0,
) -> Path:
    """Write ``config.json``/``model.safetensors`` (+ ``preprocessor_config.json`` when ``sample_rate``).

    Dropout and SpecAugment masking are off so train-mode outputs are deterministic; LayerDrop keeps the
    family's default, like the real checkpoints.
    """
    from transformers import (
        HubertConfig,
        HubertModel,
        Wav2Vec2Config,
        Wav2Vec2ConformerConfig,
        Wav2Vec2ConformerModel,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
    )

    common = {
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": 2,
        "intermediate_size": 2 * hidden_size,
        "conv_dim": (16, 16),
        "conv_stride": (5, 4),
        "conv_kernel": (10, 4),
        "num_conv_pos_embeddings": 8,
        "num_conv_pos_embedding_groups": 2,
        "feat_extract_norm": "layer",
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "feat_proj_dropout": 0.0,
        # LayerDrop stays at the family default (0.1), as in real checkpoints: HFBackbone must cope with it.
        "mask_time_prob": 0.0,
    }
    torch.manual_seed(seed)
    if family == "wav2vec2":
        model = Wav2Vec2Model(Wav2Vec2Config(**common))
    elif family == "hubert":
        model = HubertModel(HubertConfig(**common))
    elif family == "wav2vec2-conformer":
        model = Wav2Vec2ConformerModel(
            Wav2Vec2ConformerConfig(**common, conv_depthwise_kernel_size=3, position_embeddings_type="rotary")
        )
    else:
        raise ValueError(f"unknown family {family!r}; choose wav2vec2, hubert or wav2vec2-conformer")
    directory = Path(directory)
    model.save_pretrained(directory)
    if sample_rate is not None:
        Wav2Vec2FeatureExtractor(
            sampling_rate=sample_rate, do_normalize=True, return_attention_mask=True
        ).save_pretrained(directory)
    return directory
