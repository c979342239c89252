"""The shared objective, pair batches and the Lightning base class on planted-signal data."""

import inspect
import typing

import pytest
import torch
from piano_eval.fusion import FusedPerformanceModule
from piano_eval.heads import HeadConfig, HeadOutput, HierarchicalConfig
from piano_eval.losses import ccc_loss, listmle_loss
from piano_eval.symbolic.gnn import ScoreGraphModule
from piano_eval.symbolic.remi_transformer import RemiTransformerModule
from piano_eval.testing import make_smoke_trainer, make_synthetic_pair_loader, make_synthetic_performances
from piano_eval.training import (
    EmbeddingPerformanceModule,
    HierarchicalMultiTaskModule,
    ObjectiveConfig,
    PerformanceObjective,
    PerformancePairDataset,
    collate_embedding_pairs,
    pad_sequences,
)
from shared_audio_core import metrics
from torch.utils.data import DataLoader


def _out(z, proj, scores):
    return HeadOutput(z, proj, scores, torch.ones(z.shape[0], 1))


def test_objective_config_round_trip_and_validation():
    cfg = ObjectiveConfig(lambda_contrastive=0.0, temperature=0.1)
    assert ObjectiveConfig.from_dict(cfg.to_dict()) == cfg
    assert ObjectiveConfig().lambda_contrastive == 0.3 and ObjectiveConfig().lambda_regression == 0.5
    with pytest.raises(ValueError, match="unknown ObjectiveConfig keys"):
        ObjectiveConfig.from_dict({"lambda_foo": 1.0})
    with pytest.raises(ValueError, match="temperature"):
        ObjectiveConfig(temperature=0.0)


def test_objective_total_is_weighted_sum_of_named_losses():
    torch.manual_seed(0)
    objective = PerformanceObjective(ObjectiveConfig(lambda_invariance=0.2))
    a = _out(torch.randn(4, 3), torch.randn(4, 5), torch.rand(4, 2))
    b = _out(torch.randn(4, 3), torch.randn(4, 5), torch.rand(4, 2))
    a_aug = _out(a.z + 0.1, a.projection, a.scores)
    logits = torch.randn(4, 2)
    labels_a, labels_b = torch.rand(4, 2), torch.rand(4, 2)
    ids = torch.tensor([0, 0, 1, 1])
    losses = objective(a, b, logits, labels_a, labels_b, ids, ids, out_a_aug=a_aug)
    assert set(losses) == {"ranking", "contrastive", "regression", "invariance", "total"}
    assert losses["invariance"].item() == pytest.approx(0.01, rel=1e-5)
    expected = (
        losses["ranking"]
        + 0.3 * losses["contrastive"]
        + 0.5 * losses["regression"]
        + 0.2 * losses["invariance"]
    )
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_objective_uncertainty_weighting_uses_learned_log_variances():
    objective = PerformanceObjective(ObjectiveConfig(use_uncertainty_weighting=True, lambda_invariance=0.0))
    assert objective.uncertainty is not None
    assert objective.uncertainty.task_names == ("ranking", "contrastive", "regression")
    a = _out(torch.randn(2, 3), torch.randn(2, 4), torch.rand(2, 2))
    losses = objective(
        a,
        a,
        torch.zeros(2, 2),
        torch.rand(2, 2),
        torch.rand(2, 2),
        torch.tensor([0, 1]),
        torch.tensor([0, 1]),
    )
    # With s = 0 every task gets weight 1/2.
    expected = 0.5 * (losses["ranking"] + losses["contrastive"] + losses["regression"])
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_objective_label_masks_drop_missing_ratings():
    objective = PerformanceObjective()
    a = _out(torch.zeros(2, 3), torch.randn(2, 4), torch.full((2, 2), 0.5))
    labels_a = torch.tensor([[0.9, float("nan")], [0.9, 0.1]])
    labels_b = torch.tensor([[0.1, 0.2], [0.1, 0.9]])
    mask_a = torch.tensor([[True, False], [True, True]])
    losses = objective(
        a,
        a,
        torch.zeros(2, 2),
        labels_a,
        labels_b,
        torch.tensor([0, 1]),
        torch.tensor([0, 1]),
        label_mask_a=mask_a,
    )
    assert all(torch.isfinite(v) for v in losses.values())


