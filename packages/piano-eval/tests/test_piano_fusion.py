"""Fusion F1–F3, score conditioning, frozen encoders and smoke training of the fused model."""

import pytest
import torch
from piano_eval.fusion import (
    ConcatFusion,
    CrossAttentionFusion,
    FusedPerformanceModel,
    FusedPerformanceModule,
    GatedFusion,
    collate_fused_pairs,
    collate_fused_parts,
)
from piano_eval.heads import HeadConfig
from piano_eval.testing import make_smoke_trainer
from piano_eval.training import PerformancePairDataset
from torch import nn
from torch.utils.data import DataLoader

FUSIONS = ["cross_attention", "concat", "gated"]


def _module(fusion_type, **kwargs):
    defaults = dict(
        audio_dim=6,
        symbolic_dim=4,
        fusion_type=fusion_type,
        fused_dim=16,
        fusion_heads=2,
        fusion_dropout=0.0,
        head=HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=2, dropout=0.0),
    )
    defaults.update(kwargs)
    return FusedPerformanceModule(**defaults)


def test_fusions_accept_pooled_vectors_like_the_seed_api():
    torch.manual_seed(0)
    z_audio, z_symbolic = torch.randn(4, 12), torch.randn(4, 10)
    assert CrossAttentionFusion(12, 10, fused_dim=8, num_heads=2)(z_audio, z_symbolic).features.shape == (
        4,
        2,
        8,
    )
    assert ConcatFusion(12, 10, fused_dim=8)(z_audio, z_symbolic).features.shape == (4, 1, 8)
    gated = GatedFusion(12, 10, fused_dim=8, num_dimensions=19)
    gates = gated.get_gates(z_audio, z_symbolic)
    assert gates.shape == (4, 19) and ((gates > 0) & (gates < 1)).all()
    out = gated(z_audio, z_symbolic)
    assert torch.equal(out.gates, gates) and out.features.shape == (4, 19, 8)
    with pytest.raises(ValueError, match="batch"):
        ConcatFusion(12, 10)(z_audio, z_symbolic[:3])


def test_gates_are_inspectable_and_mix_exactly():
    torch.manual_seed(0)
    gated = GatedFusion(3, 3, fused_dim=4, num_dimensions=2, dropout=0.0)
    with torch.no_grad():
        gated.gate.weight.zero_()
        gated.gate.bias.copy_(torch.tensor([30.0, -30.0]))  # dim 0: all audio, dim 1: all symbolic
    audio, symbolic = torch.randn(2, 5, 3), torch.randn(2, 7, 3)
    out = gated(audio, symbolic)
    other = gated(audio, symbolic + 5.0)
    assert torch.allclose(out.features[:, 0], other.features[:, 0], atol=1e-5)  # symbolic cannot reach dim 0
    assert not torch.allclose(out.features[:, 1], other.features[:, 1])
    assert out.gates[:, 0].min() > 0.99 and out.gates[:, 1].max() < 0.01


@pytest.mark.parametrize("fusion_type", FUSIONS)
def test_padding_does_not_change_fused_scores_and_comparator_is_antisymmetric(fusion_type):
    torch.manual_seed(0)
    module = _module(fusion_type, use_score_conditioning=True).eval()
    parts = [
        {"audio": torch.randn(7, 6), "symbolic": torch.randn(4, 4), "score": torch.randn(3, 4)},
        {"audio": torch.randn(3, 6), "symbolic": torch.randn(6, 4), "score": torch.randn(5, 4)},
    ]
    batch = collate_fused_parts(parts)
    alone = collate_fused_parts(parts[1:])
    assert torch.allclose(module.predict_scores(batch)[1], module.predict_scores(alone)[0], atol=1e-5)
    garbage = {k: v.clone() for k, v in batch.items()}
    for name in ("audio", "symbolic", "score"):
        garbage[name][~garbage[f"{name}_mask"]] = 1e3
    assert torch.allclose(module.predict_scores(garbage), module.predict_scores(batch), atol=1e-5)
    swapped = collate_fused_parts(parts[::-1])
    assert torch.allclose(module.compare(batch, swapped), -module.compare(swapped, batch), atol=1e-5)


