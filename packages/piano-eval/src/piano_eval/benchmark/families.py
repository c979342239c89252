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
from piano_eval.symbolic.notes import NoteSequenceModel
from piano_eval.symbolic.remi_transformer import RemiTransformerModule
from piano_eval.training import ObjectiveConfig, PerformanceModule
from piano_eval.training.schedule import ScheduleConfig


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    input_kind: str  # see piano_eval.data.inputs.INPUT_KINDS
    build: Callable[[int, float], PerformanceModule]  # (num_dimensions, learning_rate) -> model


def _head(num_dimensions: int, pooling: str = "attention") -> HeadConfig:
    return HeadConfig(
        hidden_dim=128, projection_dim=64, num_dimensions=num_dimensions, dropout=0.1, pooling=pooling
    )


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


def notes_model(num_dimensions: int, learning_rate: float, encoder_dim: int = 128) -> PerformanceModule:
    """The N-notes model. A per-note MLP (no attention layers): on this data attention over notes learned
    timing but not dynamics or articulation, which statistics pooling of per-note features reads directly."""
    return NoteSequenceModel(
        encoder_dim=encoder_dim,
        num_layers=0,
        num_heads=4,
        head=_head(num_dimensions, pooling="attention_stats"),
        learning_rate=learning_rate,
        objective=_objective(),
        schedule=ScheduleConfig(warmup_fraction=0.02, min_lr_ratio=0.05),
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
            "N-notes",
            "note-level MIDI features (exact onsets, one row per note) → per-note MLP (128), statistics pooling",
            "notes",
            notes_model,
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
    """A benchmark family (:data:`FAMILIES`) or an experiment family (:data:`EXPERIMENT_FAMILIES`)."""
    known = {**FAMILIES, **EXPERIMENT_FAMILIES}
    if name not in known:
        raise ValueError(f"unknown model family {name!r}; choose from {sorted(known)}")
    return known[name]


# ------------------------------------------------------------------------------------------ experiment families
# The seed-004 tracks and the seed-001 ablations (:mod:`piano_eval.benchmark.experiments`). They live in their
# own registry: S2 and F1–F3 read input kinds of :mod:`piano_eval.data.fused_inputs`, not of
# :mod:`piano_eval.data.inputs`, and the variants are the benchmark families trained differently.


@dataclass(frozen=True)
class Variant(Family):
    """A family with training options the runner applies (:class:`~piano_eval.benchmark.runner.BenchmarkRunConfig`
    ``pretrain_epochs`` / ``train_augmentation``, filled in by the experiments from these flags):
    ``pretrain`` runs the model's self-supervised stage first; ``train_augmentation`` names the
    ``shared_audio_core.augment`` preset whose renderings of the training audio are the augmented views."""

    pretrain: bool = False
    train_augmentation: str | None = None


@dataclass(frozen=True)
class FusionFamily(Family):
    """F1–F3 over the trained encoders of two other families (frozen): :meth:`build_fused` gets them."""

    audio_family: str = "A-logmel"
    symbolic_family: str = "N-notes"
    fusion_type: str = "cross_attention"

    def build_fused(
        self,
        num_dimensions: int,
        learning_rate: float,
        audio: PerformanceModule,
        symbolic: PerformanceModule,
    ) -> PerformanceModule:
        from piano_eval.fusion import FusedPerformanceModule

        return FusedPerformanceModule(
            audio_dim=int(audio.scorer.head.input_dim),
            symbolic_dim=int(symbolic.scorer.head.input_dim),
            fusion_type=self.fusion_type,  # type: ignore[arg-type]
            fused_dim=64,
            fusion_heads=4,
            fusion_dropout=0.1,
            audio_encoder=audio,
            symbolic_encoder=symbolic,
            head=_head(num_dimensions),
            learning_rate=learning_rate,
            objective=_objective(),
        )


def _logmel_backbone() -> BackboneConfig:
    """The A-logmel backbone (2 × 64, from scratch): A1–A3 compare adaptation strategies on one backbone."""
    return BackboneConfig(name="logmel", options={"hidden_size": 64, "num_layers": 2, "dropout": 0.0})


def _a1_lora(num_dimensions: int, learning_rate: float) -> PerformanceModule:
    from piano_eval.audio.lora import LoRAMultitaskModel, LoRASettings

    return LoRAMultitaskModel(
        _logmel_backbone(),
        lora=LoRASettings(rank=8, alpha=16, dropout=0.0),  # q/v of both layers
        head=_head(num_dimensions),
        learning_rate=learning_rate,
        objective=_objective(),
    )


def _a2_staged(num_dimensions: int, learning_rate: float) -> PerformanceModule:
    from piano_eval.audio.lora import LoRASettings
    from piano_eval.audio.staged import StagedAdaptationModel

    return StagedAdaptationModel(
        _logmel_backbone(),
        lora=LoRASettings(rank=8, alpha=16, dropout=0.0),
        head=_head(num_dimensions),
        learning_rate=learning_rate,
        objective=_objective(),
        stage="self_supervised",
        self_supervised_learning_rate=learning_rate,
    )


def _s2_gnn(num_dimensions: int, learning_rate: float) -> PerformanceModule:
    from piano_eval.symbolic.gnn import ScoreGraphModule

    return ScoreGraphModule(
        gnn_hidden_dim=64,
        num_gnn_layers=3,
        num_gat_heads=4,
        gnn_dropout=0.0,
        head=_head(num_dimensions),
        learning_rate=learning_rate,
        objective=_objective(),
    )


def with_uncertainty_weighting(
    build: Callable[[int, float], PerformanceModule],
) -> Callable[[int, float], PerformanceModule]:
    """``build`` with the objective's fixed lambdas replaced by learned Kendall & Gal task weights."""
    from dataclasses import replace

    from piano_eval.training import PerformanceObjective

    def built(num_dimensions: int, learning_rate: float) -> PerformanceModule:
        model = build(num_dimensions, learning_rate)
        config = replace(model.objective.config, use_uncertainty_weighting=True)
        model.objective = PerformanceObjective(config)
        model.record_init_arg("objective", config)  # a saved folder rebuilds the weighted objective
        return model

    return built


def _unbuildable(name: str) -> Callable[[int, float], PerformanceModule]:
    def build(num_dimensions: int, learning_rate: float) -> PerformanceModule:
        raise ValueError(
            f"{name} fuses trained encoders: build it with FusionFamily.build_fused (the benchmark runner "
            "trains its audio and symbolic families first)"
        )

    return build


FUSION_TYPES_BY_NAME: dict[str, str] = {
    "F1-cross-attention": "cross_attention",
    "F2-concat": "concat",
    "F3-gated": "gated",
}
DEFAULT_AUDIO_FAMILY = "A-logmel"
DEFAULT_SYMBOLIC_FAMILY = "N-notes"


def fusion_family(
    fusion: str, audio_family: str = DEFAULT_AUDIO_FAMILY, symbolic_family: str = DEFAULT_SYMBOLIC_FAMILY
) -> FusionFamily:
    """F1/F2/F3 (``fusion`` = ``"F1-cross-attention"``, ...) over two families, registered under
    ``fusion`` for the default encoders (A-logmel + N-notes), else ``fusion[audio+symbolic]``."""
    from piano_eval.data.fused_inputs import fused_kind

    if fusion not in FUSION_TYPES_BY_NAME:
        raise ValueError(f"unknown fusion {fusion!r}; choose from {list(FUSION_TYPES_BY_NAME)}")
    audio, symbolic = get_family(audio_family), get_family(symbolic_family)
    if audio.input_kind != "waveform":
        raise ValueError(
            f"{audio_family} reads {audio.input_kind!r}, not audio: it cannot be the audio stream"
        )
    defaults = (audio_family, symbolic_family) == (DEFAULT_AUDIO_FAMILY, DEFAULT_SYMBOLIC_FAMILY)
    name = fusion if defaults else f"{fusion}[{audio_family}+{symbolic_family}]"
    if name in EXPERIMENT_FAMILIES:
        found = EXPERIMENT_FAMILIES[name]
        assert isinstance(found, FusionFamily)
        return found
    family = FusionFamily(
        name,
        f"{fusion.split('-', 1)[0]} {FUSION_TYPES_BY_NAME[fusion].replace('_', '-')} fusion of the frozen, "
        f"trained {audio_family} and {symbolic_family} encoders",
        fused_kind(symbolic.input_kind),
        _unbuildable(name),
        audio_family=audio_family,
        symbolic_family=symbolic_family,
        fusion_type=FUSION_TYPES_BY_NAME[fusion],
    )
    EXPERIMENT_FAMILIES[name] = family
    return family


EXPERIMENT_FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "A1-lora",
            "A1: frozen log-mel backbone (2 × 64, random init) + LoRA (rank 8) on q/v of both layers",
            "waveform",
            _a1_lora,
        ),
        Variant(
            "A2-staged",
            "A2: A1's encoder, self-supervised stage (piece InfoNCE + invariance on clean vs practice-room "
            "audio), then supervised",
            "waveform",
            _a2_staged,
            pretrain=True,
            train_augmentation="practice_room",
        ),
        Family(
            "S2-gnn",
            "S2: note graph of the performance MIDI → GAT (3 × 64), attention pooling",
            "graph",
            _s2_gnn,
        ),
        Variant(
            "S1-remi+pretrain",
            "S1 after masked-token (MLM) pretraining on the training MIDI",
            "tokens",
            _s1,
            pretrain=True,
        ),
        Variant(
            "S2-gnn+pretrain",
            "S2 after link-prediction pretraining on the training MIDI",
            "graph",
            _s2_gnn,
            pretrain=True,
        ),
        Variant(
            "S3-continuous+pretrain",
            "S3 after wav2vec-style contrastive pretraining on the training MIDI",
            "continuous",
            _s3,
            pretrain=True,
        ),
        Variant(
            "N-notes+uncertainty",
            "N-notes with learned uncertainty task weights instead of fixed lambdas",
            "notes",
            with_uncertainty_weighting(notes_model),
        ),
        Variant(
            "A-logmel+augment",
            "A-logmel trained on clean and practice-room renderings of the training audio (+ invariance)",
            "waveform",
            _audio_logmel,
            train_augmentation="practice_room",
        ),
    )
}
for _fusion in FUSION_TYPES_BY_NAME:
    fusion_family(_fusion)
