"""The model families the benchmark trains: an input kind (:mod:`piano_eval.data.inputs`) and a model.

Sizes are small on purpose (CPU, minutes); the same classes scale up through their constructor arguments.
Attention dropout is off: on CPU it forces PyTorch's quadratic-memory math kernel, 10× slower on the
~500-frame sequences here, and the head keeps its own dropout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from piano_eval.audio.backbones import BackboneConfig
from piano_eval.audio.unfreezing import GradualUnfreezingModel
from piano_eval.data.inputs import benchmark_tokenizer
from piano_eval.heads import HeadConfig
from piano_eval.symbolic.continuous import ContinuousPerformanceModel
from piano_eval.symbolic.remi_transformer import RemiTransformerModule
from piano_eval.training import ObjectiveConfig, PerformanceModule


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    input_kind: str  # see piano_eval.data.inputs.INPUT_KINDS
    build: Callable[[int, float], PerformanceModule]  # (num_dimensions, learning_rate) -> model


def _head(num_dimensions: int) -> HeadConfig:
    return HeadConfig(hidden_dim=128, projection_dim=64, num_dimensions=num_dimensions, dropout=0.1)


def _objective() -> ObjectiveConfig:
    # Few performances per piece: the piece-contrastive term has little to learn from; ranking and
    # regression carry the signal.
    return ObjectiveConfig(lambda_contrastive=0.1)


def _s1(num_dimensions: int, learning_rate: float) -> PerformanceModule:
    return RemiTransformerModule.from_tokenizer(
        benchmark_tokenizer(),
        d_model=64,
        num_heads=4,
        num_layers=2,
        dim_feedforward=128,
        encoder_dropout=0.0,
        max_seq_len=2048,
        head=_head(num_dimensions),
        learning_rate=learning_rate,
        objective=_objective(),
    )


def _s3(num_dimensions: int, learning_rate: float) -> PerformanceModule:
    return ContinuousPerformanceModel(
        encoder_dim=64,
        num_layers=2,
        num_heads=4,
        encoder_dropout=0.0,
        head=_head(num_dimensions),
        learning_rate=learning_rate,
        objective=_objective(),
    )


def _audio_logmel(num_dimensions: int, learning_rate: float) -> PerformanceModule:
    backbone = BackboneConfig(name="logmel", options={"hidden_size": 64, "num_layers": 2, "dropout": 0.0})
    return GradualUnfreezingModel(
        backbone,
        head=_head(num_dimensions),
        learning_rate=learning_rate,
        objective=_objective(),
        unfreeze_schedule={0: [1, 2]},
        lr_decay=1.0,
    )


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("S1-remi", "REMI tokens → Transformer (2 × 64)", "tokens", _s1),
        Family(
            "S3-continuous",
            "continuous MIDI features (50 Hz) → multi-scale CNN + Transformer (2 × 64)",
            "continuous",
            _s3,
        ),
        Family(
            "A-logmel",
            "log-mel + level channel → CNN + Transformer, trained from scratch (2 × 64)",
            "waveform",
            _audio_logmel,
        ),
    )
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; choose from {sorted(FAMILIES)}")
    return FAMILIES[name]
