"""DrumPatternTransformer: loss with one shift and PAD ignored, KV cache equivalence, windows, Hub mixin."""

from __future__ import annotations

import math

import pytest
import torch
from drum_gen.model import (
    IGNORE_INDEX,
    DrumPatternTransformer,
    DrumTransformerConfig,
    next_token_loss,
    shift_labels,
    sliding_windows,
)

PAD = 0


def tiny_model(seed: int = 0, **overrides: object) -> DrumPatternTransformer:
    torch.manual_seed(seed)
    params: dict = dict(vocab_size=12, pad_id=PAD, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=40)
    params.update(overrides)
    model = DrumPatternTransformer(DrumTransformerConfig(**params))
    return model.eval()


def test_shift_labels_shifts_once_and_masks_pad() -> None:
    ids = torch.tensor([[1, 5, 6, 2, PAD, PAD]])
    inputs, labels = shift_labels(ids, PAD)
    assert inputs.tolist() == [[1, 5, 6, 2, PAD]]
    # Position t predicts token t + 1 (not t + 2), PAD targets are ignored.
    assert labels.tolist() == [[5, 6, 2, IGNORE_INDEX, IGNORE_INDEX]]


def test_next_token_loss_matches_hand_computation() -> None:
    model = tiny_model(dropout=0.0)
    ids = torch.tensor([[1, 5, 6, 2, PAD], [1, 7, 2, PAD, PAD]])
    loss = next_token_loss(model, ids)
    logits, _ = model(ids[:, :-1])
    log_probs = torch.log_softmax(logits, dim=-1)
    # Targets by hand: row 0 predicts 5, 6, 2 at positions 0..2; row 1 predicts 7, 2 at positions 0..1.
    terms = [
        -log_probs[0, 0, 5],
        -log_probs[0, 1, 6],
        -log_probs[0, 2, 2],
        -log_probs[1, 0, 7],
        -log_probs[1, 1, 2],
    ]
    expected = torch.stack(terms).mean()
    assert torch.allclose(loss, expected, atol=1e-6)


def test_loss_is_independent_of_trailing_padding() -> None:
    model = tiny_model(dropout=0.0)
    short = torch.tensor([[1, 5, 6, 2]])
    padded = torch.tensor([[1, 5, 6, 2, PAD, PAD, PAD]])
    assert torch.allclose(next_token_loss(model, short), next_token_loss(model, padded), atol=1e-6)


def test_loss_on_all_pad_batch_raises() -> None:
    with pytest.raises(ValueError, match="no non-PAD"):
        next_token_loss(tiny_model(), torch.tensor([[1, PAD, PAD]]))


def test_initial_loss_is_near_uniform() -> None:
    model = tiny_model(dropout=0.0)
    ids = torch.randint(1, 12, (4, 20), generator=torch.Generator().manual_seed(0))
    assert abs(next_token_loss(model, ids).item() - math.log(12)) < 0.3


def test_kv_cache_gives_same_logits_as_full_forward() -> None:
    model = tiny_model(seed=3)
    ids = torch.randint(1, 12, (3, 17), generator=torch.Generator().manual_seed(1))
    full_logits, _ = model(ids)
    # Prompt of 5 tokens, then one token at a time, then a 3-token chunk with a cache.
    logits, cache = model(ids[:, :5])
    pieces = [logits]
    for t in range(5, 14):
        step_logits, cache = model(ids[:, t : t + 1], past_key_values=cache)
        pieces.append(step_logits)
    chunk_logits, cache = model(ids[:, 14:], past_key_values=cache)
    pieces.append(chunk_logits)
    cached_logits = torch.cat(pieces, dim=1)
    assert torch.allclose(cached_logits, full_logits, atol=1e-5)
    assert cache[0][0].shape == (3, 2, 17, 8)


def test_causality_future_tokens_do_not_change_past_logits() -> None:
    model = tiny_model(seed=4)
    a = torch.tensor([[1, 3, 4, 5, 6]])
    b = torch.tensor([[1, 3, 4, 9, 9]])
    logits_a, _ = model(a)
    logits_b, _ = model(b)
    assert torch.allclose(logits_a[:, :3], logits_b[:, :3], atol=1e-6)
    assert not torch.allclose(logits_a[:, 3:], logits_b[:, 3:])


def test_too_long_sequence_raises_with_hint() -> None:
    model = tiny_model(max_seq_len=8)
    with pytest.raises(ValueError, match="sliding windows"):
        model(torch.ones(1, 9, dtype=torch.long))


def test_config_validation_and_round_trip() -> None:
    with pytest.raises(ValueError, match="divisible"):
        DrumTransformerConfig(vocab_size=10, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="pad_id"):
        DrumTransformerConfig(vocab_size=10, pad_id=10)
    config = DrumTransformerConfig(vocab_size=30, d_model=32, n_heads=4)
    assert DrumTransformerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        DrumTransformerConfig.from_dict({"vocab_size": 30, "bogus": 1})


def test_sliding_windows_keep_prefix_and_cover_sequence() -> None:
    ids = [1, 50, 60, *range(100, 120), 2]  # prefix of 3, body of 21
    windows = sliding_windows(ids, window=10, stride=4, prefix_len=3)
    assert all(w[:3] == [1, 50, 60] for w in windows)
    assert all(len(w) == 10 for w in windows)
    covered = {tok for w in windows for tok in w[3:]}
    assert covered == set(ids[3:])
    assert windows[-1][-1] == 2
    assert windows[1][3:] == ids[3 + 4 : 3 + 4 + 7]
    assert sliding_windows([1, 2, 3], window=10, prefix_len=1) == [[1, 2, 3]]
    with pytest.raises(ValueError, match="window"):
        sliding_windows(ids, window=3, prefix_len=3)


def test_training_steps_reduce_loss() -> None:
    model = tiny_model(dropout=0.0).train()
    ids = torch.tensor([[1, 3, 4, 5, 3, 4, 5, 3, 4, 5, 2]] * 4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = next_token_loss(model, ids).item()
    for _ in range(30):
        optimizer.zero_grad()
        loss = next_token_loss(model, ids)
        loss.backward()
        optimizer.step()
    assert loss.item() < first * 0.3


def test_save_and_from_pretrained_round_trip(tmp_path) -> None:
    model = tiny_model(seed=5)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file()
    assert (tmp_path / "model.safetensors").is_file()
    card = (tmp_path / "README.md").read_text()
    assert "DrumPatternTransformer" in card and "drum-gen" in card
    loaded = DrumPatternTransformer.from_pretrained(tmp_path).eval()
    assert loaded.config == model.config
    ids = torch.tensor([[1, 4, 5, 6]])
    assert torch.allclose(loaded(ids)[0], model(ids)[0], atol=1e-6)
