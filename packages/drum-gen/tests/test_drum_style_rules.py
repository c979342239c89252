"""Style bar rules: per-bar validation and constrained decoding that guarantees them."""

from __future__ import annotations

import pytest
import torch
from drum_gen import gm
from drum_gen.model import DrumPatternTransformer, DrumTransformerConfig
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.sampling import SamplingConfig, StopCondition, StyleRuleGrammar, generate
from drum_gen.styles import BarRule, StyleSpec, get_style, list_styles
from drum_gen.tokenizer import DrumPatternTokenizer, DrumPatternTokenizerConfig
from drum_gen.validation import RuleViolation, check_style_rules, rule_violation_rates, validate

Q = 480  # ticks per quarter


def bar(kick: bool = True, snares: tuple[int, ...] = (2, 4)) -> list[tuple[int, int]]:
    """(tick-in-bar, pitch) hits of one 4/4 bar: hats on 8ths, kick on 1, snares on the given beats."""
    hits = [(t, gm.CLOSED_HIHAT) for t in range(0, 4 * Q, Q // 2)]
    hits += [(0, gm.KICK)] if kick else []
    return hits + [((b - 1) * Q, gm.SNARE) for b in snares]


def pattern(*bars: list[tuple[int, int]]) -> Pattern:
    notes = [DrumNote(i * 4 * Q + t, p, 100, 60) for i, hits in enumerate(bars) for t, p in hits]
    return Pattern(tuple(sorted(notes, key=lambda n: (n.time, n.pitch))), 90.0, bars=len(bars))


def test_bar_missing_its_beat_2_snare_is_reported_with_bar_and_rule() -> None:
    violations = check_style_rules(pattern(bar(), bar(snares=(4,)), bar()), "J Dilla")
    assert violations == (RuleViolation(bar=1, rule="backbeat", beats=(2.0,), time=4 * Q + Q),)
    report = validate(pattern(bar(), bar(snares=(4,))), style="J Dilla")
    assert report.ok  # a missing backbeat is a warning: unidiomatic, not unplayable
    [finding] = [f for f in report.warnings if f.code == "style_rule"]
    assert finding.bar == 1 and "backbeat" in finding.message and "beat 2" in finding.message


def test_correct_bars_are_not_reported_and_style_positions_are_their_own() -> None:
    assert check_style_rules(pattern(bar(), bar()), "J Dilla") == ()
    assert "style_rule" not in validate(pattern(bar()), style="dilla").codes()
    assert check_style_rules(pattern(bar(snares=(3,))), "Metro Boomin") == ()  # half-time
    assert [v.beats for v in check_style_rules(pattern(bar()), "metro")] == [(3.0,)]
    # Timbaland's displaced snare: beat 4 or the 16th after it
    displaced = [(t, p) for t, p in bar() if (t, p) != (3 * Q, gm.SNARE)] + [(3 * Q + Q // 4, gm.SNARE)]
    assert check_style_rules(pattern(displaced), "Timbaland") == ()
    assert [v.rule for v in check_style_rules(pattern(displaced), "Questlove")] == ["backbeat"]


def test_missing_downbeat_kick_and_rates() -> None:
    patterns = [pattern(bar(kick=False), bar(), bar(snares=()), bar())]
    assert [(v.bar, v.rule) for v in check_style_rules(patterns[0], "Questlove")] == [
        (0, "downbeat_kick"),
        (2, "backbeat"),
        (2, "backbeat"),
    ]
    assert rule_violation_rates(patterns, "Questlove") == {"backbeat": 0.25, "downbeat_kick": 0.25}


def test_rules_round_trip_through_style_files_data() -> None:
    spec = get_style("Timbaland")
    again = StyleSpec.from_dict(spec.to_dict())
    assert again.rules == spec.rules
    custom = StyleSpec.from_dict(
        {"name": "X", "rules": [{"name": "clap", "pitches": [39], "beats": [2, [4, 4.5]]}]}
    )
    assert custom.rules == (BarRule("clap", (39,), ((2.0,), (4.0, 4.5))),)


STYLES = tuple(s.name for s in list_styles())


@pytest.fixture(scope="module")
def untrained() -> tuple[DrumPatternTokenizer, DrumPatternTransformer]:
    tokenizer = DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=STYLES))
    torch.manual_seed(0)
    config = DrumTransformerConfig(
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        d_model=16,
        n_layers=1,
        n_heads=2,
        d_ff=32,
        max_seq_len=8192,
    )
    return tokenizer, DrumPatternTransformer(config).eval()


def sample(
    tokenizer: DrumPatternTokenizer,
    model: DrumPatternTransformer,
    style: str,
    bars: int,
    seed: int,
    *,
    rules: bool,
    use_cache: bool = True,
    rows: int = 2,
) -> list[list[int]]:
    from drum_gen.sampling import RemiGrammar

    spec = get_style(style)
    constraint = (
        StyleRuleGrammar(tokenizer.core.vocab, tokenizer.eos_id, spec.rules, positions_per_beat=24, bars=bars)
        if rules
        else RemiGrammar(tokenizer.core.vocab, tokenizer.eos_id)
    )
    stop = StopCondition(tokenizer.eos_id, tokenizer.pad_id, tokenizer.bar_token_ids, num_bars=bars)
    return generate(
        model,
        torch.tensor([tokenizer.prompt_ids(style, 100)] * rows),
        stop,
        SamplingConfig(max_new_tokens=8000, seed=seed),
        use_cache=use_cache,
        suppress_token_ids=tokenizer.conditioning_token_ids,
        constraint=constraint,
    )


@pytest.mark.parametrize("style", STYLES)
def test_constrained_sampling_never_breaks_a_style_rule(untrained, style: str) -> None:
    tokenizer, model = untrained
    for seed in range(3):
        for row in sample(tokenizer, model, style, 32, seed, rules=True):
            decoded = tokenizer.decode_pattern(row, bars=32)
            assert decoded.time_signature == (4, 4)
            assert tokenizer.count_bars(row) == 32
            assert check_style_rules(decoded, style) == ()


def test_the_same_model_unconstrained_breaks_the_rules(untrained) -> None:
    tokenizer, model = untrained
    for style in STYLES:
        rows = sample(tokenizer, model, style, 4, 0, rules=False)
        patterns = [tokenizer.decode_pattern(r, bars=4).replace(time_signature=(4, 4)) for r in rows]
        assert any(check_style_rules(p, style) for p in patterns)


def test_cache_and_no_cache_draw_identical_tokens_under_constraints(untrained) -> None:
    tokenizer, model = untrained
    cached = sample(tokenizer, model, "Timbaland", 3, 5, rules=True, use_cache=True, rows=3)
    uncached = sample(tokenizer, model, "Timbaland", 3, 5, rules=True, use_cache=False, rows=3)
    assert cached == uncached