def test_pair_dataset_pairs_within_pieces_and_collates_with_masks():
    perf = make_synthetic_performances(
        num_pieces=2, performances_per_piece=3, feature_dim=4, num_dimensions=2
    )
    ds = PerformancePairDataset(perf.features, perf.labels, perf.piece_ids)
    assert len(ds) == 2 * 3 * 2
    assert all(perf.piece_ids[i] == perf.piece_ids[j] and i != j for i, j in ds.pairs)
    batch = collate_embedding_pairs([ds[0], ds[1], ds[5]])
    lengths = [perf.features[ds.pairs[k][0]].shape[0] for k in (0, 1, 5)]
    assert batch["a"]["mask"].sum(dim=1).tolist() == lengths
    assert batch["labels_a"].shape == (3, 2) and batch["piece_ids_b"].dtype == torch.long
    with pytest.raises(ValueError, match="no pairs"):
        PerformancePairDataset(perf.features[:2], perf.labels[:2], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="non-empty"):
        pad_sequences([torch.zeros(0, 3)])


def test_embedding_module_trains_on_planted_signal_with_lightning():
    torch.manual_seed(0)
    loader = make_synthetic_pair_loader(
        batch_size=8, num_pieces=3, performances_per_piece=4, feature_dim=8, num_dimensions=2
    )
    module = EmbeddingPerformanceModule(
        input_dim=8,
        head=HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=2, dropout=0.0),
        learning_rate=3e-3,
    )
    batch = next(iter(loader))
    with torch.no_grad():
        before = module.pair_losses(batch)[0]["total"].item()
    trainer = make_smoke_trainer(max_steps=30)
    trainer.fit(module, loader)
    trainer.validate(module, loader, verbose=False)
    module.eval()
    with torch.no_grad():
        after = module.pair_losses(batch)[0]["total"].item()
    assert after < 0.7 * before
    assert trainer.callback_metrics["val/pairwise_accuracy"] > 0.75
    # The logged accuracy is the core's definition over the whole validation set.
    full = collate_embedding_pairs([loader.dataset[i] for i in range(len(loader.dataset))])
    with torch.no_grad():
        logits = module.compare(full["a"], full["b"])
    expected = metrics.pairwise_accuracy(logits, full["labels_a"], full["labels_b"], 0.05).overall
    assert float(trainer.callback_metrics["val/pairwise_accuracy"]) == pytest.approx(expected, abs=1e-5)
    assert "val/r2" in trainer.callback_metrics
    assert module.hparams["input_dim"] == 8
    # Ranking direction: swapping a and b flips every logit.
    logits_ab = module.compare(batch["a"], batch["b"])
    logits_ba = module.compare(batch["b"], batch["a"])
    assert torch.allclose(logits_ab, -logits_ba, atol=1e-5)


def test_optional_listmle_and_ccc_terms_enter_the_total():
    torch.manual_seed(0)
    cfg = ObjectiveConfig(lambda_listmle=0.2, lambda_ccc=0.4)
    objective = PerformanceObjective(cfg)
    a = _out(torch.randn(4, 3), torch.randn(4, 5), torch.rand(4, 2))
    b = _out(torch.randn(4, 3), torch.randn(4, 5), torch.rand(4, 2))
    labels_a, labels_b = torch.rand(4, 2), torch.rand(4, 2)
    ids = torch.tensor([0, 0, 1, 1])
    losses = objective(a, b, torch.randn(4, 2), labels_a, labels_b, ids, ids)
    scores, targets = torch.cat([a.scores, b.scores]), torch.cat([labels_a, labels_b])
    assert losses["listmle"].item() == pytest.approx(listmle_loss(scores.T, targets.T).item(), rel=1e-6)
    assert losses["ccc"].item() == pytest.approx(ccc_loss(scores, targets).item(), rel=1e-6)
    expected = losses["ranking"] + 0.3 * losses["contrastive"] + 0.5 * losses["regression"]
    expected = expected + 0.2 * losses["listmle"] + 0.4 * losses["ccc"]
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_module_components_save_and_load_through_from_pretrained(tmp_path):
    torch.manual_seed(0)
    module = EmbeddingPerformanceModule(
        input_dim=4, head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2)
    ).eval()
    module.save_components(tmp_path)
    assert (tmp_path / "scorer" / "model.safetensors").is_file()
    assert (tmp_path / "scorer" / "README.md").is_file()
    other = EmbeddingPerformanceModule(
        input_dim=4, head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2)
    ).eval()
    part = {"features": torch.randn(2, 3, 4), "mask": torch.ones(2, 3, dtype=torch.bool)}
    assert not torch.equal(other(part).scores, module(part).scores)
    other.load_components(tmp_path)
    assert torch.equal(other(part).scores, module(part).scores)
    with pytest.raises(FileNotFoundError, match="scorer"):
        other.load_components(tmp_path / "nowhere")


