"""The ``rudiment-demo`` command and the files that make this folder a Hugging Face Space."""

from __future__ import annotations

import re
import runpy
import socket
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from rudiment_demo.app import DEFAULT_HOST, DEFAULT_PORT, MODEL_ENV, build_parser, main
from rudiment_demo.examples import load_examples

APP_DIR = Path(__file__).resolve().parents[1]
WORKSPACE = APP_DIR.parents[1]


@pytest.fixture(autouse=True)
def _no_server_environment(monkeypatch):
    for variable in (MODEL_ENV, "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "SYSTEM"):
        monkeypatch.delenv(variable, raising=False)


# ------------------------------------------------------------------------------------------- command
def test_help_explains_every_option_and_the_environment(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    for option in ("--model DIR_OR_HUB_ID", "--host HOST", "--port PORT", "--share", "--threads N"):
        assert option in text
    assert "default: 127.0.0.1" in text and f"default: {DEFAULT_PORT}" in text and "default: 1" in text
    assert "off by default" in text and "the model shipped inside sousa-rudiments" in text
    assert MODEL_ENV in text and "GRADIO_SERVER_NAME" in text and "GRADIO_ANALYTICS_ENABLED" in text


def test_defaults_are_local_and_single_threaded():
    args = build_parser().parse_args([])
    assert (args.model, args.host, args.port, args.share, args.threads) == (
        None,
        DEFAULT_HOST,
        DEFAULT_PORT,
        False,
        1,
    )


def test_environment_sets_the_defaults_and_options_win(monkeypatch):
    monkeypatch.setenv(MODEL_ENV, "someone/rudiments")
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")  # what Hugging Face Spaces sets
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    args = build_parser().parse_args([])
    assert (args.model, args.host, args.port) == ("someone/rudiments", "0.0.0.0", 7861)
    args = build_parser().parse_args(
        ["--model", "runs/mine/pipeline", "--host", "127.0.0.1", "--port", "9000"]
    )
    assert (args.model, args.host, args.port) == ("runs/mine/pipeline", "127.0.0.1", 9000)


@pytest.mark.parametrize(
    "argv", [["--port", "70000"], ["--port", "0"], ["--threads", "0"], ["--threads", "x"]]
)
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "rudiment-demo: error: argument" in capsys.readouterr().err


def test_model_from_the_environment_that_does_not_exist_is_one_line(monkeypatch, tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    monkeypatch.setenv(MODEL_ENV, str(missing))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"rudiment-demo: cannot load the model: model directory not found: {missing}. "
        "Leave --model out to use the shipped default."
    )


def test_a_folder_that_is_not_a_pipeline_is_one_line(tmp_path, capsys):
    assert main(["--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        == f"rudiment-demo: cannot load the model: {tmp_path} is not a rudiment pipeline (no pipeline.json)"
    )
    assert "Traceback" not in err


def test_a_port_in_use_is_one_line(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"rudiment-demo: cannot serve on 127.0.0.1:{port}: Address already in use"
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------- Space
def _front_matter() -> dict[str, str]:
    text = (APP_DIR / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's YAML front matter"
    fields = {}
    for line in match[1].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip().strip('"')
    return fields


def _locked_version(name: str) -> str:
    lock = tomllib.loads((WORKSPACE / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == name)


def test_readme_front_matter_deploys_as_a_gradio_space():
    fields = _front_matter()
    assert fields["sdk"] == "gradio"
    assert fields["sdk_version"] == _locked_version("gradio") == version("gradio")
    assert fields["app_file"] == "app.py" and (APP_DIR / "app.py").is_file()
    requires = tomllib.loads((APP_DIR / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and fields["python_version"] == "3.11"
    assert fields["title"] and fields["emoji"] and fields["license"] == "apache-2.0"
    assert 0 < len(fields["short_description"]) <= 60  # the Hub's limit


def _requirement_name(line: str) -> str:
    return re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower().replace("_", "-")


def test_space_requirements_cover_the_app_dependencies():
    lines = [
        line.strip()
        for line in (APP_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    ]
    names = {_requirement_name(line) for line in lines}
    declared = tomllib.loads((APP_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    # gradio comes from sdk_version; a second pin in requirements.txt would fight it
    assert {_requirement_name(d) for d in declared} - {"gradio"} <= names
    assert "gradio" not in names
    sousa = tomllib.loads((WORKSPACE / "packages/sousa-rudiments/pyproject.toml").read_text())
    torch_pin = next(d for d in sousa["project"]["dependencies"] if _requirement_name(d) == "torch")
    assert torch_pin in lines


def test_space_entry_point_runs_the_package_command(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["app.py", "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(APP_DIR / "app.py"), run_name="__main__")
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: rudiment-demo")


def test_readme_lists_every_example_clip():
    readme = (APP_DIR / "README.md").read_text()
    for example in load_examples():
        assert f"`{example.path.name}`" in readme