def test_score_conditioning_uses_the_score_and_is_required_when_enabled():
    torch.manual_seed(0)
    model = FusedPerformanceModel(
        6, 4, "concat", fused_dim=8, num_heads=1, dropout=0.0, use_score_conditioning=True
    ).eval()
    audio, perf, score = torch.randn(2, 4, 6), torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    a = model(audio, perf, score=score).features
    b = model(audio, perf, score=torch.randn(2, 5, 4)).features
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="score conditioning is on"):
        model(audio, perf)
    plain = FusedPerformanceModel(6, 4, "concat", fused_dim=8)
    with pytest.raises(ValueError, match="use_score_conditioning=False"):
        plain(audio, perf, score=score)
    with pytest.raises(ValueError, match="fusion_type"):
        FusedPerformanceModel(6, 4, "sum")


def _planted_fused_dataset(with_score: bool = False, seed: int = 0):
    """Audio frames carry label 0, symbolic tokens carry label 1: each stream is needed for one dimension."""
    gen = torch.Generator().manual_seed(seed)
    wa, ws = torch.randn(6, generator=gen), torch.randn(4, generator=gen)
    parts, labels, pieces = [], [], []
    for piece in range(3):
        for _ in range(4):
            q = torch.rand(2, generator=gen)
            t, l_ = (
                int(torch.randint(3, 7, (1,), generator=gen)),
                int(torch.randint(2, 6, (1,), generator=gen)),
            )
            part = {
                "audio": (q[0] - 0.5) * 3 * wa + 0.05 * torch.randn(t, 6, generator=gen),
                "symbolic": (q[1] - 0.5) * 3 * ws + 0.05 * torch.randn(l_, 4, generator=gen),
            }
            if with_score:
                part["score"] = 0.1 * torch.randn(4, 4, generator=gen)
            parts.append(part)
            labels.append(q)
            pieces.append(piece)
    return PerformancePairDataset(parts, torch.stack(labels), torch.tensor(pieces))


@pytest.mark.parametrize("fusion_type", FUSIONS)
def test_fused_model_smoke_training_reduces_loss(fusion_type):
    torch.manual_seed(0)
    dataset = _planted_fused_dataset(with_score=fusion_type == "cross_attention")
    loader = DataLoader(
        dataset,
        batch_size=12,
        shuffle=True,
        collate_fn=collate_fused_pairs,
        generator=torch.Generator().manual_seed(0),
    )
    module = _module(fusion_type, use_score_conditioning=fusion_type == "cross_attention", learning_rate=3e-3)
    batch = collate_fused_pairs([dataset[i] for i in range(len(dataset))])
    module.eval()
    with torch.no_grad():
        before = module.pair_losses(batch)[0]["total"].item()
    make_smoke_trainer(max_steps=25).fit(module, loader)
    module.eval()
    with torch.no_grad():
        after = module.pair_losses(batch)[0]["total"].item()
    assert after < 0.8 * before


