"""Every concrete module takes the shared training recipe (``schedule``, ``backbone_lr_ratio``) as constructor
arguments, builds the optimizer from it, and keeps it through LightningCLI, the Hub and Lightning checkpoints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from huggingface_hub import PyTorchModelHubMixin
from piano_eval.audio import (
    AudioPerformanceModule,
    BackboneConfig,
    GradualUnfreezingModel,
    LoRAMultitaskModel,
    LoRASettings,
    StagedAdaptationModel,
)
from piano_eval.fusion import FusedPerformanceModule
from piano_eval.heads import HeadConfig, HierarchicalConfig
from piano_eval.symbolic.continuous import ContinuousPerformanceModel
from piano_eval.symbolic.gnn import ScoreGraphModule
from piano_eval.symbolic.notes import NoteSequenceModel
from piano_eval.symbolic.remi_transformer import RemiTransformerModule
from piano_eval.testing import lightning_cli_for
from piano_eval.training import EmbeddingPerformanceModule, HierarchicalMultiTaskModule, ScheduleConfig
from torch import nn

LR = 1e-3
RATIO = 0.1
SCHEDULE = ScheduleConfig(warmup_steps=2, total_steps=10)
HEAD = HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=3, dropout=0.0)
LOGMEL = BackboneConfig(
    name="logmel", options={"hidden_size": 16, "num_layers": 2, "num_heads": 2, "n_mels": 16}
)
HIERARCHICAL = HierarchicalConfig(
    input_dim=8,
    lstm_hidden_dim=8,
    num_lstm_layers=1,
    num_attention_heads=2,
    aggregated_dim=16,
    shared_dim=8,
    head_hidden_dim=8,
    num_dimensions=3,
)
TINY: dict[type[L.LightningModule], dict[str, Any]] = {
    AudioPerformanceModule: {"backbone": LOGMEL, "head": HEAD},
    LoRAMultitaskModel: {"backbone": LOGMEL, "lora": LoRASettings(rank=2, alpha=4, layers=[2]), "head": HEAD},
    StagedAdaptationModel: {
        "backbone": LOGMEL,
        "lora": LoRASettings(rank=2, alpha=4, layers=[2]),
        "stage": "supervised",
        "head": HEAD,
    },
    GradualUnfreezingModel: {"backbone": LOGMEL, "unfreeze_schedule": {0: [2], 1: [1]}, "head": HEAD},
    RemiTransformerModule: {
        "vocab_size": 40,
        "d_model": 16,
        "num_heads": 2,
        "num_layers": 1,
        "dim_feedforward": 32,
        "max_seq_len": 64,
        "head": HEAD,
    },
    ScoreGraphModule: {"gnn_hidden_dim": 16, "num_gnn_layers": 1, "num_gat_heads": 2, "head": HEAD},
    ContinuousPerformanceModel: {
        "encoder_dim": 16,
        "kernel_sizes": [3, 5],
        "num_layers": 1,
        "num_heads": 2,
        "max_frames": 64,
        "code_dim": 8,
        "codebook_entries": 4,
        "head": HEAD,
    },
    NoteSequenceModel: {"encoder_dim": 16, "num_layers": 1, "num_heads": 2, "head": HEAD},
}
# No trainable encoder: cached embeddings, precomputed features, frozen encoders. Only ``schedule`` applies.
SCHEDULE_ONLY: dict[type[L.LightningModule], dict[str, Any]] = {
    EmbeddingPerformanceModule: {"input_dim": 8, "head": HEAD},
    HierarchicalMultiTaskModule: {"architecture": HIERARCHICAL},
    FusedPerformanceModule: {
        "audio_dim": 8,
        "symbolic_dim": 6,
        "fused_dim": 16,
        "fusion_heads": 2,
        "head": HEAD,
    },
}
HEAD_PREFIXES = ("scorer.", "objective.")


def build(model_class: type[L.LightningModule], **recipe: Any) -> Any:
    torch.manual_seed(0)
    kwargs = {**TINY, **SCHEDULE_ONLY}[model_class]
    return model_class(**kwargs, learning_rate=LR, schedule=SCHEDULE, **recipe)


def optimizer_and_scheduler(model: L.LightningModule) -> tuple[torch.optim.Optimizer, Any]:
    config = model.configure_optimizers()
    assert config["lr_scheduler"]["interval"] == "step"
    return config["optimizer"], config["lr_scheduler"]["scheduler"]


def named_rates(model: L.LightningModule) -> dict[str, float]:
    """Each param group's rate by name, from the optimizer a module without a schedule builds."""
    return {group["name"]: group["lr"] for group in model.configure_optimizers().param_groups}


