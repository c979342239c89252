"""DrumGenerator on a tiny model that memorised one 2-bar pattern per style (trained inside the test)."""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import pytest
import symusic
import torch
from drum_gen.corpus import generate_corpus
from drum_gen.generator import DrumGenerator, GenerationError, GenerationRequest
from drum_gen.humanize import humanize
from drum_gen.loader import clear_model_cache, load_model, save_checkpoint
from drum_gen.model import DrumPatternTransformer, DrumTransformerConfig, next_token_loss
from drum_gen.pattern import Pattern
from drum_gen.styles import get_style
from drum_gen.tokenizer import DrumPatternTokenizer, DrumPatternTokenizerConfig
from drum_gen.training import PadCollator
from drum_gen.validation import validate

STYLES = ("J Dilla", "Metro Boomin")


def onsets(pattern: Pattern) -> list[tuple[int, int]]:
    return sorted((n.time, n.pitch) for n in pattern.notes)


@pytest.fixture(scope="module")
def memorised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Pattern]]:
    """Train until the model reproduces one pattern per style (a real model and a real training loop)."""
    torch.manual_seed(0)
    tokenizer = DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=STYLES))
    items = generate_corpus(1, seed=4, bars=2, styles=STYLES)
    targets = {item.style: item.pattern for item in items}
    batch = PadCollator(tokenizer.pad_id)([tokenizer.encode_pattern(i.pattern, i.style) for i in items])
    config = DrumTransformerConfig(
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        d_model=32,
        n_layers=2,
        n_heads=2,
        d_ff=64,
        dropout=0.0,
    )
    model = DrumPatternTransformer(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        loss = next_token_loss(model, batch)
        loss.backward()
        optimizer.step()
        if loss.item() < 0.02:
            break
    assert loss.item() < 0.1
    directory = tmp_path_factory.mktemp("memorised")
    save_checkpoint(directory, model.eval(), tokenizer, {"training": {"bars": 2}})
    clear_model_cache()
    return directory, targets


@pytest.fixture(scope="module")
def generator(memorised: tuple[Path, dict[str, Pattern]]) -> DrumGenerator:
    return DrumGenerator(load_model(memorised[0], device="cpu"))


def test_greedy_generation_reproduces_the_memorised_style_pattern(
    generator: DrumGenerator, memorised: tuple[Path, dict[str, Pattern]]
) -> None:
    for style, target in memorised[1].items():
        pattern = generator.generate(
            style, bars=2, tempo_bpm=target.tempo_bpm, humanize=False, top_k=1, seed=0
        )
        assert onsets(pattern) == onsets(target)
        assert pattern.num_bars == 2 and pattern.tempo_bpm == target.tempo_bpm and not pattern.humanized


def test_longer_requests_continue_in_blocks(generator: DrumGenerator, memorised) -> None:
    target = memorised[1]["J Dilla"]
    pattern = generator.generate("dilla", bars=5, tempo_bpm=90, humanize=False, top_k=1, seed=0)
    assert pattern.num_bars == 5 and validate(pattern).ok
    # The first block is the memorised 2 bars; later blocks are prompted with the bar before them.
    assert onsets(pattern.slice_bars(0, 2)) == onsets(target)


def test_humanized_output_is_valid_swung_midi_on_channel_10(generator: DrumGenerator, tmp_path: Path) -> None:
    pattern = generator.generate("J Dilla", bars=2, tempo_bpm=90, humanize=True, top_k=1, seed=3)
    quantized = generator.generate("J Dilla", bars=2, tempo_bpm=90, humanize=False, top_k=1, seed=3)
    assert pattern.humanized and validate(pattern).ok
    # Humanized exactly once, by the style's own settings (swing, late snare, ghost notes...).
    assert pattern == humanize(quantized, get_style("J Dilla"), seed=3)
    assert onsets(pattern) != onsets(quantized)
    path = pattern.write_midi(tmp_path / "out.mid")
    pm = pretty_midi.PrettyMIDI(str(path))
    assert len(pm.instruments) == 1 and pm.instruments[0].is_drum
    assert abs(pm.get_tempo_changes()[1][0] - 90) < 0.01
    assert (pm.time_signature_changes[0].numerator, pm.time_signature_changes[0].denominator) == (4, 4)
    assert len(pm.instruments[0].notes) == len(pattern.notes)
    score = symusic.Score(str(path))
    assert score.tracks[0].is_drum and len(score.tracks[0].notes) == len(pattern.notes)
    assert Pattern.read_midi(path).humanized  # marker survives: it will never be humanized twice


def test_batches_are_seeded_and_independent(generator: DrumGenerator) -> None:
    first = generator.generate_batch("Metro Boomin", 3, bars=2, humanize=False, temperature=1.5, seed=11)
    again = generator.generate_batch("Metro Boomin", 3, bars=2, humanize=False, temperature=1.5, seed=11)
    assert [onsets(p) for p in first] == [onsets(p) for p in again]
    assert len(first) == 3 and all(validate(p).ok for p in first)


def test_bad_requests_fail_before_sampling(generator: DrumGenerator) -> None:
    with pytest.raises(ValueError, match="bars"):
        GenerationRequest(style="J Dilla", bars=0)
    with pytest.raises(ValueError, match="tempo"):
        GenerationRequest(style="J Dilla", tempo_bpm=500)
    with pytest.raises(ValueError, match="temperature"):
        GenerationRequest(style="J Dilla", temperature=0)
    with pytest.raises(ValueError, match="not one this model was trained on"):
        generator.generate("Questlove", bars=1)  # a registry style the model never saw
    with pytest.raises(Exception, match="Skrillex"):
        generator.generate("Skrillex", bars=1)


def test_generation_error_when_no_valid_pattern(
    generator: DrumGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        generator,
        "_sample_quantized",
        lambda spec, bars, tempo, s, count, g, rules=(): [
            Pattern((), tempo, bars=bars) for _ in range(count)
        ],
    )
    with pytest.raises(GenerationError, match="no valid 1-bar J Dilla pattern"):
        generator.generate("J Dilla", bars=1, humanize=False)


def test_a_trained_user_style_missing_from_the_registry_says_how_to_register_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drum_gen import styles

    registry = styles.StyleRegistry(styles.BUILTIN_STYLES)
    monkeypatch.setattr(styles, "DEFAULT_REGISTRY", registry)
    registry.register(styles.StyleSpec(name="Pete Rock", swing_percent=60.0, template="boom_bap"))
    tokenizer = DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=("J Dilla", "Pete Rock")))
    config = DrumTransformerConfig(
        vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, d_model=16, n_layers=1, n_heads=2, d_ff=32
    )
    save_checkpoint(tmp_path / "ckpt", DrumPatternTransformer(config), tokenizer)
    clear_model_cache()
    generator = DrumGenerator(load_model(tmp_path / "ckpt", device="cpu"))
    assert generator.generate("pete rock", bars=1, seed=0, humanize=False).num_bars == 1
    registry.unregister("Pete Rock")  # a later process that did not load the style file
    with pytest.raises(styles.UnknownStyleError, match=r"trained on style 'Pete Rock'.*--style-file"):
        generator.generate("Pete Rock", bars=1, seed=0)
    with pytest.raises(styles.UnknownStyleError, match=r"unknown style 'Skrillex'; valid styles: J Dilla"):
        generator.generate("Skrillex", bars=1, seed=0)
