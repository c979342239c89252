"""Training recipe: warmup + cosine per step, backbone/head learning rates, gradient checkpointing."""

from __future__ import annotations

import math
import sys

import lightning as L
import pytest
import torch
from piano_eval.audio import BackboneConfig, GradualUnfreezingModel
from piano_eval.audio.testing import save_tiny_audio_model
from piano_eval.heads import HeadConfig
from piano_eval.testing import (
    TrainingProbe,
    lightning_cli_for,
    make_smoke_trainer,
    make_synthetic_pair_loader,
)
from piano_eval.training import (
    EmbeddingPerformanceModule,
    ObjectiveConfig,
    PerformanceModule,
    ScheduleConfig,
    WarmupCosine,
    feature_part,
    warmup_cosine_scheduler,
)
from torch import nn
from torch.utils.data import DataLoader

HEAD = HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=3, dropout=0.0)


def hand_factor(step: int, warmup: int, total: int, floor: float) -> float:
    """The documented schedule, written out independently of the implementation."""
    if step < warmup:
        return step / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return floor + (1 - floor) * (1 + math.cos(math.pi * progress)) / 2


def scheduled_lrs(config: ScheduleConfig, total: int, steps: int, lr: float = 1e-3) -> list[float]:
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = warmup_cosine_scheduler(optimizer, config, total)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_schedule_hits_the_closed_form_at_start_end_of_warmup_midway_and_end() -> None:
    lrs = scheduled_lrs(ScheduleConfig(warmup_steps=4, min_lr_ratio=0.1), total=20, steps=26)
    assert lrs[0] == 0.0  # step 0: warmup starts from zero
    assert lrs[2] == pytest.approx(1e-3 / 2)  # linear ramp
    assert lrs[4] == pytest.approx(1e-3)  # end of warmup: the peak
    assert lrs[12] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # halfway through the decay
    assert lrs[20] == pytest.approx(1e-4)  # end of the run: the floor
    assert lrs[25] == pytest.approx(1e-4)  # and it stays there
    assert lrs == pytest.approx([1e-3 * hand_factor(s, 4, 20, 0.1) for s in range(26)])


def test_schedule_equals_transformers_cosine_with_min_lr() -> None:
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=2e-4)
    reference = get_cosine_with_min_lr_schedule_with_warmup(optimizer, 5, 30, min_lr_rate=0.05)
    expected = []
    for _ in range(31):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert scheduled_lrs(ScheduleConfig(5, min_lr_ratio=0.05), 30, 31, lr=2e-4) == pytest.approx(expected)


def test_warmup_fraction_scales_the_warmup_with_the_run() -> None:
    for total in (50, 1000):
        lrs = scheduled_lrs(ScheduleConfig(warmup_fraction=0.1), total=total, steps=total)
        assert lrs == pytest.approx([1e-3 * hand_factor(s, total // 10, total, 0.0) for s in range(total)])
        assert lrs[total // 10] == pytest.approx(1e-3)  # the peak a tenth of the way in


def test_without_warmup_the_decay_starts_at_the_first_step() -> None:
    factor = WarmupCosine(0, 10)
    assert factor(0) == 1.0
    assert factor(1) == pytest.approx((1 + math.cos(math.pi / 10)) / 2)
    assert factor(10) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warmup_steps": -1}, "warmup_steps must be >= 0"),
        ({"warmup_steps": 10, "total_steps": 10}, "must exceed warmup_steps"),
        ({"min_lr_ratio": 1.5}, r"min_lr_ratio must be in \[0, 1\]"),
        ({"warmup_fraction": 1.0}, r"warmup_fraction must be in \[0, 1\)"),
        ({"warmup_fraction": 0.1, "warmup_steps": 5}, "not both"),
    ],
)
def test_schedule_config_rejects_bad_values(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduleConfig(**kwargs)


class EncodedModule(PerformanceModule):
    """A PerformanceModule with a small trainable encoder in front of the scorer."""

    def __init__(self, backbone_lr_ratio: float = 1.0, **kwargs) -> None:
        super().__init__(
            8,
            HEAD,
            1e-3,
            0.0,
            ObjectiveConfig(use_uncertainty_weighting=True),
            backbone_lr_ratio=backbone_lr_ratio,
            **kwargs,
        )
        self.encoder = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 8))
        self.encoder[0].weight.requires_grad_(False)  # e.g. a frozen backbone part

    def encode(self, part):
        features, mask = feature_part(part, "EncodedModule")
        return self.encoder(features), mask


def test_backbone_and_head_groups_have_their_rates_and_cover_every_trainable_parameter_once() -> None:
    model = EncodedModule(backbone_lr_ratio=0.1)
    optimizer = model.configure_optimizers()
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert set(groups) == {"backbone", "head"}
    assert groups["backbone"]["lr"] == pytest.approx(1e-4)
    assert groups["head"]["lr"] == pytest.approx(1e-3)
    names = {id(p): n for n, p in model.named_parameters()}
    backbone = {names[id(p)] for p in groups["backbone"]["params"]}
    head = {names[id(p)] for p in groups["head"]["params"]}
    assert backbone == {"encoder.0.bias", "encoder.1.weight", "encoder.1.bias"}
    assert head and all(n.startswith(("scorer.", "objective.")) for n in head)
    assert any(n.startswith("objective.") for n in head)  # learned loss weights train with the head
    grouped = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in model.parameters() if p.requires_grad}