class _FrozenLinearEncoder(nn.Module):
    """A stand-in pretrained encoder: per-frame linear map with dropout (must stay off when frozen)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.dropout = nn.Dropout(0.5)

    def forward(self, inputs):
        features, mask = inputs
        return self.dropout(self.linear(features)), mask


def test_frozen_encoders_are_not_trained_and_stay_in_eval_mode():
    torch.manual_seed(0)
    audio_encoder = _FrozenLinearEncoder(3, 6)
    module = _module("gated", audio_encoder=audio_encoder)
    before = audio_encoder.linear.weight.clone()
    optimizer = module.configure_optimizers()
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(audio_encoder.linear.weight) not in optimized
    module.train()
    assert not audio_encoder.training
    part = {
        "audio_input": (torch.randn(2, 4, 3), torch.ones(2, 4, dtype=torch.bool)),
        "symbolic": torch.randn(2, 3, 4),
    }
    batch = {
        "a": part,
        "b": part,
        "labels_a": torch.tensor([[0.9, 0.1], [0.2, 0.8]]),
        "labels_b": torch.tensor([[0.1, 0.9], [0.8, 0.2]]),
        "piece_ids_a": torch.tensor([0, 1]),
        "piece_ids_b": torch.tensor([0, 1]),
    }
    for _ in range(3):
        optimizer.zero_grad()
        module.training_step(batch, 0).backward()
        optimizer.step()
    assert torch.equal(audio_encoder.linear.weight, before)
    # Deterministic despite the encoder's dropout: it really is in eval mode.
    assert torch.equal(module.gates(part), module.gates(part))
    with pytest.raises(ValueError, match="no frozen encoder"):
        module.encode({"audio": torch.randn(2, 4, 6), "symbolic_input": torch.randn(2, 3, 4)})
    assert "audio_encoder" not in module.hparams


def test_fused_model_hub_round_trip(tmp_path):
    torch.manual_seed(0)
    model = FusedPerformanceModel(
        6, 4, "gated", fused_dim=8, num_dimensions=3, num_heads=1, use_score_conditioning=True
    ).eval()
    model.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "FusedPerformanceModel" in card and "fusion" in card
    loaded = FusedPerformanceModel.from_pretrained(tmp_path, strict=True).eval()
    args = (torch.randn(2, 4, 6), torch.randn(2, 3, 4))
    score = torch.randn(2, 2, 4)
    assert loaded.fusion_type == "gated"
    assert torch.equal(loaded(*args, score=score).gates, model(*args, score=score).gates)


def test_fused_module_components_round_trip(tmp_path):
    torch.manual_seed(0)
    module = _module("cross_attention").eval()
    module.save_components(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fusion", "scorer"]
    other = _module("cross_attention").eval()
    other.load_components(tmp_path)
    part = collate_fused_parts([{"audio": torch.randn(3, 6), "symbolic": torch.randn(2, 4)}])
    assert torch.equal(other.predict_scores(part), module.predict_scores(part))


def test_gated_scores_follow_their_own_gate():
    torch.manual_seed(0)
    module = _module("gated").eval()
    with torch.no_grad():
        module.fusion.fusion.gate.weight.zero_()
        module.fusion.fusion.gate.bias.copy_(torch.tensor([30.0, -30.0]))  # dim 0 ← audio, dim 1 ← symbolic
    part = collate_fused_parts(
        [{"audio": torch.randn(4, 6), "symbolic": torch.randn(3, 4)} for _ in range(3)]
    )
    changed = dict(part, symbolic=torch.randn_like(part["symbolic"]))
    scores, scores_changed = module.predict_scores(part), module.predict_scores(changed)
    assert torch.allclose(scores[:, 0], scores_changed[:, 0], atol=1e-5)
    assert not torch.allclose(scores[:, 1], scores_changed[:, 1], atol=1e-4)
    assert module.gates(part)[:, 0].min() > 0.99
    # The ranking of dimension k follows gate k too: with dimension 0 all-audio, changing the symbolic
    # stream of one side cannot change who wins on dimension 0, only on dimension 1.
    other = collate_fused_parts(
        [{"audio": torch.randn(4, 6), "symbolic": torch.randn(3, 4)} for _ in range(3)]
    )
    logits, logits_changed = module.compare(part, other), module.compare(changed, other)
    assert torch.allclose(logits[:, 0], logits_changed[:, 0], atol=1e-5)
    assert not torch.allclose(logits[:, 1], logits_changed[:, 1], atol=1e-4)
    # ... and the per-dimension comparator is antisymmetric, zero on identical inputs.
    torch.testing.assert_close(module.compare(other, part), -logits)
    assert torch.equal(module.compare(part, part), torch.zeros_like(logits))


def test_gated_module_trains_the_per_dimension_comparator_not_the_pooled_one():
    torch.manual_seed(0)
    module = _module("gated")
    optimizer = module.configure_optimizers()
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in optimized for p in module.scorer.comparator.parameters())
    assert all(id(p) in optimized for p in module.fusion.comparator.parameters())
    part = collate_fused_parts([{"audio": torch.randn(4, 6), "symbolic": torch.randn(3, 4)}])
    with pytest.raises(ValueError, match="dimension tokens"):
        module.ranking_logits(module.scorer(torch.randn(1, 2, 16)), module(part))


def test_frozen_symbolic_performance_module_feeds_score_conditioned_fusion():
    from piano_eval.symbolic.remi_transformer import RemiTransformerModule, collate_token_parts

    torch.manual_seed(0)
    s1 = RemiTransformerModule(
        24,
        0,
        3,
        [0, 1, 2, 3],
        d_model=8,
        num_heads=2,
        num_layers=1,
        dim_feedforward=16,
        max_seq_len=16,
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
    )
    module = _module(
        "cross_attention", symbolic_dim=8, use_score_conditioning=True, symbolic_encoder=s1
    ).eval()
    performance = collate_token_parts([[1, 5, 6, 7, 2], [1, 8, 2]])
    score = collate_token_parts([[1, 5, 6, 2], [1, 8, 9, 2]])
    part = {"audio": torch.randn(2, 4, 6), "symbolic_input": performance, "score_input": score}
    scores = module.predict_scores(part)
    assert ((scores > 0) & (scores < 1)).all()
    other_score = dict(part, score_input=collate_token_parts([[1, 20, 21, 2], [1, 22, 2]]))
    assert not torch.allclose(module.predict_scores(other_score), scores)
    assert all(not p.requires_grad for p in s1.parameters())
