"""``sousa classify / evaluate / evaluate-onsets / train / quickstart``: answers, exit codes, one-line errors.

A random-weights pipeline stands in for the shipped model (``--model DIR``): with it, classify's
answer is meaningless but everything around it (tables, JSON, plots, error handling) is real.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from shared_audio_core.audio import write_audio
from sousa_rudiments.cli import EXIT_BAD_INPUT, EXIT_PROBLEMS, build_parser, main
from sousa_rudiments.midi import performance_to_score
from sousa_rudiments.performance import generate_performance
from sousa_rudiments.profiles import generate_profiles
from sousa_rudiments.recognition.models import DirectAudioModel, FeatureInferenceModel, OnsetTransformer
from sousa_rudiments.recognition.pipeline import MODES, RudimentPipeline, write_pipeline
from sousa_rudiments.recognition.recipe import recipe_path
from sousa_rudiments.render import TimbrePool, resolve_soundfonts, synthesize
from sousa_rudiments.rudiments import get_rudiment, list_rudiments

RUDIMENT_NAMES = {r.name for r in list_rudiments()}
SR = 44_100


def _render(
    slug: str = "single-paradiddle", tempo_bpm: float = 120, sample_rate: int = SR, cycles: int = 4
) -> np.ndarray:
    timbre = TimbrePool(resolve_soundfonts(include_system=False), ("standard",), (38,)).timbres[0]
    performance = generate_performance(
        get_rudiment(slug), generate_profiles(4, 0)[-1], tempo_bpm, num_cycles=cycles, seed=0
    )
    return synthesize(performance_to_score(performance), timbre, sample_rate)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return write_pipeline(
        tmp_path_factory.mktemp("model") / "random",
        feature_model=FeatureInferenceModel(),
        classifier=OnsetTransformer(),
        direct_model=DirectAudioModel(),
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    noise = 0.3 * np.random.default_rng(0).standard_normal(3 * SR)
    text = root / "notes.wav"
    text.write_text("a text file renamed .wav\n" * 10)
    return {
        "paradiddle": write_audio(root / "paradiddle.wav", _render(), SR),
        "flam-tap": write_audio(root / "flam-tap.flac", _render("flam-tap", 90), SR),
        "noise": write_audio(root / "noise.wav", np.clip(noise, -1, 1), SR),
        "long": write_audio(root / "long.flac", _render("single-stroke-roll", 120, cycles=32), SR),
        "phone": write_audio(root / "phone.wav", _render(sample_rate=8_000), 8_000),
        "text": text,
    }


def _classify(capsys, *argv: str | Path) -> tuple[int, str, str]:
    code = main(["classify", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------------------------------ classify
def test_classify_prints_the_answer_the_table_tempo_and_strokes(model, clips, capsys):
    code, out, err = _classify(capsys, clips["paradiddle"], "--model", model)
    assert code in (0, EXIT_PROBLEMS), err  # a random model may well not be confident
    lines = out.splitlines()
    assert lines[0].startswith(f"{clips['paradiddle']}: ")
    ranked = [line for line in lines if re.match(r"\s+\d+\. ", line)]
    assert len(ranked) == 5
    assert all(any(name in line for name in RUDIMENT_NAMES) for line in ranked)
    assert "BPM" in out and "strokes (mode two_stage)" in out
    assert "strokes: " in out and (" R " in out or " L " in out)
    assert ("no rudiment found: " in lines[0]) == (code == EXIT_PROBLEMS)
    assert err == ""


def test_classify_json_has_sorted_top5_probabilities(model, clips, capsys):
    code, out, _ = _classify(capsys, clips["paradiddle"], "--model", model, "--json")
    assert code in (0, EXIT_PROBLEMS)
    result = json.loads(out)  # nothing else on stdout (no "Loading weights ..." from the Hub mixin)
    assert result["file"] == str(clips["paradiddle"])
    probabilities = [g["probability"] for g in result["top"]]
    assert len(probabilities) == 5
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-6
    assert {g["slug"] for g in result["top"]} <= {r.slug for r in list_rudiments()}
    assert result["tempo_bpm"] > 0 and len(result["strokes"]) > 4
    assert {s["hand"] for s in result["strokes"]} <= {"R", "L"}
    assert result["found"] == (code == 0) and (result["rudiment"] is None) == (not result["found"])


def test_a_long_recording_shows_the_answer_of_each_window(model, clips, capsys):
    code, out, _ = _classify(capsys, clips["long"], "--model", model)
    assert code in (0, EXIT_PROBLEMS)
    assert re.search(r"windows \((\d+)\):", out) and int(re.search(r"windows \((\d+)\):", out)[1]) >= 2
    assert re.search(r"\n\s+0\.0-12\.0 s  [a-z-]+  \d+\.\d%", out)
    code, out, _ = _classify(capsys, clips["long"], "--model", model, "--json")
    windows = json.loads(out)["windows"]
    assert len(windows) >= 2 and windows[0]["start_s"] == 0.0 and windows[-1]["end_s"] > 12


def test_classify_json_for_several_files_is_a_list_and_top_k_is_honoured(model, clips, capsys):
    code, out, _ = _classify(
        capsys,
        clips["paradiddle"],
        clips["flam-tap"],
        "--model",
        model,
        "--json",
        "--top",
        "3",
        "--mode",
        "ensemble",
    )
    assert code in (0, EXIT_PROBLEMS)
    results = json.loads(out)
    assert [r["file"] for r in results] == [str(clips["paradiddle"]), str(clips["flam-tap"])]
    assert all(len(r["top"]) == 3 and r["mode"] == "ensemble" for r in results)


def test_classify_plot_writes_pngs(model, clips, tmp_path, capsys):
    single = tmp_path / "one.png"
    code, out, _ = _classify(capsys, clips["paradiddle"], "--model", model, "--plot", single)
    assert code in (0, EXIT_PROBLEMS)
    assert single.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {single}" in out
    code, _, _ = _classify(
        capsys, clips["paradiddle"], clips["flam-tap"], "--model", model, "--plot", tmp_path / "many.png"
    )
    assert code in (0, EXIT_PROBLEMS)
    for n in (1, 2):
        assert (tmp_path / f"many-{n}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_corrupt_file_is_one_line_exit_2_and_the_next_file_is_still_classified(model, clips, capsys):
    code, out, err = _classify(capsys, clips["text"], clips["paradiddle"], "--model", model)
    assert code == EXIT_BAD_INPUT
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"sousa classify: {clips['text']}: ")
    assert "cannot read audio header" in err  # libsndfile's reason, the file name not repeated in front
    assert not err.startswith(f"sousa classify: {clips['text']}: {clips['text']}")
    assert out.startswith(f"{clips['paradiddle']}: ") and "BPM" in out


def test_every_bad_file_gets_its_own_line(model, clips, tmp_path, capsys):
    missing = tmp_path / "nowhere.wav"
    code, out, err = _classify(
        capsys, missing, clips["phone"], clips["paradiddle"], "--model", model, "--json"
    )
    assert code == EXIT_BAD_INPUT
    lines = err.splitlines()
    assert lines == [
        f"sousa classify: {missing}: file not found",
        f"sousa classify: {clips['phone']}: sample rate 8000 Hz is not supported: record at 16-192 kHz "
        "(44.1 or 48 kHz is typical)",
    ]
    results = json.loads(out)
    assert [r.get("error_type") for r in results] == [
        "AudioFileNotFoundError",
        "UnsupportedSampleRateError",
        None,
    ]
    assert "top" in results[2]


def test_noise_exits_1_with_no_rudiment_found(model, clips, capsys):
    code, out, err = _classify(capsys, clips["noise"], "--model", model)
    assert code == EXIT_PROBLEMS, err
    assert out.startswith(f"{clips['noise']}: no rudiment found: the sound is not percussive")
    assert "closest guesses (not an answer)" in out
    code, out, _ = _classify(capsys, clips["noise"], "--model", model, "--json")
    assert code == EXIT_PROBLEMS
    result = json.loads(out)
    assert result["found"] is False and result["rudiment"] is None and result["reason"]


def test_bad_input_and_not_found_together_exit_2(model, clips, capsys):
    code, _, err = _classify(capsys, clips["noise"], clips["text"], "--model", model)
    assert code == EXIT_BAD_INPUT and err.count("\n") == 1


def test_a_model_that_cannot_be_loaded_is_one_line_exit_2(clips, tmp_path, capsys):
    code, out, err = _classify(capsys, clips["paradiddle"], "--model", tmp_path / "no-model")
    assert code == EXIT_BAD_INPUT and out == ""
    assert err.startswith("sousa classify: error: cannot load the model: model directory not found")
    assert err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    code, _, err = _classify(capsys, clips["paradiddle"], "--model", tmp_path / "empty")
    assert code == EXIT_BAD_INPUT and "is not a rudiment pipeline" in err


def test_direct_mode_needs_a_direct_model(clips, tmp_path, capsys):
    two_stage = write_pipeline(
        tmp_path / "two-stage", feature_model=FeatureInferenceModel(), classifier=OnsetTransformer()
    )
    code, _, err = _classify(capsys, clips["paradiddle"], "--model", two_stage, "--mode", "direct")
    assert code == EXIT_BAD_INPUT
    assert "needs a direct model" in err and err.count("\n") == 1


def test_default_model_is_used_without_model(clips, capsys):
    from sousa_rudiments.recognition.pipeline import PIPELINE_FILE, default_model_dir

    code, _, err = _classify(capsys, clips["paradiddle"], "--json")
    if (default_model_dir() / PIPELINE_FILE).is_file():
        assert code in (0, EXIT_PROBLEMS), err
    else:  # not shipped yet: a clear one-line error, not a traceback
        assert code == EXIT_BAD_INPUT
        assert "the default model is not installed" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------------- help
def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["classify", "evaluate", "evaluate-onsets", "train", "quickstart"])
def test_every_recognition_command_has_help_with_exit_codes(command, capsys):
    text = _help(capsys, command)
    assert f"usage: sousa {command}" in text
    assert "Exit codes:" in text and "2 " in text
    assert command in build_parser().format_help()


def test_help_names_the_default_model_and_the_defaults(capsys):
    classify = _help(capsys, "classify")
    assert "model shipped" in classify and "default: 1" in classify and "(default: 5)" in classify
    assert "1 no rudiment found" in classify and "sousa classify: FILE: message" in classify
    evaluate = _help(capsys, "evaluate")
    assert "`default`" in evaluate and "runs/evaluate/DATASET_NAME" in evaluate
    train = _help(capsys, "train")
    assert "recipes/default.yaml" in train and "OUT/cache" in train and "resume" in train
    assert "pooled split by split" in train
    committed = sorted(p.stem for p in recipe_path("default").parent.glob("*.yaml"))
    assert len(committed) >= 3 and f"({', '.join(committed)};" in " ".join(train.split())


def test_mode_choices_are_the_pipelines_modes():
    classify = build_parser()._subparsers._group_actions[0].choices["classify"]
    mode = next(a for a in classify._actions if a.dest == "mode")
    assert tuple(mode.choices) == MODES


@pytest.mark.parametrize("argv", [["--top", "0"], ["--threads", "-1"], ["--mode", "fast"]])
def test_bad_options_are_usage_errors(argv, clips, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(clips["paradiddle"]), *argv])
    assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# ----------------------------------------------------------------------------------- evaluate / onsets
def test_evaluate_writes_the_reports_and_prints_the_headline(
    model, tiny_dataset, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "report"
    code = main(
        ["evaluate", str(model), str(tiny_dataset), "--out", str(out), "--limit", "3", "--no-progress"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    for name in ("report.json", "report.md", "confusion.png"):
        assert (out / name).is_file()
    assert json.loads((out / "report.json").read_text())["overall"]["clips"] == 3
    assert "top-1 " in printed and "top-3 " in printed and "top-5 " in printed and "macro-F1 " in printed
    assert f"report: {out / 'report.md'}" in printed
    monkeypatch.chdir(tmp_path)  # the default --out is relative to the working directory
    assert (
        main(
            [
                "evaluate",
                str(model),
                str(tiny_dataset),
                "--split",
                "validation",
                "--limit",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (tmp_path / "runs" / "evaluate" / "dataset-validation" / "report.md").is_file()


def test_evaluate_bad_dataset_is_one_line_exit_2(model, tmp_path, capsys):
    assert main(["evaluate", str(model), str(tmp_path), "--no-progress"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("sousa evaluate: error: ") and "not a finished SOUSA dataset" in err
    assert err.count("\n") == 1


def test_evaluate_onsets_prints_the_f_measure_table(tiny_dataset, capsys):
    assert main(["evaluate-onsets", str(tiny_dataset), "--split", "test", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Onset detection" in out and "F ±25 ms" in out and "| all |" in out


# ---------------------------------------------------------------------------------------------------- train
MINIMAL_RECIPE = """\
seed: 0
threads: 1
max_onsets: 64
crop_frames: 128
feature_model: {max_epochs: 1, batch_size: 8, lr: 0.003, patience: 1}
classifier: {max_epochs: 1, batch_size: 8, lr: 0.002, patience: 1}
train_direct: true
direct: {max_epochs: 1, batch_size: 8, lr: 0.003, patience: 1}
"""


@pytest.mark.slow
def test_train_writes_a_loadable_pipeline_and_a_rerun_resumes(tiny_dataset, clips, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(MINIMAL_RECIPE)
    out = tmp_path / "trained"
    argv = ["train", str(tiny_dataset), "--out", str(out), "--recipe", str(recipe), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert (
        "validation: feature_model_loss " in printed
        and "two_stage_acc" in printed
        and "direct_acc" in printed
    )
    assert f"pipeline: {out / 'pipeline'}" in printed
    pipeline = RudimentPipeline.from_pretrained(out / "pipeline")
    assert pipeline.direct_model is not None
    cached = sorted((out / "cache" / tiny_dataset.name).glob("*.npz"))
    assert len(cached) == 24
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    last = out / "runs" / "classifier" / "checkpoints" / "last.ckpt"
    assert last.is_file()

    assert main(argv) == 0  # a finished run reruns from its cache and last checkpoints
    assert "pipeline: " in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps
    code, _, err = _classify(capsys, clips["paradiddle"], "--model", out / "pipeline")
    assert code in (0, EXIT_PROBLEMS), err


def test_train_refuses_two_datasets_with_the_same_folder_name(tiny_dataset, tmp_path, capsys):
    twin = tmp_path / "other" / tiny_dataset.name
    twin.mkdir(parents=True)
    code = main(["train", str(tiny_dataset), str(twin), "--out", str(tmp_path / "t"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "distinct folder names" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("recipe_text", "message"),
    [
        ("epochs: 3\n", "unknown recipe keys ['epochs']"),
        ("seed: [unclosed\n", "not a valid recipe"),
        ("onsets: {threshold: 0.1}\n", "unknown onset settings ['threshold']"),
    ],
)
def test_train_with_a_bad_recipe_is_one_line_exit_2(recipe_text, message, tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(recipe_text)
    assert (
        main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--recipe", str(recipe)])
        == EXIT_BAD_INPUT
    )
    err = capsys.readouterr().err
    assert err.startswith("sousa train: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_train_refuses_a_cache_detected_at_another_onset_threshold_than_its_recipe(
    tiny_dataset, tmp_path, capsys
):
    from sousa_rudiments.recognition.cache import build_feature_cache

    out = tmp_path / "o"
    build_feature_cache(tiny_dataset, out / "cache" / tiny_dataset.name, progress=False)  # at 0.07
    recipe = tmp_path / "strict.yaml"
    recipe.write_text(MINIMAL_RECIPE + "onsets: {delta: 0.1}\n")
    argv = ["train", str(tiny_dataset), "--out", str(out), "--recipe", str(recipe), "--no-progress"]
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("sousa train: error: ") and err.count("\n") == 1
    assert "other onset settings (delta 0.07 in the cache, 0.1 wanted); use a new --cache directory" in err
    assert not (out / "runs").exists()


def test_train_on_a_directory_without_a_dataset_is_one_line_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "is not a finished SOUSA dataset" in err and err.count("\n") == 1


def test_train_uses_the_committed_default_recipe(monkeypatch, tmp_path, capsys):
    from sousa_rudiments.recognition import recipe as recipe_module

    seen = {}

    def fake_from_yaml(path):
        seen["recipe"] = Path(path)
        raise ValueError("stop here")

    monkeypatch.setattr(recipe_module.RecipeConfig, "from_yaml", staticmethod(fake_from_yaml))
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    capsys.readouterr()
    assert seen["recipe"].parts[-3:] == ("recognition", "recipes", "default.yaml")
    assert seen["recipe"].is_file()
    # a committed recipe by name, as the README shows (`--recipe short-windows`)
    assert (
        main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--recipe", "short-windows"])
        == EXIT_BAD_INPUT
    )
    capsys.readouterr()
    assert seen["recipe"].parts[-3:] == ("recognition", "recipes", "short-windows.yaml")


def test_train_with_an_unknown_recipe_name_lists_the_committed_ones(tmp_path, capsys):
    argv = ["train", str(tmp_path), "--out", str(tmp_path / "o"), "--recipe", "shortwindows"]
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "no recipe 'shortwindows'; committed recipes: default, quickstart, short-windows" in err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------------- quickstart
def test_quickstart_passes_its_options_to_run_quickstart(monkeypatch, tmp_path, capsys):
    from sousa_rudiments.recognition import quickstart

    calls = []

    def fake(config):
        calls.append(config)
        return quickstart.QuickstartResult(Path(config.out_dir) / "report.md")

    monkeypatch.setattr(quickstart, "run_quickstart", fake)
    assert main(["quickstart", "--out", str(tmp_path / "q"), "--workers", "1", "--no-progress"]) == 0
    assert calls == [
        dataclasses.replace(quickstart.QuickstartConfig(), out_dir=tmp_path / "q", workers=1, progress=False)
    ]
    assert f"report in {tmp_path / 'q' / 'report.md'}" in capsys.readouterr().out
    assert main(["quickstart"]) == 0
    assert calls[-1] == quickstart.QuickstartConfig()
    assert os.fspath(calls[-1].out_dir) == "runs/quickstart"
