"""A3: layers unfreeze top-down on the epoch schedule; param groups carry decayed learning rates."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from piano_eval.audio import BackboneConfig, GradualUnfreezingModel, default_unfreeze_schedule
from piano_eval.audio.synthetic import make_synthetic_audio_pair_loader
from piano_eval.audio.testing import save_tiny_audio_model
from piano_eval.heads import HeadConfig
from piano_eval.testing import make_synthetic_pair_loader
from torch.utils.data import DataLoader

HEAD = {"head": HeadConfig(hidden_dim=32, projection_dim=16, num_dimensions=3, dropout=0.0)}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory):
    return save_tiny_audio_model(tmp_path_factory.mktemp("w2v2"), "wav2vec2", num_layers=3, hidden_size=32)


def _model(tiny_dir, **kwargs) -> GradualUnfreezingModel:
    torch.manual_seed(0)
    return GradualUnfreezingModel(
        BackboneConfig(name="hf", model_id=str(tiny_dir)),
        unfreeze_schedule={0: [3], 1: [2], 2: [1]},
        **{**HEAD, **kwargs},
    )


class UnfrozenProbe(L.Callback):
    """Records, at each epoch's first batch, the unfrozen layers and a copy of every layer's weights."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, list[int]] = {}
        self.weights: dict[int, list[list[torch.Tensor]]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        epoch = trainer.current_epoch
        self.by_epoch.setdefault(epoch, pl_module.get_unfrozen_layers())
        if epoch not in self.weights:
            self.weights[epoch] = [
                [p.detach().clone() for p in layer.parameters()] for layer in pl_module.schedulable_layers
            ]


def _moved(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_default_schedule_unfreezes_the_top_four_layers_every_ten_epochs() -> None:
    assert default_unfreeze_schedule(12) == {0: [12], 10: [11], 20: [10], 30: [9]}


def test_trainer_unfreezes_layers_following_the_schedule(tiny_dir) -> None:
    model = _model(tiny_dir)
    assert model.get_unfrozen_layers() == [3]
    probe = UnfrozenProbe()
    loader = make_synthetic_audio_pair_loader(
        batch_size=4, num_pieces=2, performances_per_piece=2, max_seconds=0.2
    )
    trainer = L.Trainer(
        max_epochs=4,
        limit_train_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[probe],
    )
    trainer.fit(model, loader)
    assert probe.by_epoch == {0: [3], 1: [2, 3], 2: [1, 2, 3], 3: [1, 2, 3]}
    # The optimizer really trains a layer once it is unfrozen, and not before (one step per epoch).
    w = probe.weights
    assert _moved(w[0][2], w[1][2])  # layer 3 trains in epoch 0
    assert not _moved(w[0][1], w[1][1]) and _moved(w[1][1], w[2][1])  # layer 2 from epoch 1
    assert not _moved(w[0][0], w[2][0]) and _moved(w[2][0], w[3][0])  # layer 1 from epoch 2
    front_end = model.encoder.backbone.model.feature_extractor
    assert not any(p.requires_grad for p in front_end.parameters())  # never scheduled, never trained


def test_param_groups_carry_learning_rates_decayed_by_depth_from_the_top(tiny_dir) -> None:
    model = _model(tiny_dir, learning_rate=1e-3, lr_decay=0.5)
    groups = {g["name"]: g for g in model.configure_optimizers().param_groups}
    assert set(groups) == {"head", "layer_3", "layer_2", "layer_1"}
    assert groups["head"]["lr"] == pytest.approx(1e-3)
    assert groups["layer_3"]["lr"] == pytest.approx(1e-3)
    assert groups["layer_2"]["lr"] == pytest.approx(5e-4)
    assert groups["layer_1"]["lr"] == pytest.approx(2.5e-4)
    layer_1 = {id(p) for p in model.encoder.backbone.transformer_layers[0].parameters()}
    assert {id(p) for p in groups["layer_1"]["params"]} == layer_1


def test_gradients_reach_only_unfrozen_layers_and_the_head(tiny_dir) -> None:
    model = _model(tiny_dir)
    batch = next(iter(make_synthetic_audio_pair_loader(batch_size=4, num_pieces=2, performances_per_piece=2)))
    model.pair_losses(batch)[0]["total"].backward()
    layers = model.encoder.backbone.transformer_layers
    assert all(p.grad is not None for p in layers[2].parameters() if p.requires_grad)
    assert all(p.grad is None for p in layers[0].parameters())
    assert all(p.grad is None for p in layers[1].parameters())
    assert model.scorer.head.regression.weight.grad is not None


def test_backbone_free_mode_unfreezes_adapter_layers_and_learns() -> None:
    torch.manual_seed(0)
    model = GradualUnfreezingModel(
        input_dim=8, adapter_layers=2, unfreeze_schedule={0: [2], 1: [1]}, learning_rate=3e-3, **HEAD
    )
    assert model.get_unfrozen_layers() == [2]
    loader: DataLoader = make_synthetic_pair_loader(batch_size=16, feature_dim=8, num_dimensions=3, seed=0)
    batch = next(iter(loader))
    optimizer = model.configure_optimizers()
    first = model.pair_losses(batch)[0]["total"].item()
    for _ in range(40):
        optimizer.zero_grad()
        loss = model.pair_losses(batch)[0]["total"]
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.6 * first
    assert model.apply_unfreeze_schedule(1) == [1]
    assert model.get_unfrozen_layers() == [1, 2]


def test_invalid_schedules_are_rejected(tiny_dir) -> None:
    with pytest.raises(ValueError, match="out of range"):
        GradualUnfreezingModel(input_dim=8, adapter_layers=2, unfreeze_schedule={0: [3]}, **HEAD)
    with pytest.raises(ValueError, match="twice"):
        GradualUnfreezingModel(input_dim=8, adapter_layers=2, unfreeze_schedule={0: [2], 1: [2]}, **HEAD)
    with pytest.raises(ValueError, match="lr_decay"):
        GradualUnfreezingModel(input_dim=8, lr_decay=0.0, **HEAD)


def test_hub_round_trip_keeps_the_integer_schedule(tiny_dir, tmp_path) -> None:
    model = _model(tiny_dir)
    model.save_pretrained(tmp_path / "a3")
    loaded = GradualUnfreezingModel.from_pretrained(tmp_path / "a3")
    assert loaded.unfreeze_schedule == {0: [3], 1: [2], 2: [1]}
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