def test_default_is_one_constant_rate_and_a_plain_optimizer() -> None:
    optimizer = EncodedModule().configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW)
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["lr"] == 1e-3


def test_backbone_lr_ratio_must_be_positive() -> None:
    with pytest.raises(ValueError, match="backbone_lr_ratio must be positive"):
        EncodedModule(backbone_lr_ratio=0.0)


def test_schedule_without_total_steps_needs_a_trainer() -> None:
    model = EncodedModule(schedule=ScheduleConfig(warmup_steps=2))
    with pytest.raises(ValueError, match="needs a Trainer"):
        model.configure_optimizers()


def test_fit_changes_the_learning_rate_per_step_and_the_checkpoint_keeps_the_schedule(tmp_path) -> None:
    torch.manual_seed(0)
    # dict form, as in a YAML config; total_steps comes from the trainer (6 steps)
    model = EmbeddingPerformanceModule(
        input_dim=16, head=HEAD, learning_rate=1e-2, schedule={"warmup_steps": 2, "min_lr_ratio": 0.1}
    )
    probe = TrainingProbe(lambda module, batch: module.trainer.optimizers[0].param_groups[0]["lr"])
    trainer = make_smoke_trainer(max_steps=6, callbacks=[probe])
    trainer.fit(model, make_synthetic_pair_loader(batch_size=8))
    assert trainer.lr_scheduler_configs[0].interval == "step"
    assert probe.records == pytest.approx([1e-2 * hand_factor(s, 2, 6, 0.1) for s in range(6)])
    assert probe.records[:3] == pytest.approx([0.0, 5e-3, 1e-2])  # warmup, then the peak at step 2
    assert probe.records[2] > probe.records[3] > probe.records[4] > probe.records[5] > 1e-3
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    restored = EmbeddingPerformanceModule.load_from_checkpoint(tmp_path / "run.ckpt")
    assert restored.schedule == ScheduleConfig(warmup_steps=2, min_lr_ratio=0.1)


def test_unfreezing_layer_groups_follow_the_backbone_ratio() -> None:
    model = GradualUnfreezingModel(
        input_dim=8, head=HEAD, learning_rate=1e-3, unfreeze_schedule={0: [2], 1: [1]}
    )
    model.backbone_lr_ratio = 0.5  # the attribute the shared recipe reads
    groups = {g["name"]: g["lr"] for g in model.configure_optimizers().param_groups}
    assert groups == pytest.approx({"head": 1e-3, "layer_2": 5e-4, "layer_1": 5e-4 * 0.8})


@pytest.mark.parametrize(
    ("class_path", "init_args"),
    [
        (
            "piano_eval.training.EmbeddingPerformanceModule",
            {"input_dim": 16, "head": HEAD.to_dict()},
        ),
        (
            "piano_eval.training.HierarchicalMultiTaskModule",
            {
                "architecture": {
                    "input_dim": 8,
                    "lstm_hidden_dim": 8,
                    "num_lstm_layers": 1,
                    "num_attention_heads": 2,
                    "aggregated_dim": 16,
                    "shared_dim": 8,
                    "head_hidden_dim": 8,
                    "num_dimensions": 3,
                }
            },
        ),
    ],
)
def test_lightning_cli_builds_modules_with_a_schedule(class_path, init_args, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train"])
    cli = lightning_cli_for(class_path, {**init_args, "schedule": {"warmup_steps": 100}}, tmp_path)
    assert cli.model.schedule == ScheduleConfig(warmup_steps=100)
    assert ScheduleConfig.from_dict(dict(cli.model.hparams["schedule"])) == ScheduleConfig(warmup_steps=100)


# ------------------------------------------------------------------------------ gradient checkpointing


def _gradients(config: BackboneConfig, waveform: torch.Tensor) -> tuple[dict[str, torch.Tensor], int]:
    """Parameter gradients of the summed hidden states, and how often the top layer's query projection ran."""
    torch.manual_seed(0)
    backbone = config.build().train()
    calls = []
    query = next(m for n, m in backbone.transformer_layers[-1].named_modules() if n.endswith("q_proj"))
    query.register_forward_hook(lambda *_: calls.append(1))
    out = backbone(waveform)
    torch.stack([h.sum() for h in out.hidden_states[1:]]).sum().backward()
    grads = {n: p.grad.clone() for n, p in backbone.named_parameters() if p.grad is not None}
    return grads, len(calls)


def _assert_same_gradients(plain: dict[str, torch.Tensor], checkpointed: dict[str, torch.Tensor]) -> None:
    assert plain.keys() == checkpointed.keys() and plain
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-5, atol=1e-6, msg=name)


