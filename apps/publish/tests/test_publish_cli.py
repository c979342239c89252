"""Every command and option of `publish` explains itself in --help."""

from __future__ import annotations

import argparse

import pytest
from music_ml_publish.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_of_every_command_has_help():
    parsers = dict(_parsers(build_parser()))
    assert {("dataset", "sousa"), ("model",), ("release",)} <= set(parsers)
    for path, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                assert all(a.help for a in action._choices_actions), path
                continue
            assert action.help, (
                f"publish {' '.join(path)}: {action.option_strings or action.dest} has no help"
            )


@pytest.mark.parametrize("command", [["dataset", "sousa"], ["model"], ["release"]])
def test_help_exits_zero_and_names_the_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "Exit codes" in capsys.readouterr().out


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("dataset", "model", "release"):
        assert command in out
