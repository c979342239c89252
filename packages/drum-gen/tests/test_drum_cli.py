"""drum-gen CLI: styles, generate (with and without a model), train, evaluate."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pretty_midi
import pytest
import symusic
import torch
from drum_gen.cli import build_parser, inference_threads, main
from drum_gen.defaults import GENERATION
from drum_gen.generator import DrumGenerator, GenerationRequest
from drum_gen.loader import clear_model_cache, load_model, save_checkpoint
from drum_gen.model import DrumPatternTransformer, DrumTransformerConfig
from drum_gen.pattern import Pattern
from drum_gen.shipped import default_model_dir
from drum_gen.tokenizer import DrumPatternTokenizer, DrumPatternTokenizerConfig
from drum_gen.validation import validate


@pytest.fixture(scope="module")
def shipped_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained model that ships in the package: style rules hold for a trained model,
    while an untrained one cannot fill every bar it is made to open with valid hits."""
    directory = tmp_path_factory.mktemp("shipped") / "model"
    shutil.copytree(default_model_dir(), directory)
    clear_model_cache()
    return directory


def test_styles_lists_builtin_styles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["styles"]) == 0
    out = capsys.readouterr().out
    assert "J Dilla" in out and "62.0%" in out and "85-95 BPM" in out
    assert main(["styles", "--json"]) == 0
    names = [s["name"] for s in json.loads(capsys.readouterr().out)]
    assert names[:4] == ["J Dilla", "Metro Boomin", "Questlove", "Timbaland"]


def test_generate_with_a_missing_model_explains_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--style", "dilla", "--model", str(tmp_path / "missing"), "-o", "x.mid"]) == 2
    err = capsys.readouterr().err
    assert "model directory not found" in err and "drum-gen train" in err and "Leave out --model" in err