def test_gradient_checkpointing_of_the_logmel_layers_gives_the_same_gradients() -> None:
    options = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "n_mels": 16, "dropout": 0.1}
    waveform = torch.randn(2, 4800, generator=torch.Generator().manual_seed(1))
    plain, plain_calls = _gradients(BackboneConfig(name="logmel", options=options), waveform)
    checkpointed, calls = _gradients(
        BackboneConfig(name="logmel", options=options, gradient_checkpointing=True), waveform
    )
    _assert_same_gradients(plain, checkpointed)  # dropout on: the recomputation replays the same masks
    assert (plain_calls, calls) == (1, 2)  # the layer really ran again in the backward pass


def test_gradient_checkpointing_uses_the_transformers_switch_and_keeps_gradients(tmp_path) -> None:
    directory = save_tiny_audio_model(tmp_path / "w2v2", "wav2vec2", num_layers=2, hidden_size=16)
    config = BackboneConfig(name="hf", model_id=str(directory))
    waveform = torch.randn(2, 2400, generator=torch.Generator().manual_seed(2))
    plain, plain_calls = _gradients(config, waveform)
    checkpointed_config = BackboneConfig(name="hf", model_id=str(directory), gradient_checkpointing=True)
    checkpointed, calls = _gradients(checkpointed_config, waveform)
    _assert_same_gradients(plain, checkpointed)
    assert (plain_calls, calls) == (1, 2)
    model = checkpointed_config.build().model
    assert getattr(model, "is_activation_checkpointing", None) or model.is_gradient_checkpointing


def test_checkpointed_layers_run_once_in_eval_mode() -> None:
    backbone = BackboneConfig(
        name="logmel", options={"hidden_size": 16, "num_layers": 1, "num_heads": 2, "n_mels": 16}
    ).build()
    assert backbone.enable_gradient_checkpointing() == "layers"
    calls = []
    backbone.transformer_layers[0].q_proj.register_forward_hook(lambda *_: calls.append(1))
    backbone.eval()
    backbone(torch.randn(1, 2400, requires_grad=True)).hidden_states[-1].sum().backward()
    assert calls == [1]


def test_a2_stage_switch_restarts_the_schedule_over_the_steps_left() -> None:
    from piano_eval.audio import StagedAdaptationModel
    from piano_eval.testing import make_synthetic_pair_dataset
    from piano_eval.training import collate_embedding_pairs

    pairs = make_synthetic_pair_dataset(feature_dim=8)
    items = [{**pairs[i], "a_aug": pairs[i]["a"] + 0.1, "b_aug": pairs[i]["b"] - 0.1} for i in range(24)]
    loader = DataLoader(items, batch_size=8, collate_fn=collate_embedding_pairs)
    model = StagedAdaptationModel(input_dim=8, head=HEAD, learning_rate=1e-3, supervised_start_epoch=1)
    model.schedule = ScheduleConfig(warmup_steps=1)  # the attribute the shared recipe reads
    probe = TrainingProbe(
        lambda module, batch: (module.stage, module.trainer.optimizers[0].param_groups[0]["lr"])
    )
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[probe],
    )
    trainer.fit(model, loader)
    stages = [stage for stage, _ in probe.records]
    assert stages == ["self_supervised"] * 3 + ["supervised"] * 3
    expected = [1e-3 * hand_factor(s, 1, 6, 0.0) for s in range(3)]
    expected += [1e-3 * hand_factor(s, 1, 3, 0.0) for s in range(3)]  # fresh warmup, 3 steps left
    assert [lr for _, lr in probe.records] == pytest.approx(expected)
