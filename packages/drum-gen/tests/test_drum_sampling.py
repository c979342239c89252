"""Sampling: filters on fixed logits, stopping rules, batches, seeds, cache vs no-cache equivalence."""

from __future__ import annotations

import itertools

import pytest
import torch
from drum_gen.model import DrumPatternTransformer, DrumTransformerConfig
from drum_gen.sampling import SamplingConfig, StopCondition, filter_logits, generate, sample_next_token

PAD, BOS, EOS, BAR = 0, 1, 2, 3


def tiny_model(seed: int = 0) -> DrumPatternTransformer:
    torch.manual_seed(seed)
    config = DrumTransformerConfig(
        vocab_size=10, pad_id=PAD, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=64
    )
    return DrumPatternTransformer(config).eval()


def test_top_k_one_is_argmax() -> None:
    logits = torch.tensor([[0.1, 2.0, -1.0, 1.9], [3.0, 0.0, 0.0, 2.9]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        tokens = sample_next_token(logits, temperature=1.5, top_k=1, generator=generator)
        assert tokens.tolist() == [1, 0]


def test_top_k_keeps_k_largest() -> None:
    logits = torch.tensor([[0.0, 4.0, 1.0, 3.0, 2.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=3))
    assert kept.tolist() == [[False, True, False, True, True]]


def test_top_p_keeps_minimal_nucleus() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    # 0.5 < 0.7, 0.5 + 0.3 >= 0.7: the nucleus is the two most likely tokens.
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [[True, True, False, False]]
    # Exactly reaching the mass does not pull in another token.
    assert torch.isfinite(filter_logits(logits, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.81)).tolist() == [[True, True, True, False]]
    # The most likely token always survives, even for a tiny top_p.
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).tolist() == [[True, False, False, False]]
    # Unsorted input: nucleus found per row in probability order.
    shuffled = probs[:, [2, 0, 3, 1]].log()
    assert torch.isfinite(filter_logits(shuffled, top_p=0.7)).tolist() == [[False, True, False, True]]


def test_sampling_frequencies_follow_temperature() -> None:
    logits = torch.tensor([[1.0, 0.0]]).repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    cold = sample_next_token(logits, temperature=0.25, generator=generator).float().mean().item()
    hot = sample_next_token(logits, temperature=4.0, generator=generator).float().mean().item()
    # P(token 1) = sigmoid(-1 / T): 0.018 at T=0.25, 0.438 at T=4.
    assert abs(cold - 0.018) < 0.02
    assert abs(hot - 0.438) < 0.04


def test_invalid_sampling_config_raises() -> None:
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=1.5)
    with pytest.raises(ValueError, match="top_k"):
        SamplingConfig(top_k=-1)
    with pytest.raises(ValueError, match="bar token"):
        StopCondition(eos_id=EOS, pad_id=PAD, num_bars=2)
    assert SamplingConfig.from_dict(SamplingConfig(top_k=5).to_dict()).top_k == 5


class ScriptedModel(DrumPatternTransformer):
    """A real (tiny) transformer whose output logits are overridden by a fixed script for stopping tests."""

    def __init__(self, script: list[int]) -> None:
        super().__init__(
            DrumTransformerConfig(
                vocab_size=10, pad_id=PAD, d_model=8, n_layers=1, n_heads=1, d_ff=8, max_seq_len=64
            )
        )
        self.script = script

    def forward(self, input_ids, past_key_values=None):  # type: ignore[override]
        logits, cache = super().forward(input_ids, past_key_values)
        total_len = input_ids.shape[1] + (past_key_values[0][0].shape[2] if past_key_values else 0)
        step = total_len - 2  # prompt length is 2 in these tests
        forced = torch.full_like(logits[:, -1, :], -1e9)
        forced[:, self.script[min(step, len(self.script) - 1)]] = 0.0
        logits = logits.clone()
        logits[:, -1, :] = forced
        return logits, cache


@pytest.mark.parametrize("use_cache", [True, False])
def test_stops_at_eos(use_cache: bool) -> None:
    model = ScriptedModel([BAR, 5, 6, EOS, 7, 7])
    rows = generate(
        model, torch.tensor([[BOS, 4]]), StopCondition(eos_id=EOS, pad_id=PAD), use_cache=use_cache
    )
    assert rows == [[BOS, 4, BAR, 5, 6, EOS]]


@pytest.mark.parametrize("use_cache", [True, False])
def test_bar_count_stopping_replaces_extra_bar_with_eos(use_cache: bool) -> None:
    model = ScriptedModel([BAR, 5, BAR, 6, BAR, 7, 7, 7])
    stop = StopCondition(eos_id=EOS, pad_id=PAD, bar_token_ids=frozenset({BAR}), num_bars=2)
    rows = generate(model, torch.tensor([[BOS, 4]]), stop, use_cache=use_cache)
    assert rows == [[BOS, 4, BAR, 5, BAR, 6, EOS]]


def test_max_new_tokens_limits_length_without_eos() -> None:
    model = ScriptedModel([5])
    rows = generate(
        model, torch.tensor([[BOS, 4]]), StopCondition(EOS, PAD), SamplingConfig(max_new_tokens=3)
    )
    assert rows == [[BOS, 4, 5, 5, 5]]


def test_generation_never_exceeds_max_seq_len() -> None:
    model = tiny_model()
    rows = generate(
        model,
        torch.tensor([[BOS, 4]]),
        StopCondition(EOS, pad_id=PAD),
        SamplingConfig(max_new_tokens=1000, seed=0),
    )
    assert len(rows[0]) <= model.config.max_seq_len


def test_seeded_generation_is_deterministic_and_seed_sensitive() -> None:
    model = tiny_model(seed=1)
    prompt = torch.tensor([[BOS, 4], [BOS, 5]])
    stop = StopCondition(eos_id=EOS, pad_id=PAD)
    first = generate(model, prompt, stop, SamplingConfig(max_new_tokens=30, seed=7))
    second = generate(model, prompt, stop, SamplingConfig(max_new_tokens=30, seed=7))
    other = generate(model, prompt, stop, SamplingConfig(max_new_tokens=30, seed=8))
    assert first == second
    assert first != other


def test_cache_and_no_cache_draw_identical_sequences() -> None:
    model = tiny_model(seed=2)
    prompt = torch.tensor([[BOS, 4]] * 6)
    stop = StopCondition(eos_id=EOS, pad_id=PAD, bar_token_ids=frozenset({BAR}), num_bars=3)
    config = SamplingConfig(temperature=1.0, top_k=8, top_p=0.95, max_new_tokens=40, seed=11)
    assert generate(model, prompt, stop, config, use_cache=True) == generate(
        model, prompt, stop, config, use_cache=False
    )


def test_batch_rows_finish_independently_and_are_padded_after_eos() -> None:
    model = tiny_model(seed=3)
    stop = StopCondition(eos_id=EOS, pad_id=PAD)
    rows = generate(
        model,
        torch.tensor([[BOS, 4]] * 8),
        stop,
        SamplingConfig(max_new_tokens=60, seed=0),
        suppress_token_ids=[BOS],
    )
    assert len(rows) == 8
    assert any(EOS in row for row in rows)
    for row in rows:
        assert row[:2] == [BOS, 4]
        assert BOS not in row[1:]
        if EOS in row:
            assert row[-1] == EOS and row.count(EOS) == 1
            assert PAD not in row


def test_remi_grammar_makes_even_an_untrained_model_write_well_formed_patterns() -> None:
    from drum_gen.sampling import RemiGrammar
    from drum_gen.tokenizer import DrumPatternTokenizer, DrumPatternTokenizerConfig

    tokenizer = DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=("J Dilla",)))
    torch.manual_seed(0)
    config = DrumTransformerConfig(
        vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, d_model=16, n_layers=1, n_heads=2, d_ff=32
    )
    model = DrumPatternTransformer(config).eval()
    grammar = RemiGrammar(tokenizer.core.vocab, tokenizer.eos_id)
    stop = StopCondition(tokenizer.eos_id, tokenizer.pad_id, tokenizer.bar_token_ids, num_bars=2)
    prompt = torch.tensor([tokenizer.prompt_ids("J Dilla", 90)] * 4)
    rows = generate(
        model,
        prompt,
        stop,
        SamplingConfig(max_new_tokens=200, seed=0),
        suppress_token_ids=tokenizer.conditioning_token_ids,
        constraint=grammar,
    )
    for row in rows:
        tokens = [tokenizer.id_to_token(i) for i in row[3:]]
        assert tokens[0] == "Bar_None"
        position, pitches = -1, set()
        for previous, token in itertools.pairwise(tokens):
            kind, _, value = token.partition("_")
            if kind == "Bar":
                position, pitches = -1, set()
            elif kind == "Position":
                assert int(value) > position and previous.split("_")[0] in {"Bar", "TimeSig", "Velocity"}
                position, pitches = int(value), set()
            elif kind == "PitchDrum":
                assert previous.split("_")[0] in {"Position", "Velocity"}
                assert int(value) not in pitches and len(pitches) < 4
                pitches.add(int(value))
                assert len(pitches & {42, 44, 46}) <= 1
            elif kind == "Velocity":
                assert previous.startswith("PitchDrum")
        decoded = tokenizer.decode_pattern(row, bars=2)
        assert decoded.num_bars == 2


def test_remi_grammar_rejects_non_remi_vocabulary() -> None:
    from drum_gen.sampling import RemiGrammar

    with pytest.raises(ValueError, match="REMI drum vocabulary"):
        RemiGrammar({"PAD_None": 0, "EOS_None": 1}, eos_id=1)
