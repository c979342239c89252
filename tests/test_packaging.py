"""Packaging check: every library builds a wheel that works outside the workspace.

uv does not write sibling versions into wheels, so the explicit `shared-audio-core` range in each model
package's dependencies is what a PyPI user gets; this test installs each model wheel next to only the core
wheel in a fresh virtual environment (outside the workspace) and imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from _workspace import WORKSPACE_ROOT, Member, workspace_members

LIBRARIES = [m for m in workspace_members() if not m.is_app]
MODEL_PACKAGES = [m for m in LIBRARIES if m.name != "shared-audio-core"]
# `uv run` exports the path of the uv binary that started the session as $UV.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _venv_with(wheels: dict[str, Path], library: str, tmp_path: Path) -> Path:
    """A fresh venv outside the workspace holding only the core wheel and ``library``'s wheel."""
    venv = tmp_path / "venv"
    _run(UV, "venv", "--python", sys.executable, str(venv), cwd=tmp_path)
    _run(
        UV,
        "pip",
        "install",
        "--python",
        str(venv / "bin" / "python"),
        str(wheels["shared-audio-core"]),
        str(wheels[library]),
        cwd=tmp_path,
    )
    return venv


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    for library in LIBRARIES:  # apps are never published: build the libraries only
        _run(UV, "build", "--package", library.name, "--wheel", "--out-dir", str(dist), cwd=WORKSPACE_ROOT)
    built = {path.name.split("-")[0].replace("_", "-"): path for path in dist.glob("*.whl")}
    return built


def test_one_wheel_per_library(wheels: dict[str, Path]) -> None:
    assert set(wheels) == {m.name for m in LIBRARIES}


@pytest.mark.parametrize("member", LIBRARIES, ids=lambda m: m.name)
def test_wheel_ships_py_typed_and_core_range(member: Member, wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels[member.name]) as wheel:
        names = wheel.namelist()
        assert f"{member.import_name}/py.typed" in names
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    if member.name != "shared-audio-core":
        core = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: shared-audio-core")]
        assert core, "the wheel does not require shared-audio-core"
        assert ">=0.1.0" in core[0] and "<0.2" in core[0], core[0]


@pytest.mark.parametrize("member", MODEL_PACKAGES, ids=lambda m: m.name)
def test_model_wheel_installs_with_only_core_wheel(
    member: Member, wheels: dict[str, Path], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    _run(UV, "venv", "--python", sys.executable, str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        UV,
        "pip",
        "install",
        "--python",
        str(python),
        str(wheels["shared-audio-core"]),
        str(wheels[member.name]),
        cwd=tmp_path,
    )
    probe = f"import {member.import_name}, shared_audio_core; print({member.import_name}.__file__)"
    result = _run(str(python), "-c", probe, cwd=tmp_path)
    assert str(venv) in result.stdout, "the package was imported from somewhere other than the fresh venv"


def test_drum_gen_wheel_generates_with_its_shipped_model(wheels: dict[str, Path], tmp_path: Path) -> None:
    """`pip install drum-gen && drum-gen generate --style ...` works outside the workspace, no --model."""
    with zipfile.ZipFile(wheels["drum-gen"]) as wheel:
        names = set(wheel.namelist())
    for name in ("model.safetensors", "config.json", "drum_gen.json", "README.md", "MANIFEST.json"):
        assert f"drum_gen/default_model/{name}" in names, name
    assert "drum_gen/recipes/cpu-small.yaml" in names
    venv = _venv_with(wheels, "drum-gen", tmp_path)
    import symusic

    for style in ("J Dilla", "Metro Boomin", "Questlove", "Timbaland"):  # every built-in style
        out = tmp_path / f"{style}.mid"
        _run(
            str(venv / "bin" / "drum-gen"),
            "generate",
            "--style",
            style,
            "--bars",
            "4",
            "--seed",
            "1",
            "-o",
            str(out),
            cwd=tmp_path,
        )
        track = symusic.Score(str(out)).tracks[0]
        assert track.is_drum and len(track.notes) > 8, style


def test_sousa_wheel_classifies_a_clip_with_its_shipped_model(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    """`pip install sousa-rudiments && sousa classify FILE` works outside the workspace, no --model."""
    root = "sousa_rudiments/recognition/default_model"
    with zipfile.ZipFile(wheels["sousa-rudiments"]) as wheel:
        names = set(wheel.namelist())
        shipped_mode = json.loads(wheel.read(f"{root}/MANIFEST.json"))["mode"]
    for name in ("pipeline.json", "README.md", "MANIFEST.json", "feature_model/model.safetensors"):
        assert f"{root}/{name}" in names, name
    assert "sousa_rudiments/recognition/recipes/default.yaml" in names
    venv = _venv_with(wheels, "sousa-rudiments", tmp_path)
    sousa = str(venv / "bin" / "sousa")
    data = tmp_path / "D"
    _run(
        sousa,
        "generate",
        "--preset",
        "tiny",
        "--with-audio",
        "--no-system-soundfonts",
        "--quiet",
        "--out",
        str(data),
        cwd=tmp_path,
    )
    clip = sorted(data.glob("audio/*/*.flac"))[0]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    result = subprocess.run(
        [sousa, "classify", str(clip), "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: "no rudiment found" is an answer too
    answer = json.loads(result.stdout)
    assert len(answer["top"]) == 5 and answer["mode"] == shipped_mode
    from sousa_rudiments.rudiments import list_rudiments

    assert {g["slug"] for g in answer["top"]} <= {r.slug for r in list_rudiments()}
    probabilities = [g["probability"] for g in answer["top"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6


@pytest.mark.slow
def test_piano_eval_wheel_synthesizes_scores_and_pseudo_labels(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    """`pip install piano-eval`, then the README's data, score (the shipped default model, no --model) and
    pseudo-label commands, outside the workspace (partitura and parangonar come from the wheel's own
    dependencies)."""
    venv = _venv_with(wheels, "piano-eval", tmp_path)
    piano_eval = str(venv / "bin" / "piano-eval")
    data, labels = tmp_path / "synthetic", tmp_path / "labels.jsonl"
    _run(
        piano_eval,
        "synthesize",
        "--out",
        str(data),
        "--pieces",
        "3",
        "--bars",
        "2",
        "--no-progress",
        cwd=tmp_path,
    )
    _run(
        piano_eval,
        "pseudo-label",
        str(data),
        "--out",
        str(labels),
        "--whole-performances",
        "--rating-folder",
        str(tmp_path / "pseudo"),
        "--no-progress",
        cwd=tmp_path,
    )
    take = data / "audio" / "gen-000" / "gen-000-p00.flac", data / "midi" / "gen-000" / "gen-000-p00.mid"
    scored = _run(piano_eval, "score", str(take[0]), "--midi", str(take[1]), "--json", cwd=tmp_path)
    result = json.loads(scored.stdout)
    assert list(result["dimensions"]) == ["timing", "dynamics", "articulation", "pedal", "notes"]
    assert all(0 < d["score"] < 1 for d in result["dimensions"].values()) and result["timeline"]["weakest"]
    records = [json.loads(line) for line in labels.read_text().splitlines()]
    assert len(records) == 18  # 3 pieces x 6 performances, one segment each
    assert all(0 <= r["labels"]["note_accuracy"] <= 100 for r in records)
    header = (tmp_path / "pseudo" / "ratings.csv").read_text().splitlines()[0]
    assert header.endswith("note_accuracy,rhythmic_precision,dynamics_control,articulation,pedaling,tone")
