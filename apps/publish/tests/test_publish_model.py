"""`publish model --dry-run` on the shipped models: the card carries the report's figures, and its load
snippet, run against the staged folder, really loads and uses the model."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
from huggingface_hub import ModelCard
from music_ml_publish.cli import main
from shared_audio_core.files import verify_manifest
from sousa_rudiments.recognition.pipeline import default_model_dir

WORKSPACE_ROOT = Path(__file__).resolve().parents[3]
SOUSA_REPORTS = WORKSPACE_ROOT / "packages" / "sousa-rudiments" / "docs" / "recognition"
HELD_OUT = SOUSA_REPORTS / "held-out-players" / "report.json"
UNSEEN = SOUSA_REPORTS / "unseen-SoundFont" / "report.json"
DRUM_GEN_MODEL = WORKSPACE_ROOT / "packages" / "drum-gen" / "src" / "drum_gen" / "default_model"


def _snippet(card_text: str) -> str:
    """The Python block of the card's "How to load" section."""
    section = card_text.split("## How to load", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the card has no Python load snippet"
    return match.group(1)


def _run_snippet(code: str, repo_id: str, folder: Path, cwd: Path) -> str:
    """Run the snippet with the repo id replaced by the staged folder; returns what it printed."""
    assert f'"{repo_id}"' in code
    code = code.replace(f'"{repo_id}"', repr(str(folder)))
    out = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<model card snippet>", "exec"), {"__name__": "__snippet__"})
    finally:
        os.chdir(previous)
    return out.getvalue()


@pytest.fixture(scope="module")
def sousa_staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    staging = tmp_path_factory.mktemp("model") / "sousa"
    code = main(
        [
            "model",
            str(default_model_dir()),
            "--repo-id",
            "someone/sousa-recognizer",
            "--dry-run",
            "--report",
            str(HELD_OUT),
            "--report",
            f"unseen SoundFont={UNSEEN}",
            "--staging",
            str(staging),
        ]
    )
    assert code == 0
    return staging


@pytest.mark.slow
def test_sousa_card_has_the_report_figures_and_metadata(sousa_staged):
    card = ModelCard.load(sousa_staged / "README.md")
    text = card.text
    data = card.data
    assert data.library_name == "sousa-rudiments"
    assert data.pipeline_tag == "audio-classification"
    assert {"audio-classification", "rudiments"} <= set(data.tags)
    assert data.datasets == ["zkeown/sousa"]
    results = {(r.dataset_config, r.metric_name): r.metric_value for r in data.eval_results}
    for label, path in (("held-out-players", HELD_OUT), ("unseen SoundFont", UNSEEN)):
        report = json.loads(path.read_text())
        overall = report["overall"]
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        for key in ("top1", "top3", "top5", "not_found_rate"):
            assert f"| {100 * overall[key]:.1f}% |" in row + " |", (key, row)
        assert f"| {overall['macro_f1']:.3f} |" in row
        assert f"| {report['split']} |" in row and f"| {overall['clips']} |" in row
        assert results[(label, "top-1 accuracy")] == pytest.approx(overall["top1"], abs=1e-4)
        assert results[(label, "macro-F1")] == pytest.approx(overall["macro_f1"], abs=1e-4)
    for section in (
        "## Evaluation",
        "## Intended use",
        "## Limitations",
        "## Training data",
        "## How to load",
    ):
        assert section in text
    training = json.loads((default_model_dir() / "pipeline.json").read_text())["training"]
    names = [Path(d).name for d in training["datasets"]]  # e.g. /work/data/medium -> `medium`
    assert names and all(f"`{name}`" in text for name in names), names
    assert 'RudimentPipeline.from_pretrained("someone/sousa-recognizer")' in text


@pytest.mark.slow
def test_sousa_staged_copy_keeps_the_model_and_a_matching_manifest(sousa_staged):
    source = default_model_dir()
    for name in ("pipeline.json", "classifier/model.safetensors", "feature_model/config.json"):
        assert (sousa_staged / name).read_bytes() == (source / name).read_bytes()
    hashes = verify_manifest(sousa_staged)  # README.md is the new card, and the manifest says so
    assert "README.md" in hashes
    verify_manifest(source)  # the shipped model was not touched
    assert (source / "README.md").read_text() != (sousa_staged / "README.md").read_text()
    # a folder staged before is rebuilt on the next run (a rerun after fixing a report, say)
    (sousa_staged / "stale.bin").write_bytes(b"old")
    rerun = [
        "model",
        str(source),
        "--repo-id",
        "someone/sousa-recognizer",
        "--dry-run",
        "--staging",
        str(sousa_staged),
    ]
    assert main([*rerun, "--report", str(HELD_OUT), "--report", f"unseen SoundFont={UNSEEN}"]) == 0
    assert not (sousa_staged / "stale.bin").exists()
    verify_manifest(sousa_staged)


@pytest.mark.slow
def test_sousa_card_snippet_classifies_a_recording(sousa_staged, tiny_dataset, tmp_path):
    clip = sorted(tiny_dataset.glob("audio/*/*.flac"))[0]
    audio, rate = sf.read(clip)
    sf.write(tmp_path / "take.wav", audio, rate)  # the snippet reads take.wav
    text = (sousa_staged / "README.md").read_text()
    printed = _run_snippet(_snippet(text), "someone/sousa-recognizer", sousa_staged, tmp_path)

    from sousa_rudiments.recognition import RudimentPipeline

    expected = RudimentPipeline.from_pretrained(sousa_staged).predict_file(tmp_path / "take.wav")
    if expected.found:
        assert printed.strip() == f"{expected.best.name} {expected.best.probability:.1%}"
    else:
        assert printed.strip() == f"no rudiment found: {expected.reason}"


@pytest.fixture(scope="module")
def drum_gen_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `drum-gen evaluate --json-out` report of the shipped model (2 patterns per style, ~10 s)."""
    out = tmp_path_factory.mktemp("drum-gen") / "evaluation.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    drum_gen = Path(os.environ.get("VIRTUAL_ENV", WORKSPACE_ROOT / ".venv")) / "bin" / "drum-gen"
    command = [str(drum_gen), "evaluate", "--patterns-per-style", "2", "--bars", "2", "--json-out", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_drum_gen_card_figures_and_snippet(drum_gen_report, tmp_path, capsys):
    staging = tmp_path / "staged"
    code = main(
        [
            "model",
            str(DRUM_GEN_MODEL),
            "--repo-id",
            "someone/drum-gen-small",
            "--dry-run",
            "--report",
            f"shipped model={drum_gen_report}",
            "--staging",
            str(staging),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        "dry run: would upload" in out
        and "model.safetensors" in out
        and "tokenizer/drum_pattern_tokenizer.json" in out
    )
    report = json.loads(drum_gen_report.read_text())
    card = ModelCard.load(staging / "README.md")
    assert card.data.library_name == "drum-gen"
    accuracy = {r.metric_name: r.metric_value for r in card.data.eval_results}["style-classifier accuracy"]
    assert accuracy == pytest.approx(report["overall_classifier_accuracy"], abs=1e-4)
    assert f"style-classifier accuracy {100 * report['overall_classifier_accuracy']:.1f}%" in card.text
    for style in report["styles"]:
        row = next(line for line in card.text.splitlines() if line.startswith(f"| {style['style']} |"))
        assert f"| {100 * style['classifier_accuracy']:.1f}% |" in row
        assert f"| {style['swing_target']} |" in row
    verify_manifest(staging)

    _run_snippet(_snippet(card.text), "someone/drum-gen-small", staging, tmp_path)
    import symusic

    score = symusic.Score(str(tmp_path / "groove.mid"))
    drums = [t for t in score.tracks if t.is_drum]
    assert drums and len(drums[0].notes) > 8


def test_missing_and_unknown_model_directories(tmp_path, capsys):
    assert main(["model", str(tmp_path / "nope"), "--repo-id", "a/b", "--report", "r.json", "--dry-run"]) == 2
    assert "no such directory" in capsys.readouterr().err
    (tmp_path / "weights.bin").write_bytes(b"x")
    assert main(["model", str(tmp_path), "--repo-id", "a/b", "--report", "r.json", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert (
        "is not a model directory publish knows" in err and "pipeline.json" in err and "drum_gen.json" in err
    )


def test_report_problems_are_named(tmp_path, capsys):
    model = str(default_model_dir())
    staging = tmp_path / "staging"
    base = ["model", model, "--repo-id", "a/b", "--dry-run", "--staging", str(staging)]
    assert main([*base, "--report", str(tmp_path / "missing.json")]) == 2
    assert "evaluation report not found" in capsys.readouterr().err
    drum_gen_like = tmp_path / "dg.json"
    drum_gen_like.write_text(json.dumps({"overall_classifier_accuracy": 1.0, "styles": []}))
    assert main([*base, "--report", str(drum_gen_like)]) == 2
    assert "is not a `sousa evaluate` report.json" in capsys.readouterr().err
    assert main([*base, "--report", str(HELD_OUT), "--report", str(HELD_OUT)]) == 2
    assert "several reports are labelled held-out-players" in capsys.readouterr().err
    assert not staging.exists()


def test_bad_repo_id_for_a_model(capsys):
    assert main(["model", str(default_model_dir()), "--repo-id", "no-owner", "--report", str(HELD_OUT)]) == 2
    assert "bad repo id 'no-owner'" in capsys.readouterr().err


def test_a_foreign_staging_folder_is_not_overwritten(tmp_path, capsys):
    staging = tmp_path / "mine"
    staging.mkdir()
    (staging / "notes.txt").write_text("keep me")
    code = main(
        [
            "model",
            str(default_model_dir()),
            "--repo-id",
            "a/b",
            "--report",
            str(HELD_OUT),
            "--dry-run",
            "--staging",
            str(staging),
        ]
    )
    assert code == 2
    assert "is not empty and was not staged by publish" in capsys.readouterr().err
    assert (staging / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_no_login_fails_before_staging_a_model(tmp_path, offline_env, run_publish):
    staging = tmp_path / "staging"
    args = ["model", str(default_model_dir()), "--repo-id", "someone/m", "--report", str(HELD_OUT)]
    result = run_publish([*args, "--staging", str(staging)], offline_env(), tmp_path)
    assert result.returncode == 2, result.stderr
    assert "not logged in to the Hugging Face Hub" in result.stderr and "hf auth login" in result.stderr
    assert not staging.exists()
