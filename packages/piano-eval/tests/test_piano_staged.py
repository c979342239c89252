"""A2: self-supervised stage on clean/augmented views, then supervised; the switch rebuilds the optimizer."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from piano_eval.audio import BackboneConfig, LoRASettings, StagedAdaptationModel
from piano_eval.heads import HeadConfig
from piano_eval.testing import make_synthetic_performances
from piano_eval.training import PerformancePairDataset, collate_embedding_pairs
from torch.utils.data import DataLoader, Dataset

HEAD = {"head": HeadConfig(hidden_dim=32, projection_dim=16, num_dimensions=3, dropout=0.0)}


class AugmentedPairs(Dataset):
    """Pair items plus noisy copies of both sides (stand-ins for embeddings of augmented audio)."""

    def __init__(self, seed: int = 0) -> None:
        perf = make_synthetic_performances(
            num_pieces=3, performances_per_piece=3, feature_dim=8, num_dimensions=3, seed=seed
        )
        self.pairs = PerformancePairDataset(perf.features, perf.labels, perf.piece_ids)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.pairs[index])
        item["a_aug"] = item["a"] + 0.3 * torch.randn(item["a"].shape, generator=self.generator)
        item["b_aug"] = item["b"] + 0.3 * torch.randn(item["b"].shape, generator=self.generator)
        return item


def _loader(batch_size: int = 8) -> DataLoader:
    return DataLoader(
        AugmentedPairs(), batch_size=batch_size, shuffle=False, collate_fn=collate_embedding_pairs
    )


def test_self_supervised_stage_needs_no_labels_and_its_loss_goes_down() -> None:
    torch.manual_seed(0)
    model = StagedAdaptationModel(input_dim=8, learning_rate=3e-3, **HEAD)
    batch = next(iter(_loader()))
    ssl_batch = {"clean": batch["a"], "augmented": batch["a_aug"], "piece_ids": batch["piece_ids_a"]}
    optimizer = model.configure_optimizers()
    first = model.self_supervised_losses(ssl_batch)
    assert set(first) == {"contrastive", "invariance", "total"}
    for _ in range(30):
        optimizer.zero_grad()
        loss = model.training_step(ssl_batch, 0)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.8 * first["total"].item()


def test_self_supervised_stage_explains_missing_augmented_views() -> None:
    model = StagedAdaptationModel(input_dim=8, **HEAD)
    batch = next(iter(_loader()))
    for key in ("a_aug", "b_aug"):
        batch.pop(key)
    with pytest.raises(KeyError, match="augmented views"):
        model.training_step(batch, 0)


def test_switch_outside_a_trainer_changes_stage_and_learning_rate() -> None:
    model = StagedAdaptationModel(input_dim=8, learning_rate=1e-3, self_supervised_learning_rate=1e-2, **HEAD)
    assert model.configure_optimizers().param_groups[0]["lr"] == 1e-2
    model.switch_to_supervised()
    assert model.stage == "supervised"
    assert model.configure_optimizers().param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="stage"):
        StagedAdaptationModel(input_dim=8, stage="pretraining", **HEAD)  # type: ignore[arg-type]


class OptimizerProbe(L.Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, int, float, int, str]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        optimizer = trainer.optimizers[0]
        self.seen.append(
            (
                trainer.current_epoch,
                id(optimizer),
                optimizer.param_groups[0]["lr"],
                len(optimizer.state),
                pl_module.stage,
            )
        )


def test_switch_inside_a_fit_rebuilds_the_optimizer_with_fresh_state(tmp_path) -> None:
    torch.manual_seed(0)
    model = StagedAdaptationModel(
        input_dim=8, learning_rate=1e-3, self_supervised_learning_rate=5e-3, supervised_start_epoch=1, **HEAD
    )
    probe = OptimizerProbe()
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[probe],
    )
    trainer.fit(model, _loader())
    ssl, supervised = [s for s in probe.seen if s[0] == 0], [s for s in probe.seen if s[0] == 1]
    assert all(s[4] == "self_supervised" and s[2] == 5e-3 for s in ssl)
    assert ssl[1][3] > 0  # Adam moments accumulated during the first stage
    assert all(s[4] == "supervised" and s[2] == 1e-3 for s in supervised)
    assert supervised[0][1] != ssl[0][1]  # a new optimizer object...
    assert supervised[0][3] == 0  # ...with no state carried over
    assert "train/ranking" in trainer.callback_metrics
    model.save_pretrained(tmp_path / "a2")
    assert StagedAdaptationModel.from_pretrained(tmp_path / "a2").stage == "supervised"


def test_staged_model_with_a_logmel_backbone_trains_both_stages() -> None:
    torch.manual_seed(0)
    model = StagedAdaptationModel(
        BackboneConfig(
            name="logmel", options={"hidden_size": 32, "num_layers": 2, "num_heads": 2, "n_mels": 32}
        ),
        lora=LoRASettings(rank=2, alpha=4, layers=[2]),
        **HEAD,
    )
    wave = torch.randn(4, 4800)
    part = {"waveform": wave, "mask": torch.ones_like(wave, dtype=torch.bool), "sample_rate": 24_000}
    noisy = {**part, "waveform": wave + 0.05 * torch.randn_like(wave)}
    loss = model.training_step(
        {"clean": part, "augmented": noisy, "piece_ids": torch.tensor([0, 0, 1, 1])}, 0
    )
    loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert any("lora_" in n for n in grads) and not any("base_layer" in n for n in grads)