def group_rates(model: L.LightningModule) -> dict[str, float]:
    """Each param group's peak rate (``initial_lr``: the rate before the schedule factor), by name."""
    optimizer, _ = optimizer_and_scheduler(model)
    return {group.get("name", "all"): group["initial_lr"] for group in optimizer.param_groups}


def warmup_factors(optimizer: torch.optim.Optimizer, scheduler: Any) -> list[list[float]]:
    """Every group's ``lr / initial_lr`` at optimizer steps 0, 1 and 2."""
    factors = []
    for _ in range(3):
        factors.append([g["lr"] / g["initial_lr"] for g in optimizer.param_groups])
        optimizer.step()  # no gradients: parameters stay, the step count advances
        scheduler.step()
    return factors


def round_trip(model: L.LightningModule, tmp_path: Path) -> Any:
    """``save_pretrained``/``from_pretrained`` for Hub models, a Lightning checkpoint for the others."""
    model_class = type(model)
    if isinstance(model, PyTorchModelHubMixin):
        model.save_pretrained(tmp_path / "hub")
        return model_class.from_pretrained(tmp_path / "hub")
    trainer = L.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu"
    )
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt", weights_only=True)
    return model_class.load_from_checkpoint(tmp_path / "model.ckpt", weights_only=True)


@pytest.mark.parametrize("model_class", list(TINY), ids=lambda c: c.__name__)
def test_encoder_trains_at_the_ratio_under_the_warmup_and_the_recipe_survives_saving(
    model_class, tmp_path
) -> None:
    model = build(model_class, backbone_lr_ratio=RATIO)
    optimizer, scheduler = optimizer_and_scheduler(model)
    steps = warmup_factors(optimizer, scheduler)  # step 0: 0, end of warmup (step 2): the peak
    assert steps == [[factor] * len(optimizer.param_groups) for factor in (0.0, 0.5, 1.0)]
    groups = {group["name"]: group for group in optimizer.param_groups}
    head = groups.pop("head")
    assert head["initial_lr"] == LR
    head_ids = {id(p) for p in head["params"]}
    assert all(n.startswith(HEAD_PREFIXES) for n, p in model.named_parameters() if id(p) in head_ids)
    # the encoder's fastest group (A3: its top layer) runs at the ratio; every trainable encoder weight is in one
    assert max(g["initial_lr"] for g in groups.values()) == pytest.approx(RATIO * LR)
    in_encoder_groups = {id(p) for g in groups.values() for p in g["params"]}
    encoder = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(HEAD_PREFIXES)]
    assert encoder and {id(p) for p in encoder} <= in_encoder_groups

    restored = round_trip(model, tmp_path)
    assert restored.schedule == SCHEDULE and restored.backbone_lr_ratio == RATIO
    assert group_rates(restored) == pytest.approx(group_rates(model))


@pytest.mark.parametrize("model_class", list(SCHEDULE_ONLY), ids=lambda c: c.__name__)
def test_modules_without_a_trainable_encoder_take_the_schedule_at_one_rate(model_class, tmp_path) -> None:
    model = build(model_class)
    optimizer, scheduler = optimizer_and_scheduler(model)
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["initial_lr"] == LR
    assert warmup_factors(optimizer, scheduler) == [[0.0], [0.5], [1.0]]
    assert round_trip(model, tmp_path).schedule == SCHEDULE


def _class_path(model_class: type) -> str:
    return f"{model_class.__module__}.{model_class.__name__}"


RECIPE_YAML = {"schedule": {"warmup_steps": 2, "total_steps": 10}, "backbone_lr_ratio": 0.1}
CLI_CASES: dict[type[L.LightningModule], dict[str, Any]] = {
    RemiTransformerModule: {"vocab_size": 24, "d_model": 16, "num_heads": 2, "num_layers": 1},
    ContinuousPerformanceModel: {"encoder_dim": 16, "num_layers": 1, "num_heads": 2, "max_frames": 32},
    StagedAdaptationModel: {"input_dim": 8},
    GradualUnfreezingModel: {"input_dim": 8, "adapter_layers": 2, "adapter_heads": 2},
}


@pytest.mark.parametrize("model_class", list(CLI_CASES), ids=lambda c: c.__name__)
def test_a_yaml_config_sets_the_recipe(model_class, tmp_path, monkeypatch) -> None:
    """The reason for the arguments: ``apps/train/configs/piano-eval/*.yaml`` name them under ``init_args``."""
    monkeypatch.setattr(sys, "argv", ["train"])
    model = lightning_cli_for(
        _class_path(model_class), {**CLI_CASES[model_class], **RECIPE_YAML}, tmp_path
    ).model
    assert model.schedule == SCHEDULE and model.backbone_lr_ratio == 0.1
    assert ScheduleConfig.from_dict(dict(model.hparams["schedule"])) == SCHEDULE


