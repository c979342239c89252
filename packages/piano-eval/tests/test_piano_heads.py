"""Heads: masking invariance, comparator antisymmetry, aggregator/MTL behaviour, hub round trip."""

import pytest
import torch
from piano_eval.dimensions import (
    NUM_PERCEPIANO_DIMENSIONS,
    PERCEPIANO_DIMENSIONS,
    DimensionError,
    dimension_index,
    normalize_percepiano_rating,
    resolve_dimensions,
)
from piano_eval.heads import (
    AttentionPooling,
    HeadConfig,
    HierarchicalAggregator,
    MultiTaskHead,
    PairwiseComparator,
    PerformanceHead,
    PerformanceScorer,
)
from piano_eval.losses import regression_loss, uncertainty_weighted_sum


def test_percepiano_dimensions_and_resolution():
    assert NUM_PERCEPIANO_DIMENSIONS == 19
    assert PERCEPIANO_DIMENSIONS[0] == "timing" and PERCEPIANO_DIMENSIONS[-1] == "interpretation"
    assert resolve_dimensions() == PERCEPIANO_DIMENSIONS
    assert resolve_dimensions(3) == ("dim_0", "dim_1", "dim_2")
    assert resolve_dimensions(["a", "b"]) == ("a", "b")
    assert dimension_index("pedal_clarity") == 4
    with pytest.raises(DimensionError, match="duplicate"):
        resolve_dimensions(["a", "a"])
    with pytest.raises(DimensionError, match="unknown dimension"):
        dimension_index("loudness")
    assert normalize_percepiano_rating(3.5) == pytest.approx(0.5)
    assert normalize_percepiano_rating(7.05) == pytest.approx(1.0)
    with pytest.raises(DimensionError, match="dropped"):
        normalize_percepiano_rating(7.2)
    with pytest.raises(DimensionError, match="don't know"):
        normalize_percepiano_rating(0.0)


@pytest.mark.parametrize("rating", [0.5, 0.99, -2.0, 7.25, 12.0])
def test_percepiano_ratings_off_the_1_to_7_scale_are_refused_naming_the_value(rating):
    with pytest.raises(ValueError, match=rf"rating {rating} .*1.*7"):
        normalize_percepiano_rating(rating)


def test_attention_pooling_ignores_padded_frames():
    torch.manual_seed(0)
    pool = AttentionPooling(8)
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    pooled, weights = pool(x, mask)
    x_changed = x.clone()
    x_changed[0, 3:] = 1e3  # garbage in padding
    pooled2, weights2 = pool(x_changed, mask)
    assert torch.allclose(pooled, pooled2) and torch.allclose(weights, weights2)
    assert weights[0, 3:].eq(0).all()
    assert weights.sum(dim=1).tolist() == pytest.approx([1.0, 1.0])
    # Equals pooling the unpadded sequence alone.
    alone, _ = pool(x[:1, :3], None)
    assert torch.allclose(alone, pooled[:1], atol=1e-6)


def test_attention_pooling_rejects_empty_rows_and_bad_masks():
    pool = AttentionPooling(4)
    with pytest.raises(ValueError, match="no valid positions"):
        pool(torch.randn(2, 3, 4), torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(ValueError, match="does not match"):
        pool(torch.randn(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))


def test_performance_head_outputs_scores_in_unit_interval_and_is_mask_invariant():
    torch.manual_seed(0)
    head = PerformanceHead(
        6, HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=4, dropout=0.0)
    ).eval()
    x = torch.randn(3, 7, 6)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    out = head(x, mask)
    assert ((out.scores > 0) & (out.scores < 1)).all()
    x2 = x.clone()
    x2[1, 4:] = -50.0
    out2 = head(x2, mask)
    assert torch.allclose(out.z, out2.z) and torch.allclose(out.scores, out2.scores)
    assert out.projection.shape == (3, 8) and out.attention[1, 4:].eq(0).all()


def test_pairwise_comparator_is_exactly_antisymmetric():
    torch.manual_seed(0)
    comp = PairwiseComparator(hidden_dim=12, num_dimensions=5)
    z_a, z_b = torch.randn(4, 12), torch.randn(4, 12)
    ab, ba = comp(z_a, z_b), comp(z_b, z_a)
    assert torch.allclose(ab, -ba, atol=1e-6)
    assert torch.allclose(comp(z_a, z_a), torch.zeros(4, 5), atol=1e-6)
    assert (ab.abs() > 0).any()


