"""Training recipe: config files, batching, splits, and a tiny real Lightning run that resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from drum_gen.corpus import generate_corpus
from drum_gen.loader import load_model
from drum_gen.shipped import default_recipe_path
from drum_gen.tokenizer import PREFIX_LENGTH
from drum_gen.training import (
    PadCollator,
    TokenWindowDataset,
    TrainingConfig,
    build_tokenizer,
    split_corpus,
    train,
)

RECIPE = default_recipe_path()


def test_recipe_parses_and_round_trips() -> None:
    config = TrainingConfig.from_yaml(RECIPE)
    assert config.max_minutes is not None and config.max_minutes <= 30
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainingConfig.from_dict({"learning_rat": 1.0})
    with pytest.raises(ValueError, match="val_fraction"):
        TrainingConfig(val_fraction=1.5)


def test_collator_pads_right_with_pad_and_only_swaps_tempo_condition() -> None:
    tempo_ids = [100, 101, 102]
    collate = PadCollator(pad_id=0, tempo_bin_ids=tempo_ids, tempo_dropout=1.0, seed=0)
    batch = collate([[1, 50, 101, 7, 8, 2], [1, 51, 100, 9, 2]])
    assert batch.dtype == torch.long and batch.shape == (2, 6)
    assert batch[1, -1].item() == 0  # right padding
    assert batch[:, PREFIX_LENGTH - 1].tolist()[0] in tempo_ids
    assert batch[0, :2].tolist() == [1, 50] and batch[0, 3:].tolist() == [7, 8, 2]
    plain = PadCollator(pad_id=0)([[1, 50, 101, 7]])
    assert plain.tolist() == [[1, 50, 101, 7]]


def test_split_is_stratified_and_disjoint() -> None:
    items = generate_corpus(5, seed=0, bars=1)
    train_items, val_items = split_corpus(items, 0.2, seed=0)
    assert len(train_items) + len(val_items) == len(items)
    assert {i.style for i in val_items} == {i.style for i in items}
    assert not {id(i) for i in train_items} & {id(i) for i in val_items}


def test_windows_respect_max_length_and_keep_conditioning() -> None:
    tokenizer = build_tokenizer()
    items = generate_corpus(1, seed=0, bars=4, styles=["Metro Boomin"])
    ids = tokenizer.encode_pattern(items[0].pattern, "Metro Boomin")
    dataset = TokenWindowDataset([ids], window=64)
    assert len(dataset) > 1
    assert all(len(w) <= 64 and w[:PREFIX_LENGTH] == ids[:PREFIX_LENGTH] for w in dataset.windows)
    assert dataset.windows[-1][-1] == tokenizer.eos_id


def test_tiny_training_run_writes_loadable_checkpoint_and_resumes(tmp_path: Path) -> None:
    config = TrainingConfig(
        patterns_per_style=3,
        bars=1,
        d_model=16,
        n_layers=1,
        n_heads=2,
        d_ff=32,
        max_seq_len=128,
        batch_size=4,
        max_epochs=1,
        max_minutes=5,
        warmup_steps=2,
        classifier_patterns_per_style=4,
        progress=False,
        num_threads=1,
    )
    out = train(config, tmp_path / "run")
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["epochs_completed"] == 1 and summary["global_steps"] == 2
    assert (out / "lightning" / "last.ckpt").is_file()
    assert [p.name for p in (out / "lightning").glob("epoch*.ckpt")] == ["epoch=000.ckpt"]  # saved each epoch
    loaded = load_model(out, device="cpu")
    assert loaded.metadata["training"]["patterns_per_style"] == 3
    assert loaded.classifier is not None and loaded.classifier.styles == loaded.tokenizer.styles
    # Same --out with more epochs resumes from last.ckpt instead of starting over.
    train(TrainingConfig.from_dict({**config.to_dict(), "max_epochs": 2}), out)
    resumed = json.loads((out / "training_summary.json").read_text())
    assert resumed["epochs_completed"] == 2 and resumed["global_steps"] == 4
