"""A1: LoRA on real attention projections of tiny transformers backbones; only LoRA + heads train."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from piano_eval.audio import (
    AudioEncoder,
    BackboneConfig,
    LoRAMultitaskModel,
    LoRASettings,
    build_backbone,
    find_lora_targets,
    lora_module_names,
)
from piano_eval.audio.lora import LoRATargetError, apply_lora
from piano_eval.audio.synthetic import (
    collate_waveform_pairs,
    make_synthetic_audio_pair_loader,
    make_synthetic_audio_performances,
)
from piano_eval.audio.testing import save_tiny_audio_model
from piano_eval.heads import HeadConfig
from piano_eval.testing import make_synthetic_pair_loader
from piano_eval.training import PerformancePairDataset

HEAD = {"head": HeadConfig(hidden_dim=32, projection_dim=16, num_dimensions=3, dropout=0.0)}


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("tiny")
    return {
        family: save_tiny_audio_model(root / family, family, num_layers=3, hidden_size=32)
        for family in ("wav2vec2", "hubert", "wav2vec2-conformer")
    }


def _pair_batch(batch_size: int = 4) -> dict:
    perf = make_synthetic_audio_performances(
        num_pieces=2, performances_per_piece=2, min_seconds=0.1, max_seconds=0.15
    )
    inputs = [{"waveform": w, "sample_rate": perf.sample_rate} for w in perf.waveforms]
    dataset = PerformancePairDataset(inputs, perf.labels, perf.piece_ids)
    return collate_waveform_pairs([dataset[i] for i in range(batch_size)])


@pytest.mark.parametrize(
    ("family", "projections"),
    [
        ("wav2vec2", ("attention.q_proj", "attention.v_proj")),
        ("hubert", ("attention.q_proj", "attention.v_proj")),
        ("wav2vec2-conformer", ("self_attn.linear_q", "self_attn.linear_v")),  # MuQ's Conformer naming
    ],
)
def test_lora_wraps_exactly_the_query_value_projections_of_the_chosen_layers(
    tiny_dirs, family, projections
) -> None:
    backbone = build_backbone(str(tiny_dirs[family]))
    names = apply_lora(backbone, LoRASettings(rank=4, alpha=8, layers=[2, 3]))
    expected = [f"model.encoder.layers.{i}.{p}" for i in (1, 2) for p in projections]
    assert names == expected
    assert sorted(lora_module_names(backbone)) == sorted(expected)  # nothing in layer 1 or outside q/v
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.rsplit(".lora_", 1)[0] for n in trainable} == set(expected)


def test_bad_layers_or_targets_are_rejected(tiny_dirs) -> None:
    backbone = build_backbone(str(tiny_dirs["wav2vec2"]))
    with pytest.raises(ValueError, match=r"layers 1\.\.3"):
        find_lora_targets(backbone, [4], ["q_proj"])
    with pytest.raises(LoRATargetError, match="no linear projection"):
        find_lora_targets(backbone, [1], ["gate_proj"])


def test_fresh_lora_leaves_backbone_features_unchanged(tiny_dirs) -> None:
    config = BackboneConfig(model_id=str(tiny_dirs["wav2vec2"]), name="hf")
    adapted = LoRAMultitaskModel(config, lora=LoRASettings(rank=4, alpha=8, layers=[2, 3]), **HEAD).eval()
    plain = AudioEncoder(build_backbone(config), adapted.encoder.layers).eval()  # same weights, no LoRA
    part = _pair_batch()["a"]
    expected, _ = plain(part["waveform"], part["mask"], sample_rate=part["sample_rate"])
    torch.testing.assert_close(adapted.encode(part)[0], expected)  # lora_B starts at zero


def test_gradients_reach_only_lora_and_head_and_frozen_weights_stay_put(tiny_dirs) -> None:
    torch.manual_seed(0)
    model = LoRAMultitaskModel(
        BackboneConfig(name="hf", model_id=str(tiny_dirs["wav2vec2"])),
        lora=LoRASettings(rank=4, alpha=8, dropout=0.0, layers=[2, 3]),
        **HEAD,
    )
    model.train()
    optimizer = model.configure_optimizers()
    batch = _pair_batch()
    base_q = (
        model.encoder.backbone.model.encoder.layers[1].attention.q_proj.base_layer.weight.detach().clone()
    )
    lora_a = model.encoder.backbone.model.encoder.layers[1].attention.q_proj.lora_A["default"].weight
    lora_b = model.encoder.backbone.model.encoder.layers[1].attention.q_proj.lora_B["default"].weight
    before_b = lora_b.detach().clone()
    for _ in range(2):  # the second step moves lora_A too (lora_B was zero on the first)
        optimizer.zero_grad()
        losses, _ = model.pair_losses(batch)
        losses["total"].backward()
        with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        assert with_grad, "no gradients at all"
        assert all("lora_" in n or not n.startswith("encoder.") for n in with_grad), with_grad
        assert any("lora_" in n for n in with_grad) and any(n.startswith("scorer.") for n in with_grad)
        optimizer.step()
    assert torch.equal(
        model.encoder.backbone.model.encoder.layers[1].attention.q_proj.base_layer.weight, base_q
    )
    assert not torch.equal(lora_b, before_b)
    assert (
        lora_a.requires_grad
        and not model.encoder.backbone.model.encoder.layers[0].attention.q_proj.weight.requires_grad
    )
    frozen = [n for n, p in model.named_parameters() if n.startswith("encoder.") and "lora_" not in n]
    assert frozen and not any(dict(model.named_parameters())[n].requires_grad for n in frozen)


def test_backbone_free_a1_learns_a_separable_problem() -> None:
    torch.manual_seed(0)
    loader = make_synthetic_pair_loader(batch_size=16, feature_dim=8, num_dimensions=3, seed=0)
    model = LoRAMultitaskModel(input_dim=8, learning_rate=3e-3, **HEAD)
    optimizer = model.configure_optimizers()
    batch = next(iter(loader))
    first = model.pair_losses(batch)[0]["total"].item()
    for _ in range(40):
        optimizer.zero_grad()
        loss = model.pair_losses(batch)[0]["total"]
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.6 * first


def test_hub_round_trip_restores_lora_weights_and_writes_a_model_card(tiny_dirs, tmp_path) -> None:
    torch.manual_seed(0)
    model = LoRAMultitaskModel(
        BackboneConfig(name="hf", model_id=str(tiny_dirs["hubert"])),
        lora=LoRASettings(rank=2, alpha=4, layers=[3]),
        **HEAD,
    )
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_()  # make the adapters matter
    model.save_pretrained(tmp_path / "a1")
    card = (tmp_path / "a1" / "README.md").read_text()
    assert "lora" in card and "LoRAMultitaskModel" in card
    loaded = LoRAMultitaskModel.from_pretrained(tmp_path / "a1")
    assert loaded.lora_targets == model.lora_targets
    part = _pair_batch()["a"]
    model.eval(), loaded.eval()
    torch.testing.assert_close(loaded.predict_scores(part), model.predict_scores(part))


def test_lightning_trainer_smoke_run_with_a_logmel_backbone(tmp_path) -> None:
    torch.manual_seed(0)
    model = LoRAMultitaskModel(
        BackboneConfig(
            name="logmel", options={"hidden_size": 32, "num_layers": 2, "num_heads": 2, "n_mels": 32}
        ),
        lora=LoRASettings(rank=4, alpha=8, layers=[1, 2]),
        learning_rate=1e-3,
        **HEAD,
    )
    loader = make_synthetic_audio_pair_loader(batch_size=4, num_pieces=2, performances_per_piece=3)
    trainer = L.Trainer(
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader, loader)
    assert trainer.global_step == 3
    assert torch.isfinite(trainer.callback_metrics["train/total"])
    assert "val/pairwise_accuracy" in trainer.callback_metrics
    # The checkpoint's hyper-parameters (backbone, LoRA and head configs) load with weights_only=True.
    trainer.save_checkpoint(tmp_path / "a1.ckpt")
    restored = LoRAMultitaskModel.load_from_checkpoint(tmp_path / "a1.ckpt", weights_only=True).eval()
    part = next(iter(loader))["a"]
    torch.testing.assert_close(restored.predict_scores(part), model.eval().predict_scores(part))


def test_a1_scores_of_a_clip_do_not_depend_on_batch_padding(tiny_dirs) -> None:
    torch.manual_seed(0)
    model = LoRAMultitaskModel(
        BackboneConfig(name="hf", model_id=str(tiny_dirs["wav2vec2"])),
        lora=LoRASettings(rank=2, alpha=4),
        **HEAD,
    ).eval()
    clip = torch.randn(1, 3000)
    alone = model.predict_scores(
        {"waveform": clip, "mask": torch.ones_like(clip, dtype=torch.bool), "sample_rate": 24_000}
    )
    batch = torch.randn(3, 7000) * 3
    batch[1, :3000] = clip[0]
    mask = torch.ones_like(batch, dtype=torch.bool)
    mask[1, 3000:] = False
    padded = model.predict_scores({"waveform": batch, "mask": mask, "sample_rate": 24_000})
    torch.testing.assert_close(padded[1], alone[0], atol=1e-4, rtol=1e-4)


def test_a1_on_waveforms_learns_loudness_and_brightness_rankings() -> None:
    torch.manual_seed(0)
    model = LoRAMultitaskModel(
        BackboneConfig(
            name="logmel",
            options={"hidden_size": 32, "num_layers": 2, "num_heads": 2, "n_mels": 32, "dropout": 0.0},
        ),
        lora=LoRASettings(rank=4, alpha=8, dropout=0.0, layers=[1, 2]),
        learning_rate=3e-3,
        **HEAD,
    )
    batch = next(
        iter(make_synthetic_audio_pair_loader(batch_size=12, num_pieces=2, performances_per_piece=3))
    )
    optimizer = model.configure_optimizers()
    first = model.pair_losses(batch)[0]
    for _ in range(30):
        optimizer.zero_grad()
        losses = model.pair_losses(batch)[0]
        losses["total"].backward()
        optimizer.step()
    assert losses["ranking"].item() < 0.5 * first["ranking"].item()
    assert losses["total"].item() < 0.7 * first["total"].item()
