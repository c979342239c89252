"""Training data sources: `--data procedural|groove:DIR`, style maps, official splits, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from drum_gen.cli import main
from drum_gen.generator import DrumGenerator
from drum_gen.loader import load_model
from drum_gen.training import TrainingConfig, build_tokenizer, load_training_data, parse_data_spec

FIXTURE = Path(__file__).parent / "fixtures" / "groove_midi_mini"
TINY_RECIPE = (
    "patterns_per_style: 2\nbars: 1\nd_model: 16\nn_layers: 1\nn_heads: 2\nd_ff: 32\nmax_seq_len: 128\n"
    "batch_size: 4\nwarmup_steps: 1\nclassifier_patterns_per_style: 4\nnum_threads: 1\n"
)


def _config(**changes: object) -> TrainingConfig:
    return TrainingConfig.from_dict({"bars": 1, "patterns_per_style": 2, "progress": False, **changes})


def _styles_of(config: TrainingConfig, items: list) -> list[str | None]:
    tokenizer = build_tokenizer(config.styles)
    return [tokenizer.decode_conditions(tokenizer.encode_pattern(i.pattern, i.style))[0] for i in items]


def test_data_specs_parse_and_bad_ones_are_rejected() -> None:
    assert parse_data_spec("procedural") == ("procedural", None)
    assert parse_data_spec(f"groove:{FIXTURE}") == ("groove", FIXTURE)
    assert TrainingConfig().data == ["procedural"]  # the default of both CLI and recipe
    assert TrainingConfig(data="procedural").data == ["procedural"]  # type: ignore[arg-type]
    for bad in ("foo:bar", "groove:", "Procedural"):
        with pytest.raises(ValueError, match="unknown data source"):
            TrainingConfig(data=[bad])


def test_groove_uses_official_split_default_map_and_counts_skips() -> None:
    config = _config(data=[f"groove:{FIXTURE}"])
    data = load_training_data(config, build_tokenizer().styles)
    (source,) = data.sources
    # train rows: funk, hiphop x2, latin (4/4, mapped); validation rows jazz/rock are unmapped by default
    assert source["files_used"] == 4 and source["val_patterns"] == 0 == len(data.validation)
    assert source["train_patterns"] == len(data.train) == 8  # 2-bar files cut into 1-bar chunks
    assert source["skipped_files"] == {"unmapped style": 2, "test split (held out)": 2}
    assert source["unmapped_styles"] == {"jazz/swing": 1, "rock": 1}
    assert source["patterns_per_style"] == {"J Dilla": 4, "Questlove": 2, "Timbaland": 2}
    assert all(len(i.pattern.notes) and i.pattern.num_bars == 1 for i in data.train)


def test_style_map_file_changes_style_tokens_and_can_unmap(tmp_path: Path) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text("hiphop: metro\nrock: Metro Boomin\nfunk: null\n")
    config = _config(data=[f"groove:{FIXTURE}"], style_map=str(mapping))
    data = load_training_data(config, build_tokenizer().styles)
    styles = _styles_of(config, data.train)
    assert styles.count("Metro Boomin") == 4 and "J Dilla" not in styles and "Questlove" not in styles
    assert set(_styles_of(config, data.validation)) == {"Metro Boomin"}  # rock, from the validation split
    assert data.sources[0]["unmapped_styles"] == {"funk/groove1": 1, "jazz/swing": 1}
    toml = tmp_path / "map.toml"
    toml.write_text('[style_map]\n"hiphop/groove2" = "Timbaland"\n')
    data = load_training_data(_config(data=[f"groove:{FIXTURE}"], style_map=str(toml)), ["Timbaland"])
    assert {i.style for i in data.train} == {"Timbaland"}
    assert data.sources[0]["skipped_files"]["style not in training styles"] == 1  # funk -> Questlove
    bad = tmp_path / "bad.yaml"
    bad.write_text("rock: polka king\n")
    with pytest.raises(ValueError, match="unknown style"):
        load_training_data(_config(data=[f"groove:{FIXTURE}"], style_map=str(bad)), ["J Dilla"])


def test_procedural_and_groove_mix_with_per_source_counts() -> None:
    config = _config(data=["procedural", f"groove:{FIXTURE}"], style_map={"rock": "dilla"})
    styles = build_tokenizer().styles
    data = load_training_data(config, styles)
    procedural, groove = data.sources
    assert procedural["source"] == "procedural"
    assert procedural["train_patterns"] + procedural["val_patterns"] == 2 * len(styles)
    assert groove["val_patterns"] == 2  # the rock file of the validation split, 2 bars
    assert len(data.train) == procedural["train_patterns"] + groove["train_patterns"]
    assert "groove:" in data.describe() and "procedural:" in data.describe()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo:bar", "unknown data source 'foo:bar'"),
        ("groove:{tmp}/nowhere", "Groove MIDI directory not found"),
        ("groove:{tmp}", "no info.csv"),
    ],
)
def test_cli_bad_data_spec_is_one_line_exit_2(
    spec: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    args = ["train", "--config", str(recipe), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main([*args, "--data", spec.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("drum-gen: error:") and "\n" not in err


@pytest.mark.slow
def test_cli_trains_on_groove_fixture_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("rock: metro\n")
    out = tmp_path / "run"
    args = ["train", "--config", str(recipe), "--out", str(out), "--max-epochs", "1", "--no-progress"]
    assert main([*args, "--data", f"groove:{FIXTURE}", "--style-map", str(mapping)]) == 0
    assert f"checkpoint written to {out}" in capsys.readouterr().out
    summary = json.loads((out / "training_summary.json").read_text())
    (source,) = summary["data_sources"]
    assert source["source"] == f"groove:{FIXTURE}" and source["train_patterns"] == 8
    assert source["val_patterns"] == 2 and summary["val_windows"] == 2
    assert source["patterns_per_style"]["Metro Boomin"] == 2
    loaded = load_model(out, device="cpu")
    assert loaded.metadata["training"]["data"] == [f"groove:{FIXTURE}"]
    assert loaded.metadata["training"]["style_map"] == str(mapping)
    pattern = DrumGenerator(loaded).generate(
        "J Dilla", bars=1, tempo_bpm=90, seed=0, enforce_style_rules=False
    )  # one epoch cannot fill rule-opened bars
    assert pattern.num_bars == 1


@pytest.mark.slow
def test_groove_without_validation_patterns_still_trains(tmp_path: Path) -> None:
    from drum_gen.training import train

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    data = {**TrainingConfig.from_yaml(recipe).to_dict(), "max_epochs": 1, "progress": False}
    config = TrainingConfig.from_dict({**data, "data": [f"groove:{FIXTURE}"]})  # default map: no val rows
    summary = json.loads((train(config, tmp_path / "run") / "training_summary.json").read_text())
    assert summary["val_windows"] == 0 and summary["epochs_completed"] == 1
