"""DrumPatternTokenizer: conditioning prefix, exact round trips on corpus patterns, tempo bins, save/load."""

from __future__ import annotations

import json

import pytest
from drum_gen.corpus import generate_corpus
from drum_gen.gm import CLOSED_HIHAT, KICK, SNARE
from drum_gen.pattern import DrumNote, Pattern
from drum_gen.tokenizer import (
    PREFIX_LENGTH,
    DrumPatternTokenizer,
    DrumPatternTokenizerConfig,
    InvalidTokenError,
    TokenizerError,
    style_slug,
)

STYLES = ("J Dilla", "Metro Boomin", "Questlove", "Timbaland")


@pytest.fixture(scope="module")
def tokenizer() -> DrumPatternTokenizer:
    return DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=STYLES))


def onsets(pattern: Pattern) -> list[tuple[int, int]]:
    return sorted((n.time, n.pitch) for n in pattern.notes)


def test_sequence_starts_with_bos_style_tempo_and_ends_with_eos(tokenizer: DrumPatternTokenizer) -> None:
    pattern = Pattern((DrumNote(0, KICK, 100, 60), DrumNote(480, SNARE, 90, 60)), tempo_bpm=92.0, bars=1)
    ids = tokenizer.encode_pattern(pattern, "J Dilla")
    tokens = [tokenizer.id_to_token(i) for i in ids]
    assert tokens[:PREFIX_LENGTH] == ["BOS_None", "Style_j_dilla", "TempoBin_90"]
    assert tokens[-1] == "EOS_None"
    assert tokens[PREFIX_LENGTH] == "Bar_None"
    assert "PitchDrum_36" in tokens and "PitchDrum_38" in tokens
    assert tokenizer.prompt_ids("dilla", 92.0) == ids[:PREFIX_LENGTH]


def test_round_trip_on_corpus_patterns_is_exact_in_time_and_pitch(tokenizer: DrumPatternTokenizer) -> None:
    items = generate_corpus(2, seed=3, bars=4)
    assert {item.style for item in items} == set(STYLES)
    for item in items:
        ids = tokenizer.encode_pattern(item.pattern, item.style)
        assert tokenizer.count_bars(ids) == 4
        decoded = tokenizer.decode_pattern(ids, tempo_bpm=item.pattern.tempo_bpm, bars=4)
        assert onsets(decoded) == onsets(item.pattern), item.style
        assert decoded.tempo_bpm == item.pattern.tempo_bpm
        assert decoded.time_signature == (4, 4) and decoded.num_bars == 4
        # 16 velocity bins over 0-127: at most half a bin (4) off.
        original = {(n.time, n.pitch): n.velocity for n in item.pattern.notes}
        assert all(abs(original[(n.time, n.pitch)] - n.velocity) <= 4 for n in decoded.notes)
        style, tempo_bin = tokenizer.decode_conditions(ids)
        assert style == item.style
        assert abs(tempo_bin - item.pattern.tempo_bpm) <= 5


def test_triplets_and_32nds_survive(tokenizer: DrumPatternTokenizer) -> None:
    times = [0, 60, 120, 160, 320, 480, 540]  # 32nds, 16th triplets, a 32nd off the 16th grid
    pattern = Pattern(tuple(DrumNote(t, CLOSED_HIHAT, 80, 30) for t in times), tempo_bpm=140.0, bars=1)
    decoded = tokenizer.decode_pattern(tokenizer.encode_pattern(pattern, "Metro Boomin"))
    assert [n.time for n in decoded.notes] == times
    assert decoded.tempo_bpm == 140.0  # from the TempoBin token when no tempo is given


def test_decode_drops_notes_past_requested_bars(tokenizer: DrumPatternTokenizer) -> None:
    pattern = Pattern((DrumNote(0, KICK, 100, 60), DrumNote(1920 + 480, SNARE, 100, 60)), tempo_bpm=100.0)
    decoded = tokenizer.decode_pattern(tokenizer.encode_pattern(pattern, "Questlove"), bars=1)
    assert onsets(decoded) == [(0, KICK)] and decoded.num_bars == 1


def test_tempo_bins_and_style_resolution(tokenizer: DrumPatternTokenizer) -> None:
    assert tokenizer.tempo_bin(92) == 90
    assert tokenizer.tempo_bin(95) == 90  # tie goes to the slower bin
    assert tokenizer.tempo_bin(300) == 200 and tokenizer.tempo_bin(10) == 60
    assert tokenizer.resolve_style("metro boomin") == "Metro Boomin"
    assert style_slug("J Dilla") == "j_dilla"
    with pytest.raises(TokenizerError, match="not one this model was trained on"):
        tokenizer.resolve_style("Skrillex")
    with pytest.raises(TokenizerError, match="positive"):
        tokenizer.tempo_bin(0)


def test_special_and_conditioning_ids(tokenizer: DrumPatternTokenizer) -> None:
    ids = {tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id}
    assert len(ids) == 3 and max(ids) < tokenizer.vocab_size
    conditioning = tokenizer.conditioning_token_ids
    assert tokenizer.bos_id in conditioning and tokenizer.eos_id not in conditioning
    assert tokenizer.token_to_id("Style_questlove") in conditioning
    assert tokenizer.token_to_id("TempoBin_120") in conditioning
    assert tokenizer.bar_token_ids == {tokenizer.token_to_id("Bar_None")}
    with pytest.raises(InvalidTokenError):
        tokenizer.decode_pattern([tokenizer.vocab_size + 5])


def test_invalid_configs_raise() -> None:
    with pytest.raises(TokenizerError, match="at least one style"):
        DrumPatternTokenizerConfig(styles=())
    with pytest.raises(TokenizerError, match="duplicate"):
        DrumPatternTokenizerConfig(styles=("J Dilla", "j-dilla"))
    with pytest.raises(TokenizerError, match="increasing"):
        DrumPatternTokenizerConfig(styles=("a",), tempo_bins=(100, 90))
    with pytest.raises(TokenizerError, match="unknown"):
        DrumPatternTokenizerConfig.from_dict({"styles": ["a"], "nope": 1})


def test_save_load_round_trip(tmp_path, tokenizer: DrumPatternTokenizer) -> None:
    tokenizer.save(tmp_path / "tok")
    loaded = DrumPatternTokenizer.load(tmp_path / "tok")
    assert loaded.config == tokenizer.config
    assert loaded.core.vocab == tokenizer.core.vocab
    pattern = generate_corpus(1, seed=0, bars=2, styles=["Timbaland"])[0].pattern
    assert loaded.encode_pattern(pattern, "Timbaland") == tokenizer.encode_pattern(pattern, "Timbaland")
    with pytest.raises(TokenizerError, match=r"no drum_pattern_tokenizer\.json"):
        DrumPatternTokenizer.load(tmp_path)
    (tmp_path / "tok" / "drum_pattern_tokenizer.json").write_text("{broken")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        DrumPatternTokenizer.load(tmp_path / "tok")
    (tmp_path / "tok" / "drum_pattern_tokenizer.json").write_text(json.dumps({"styles": ["Other"]}))
    with pytest.raises(TokenizerError, match="vocabulary differs"):
        DrumPatternTokenizer.load(tmp_path / "tok")
