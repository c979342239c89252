"""The ``piano-labeler`` command: its help, one-line errors for bad input, and the page it builds."""

from __future__ import annotations

import json
import socket

import pytest
from piano_labeler.app import DEFAULT_PORT, SHORTCUTS_JS, build_app, build_parser, main, make_labeler
from piano_labeler.config import DEFAULT_DIMENSIONS


def test_help_explains_the_options_formats_and_shortcuts(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    for option in (
        "DATA",
        "--out OUT",
        "--labeller NAME",
        "--dimensions A,B,...",
        "--segment-seconds S",
        "--calibration",
        "--anchors N",
        "--anchor-file FILE",
        "--calibration-out CALIBRATION_OUT",
        "--host HOST",
        "--port PORT",
    ):
        assert option in text, option
    assert "default: ./labels.jsonl" in text and f"default: {DEFAULT_PORT}" in text and "default: 20" in text
    assert "segments.jsonl" in text and "ratings.csv" in text and "Alt+Right" in text
    assert "Exit codes: 0 stopped with Ctrl-C; 2 bad DATA" in text


def test_defaults(tmp_path):
    args = build_parser().parse_args([str(tmp_path)])
    assert (str(args.out), args.host, args.port, args.segment_seconds) == (
        "labels.jsonl",
        "127.0.0.1",
        7860,
        20.0,
    )
    assert (args.calibration, args.anchors, args.anchor_file, args.dimensions) == (False, 20, None, None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--segment-seconds", "0"], "expected a positive number of seconds"),
        (["--port", "70000"], "a port is at most 65535"),
        (["--anchors", "0"], "expected a positive integer"),
        (["--dimensions", "phrasing,phrasing"], "duplicate dimension names: ['phrasing']"),
        (["--dimensions", "tone quality"], "dimension names must start with a letter"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([str(tmp_path), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "piano-labeler: error: argument" in err and message in err


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("piano-labeler: ")
    return lines[0]


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, audio_folder, capsys):
    assert _one_line_error([str(tmp_path / "nope")], capsys) == (
        f"piano-labeler: {tmp_path / 'nope'}: no such file or folder"
    )
    (tmp_path / "empty").mkdir()
    assert "nothing to label" in _one_line_error([str(tmp_path / "empty")], capsys)

    out = tmp_path / "labels.jsonl"
    out.write_text('{"key": "a"\n')
    line = _one_line_error([str(audio_folder), "--out", str(out)], capsys)
    assert line.startswith(f"piano-labeler: {out} line 1: not valid JSON")

    line = _one_line_error([str(audio_folder), "--out", str(tmp_path / "new.jsonl"), "--calibration"], capsys)
    assert line == "piano-labeler: no segment has a first rating yet: label some before calibrating"

    empty_anchors = tmp_path / "anchors.txt"
    empty_anchors.write_text("# none\n\n")
    line = _one_line_error(
        [str(audio_folder), "--calibration", "--anchor-file", str(empty_anchors), "--out", str(out)], capsys
    )
    assert line == f"piano-labeler: {empty_anchors}: no segment keys"


def test_a_port_in_use_is_one_line(audio_folder, tmp_path, capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_line_error(
            [str(audio_folder), "--out", str(tmp_path / "l.jsonl"), "--port", str(port)], capsys
        )
    assert line.startswith(f"piano-labeler: cannot serve on 127.0.0.1:{port}: ")


def test_options_reach_the_session(audio_folder, tmp_path):
    args = build_parser().parse_args(
        [
            str(audio_folder),
            "--out",
            str(tmp_path / "l.jsonl"),
            "--labeller",
            "anna",
            "--dimensions",
            "phrasing, musicality",
            "--segment-seconds",
            "15",
        ]
    )
    session = make_labeler(args)
    assert session.config.dimensions == ("phrasing", "musicality") and session.config.labeller == "anna"
    assert [s.end_time for s in session.items] == [15.0, 30.0, 45.0, 8.0]
    session.save(session.items[1].key, [60, 70], [False, True], "")

    anchors = tmp_path / "anchors.txt"
    anchors.write_text(f"# anchors\n{session.items[1].key}\n")
    calibration_options = ["--calibration", "--anchor-file", str(anchors)]
    calibration_options += ["--calibration-out", str(tmp_path / "second.jsonl")]
    args = build_parser().parse_args(
        [
            str(audio_folder),
            "--out",
            str(tmp_path / "l.jsonl"),
            "--segment-seconds",
            "15",
            *calibration_options,
        ]
    )
    calibration = make_labeler(args)
    assert [s.key for s in calibration.items] == [session.items[1].key]
    assert calibration.store.path == tmp_path / "second.jsonl"
    assert calibration.config.dimensions == DEFAULT_DIMENSIONS


def _elem_ids(app) -> set[str]:
    return {c["props"].get("elem_id") for c in app.get_config_file()["components"]} - {None}


def test_the_page_has_a_slider_and_an_uncertain_box_per_dimension(audio_folder, tmp_path):
    args = build_parser().parse_args([str(audio_folder), "--out", str(tmp_path / "l.jsonl")])
    session = make_labeler(args)
    ids = _elem_ids(build_app(session))
    for dim in DEFAULT_DIMENSIONS:
        assert {f"slider-{dim}", f"uncertain-{dim}"} <= ids
    assert {"pl-prev", "pl-next", "pl-next-unlabelled", "comment", "progress", "segment-audio"} <= ids
    assert {"waveform", "piano-roll", "segment-key", "save-status"} <= ids
    assert "consistency" not in ids
    for button in ("pl-prev", "pl-next", "pl-next-unlabelled"):
        assert f'"{button}"' in SHORTCUTS_JS

    session.save(session.items[0].key, [50] * 10, [False] * 10, "")
    args = build_parser().parse_args([str(audio_folder), "--out", str(tmp_path / "l.jsonl"), "--calibration"])
    assert "consistency" in _elem_ids(build_app(make_labeler(args)))
    assert json.loads((tmp_path / "l.jsonl").read_text())["pass"] == "main"