def test_hierarchical_multitask_module_smoke_training_and_uncertainties():
    torch.manual_seed(0)
    perf = make_synthetic_performances(
        num_pieces=4, performances_per_piece=4, feature_dim=6, num_dimensions=3
    )
    items = list(zip(perf.features, perf.labels, strict=True))

    def collate(batch):
        features, mask = pad_sequences([f for f, _ in batch])
        return {"features": features, "mask": mask, "labels": torch.stack([y for _, y in batch])}

    loader = DataLoader(
        items, batch_size=8, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(0)
    )
    architecture = HierarchicalConfig(
        input_dim=6,
        lstm_hidden_dim=8,
        num_lstm_layers=1,
        num_attention_heads=2,
        aggregated_dim=16,
        shared_dim=16,
        head_hidden_dim=8,
        num_dimensions=3,
        dropout=0.0,
    )
    module = HierarchicalMultiTaskModule(architecture, learning_rate=1e-2)
    full = collate(items)
    with torch.no_grad():
        before = module.loss(full)[1].mean().item()
    make_smoke_trainer(max_steps=40).fit(module, loader)
    module.eval()
    with torch.no_grad():
        after = module.loss(full)[1].mean().item()
    assert after < 0.5 * before
    # Small residuals pull the learned log-variances below zero (higher weight on those dimensions).
    assert (module.model.head.log_variances < 0).all()


def test_hierarchical_module_saves_and_loads_its_model_through_the_hub_mixin(tmp_path):
    torch.manual_seed(0)
    sizes = HierarchicalConfig(
        input_dim=4,
        lstm_hidden_dim=4,
        num_lstm_layers=1,
        num_attention_heads=2,
        aggregated_dim=8,
        shared_dim=8,
        head_hidden_dim=4,
        num_dimensions=2,
    )
    module = HierarchicalMultiTaskModule(sizes).eval()
    module.save_components(tmp_path)
    assert "HierarchicalMultiTaskModel" in (tmp_path / "model" / "README.md").read_text()
    features, mask = torch.randn(2, 5, 4), torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    other = HierarchicalMultiTaskModule(sizes).eval()
    assert not torch.equal(other(features, mask), module(features, mask))
    other.load_components(tmp_path)
    assert torch.equal(other(features, mask), module(features, mask))
    with pytest.raises(FileNotFoundError, match="model"):
        other.load_components(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "module_class",
    [
        EmbeddingPerformanceModule,
        HierarchicalMultiTaskModule,
        RemiTransformerModule,
        ScoreGraphModule,
        FusedPerformanceModule,
    ],
)
def test_lightning_modules_have_fully_typed_init_for_lightning_cli(module_class):
    signature = inspect.signature(module_class.__init__)
    hints = typing.get_type_hints(module_class.__init__)
    missing = [name for name in signature.parameters if name != "self" and name not in hints]
    assert not missing, f"untyped __init__ args: {missing}"


def test_validation_metrics_skip_missing_ratings():
    torch.manual_seed(0)
    perf = make_synthetic_performances(
        num_pieces=2, performances_per_piece=3, feature_dim=4, num_dimensions=2
    )
    label_mask = torch.ones_like(perf.labels, dtype=torch.bool)
    label_mask[0, 1] = False
    labels = perf.labels.clone()
    labels[0, 1] = float("nan")  # a "don't know" rating
    dataset = PerformancePairDataset(perf.features, labels, perf.piece_ids, label_mask=label_mask)
    loader = DataLoader(dataset, batch_size=4, collate_fn=collate_embedding_pairs)
    module = EmbeddingPerformanceModule(
        input_dim=4, head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2)
    )
    trainer = make_smoke_trainer(max_steps=2)
    trainer.fit(module, loader)
    trainer.validate(module, loader, verbose=False)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in trainer.callback_metrics.values())
    assert {"val/pairwise_accuracy", "val/r2", "val/total"} <= set(trainer.callback_metrics)


def test_lightning_checkpoint_round_trip_keeps_objective_config(tmp_path):
    torch.manual_seed(0)
    config = ObjectiveConfig(lambda_contrastive=0.0, use_uncertainty_weighting=True)
    module = EmbeddingPerformanceModule(
        input_dim=8, head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2), objective=config
    )
    loader = make_synthetic_pair_loader(batch_size=4, feature_dim=8, num_dimensions=2)
    trainer = make_smoke_trainer(max_steps=2)
    trainer.fit(module, loader)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    restored = EmbeddingPerformanceModule.load_from_checkpoint(tmp_path / "m.ckpt", weights_only=True).eval()
    assert restored.objective.config == config
    assert torch.equal(
        restored.objective.uncertainty.log_variances, module.objective.uncertainty.log_variances
    )
    part = {"features": torch.randn(2, 3, 8), "mask": torch.ones(2, 3, dtype=torch.bool)}
    assert torch.equal(restored(part).scores, module.eval()(part).scores)