def test_generate_writes_requested_midi(
    shipped_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "groove.mid"
    args = [
        "generate",
        "--model",
        str(shipped_checkpoint),
        "--style",
        "dilla",
        "--bars",
        "3",
        "--tempo",
        "90",
    ]
    assert main([*args, "--seed", "1", "--device", "cpu", "-o", str(out)]) == 0
    assert "3 bars of J Dilla at 90 BPM" in capsys.readouterr().out
    pattern = Pattern.read_midi(out)
    assert pattern.humanized and validate(pattern).ok
    pm = pretty_midi.PrettyMIDI(str(out))
    assert pm.instruments[0].is_drum and abs(pm.get_tempo_changes()[1][0] - 90) < 0.01
    assert (pm.time_signature_changes[0].numerator, pm.time_signature_changes[0].denominator) == (4, 4)
    assert max(n.start for n in pm.instruments[0].notes) < 3 * 4 * 60 / 90  # within 3 bars
    assert symusic.Score(str(out)).tracks[0].is_drum
    # Same seed, same file; --no-humanize gives the quantized pattern.
    again = tmp_path / "again.mid"
    assert main([*args, "--seed", "1", "--device", "cpu", "-o", str(again)]) == 0
    assert Pattern.read_midi(again) == pattern
    straight = tmp_path / "straight.mid"
    assert main([*args, "--seed", "1", "--no-humanize", "--device", "cpu", "-o", str(straight)]) == 0
    assert not Pattern.read_midi(straight).humanized


@pytest.fixture(scope="module")
def two_style_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained model that knows only J Dilla and Metro Boomin (requests are refused before sampling)."""
    tokenizer = DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=("J Dilla", "Metro Boomin")))
    torch.manual_seed(0)
    config = DrumTransformerConfig(
        vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, d_model=16, n_layers=1, n_heads=2, d_ff=32
    )
    directory = tmp_path_factory.mktemp("untrained")
    save_checkpoint(directory, DrumPatternTransformer(config).eval(), tokenizer, {"training": {"bars": 2}})
    clear_model_cache()
    return directory


def test_generate_rejects_bad_requests(
    two_style_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["generate", "--model", str(two_style_checkpoint), "-o", "never.mid"]
    assert main([*base, "--style", "Skrillex"]) == 2
    assert "Skrillex" in capsys.readouterr().err
    assert main([*base, "--style", "Questlove"]) == 2  # a real style this model was not trained on
    assert "not one this model was trained on" in capsys.readouterr().err
    assert main([*base, "--style", "J Dilla", "--bars", "64"]) == 2
    assert "bars must be in 1..32" in capsys.readouterr().err
    assert main([*base, "--style", "J Dilla", "--top-p", "0"]) == 2
    assert "top_p" in capsys.readouterr().err


def test_evaluate_rules_baseline_and_generate_without_style_rules(
    shipped_checkpoint: Path, tmp_path: Path
) -> None:
    json_out = tmp_path / "eval.json"
    args = ["evaluate", "--model", str(shipped_checkpoint), "--patterns-per-style", "2", "--bars", "2"]
    assert main([*args, "--device", "cpu", "--rules-baseline", "--json-out", str(json_out)]) == 0
    for style in json.loads(json_out.read_text())["styles"]:
        assert set(style["rule_violations_unconstrained"]) == {"backbeat", "downbeat_kick"}
    out = tmp_path / "free.mid"
    base = [
        "generate",
        "--model",
        str(shipped_checkpoint),
        "--device",
        "cpu",
        "--style",
        "metro",
        "--seed",
        "1",
    ]
    assert main([*base, "--no-style-rules", "-o", str(out)]) == 0 and out.is_file()
    assert build_parser().parse_args([*base, "-o", "x.mid"]).style_rules is GENERATION.enforce_style_rules


def test_evaluate_reports_every_style(shipped_checkpoint: Path, tmp_path: Path, capsys) -> None:
    json_out, md_out = tmp_path / "eval.json", tmp_path / "eval.md"
    args = ["evaluate", "--model", str(shipped_checkpoint), "--patterns-per-style", "2", "--bars", "2"]
    assert main([*args, "--device", "cpu", "--json-out", str(json_out), "--markdown-out", str(md_out)]) == 0
    report = json.loads(json_out.read_text())
    targets = {"J Dilla": 62.0, "Metro Boomin": 52.0, "Questlove": 58.0, "Timbaland": 54.0}
    assert [s["style"] for s in report["styles"]] == list(targets)
    for style in report["styles"]:
        assert style["n_generated"] == 2 and sum(style["predictions"].values()) == 2
        # accuracy is the share of generated patterns the classifier labels with the requested style
        assert style["classifier_accuracy"] == style["predictions"].get(style["style"], 0) / 2
        assert style["classifier_accuracy_corpus"] == 1.0
        assert style["swing_target"] == targets[style["style"]]
        assert style["swing_corpus"] is not None and abs(style["swing_corpus"] - style["swing_target"]) < 3.0
    metrics = {row["metric"] for row in report["groove"]}
    assert metrics == {"groove_consistency", "empty_beat_rate", "density"}
    for style in report["styles"]:  # rule violations: corpus none, constrained generation none
        assert set(style["rule_violations"]) == {"backbeat", "downbeat_kick"}
        assert set(style["rule_violations"].values()) == {0.0}
        assert set(style["rule_violations_corpus"].values()) == {0.0}
    assert "| J Dilla | backbeat | 0.0% | 0.0% |" in md_out.read_text()
    assert {row["metric"] for row in report["feel"]} == {"swing", "microtiming_ms"}
    markdown = md_out.read_text()
    assert "classifier acc." in markdown and "groove_consistency" in markdown
    assert "J Dilla" in capsys.readouterr().out


@pytest.mark.slow
def test_train_command_writes_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "patterns_per_style: 2\nbars: 1\nd_model: 16\nn_layers: 1\nn_heads: 2\nd_ff: 32\nmax_seq_len: 128\n"
        "batch_size: 4\nwarmup_steps: 1\nclassifier_patterns_per_style: 4\nnum_threads: 1\n"
    )
    out = tmp_path / "run"
    assert (
        main(["train", "--config", str(recipe), "--out", str(out), "--max-epochs", "1", "--no-progress"]) == 0
    )
    printed = capsys.readouterr().out
    assert f"checkpoint written to {out}" in printed and "drum-gen generate --model" in printed
    assert (out / "model.safetensors").is_file() and (out / "style_classifier.json").is_file()
    metadata = json.loads((out / "drum_gen.json").read_text())
    assert metadata["training"]["max_epochs"] == 1 and metadata["training"]["patterns_per_style"] == 2
    # End to end: the freshly trained checkpoint generates a valid 2-bar MIDI file.
    midi = tmp_path / "e2e.mid"
    args = [
        "generate",
        "--model",
        str(out),
        "--style",
        "Questlove",
        "--bars",
        "2",
        "--seed",
        "0",
        "-o",
        str(midi),
        "--no-style-rules",  # a few optimizer steps cannot fill every bar the rules open with valid hits
    ]
    assert main([*args, "--device", "cpu"]) == 0
    pattern = Pattern.read_midi(midi)
    assert validate(pattern).ok and pattern.humanized
    assert pretty_midi.PrettyMIDI(str(midi)).instruments[0].is_drum


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "generate",
            [
                "--no-humanize",
                "--humanize",
                "quantized",
                "same seed",
                "default model shipped",
                "--threads",
                "$OMP_NUM_THREADS",
            ],
        ),
        (
            "train",
            [
                "recipes/cpu-small.yaml",
                "drum-gen train --out",
                "resumes",
                "last.ckpt",
                "--max-minutes",
                "override the recipe",
            ],
        ),
        (
            "evaluate",
            ["per-instrument push/drag", "laid-back snare", "80%", "2 points", "--patterns-per-style"],
        ),
    ],
)
def test_subcommand_help_explains_the_options(
    command: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))  # undo argparse's wrapping
    for phrase in expected:
        assert phrase in text, (command, phrase)


def test_bad_device_is_reported_without_a_traceback(
    shipped_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", "--model", str(shipped_checkpoint), "--style", "dilla", "-o", "never.mid"]
    assert main([*args, "--device", "gpu"]) == 2
    assert "drum-gen: error: invalid device 'gpu'" in capsys.readouterr().err


def test_style_file_option_registers_user_styles(
    shipped_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    from drum_gen import styles

    monkeypatch.setattr(styles, "DEFAULT_REGISTRY", styles.StyleRegistry(styles.BUILTIN_STYLES))
    style_file = tmp_path / "mine.toml"
    style_file.write_text(
        '[styles."Pete Rock"]\naliases = ["pete"]\nswing_percent = 60\ntemplate = "boom_bap"\n'
    )
    assert main(["styles", "--json", "--style-file", str(style_file)]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["Pete Rock"]["swing_percent"] == 60.0 and "J Dilla" in listed
    # generate resolves the alias from the file, then says this model has not learnt the style
    args = ["generate", "--model", str(shipped_checkpoint), "-o", str(tmp_path / "x.mid")]
    assert main([*args, "--style", "pete", "--style-file", str(style_file)]) == 2
    assert "'Pete Rock' is not one this model was trained on" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("styles:\n  - name: Nobody\n    swing_percent: 120\n")
    assert main(["styles", "--style-file", str(broken)]) == 2
    assert "swing_percent must be in (0, 100)" in capsys.readouterr().err
    assert main(["styles", "--style-file", str(tmp_path / "missing.yaml")]) == 2
    assert "style file not found" in capsys.readouterr().err


def test_help_exits_cleanly() -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0


def test_cli_and_api_share_one_set_of_generation_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same seed, no sampling flags: the CLI writes the very file the Python API writes."""
    # The shipped trained model: its sharp logits make any temperature difference show in the file.
    checkpoint = default_model_dir()
    cli_out = tmp_path / "cli.mid"
    args = ["generate", "--model", str(checkpoint), "--style", "J Dilla", "--seed", "0"]
    assert main([*args, "--device", "cpu", "-o", str(cli_out)]) == 0
    generator = DrumGenerator(load_model(checkpoint, device="cpu"))
    api_out = generator.generate("J Dilla", seed=0).write_midi(tmp_path / "api.mid")
    assert cli_out.read_bytes() == api_out.read_bytes()
    parsed = build_parser().parse_args(["generate", "--style", "x", "-o", "x.mid"])
    api = GenerationRequest(style="x")
    cli_names = {"tempo_bpm": "tempo", "enforce_style_rules": "style_rules"}
    for field in dataclasses.fields(GenerationRequest):
        if field.name not in ("style", "seed"):
            assert getattr(parsed, cli_names.get(field.name, field.name)) == getattr(api, field.name), (
                field.name
            )


@pytest.fixture
def restore_torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_option_is_honoured_when_generating(
    shipped_checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_torch_threads: None,
) -> None:
    seen: list[int] = []
    real_generate = DrumGenerator.generate

    def spy(self: DrumGenerator, *args: object, **kwargs: object):
        seen.append(torch.get_num_threads())
        return real_generate(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DrumGenerator, "generate", spy)
    args = ["generate", "--model", str(shipped_checkpoint), "--style", "dilla", "--bars", "1"]
    args += ["--seed", "1", "--device", "cpu", "-o", str(tmp_path / "x.mid")]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(3)
    assert main([*args, "--threads", "2"]) == 0
    assert main(args) == 0  # default for a small model: one thread
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    torch.set_num_threads(3)
    assert main(args) == 0  # the user's OMP_NUM_THREADS is left alone ...
    assert main([*args, "--threads", "2"]) == 0  # ... unless --threads says otherwise
    assert seen == [2, 1, 3, 2]


def test_inference_thread_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert inference_threads(None, 700_000) == 1
    assert inference_threads(None, 50_000_000) == min(4, os.cpu_count() or 1)
    assert inference_threads(3, 700_000) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert inference_threads(None, 700_000) is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--style", "x", "-o", "x.mid", "--threads", "0"])


def test_corrupt_classifier_blocks_evaluate_not_generate(
    shipped_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = Path(shutil.copytree(shipped_checkpoint, tmp_path / "ckpt"))
    (checkpoint / "style_classifier.json").write_text("{truncated")
    base = ["--model", str(checkpoint), "--device", "cpu"]
    out = tmp_path / "x.mid"
    assert main(["generate", *base, "--style", "dilla", "--bars", "1", "--seed", "1", "-o", str(out)]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["evaluate", *base, "--patterns-per-style", "2", "--bars", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot load the style classifier" in err and str(checkpoint / "style_classifier.json") in err
