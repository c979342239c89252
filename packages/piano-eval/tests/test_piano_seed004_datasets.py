"""Seed-004 data pipeline: competition placements and within-piece pair sampling, keyed performance pairs,
clean/augmented embedding pairs, masked MIDI pretraining items and the multi-task collate."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
from piano_eval.audio import StagedAdaptationModel
from piano_eval.heads import HeadConfig
from piano_eval.symbolic.remi_transformer import RemiTransformerModule
from piano_eval.training import (
    AugmentedEmbeddingDataset,
    CompetitionDataset,
    MIDIPretrainingDataset,
    PerformancePairDataset,
    WithinPiecePairSampler,
    multi_task_collate_fn,
)
from torch.utils.data import DataLoader

PAD, BOS, EOS, MASK = 0, 1, 2, 3
VOCAB = 40

# --------------------------------------------------------------------------------- within-piece pairs


def test_pair_sampler_yields_only_within_piece_pairs_and_covers_all_of_them_each_epoch() -> None:
    pieces = ["op10", "op10", "op10", "op25", "op25", "solo"]
    sampler = WithinPiecePairSampler(pieces, seed=3)
    first, second = list(sampler), list(sampler)
    expected = {(i, j) for i, j in itertools.permutations(range(6), 2) if pieces[i] == pieces[j]}
    assert len(expected) == 8 and len(sampler) == 8
    for epoch in (first, second):
        assert len(epoch) == len(set(epoch)) == 8  # each pair exactly once
        assert set(epoch) == expected
    assert first != second  # reshuffled between epochs
    unordered = set(WithinPiecePairSampler(pieces, ordered=False, shuffle=False))
    assert unordered == {(0, 1), (0, 2), (1, 2), (3, 4)}


def test_pair_sampler_needs_a_piece_with_two_performances() -> None:
    with pytest.raises(ValueError, match="no pairs"):
        WithinPiecePairSampler([0, 1, 2])


# --------------------------------------------------------------------------------- competition (T2)


def _competition() -> CompetitionDataset:
    gen = torch.Generator().manual_seed(0)
    records = [
        {
            "recording_id": f"r{i}",
            "placement": p,
            "competition": c,
            "embeddings": torch.randn(n, 8, generator=gen),
        }
        for i, (p, c, n) in enumerate(
            [(1, "chopin", 100), (2, "chopin", 80), (3, "chopin", 120), (2, "leeds", 40), (1, "leeds", 60)]
        )
    ]
    return CompetitionDataset.from_records(records, max_frames=90)


def test_competition_items_carry_ordinal_placements_and_field_relative_scores() -> None:
    ds = _competition()
    item = ds[2]
    assert set(item) == {"embeddings", "placement", "placement_score", "piece_ids", "recording_id"}
    assert item["embeddings"].shape == (90, 8)  # cropped to max_frames
    assert ds[1]["embeddings"].shape == (80, 8)
    assert ds.placements.tolist() == [1, 2, 3, 2, 1]
    assert ds.piece_ids.tolist() == [0, 0, 0, 1, 1] and ds.group_names == ["chopin", "leeds"]
    assert ds.placement_scores.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 1.0])


def test_competition_seed_records_without_a_group_form_one_competition() -> None:
    records = [
        {"recording_id": f"r{i}", "placement": i + 1, "embeddings": torch.randn(10, 4)} for i in range(3)
    ]
    ds = CompetitionDataset.from_records(records, max_frames=1000)
    assert ds[0]["placement"] == 1 and len(ds.pair_sampler()) == 6


def test_competition_pairs_batch_within_a_piece_with_preferences_from_placements() -> None:
    ds = _competition()
    loader = DataLoader(ds, batch_size=4, sampler=ds.pair_sampler(seed=1), collate_fn=multi_task_collate_fn)
    seen = 0
    for batch in loader:
        assert torch.equal(batch["piece_ids_a"], batch["piece_ids_b"])
        a, b = batch["placement_a"], batch["placement_b"]
        expected = torch.where(a == b, 0.5, (a < b).float())
        assert torch.equal(batch["preference"], expected)
        assert batch["a"]["features"].shape[-1] == 8 and batch["a"]["mask"].dtype == torch.bool
        assert batch["a"]["mask"].sum(1).max() <= 90
        seen += len(a)
    assert seen == 6 + 2


def test_competition_rejects_cross_piece_pairs_and_zero_placements() -> None:
    ds = _competition()
    with pytest.raises(ValueError, match="different pieces"):
        ds[(0, 3)]
    with pytest.raises(ValueError, match="1-based"):
        CompetitionDataset([torch.zeros(2, 2)], [0], ["x"])


# --------------------------------------------------------------------------------- keyed pairs (T3)


def test_pairs_from_keyed_piece_groups_are_every_within_piece_pair_of_the_split() -> None:
    inputs = {k: torch.full((3, 2), float(i)) for i, k in enumerate(["k1", "k2", "k3", "k4", "k5"])}
    labels = {k: [0.1 * i] * 19 for i, k in enumerate(inputs)}
    groups = {"piece1": ["k1", "k2", "k3"], "piece2": ["k4", "k5"]}
    ds = PerformancePairDataset.from_piece_groups(inputs, labels, groups, keys=["k1", "k2", "k3", "k4"])
    assert ds.keys == ["k1", "k2", "k3"]  # piece2 keeps one performance in this split: no pairs
    assert len(ds) == 6 and ds.labels.shape == (3, 19)
    item = ds[0]
    assert torch.equal(item["a"], inputs["k1"]) and torch.equal(item["b"], inputs["k2"])
    assert item["labels_b"].tolist() == pytest.approx([0.1] * 19)
    with pytest.raises(ValueError, match="in no piece"):
        PerformancePairDataset.from_piece_groups(inputs, labels, groups, keys=["k1", "nope"])


# --------------------------------------------------------------------------------- augmented (T4)


def test_augmented_embedding_pairs_pick_precomputed_views_and_feed_the_self_supervised_stage() -> None:
    gen = torch.Generator().manual_seed(0)
    clean = [torch.randn(6 + i, 8, generator=gen) for i in range(4)]
    views = [[c + 0.1, c - 0.1] for c in clean]
    ds = AugmentedEmbeddingDataset(clean, piece_ids=[0, 0, 1, 1], augmented=views)
    drawn = [ds[0]["augmented"] for _ in range(20)]
    assert all(any(torch.equal(d, v) for v in views[0]) for d in drawn)
    assert {round(float(d.mean() - clean[0].mean()), 3) for d in drawn} == {0.1, -0.1}  # both views used
    batch = multi_task_collate_fn([ds[i] for i in range(4)])
    assert batch["clean"]["features"].shape == (4, 9, 8) and batch["clean"]["mask"].sum(1).tolist() == [
        6,
        7,
        8,
        9,
    ]
    model = StagedAdaptationModel(
        input_dim=8, head=HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=3)
    )
    losses = model.self_supervised_losses(batch)
    assert torch.isfinite(losses["total"]) and losses["invariance"] > 0


def test_augmented_embeddings_from_a_function_and_argument_checks() -> None:
    clean = [torch.ones(3, 2)]
    ds = AugmentedEmbeddingDataset(clean, [0], augment=lambda x: 2 * x)
    assert torch.equal(ds[0]["augmented"], torch.full((3, 2), 2.0))
    with pytest.raises(ValueError, match="exactly one"):
        AugmentedEmbeddingDataset(clean, [0])
    with pytest.raises(ValueError, match="differ in width"):
        AugmentedEmbeddingDataset(clean, [0], augmented=[[torch.ones(3, 5)]])


# --------------------------------------------------------------------------------- MIDI pretraining (T4)


def _token_sequences(count: int, seed: int = 0) -> list[torch.Tensor]:
    """REMI-like sequences BOS … EOS, some pre-padded with trailing PAD tokens."""
    gen = torch.Generator().manual_seed(seed)
    seqs = []
    for i in range(count):
        body = torch.randint(4, VOCAB, (int(torch.randint(50, 200, (1,), generator=gen)),), generator=gen)
        ids = torch.cat([torch.tensor([BOS]), body, torch.tensor([EOS])])
        if i % 2:
            ids = torch.cat([ids, torch.full((30,), PAD)])
        seqs.append(ids)
    return seqs


def test_masking_rate_80_10_10_pad_never_masked_and_labels_only_where_masked() -> None:
    seqs = _token_sequences(200)
    ds = MIDIPretrainingDataset(seqs, max_seq_len=256, vocab_size=VOCAB, special_ids=[BOS, EOS], seed=0)
    items = [ds[i] for i in range(len(ds))]
    originals = torch.stack([ds.window(i) for i in range(len(ds))])  # no random crop: all fit in 256
    input_ids = torch.stack([it["input_ids"] for it in items])
    labels = torch.stack([it["labels"] for it in items])
    attention = torch.stack([it["attention_mask"] for it in items])
    assert input_ids.shape == (200, 256)
    assert torch.equal(attention, originals != PAD)
    picked = labels != -100
    maskable = attention & ~torch.isin(originals, torch.tensor([BOS, EOS]))
    assert not bool((picked & ~maskable).any())  # pads and specials never picked
    assert torch.equal(input_ids[~attention], torch.full_like(input_ids[~attention], PAD))
    rate = picked.sum().item() / maskable.sum().item()
    assert abs(rate - 0.15) < 0.01, rate  # about 24k maskable tokens
    assert torch.equal(labels[picked], originals[picked])  # targets are the original tokens
    assert torch.equal(input_ids[~picked], originals[~picked])  # unpicked tokens untouched
    to_mask = (input_ids[picked] == MASK).float().mean().item()
    unchanged = (input_ids[picked] == originals[picked]).float().mean().item()
    assert abs(to_mask - 0.8) < 0.03 and abs(unchanged - 0.1 - 0.1 / (VOCAB - 4)) < 0.03
    again = ds[0]
    assert not torch.equal(again["labels"], items[0]["labels"])  # dynamic masking: new positions per access


def test_long_sequences_are_cropped_to_a_contiguous_window() -> None:
    ids = torch.arange(4, 40).repeat(20)  # 720 tokens
    ds = MIDIPretrainingDataset([ids], max_seq_len=64, vocab_size=VOCAB, seed=1)
    starts = set()
    for _ in range(10):
        window = ds.window(0)
        start = next(s for s in range(len(ids) - 63) if torch.equal(ids[s : s + 64], window))
        starts.add(start % 36)
    assert len(starts) > 1
    fixed = MIDIPretrainingDataset([ids], max_seq_len=64, vocab_size=VOCAB, random_crop=False)
    assert torch.equal(fixed.window(0), ids[:64])


def test_pretraining_items_train_the_remi_encoder_as_they_are() -> None:
    ds = MIDIPretrainingDataset(
        _token_sequences(8), max_seq_len=64, vocab_size=VOCAB, special_ids=[BOS, EOS], seed=0
    )
    batch = multi_task_collate_fn([ds[i] for i in range(8)])
    module = RemiTransformerModule(
        VOCAB,
        PAD,
        MASK,
        [BOS, EOS],
        d_model=16,
        num_heads=2,
        num_layers=1,
        dim_feedforward=32,
        max_seq_len=64,
        stage="pretrain",
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
    )
    loss = module.pretrain_losses(batch)["mlm"]
    assert torch.isfinite(loss) and loss.item() > 0


def test_pretraining_dataset_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="outside"):
        MIDIPretrainingDataset([[1, 2, VOCAB]], max_seq_len=8, vocab_size=VOCAB)
    with pytest.raises(ValueError, match="mask_prob"):
        MIDIPretrainingDataset([[1, 2]], max_seq_len=8, vocab_size=VOCAB, mask_prob=0.0)


# --------------------------------------------------------------------------------- multi-task collate


def test_multi_task_collate_pads_frames_like_the_seed() -> None:
    batch = [
        {"embeddings_a": torch.randn(50, 16), "labels_a": torch.rand(19)},
        {"embeddings_a": torch.randn(30, 16), "labels_a": torch.rand(19)},
    ]
    collated = multi_task_collate_fn(batch)
    assert collated["embeddings_a"].shape == (2, 50, 16)
    assert collated["mask_a"].sum(1).tolist() == [50, 30]
    assert torch.equal(collated["embeddings_a"][1, :30], batch[1]["embeddings_a"])
    assert not collated["embeddings_a"][1, 30:].any()
    assert collated["labels_a"].shape == (2, 19)


def test_multi_task_collate_masks_tasks_missing_from_some_items() -> None:
    regression = {"embeddings": torch.ones(4, 3), "labels": torch.full((5,), 0.5)}
    ordinal = {"embeddings": torch.ones(6, 3), "placement": 2, "recording_id": "r7"}
    both = {"embeddings": torch.ones(2, 3), "labels": torch.full((5,), 0.25), "placement": torch.tensor(1)}
    tasks = {
        "regression": ["labels"],
        "ordinal": ["placement"],
        "joint": ["labels", "placement"],
        "gone": ["x"],
    }
    collate = functools.partial(multi_task_collate_fn, tasks=tasks)
    out = collate([regression, ordinal, both])
    assert out["present"]["labels"].tolist() == [True, False, True]
    assert out["present"]["placement"].tolist() == [False, True, True]
    assert out["present"]["embeddings"].tolist() == [True, True, True]
    masks = {task: mask.tolist() for task, mask in out["task_mask"].items()}
    assert masks == {
        "regression": [True, False, True],
        "ordinal": [False, True, True],
        "joint": [False, False, True],
        "gone": [False, False, False],
    }
    assert out["labels"][1].tolist() == [0.0] * 5 and out["labels"][2].tolist() == [0.25] * 5
    assert out["placement"].tolist() == [0, 2, 1]
    assert out["recording_id"] == [None, "r7", None]
    assert out["embeddings"].shape == (3, 6, 3) and out["mask"].sum(1).tolist() == [4, 6, 2]


def test_multi_task_collate_refuses_ragged_labels_and_reserved_names() -> None:
    with pytest.raises(ValueError, match="'labels' has shapes"):
        multi_task_collate_fn([{"labels": torch.ones(3)}, {"labels": torch.ones(4)}])
    with pytest.raises(ValueError, match="clash"):
        multi_task_collate_fn([{"present": torch.ones(1)}])
    with pytest.raises(ValueError, match="frame mask"):
        multi_task_collate_fn([{"embeddings": torch.ones(2, 2), "mask": torch.ones(2)}])