def test_validation_r2_is_the_mean_of_per_dimension_r2_not_the_pooled_r2():
    """A predictor that outputs each dimension's mean explains nothing: R² 0 on every dimension. Pooled R²
    credits it with the spread between the dimension means (≈ 0.86 here); PercePiano reports the mean of
    the per-dimension R², so that is ``val/r2``, and the pooled value is logged only as ``val/r2_pooled``."""
    gen = torch.Generator().manual_seed(0)
    labels = (torch.tensor([0.2, 0.5, 0.8]) + 0.1 * torch.randn(24, 3, generator=gen)).clamp(0.01, 0.99)
    features = [torch.randn(4, 4, generator=gen) for _ in range(24)]
    dataset = PerformancePairDataset(features, labels, torch.arange(24) // 4)
    loader = DataLoader(dataset, batch_size=16, collate_fn=collate_embedding_pairs)
    module = EmbeddingPerformanceModule(
        input_dim=4, head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=3)
    )
    with torch.no_grad():  # scores = sigmoid(bias) = each dimension's mean label, whatever the input
        module.scorer.head.regression.weight.zero_()
        module.scorer.head.regression.bias.copy_(torch.logit(labels.mean(dim=0)))
    trainer = make_smoke_trainer()
    trainer.validate(module, loader, verbose=False)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert logged["val/r2"] == pytest.approx(0.0, abs=1e-4)
    assert [logged[f"val/r2_dim_{k}"] for k in range(3)] == pytest.approx([0.0] * 3, abs=1e-4)
    assert logged["val/r2_pooled"] > 0.8


def test_missing_ratings_change_neither_the_losses_nor_their_gradients():
    """Ranking and regression ignore masked ratings: whatever value sits under the mask (0, 0.97, NaN), the
    losses and gradients are the same, and equal to the losses computed with those entries left out."""
    torch.manual_seed(0)
    objective = PerformanceObjective(ObjectiveConfig(lambda_contrastive=0.0))
    labels_a, labels_b = torch.rand(4, 3), torch.rand(4, 3)
    mask_a = torch.ones(4, 3, dtype=torch.bool)
    mask_b = torch.ones(4, 3, dtype=torch.bool)
    mask_a[0, 1] = mask_a[2, 0] = mask_b[1, 2] = mask_b[2, 0] = False
    scores_a, scores_b = torch.rand(4, 3).requires_grad_(), torch.rand(4, 3).requires_grad_()
    logits = torch.randn(4, 3).requires_grad_()
    ids = torch.tensor([0, 0, 1, 1])

    def run(fill: float):
        la, lb = labels_a.masked_fill(~mask_a, fill), labels_b.masked_fill(~mask_b, fill)
        out_a, out_b = (
            _out(torch.zeros(4, 2), torch.randn(4, 2), scores_a),
            _out(torch.zeros(4, 2), torch.randn(4, 2), scores_b),
        )
        losses = objective(out_a, out_b, logits, la, lb, ids, ids, label_mask_a=mask_a, label_mask_b=mask_b)
        grads = torch.autograd.grad(losses["ranking"] + losses["regression"], [logits, scores_a, scores_b])
        return losses, grads

    (reference, reference_grads), *others = [run(fill) for fill in (0.0, 0.97, float("nan"))]
    for losses, grads in others:
        for name in ("ranking", "regression"):
            assert losses[name].item() == pytest.approx(reference[name].item(), rel=1e-6)
        for grad, expected in zip(grads, reference_grads, strict=True):
            torch.testing.assert_close(grad, expected)
    both = mask_a & mask_b
    delta = labels_a - labels_b
    usable = both & (delta.abs() >= 0.05)
    expected_ranking = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[usable], (delta[usable] > 0).float()
    )
    expected_regression = (
        torch.cat([(scores_a - labels_a)[mask_a], (scores_b - labels_b)[mask_b]]).pow(2).mean()
    )
    assert reference["ranking"].item() == pytest.approx(expected_ranking.item(), rel=1e-6)
    assert reference["regression"].item() == pytest.approx(expected_regression.item(), rel=1e-6)
    assert torch.all(reference_grads[0][~usable] == 0)  # no gradient through a pair with a missing rating
    assert torch.all(reference_grads[1][~mask_a] == 0) and torch.all(reference_grads[2][~mask_b] == 0)