def test_comparator_and_head_learn_a_separable_ranking():
    torch.manual_seed(0)
    scorer = PerformanceScorer(4, HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=2, dropout=0.0))
    quality = torch.rand(32, 2)
    x = (quality @ torch.randn(2, 4)).unsqueeze(1).expand(32, 3, 4).contiguous()
    a, b = torch.arange(0, 32, 2), torch.arange(1, 32, 2)
    target = (quality[a] > quality[b]).float()
    optimizer = torch.optim.Adam(scorer.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        out = scorer(x)
        logits = scorer.compare(out._replace(z=out.z[a]), out._replace(z=out.z[b]))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_hierarchical_aggregator_padding_invariance_and_weights():
    torch.manual_seed(0)
    agg = HierarchicalAggregator(
        input_dim=5, lstm_hidden_dim=6, num_lstm_layers=2, num_heads=3, output_dim=10
    ).eval()
    x = torch.randn(2, 6, 5)
    mask = torch.tensor([[True] * 4 + [False] * 2, [True] * 6])
    out, weights = agg(x, mask)
    assert out.shape == (2, 10) and weights.shape == (2, 3, 6)
    assert weights.sum(dim=-1).flatten().tolist() == pytest.approx([1.0] * 6)
    assert weights[0, :, 4:].eq(0).all()
    x2 = x.clone()
    x2[0, 4:] = 99.0
    out2, _ = agg(x2, mask)
    assert torch.allclose(out, out2, atol=1e-6)
    alone, _ = agg(x[:1, :4])
    assert torch.allclose(alone, out[:1], atol=1e-5)
    with pytest.raises(ValueError, match="right-padded"):
        agg(x, torch.tensor([[False, True, True, True, True, True], [True] * 6]))


def test_multitask_head_scales_scores_and_learns_with_uncertainty_weighting():
    torch.manual_seed(0)
    head = MultiTaskHead(
        input_dim=4, num_dimensions=3, shared_dim=16, head_hidden_dim=8, dropout=0.0, output_scale=100.0
    )
    x = torch.randn(64, 4)
    out = head(x)
    assert ((out.scores >= 0) & (out.scores <= 100)).all()
    assert out.uncertainties.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert len(head.dimension_heads) == 3

    head = MultiTaskHead(input_dim=4, num_dimensions=3, shared_dim=16, head_hidden_dim=8, dropout=0.0)
    target = torch.sigmoid(x @ torch.randn(4, 3))
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = None
    for _ in range(80):
        optimizer.zero_grad()
        out = head(x)
        per_dim = regression_loss(out.scores, target, reduction="per_dimension")
        loss = uncertainty_weighted_sum(per_dim, out.log_variances)
        loss.backward()
        optimizer.step()
        first = first if first is not None else per_dim.sum().item()
    assert per_dim.sum().item() < 0.5 * first
    # Learned variances drift towards the (small) per-dimension errors: s < 0.
    assert (head.log_variances < 0).all()


def test_performance_scorer_hub_round_trip_with_model_card(tmp_path):
    torch.manual_seed(0)
    scorer = PerformanceScorer(
        6, HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=3, dropout=0.0)
    ).eval()
    scorer.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "library_name: piano-eval" in card and "PerformanceScorer" in card and "percepiano" in card
    loaded = PerformanceScorer.from_pretrained(tmp_path, strict=True).eval()
    x = torch.randn(2, 3, 6)
    assert torch.equal(loaded(x).scores, scorer(x).scores)
    assert loaded.head.regression.out_features == 3


def test_statistics_pooling_feeds_the_attention_weighted_mean_and_spread():
    from piano_eval.heads import HeadConfig, PerformanceHead

    torch.manual_seed(0)
    head = PerformanceHead(
        4, HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2, pooling="attention_stats")
    )
    x = torch.randn(1, 5, 4)
    mask = torch.tensor([[True, True, True, False, False]])
    seen = {}
    head.encoder.register_forward_hook(lambda module, inputs, output: seen.update(pooled=inputs[0]))
    for scale in (1.0, 2.0):  # louder frames: the spread half grows with them (attention re-weights)
        out = head(scale * x, mask)
        w = out.attention[0, :3]
        mean = (w[:, None] * scale * x[0, :3]).sum(0)
        std = torch.sqrt((w[:, None] * (scale * x[0, :3] - mean) ** 2).sum(0) + 1e-6)
        assert torch.allclose(seen["pooled"][0], torch.cat([mean, std]), atol=1e-5)
        assert torch.allclose(out.attention[0, 3:], torch.zeros(2))  # padded frames take no part
    with pytest.raises(ValueError, match="pooling must be one of"):
        HeadConfig(pooling="max")


@pytest.mark.parametrize("pooling", ["attention", "attention_stats"])
def test_frame_scores_are_what_the_head_gives_a_one_frame_input(pooling) -> None:
    """The score timeline's per-frame scores: each frame alone through the head, for every pooling."""
    from piano_eval.heads import HeadConfig, PerformanceHead

    torch.manual_seed(0)
    head = PerformanceHead(
        12, HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=4, pooling=pooling)
    ).eval()
    frames = torch.randn(5, 12)
    with torch.no_grad():
        alone = torch.cat([head(frames[t].view(1, 1, -1)).scores for t in range(5)])
        assert torch.allclose(head.frame_scores(frames), alone, atol=1e-6)