def test_a_backbone_ratio_for_the_fused_model_is_refused_by_name(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["train"])
    with pytest.raises(SystemExit):
        lightning_cli_for(
            _class_path(FusedPerformanceModule), {"audio_dim": 8, "symbolic_dim": 6, **RECIPE_YAML}, tmp_path
        )
    assert "backbone_lr_ratio" in capsys.readouterr().err


class FrozenProjection(nn.Module):
    """A stand-in frozen encoder: ``{"x": [B, T, 4]}`` → 8-wide features."""

    output_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.linear(x), torch.ones(x.shape[:2], dtype=torch.bool)


def test_fused_model_optimizes_fusion_and_head_at_one_rate_and_leaves_frozen_encoders_out() -> None:
    model = FusedPerformanceModule(
        audio_dim=8, symbolic_dim=6, fused_dim=16, fusion_heads=2, audio_encoder=FrozenProjection(), head=HEAD
    )
    (group,) = model.configure_optimizers().param_groups
    assert group["lr"] == model.learning_rate
    optimized = {id(p) for p in group["params"]}
    assert optimized.isdisjoint(id(p) for p in model.audio_encoder.parameters())
    assert optimized == {id(p) for p in model.parameters() if p.requires_grad}
    assert any(id(p) in optimized for p in model.fusion.parameters())


def test_unfreezing_ladder_is_the_backbone_ratio_times_the_layer_decay(tmp_path) -> None:
    """Layer k runs at ``lr * backbone_lr_ratio * lr_decay ** (L - k)``: the ratio moves the ladder down."""
    model = GradualUnfreezingModel(
        input_dim=8,
        adapter_layers=3,
        adapter_heads=2,
        unfreeze_schedule={0: [3], 1: [2], 2: [1]},
        lr_decay=0.5,
        learning_rate=LR,
        backbone_lr_ratio=RATIO,
        head=HEAD,
    )
    expected = {"head": LR, "layer_3": LR * RATIO, "layer_2": LR * RATIO * 0.5, "layer_1": LR * RATIO * 0.25}
    assert named_rates(model) == pytest.approx(expected)
    assert [model.layer_learning_rate(k) for k in (3, 2, 1)] == pytest.approx(
        [expected["layer_3"], expected["layer_2"], expected["layer_1"]]
    )
    assert named_rates(round_trip(model, tmp_path)) == pytest.approx(expected)


def test_staged_ratio_follows_each_stage_rate() -> None:
    model = StagedAdaptationModel(
        **{**TINY[StagedAdaptationModel], "stage": "self_supervised"},
        learning_rate=LR,
        self_supervised_learning_rate=1e-2,
        backbone_lr_ratio=RATIO,
    )
    assert named_rates(model) == pytest.approx({"backbone": 1e-3, "head": 1e-2})
    model.switch_to_supervised()
    assert named_rates(model) == pytest.approx({"backbone": 1e-4, "head": 1e-3})


def test_continuous_components_include_the_encoder_and_reload_the_same_model(tmp_path) -> None:
    model = build(ContinuousPerformanceModel).eval()
    model.save_components(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder", "scorer"]
    torch.manual_seed(1)
    other = ContinuousPerformanceModel(**TINY[ContinuousPerformanceModel])
    part = {
        "features": torch.randn(2, 12, model.encoder.input_channels),
        "mask": torch.ones(2, 12, dtype=torch.bool),
    }
    assert not torch.equal(other.eval().predict_scores(part), model.predict_scores(part))
    other.load_components(tmp_path)
    assert torch.equal(other.eval().predict_scores(part), model.predict_scores(part))


def test_remi_from_tokenizer_passes_the_recipe_on() -> None:
    from shared_audio_core.tokenize import PianoTokenizer

    tiny = {k: v for k, v in TINY[RemiTransformerModule].items() if k != "vocab_size"}
    model = RemiTransformerModule.from_tokenizer(
        PianoTokenizer(), **tiny, learning_rate=LR, schedule=SCHEDULE, backbone_lr_ratio=RATIO
    )
    assert model.schedule == SCHEDULE and model.hparams["backbone_lr_ratio"] == RATIO
    assert group_rates(model) == pytest.approx({"backbone": RATIO * LR, "head": LR})
