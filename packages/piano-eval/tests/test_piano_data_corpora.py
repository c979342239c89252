"""The corpus loaders on small fixtures written in each corpus's published layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import symusic
from piano_eval.data.errors import DatasetLayoutError, FoldLeakError, LabelFileError
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.folds import check_piece_folds, piece_folds
from piano_eval.data.maestro import load_maestro, windows
from piano_eval.data.percepiano import (
    MEAN_LABELS,
    MIDI_DIR,
    RAW_LABELS,
    load_percepiano,
    parse_segment_name,
)
from piano_eval.dimensions import PERCEPIANO_DIMENSIONS


def _midi(path: Path, pitches=(60, 64, 67)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for k, pitch in enumerate(pitches):
        track.notes.append(symusic.Note(time=480 * k, duration=400, pitch=pitch, velocity=70))
    score.tracks.append(track)
    score.dump_midi(str(path))


# ----------------------------------------------------------------------------- PercePiano

QUESTIONS = [f"Question_{q}_1_1" for q in range(1, 20)]
SEG_A = "Schubert_D960_mv2_8bars_1_3"
SEG_B = "Schubert_D960_mv2_8bars_2_3"
SEG_C = "Beethoven_WoO80_var1_4bars_Score_3"


def _percepiano(root: Path, rows: list[list]) -> Path:
    (root / RAW_LABELS).parent.mkdir(parents=True)
    with (root / RAW_LABELS).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "dataID", "filename", *QUESTIONS, "comment"])
        writer.writerows(rows)
    for seg in (SEG_A, SEG_B, SEG_C):
        _midi(root / MIDI_DIR / f"{seg}.mid")
    return root


def _row(user, filename, values):
    return [user, 1, filename, *values, ""]


def test_percepiano_raw_cleaning_by_hand(tmp_path):
    # segment A: two raters; question 10 (the paper's "Dynamic: sophisticated/mellow – raw/crude") gets 2 and 4,
    # question 11 (dynamic range) 6 and 7; rater 2 answered "don't know" (0) on question 1.
    a1 = [3] * 9 + [2, 6] + [5] * 8
    a2 = [0] + [5] * 8 + [4, 7] + [3] * 8
    bad = [8] + [4] * 18  # > 7.1: a data-entry error, the whole row is dropped
    root = _percepiano(
        tmp_path,
        [
            _row("u1", f"{SEG_A}.mid", a1),
            _row("u2", f"{SEG_A}.mid", a2),
            _row("u3", f"{SEG_A}.mid", bad),
            _row("u1", f"{SEG_B}.mid", [7] * 19),
            _row("u2", "Beethoven_WoO80_var1_4bars_score_3.mid", [1] * 19),
        ],
    )
    segments = {s.segment_id: s for s in load_percepiano(root)}
    assert sorted(segments) == sorted([SEG_A, SEG_B, SEG_C])  # "_score" is renamed to "_Score" as published
    a = segments[SEG_A]
    names = dict(zip(PERCEPIANO_DIMENSIONS, a.labels, strict=True))
    assert names["timing"] == pytest.approx(3 / 7)  # the 0 is left out of the mean, not averaged in
    assert names["sophistication"] == pytest.approx(3 / 7)  # (2 + 4) / 2, mapped by name, not position
    assert names["dynamic_range"] == pytest.approx(6.5 / 7)
    assert names["tempo"] == pytest.approx(4 / 7)
    assert names["interpretation"] == pytest.approx(4 / 7)
    assert a.raters == 2 and a.piece_id == "Schubert_D960_mv2" and a.performer == "1" and a.bars == 8
    assert segments[SEG_B].labels == pytest.approx(np.ones(19))
    assert segments[SEG_C].performer == "Score"


def test_percepiano_rating_outside_scale_names_row_and_question(tmp_path):
    root = _percepiano(tmp_path, [_row("u1", f"{SEG_A}.mid", [4] * 4 + [0.5] + [4] * 14)])
    with pytest.raises(LabelFileError, match=r"total_2rounds.csv row 2.*Question_5_1_1"):
        load_percepiano(root)


def test_percepiano_missing_midi_and_wrong_root(tmp_path):
    root = _percepiano(tmp_path, [_row("u1", f"{SEG_A}.mid", [4] * 19)])
    (root / MIDI_DIR / f"{SEG_A}.mid").unlink()
    with pytest.raises(DatasetLayoutError, match=SEG_A):
        load_percepiano(root)
    assert load_percepiano(root, require_midi=False)[0].midi_path is None
    with pytest.raises(DatasetLayoutError, match="PercePiano repository root"):
        load_percepiano(tmp_path / "labels")


def test_percepiano_mean_json(tmp_path):
    root = _percepiano(tmp_path, [_row("u1", f"{SEG_A}.mid", [4] * 19)])
    values = [0.15 + 0.04 * k for k in range(19)] + [3]  # a trailing extra column, as the authors' file has
    values[0] = 0.5
    (root / MEAN_LABELS).write_text(json.dumps({SEG_A: values}))
    (segment,) = load_percepiano(root, labels="mean")
    assert segment.labels[PERCEPIANO_DIMENSIONS.index("sophistication")] == pytest.approx(values[9])
    assert segment.labels[PERCEPIANO_DIMENSIONS.index("dynamic_range")] == pytest.approx(values[10])
    (root / MEAN_LABELS).write_text(json.dumps({SEG_A: [0.01] * 19}))
    with pytest.raises(LabelFileError, match=rf"{SEG_A}.*timing"):
        load_percepiano(root, labels="mean")
    (root / MEAN_LABELS).write_text(json.dumps({SEG_A: [0.5] * 12}))
    with pytest.raises(LabelFileError, match="need 19 label values"):
        load_percepiano(root, labels="mean")


def test_segment_names():
    assert parse_segment_name("Schubert_D935_no.3_4bars_Score2_1") == ("Schubert_D935_no.3", 4, "Score")
    with pytest.raises(LabelFileError, match="not <piece>_<bars>bars"):
        parse_segment_name("random_name")


# ----------------------------------------------------------------------------- folds


def test_piece_folds_are_piece_disjoint_and_balanced():
    rng = np.random.default_rng(0)
    pieces = [f"piece-{int(rng.integers(0, 40))}" for _ in range(600)]
    folds = piece_folds(pieces, 4, seed=1)
    owner: dict[str, set[int]] = {}
    for piece, fold in zip(pieces, folds, strict=True):
        owner.setdefault(piece, set()).add(fold)
    assert all(len(f) == 1 for f in owner.values())  # no piece in two folds
    sizes = np.bincount(folds, minlength=4)
    assert sizes.min() > 0.8 * sizes.max()
    check_piece_folds(pieces, folds)
    leaked = list(folds)
    second = pieces.index(pieces[0], 1)  # another performance of the first piece, moved to another fold
    leaked[second] = (folds[0] + 1) % 4
    with pytest.raises(FoldLeakError, match=rf"piece '{pieces[0]}' is in folds"):
        check_piece_folds(pieces, leaked, source="my-folds.csv")
    with pytest.raises(ValueError, match="cannot fill 4"):
        piece_folds(["a", "b", "c"], 4)


# ----------------------------------------------------------------------------- MAESTRO


def _maestro(root: Path, fmt: str = "csv") -> Path:
    rows = [
        ("Frédéric Chopin", "Ballade No. 1", "train", 2018, "2018/a.midi", "2018/a.wav", 100.0),
        ("Frédéric Chopin", "Ballade No. 1", "train", 2018, "2018/b.midi", "2018/b.wav", 50.0),
        ("Franz Liszt", "Mephisto Waltz", "test", 2017, "2017/c.midi", "2017/c.wav", 20.0),
    ]
    cols = [
        "canonical_composer",
        "canonical_title",
        "split",
        "year",
        "midi_filename",
        "audio_filename",
        "duration",
    ]
    if fmt == "csv":
        with (root / "maestro-v3.0.0.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(cols)
            writer.writerows(rows)
    else:
        table = {c: {str(i): r[k] for i, r in enumerate(rows)} for k, c in enumerate(cols)}
        (root / "maestro-v3.0.0.json").write_text(json.dumps(table))
    for r in rows:
        _midi(root / r[4])
        (root / r[5]).write_bytes(b"RIFF")
    return root


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_maestro_layout(tmp_path, fmt):
    recordings = load_maestro(_maestro(tmp_path, fmt))
    assert [r.split for r in recordings] == ["train", "train", "test"]
    assert recordings[0].piece_id == recordings[1].piece_id != recordings[2].piece_id
    assert recordings[0].midi_path == tmp_path / "2018/a.midi"
    assert len(load_maestro(tmp_path, split="test")) == 1


def test_maestro_windows_overlap_and_cover(tmp_path):
    rec = load_maestro(_maestro(tmp_path))[1]  # 50 s
    spans = [(w.start, w.end) for w in windows(rec, 20.0, 10.0)]
    assert spans == [(0.0, 20.0), (10.0, 30.0), (20.0, 40.0), (30.0, 50.0)]
    short = load_maestro(tmp_path)[2]  # 20 s, a window of 30 s
    assert [(w.start, w.end) for w in windows(short, 30.0, 15.0)] == [(0.0, 20.0)]


def test_maestro_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no maestro-v"):
        load_maestro(tmp_path)
    _maestro(tmp_path)
    (tmp_path / "2017/c.wav").unlink()
    with pytest.raises(DatasetLayoutError, match=r"row 4: audio_filename .*c.wav does not exist"):
        load_maestro(tmp_path)


# ----------------------------------------------------------------------------- folder of recordings


def _folder(root: Path, rows: list[dict], header: list[str]) -> Path:
    for r in rows:
        for column in ("audio", "midi"):
            if r.get(column):
                (root / r[column]).parent.mkdir(parents=True, exist_ok=True)
                (root / r[column]).write_bytes(b"x")
    with (root / "ratings.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_folder_loader(tmp_path):
    rows = [
        {"audio": "a/1.flac", "midi": "a/1.mid", "piece_id": "p", "timing": "7", "pedal": ""},
        {"audio": "a/2.flac", "midi": "", "piece_id": "p", "timing": "1", "pedal": "4"},
    ]
    dims, perfs = load_rating_folder(
        _folder(tmp_path, rows, ["audio", "midi", "piece_id", "timing", "pedal"])
    )
    assert dims == ("timing", "pedal")
    assert perfs[0].labels[0] == pytest.approx(1.0) and np.isnan(perfs[0].labels[1])
    assert perfs[0].mask.tolist() == [True, False]
    assert perfs[1].midi_path is None and perfs[1].labels == pytest.approx([1 / 7, 4 / 7])
    dims, perfs = load_rating_folder(tmp_path, dimensions=["pedal"])
    assert dims == ("pedal",)
    with pytest.raises(LabelFileError, match=r"missing dimension columns \['dynamics'\]"):
        load_rating_folder(tmp_path, dimensions=["timing", "dynamics"])


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (
            [{"audio": "1.flac", "piece_id": "p", "timing": "9"}],
            ["audio", "piece_id", "timing"],
            r"row 2, timing: rating 9.0 is outside the 1-7",
        ),
        (
            [{"audio": "1.flac", "piece_id": "p", "timing": "0.5"}],
            ["audio", "piece_id", "timing"],
            "outside the 1-7",
        ),
        (
            [{"audio": "1.flac", "piece_id": "p", "timing": "good"}],
            ["audio", "piece_id", "timing"],
            "'good' is not a number",
        ),
        ([{"audio": "1.flac", "timing": "3"}], ["audio", "timing"], "missing column 'piece_id'"),
        (
            [
                {"audio": "1.flac", "piece_id": "p", "fold": "0", "timing": "3"},
                {"audio": "2.flac", "piece_id": "p", "fold": "1", "timing": "3"},
            ],
            ["audio", "piece_id", "fold", "timing"],
            "piece 'p' is in folds 0 and 1",
        ),
    ],
)
def test_folder_bad_ratings_name_file_row_and_field(tmp_path, rows, header, message):
    _folder(tmp_path, rows, header)
    with pytest.raises((LabelFileError, FoldLeakError), match=message) as info:
        load_rating_folder(tmp_path)
    assert "ratings.csv" in str(info.value)


def test_folder_missing_audio_file(tmp_path):
    _folder(tmp_path, [{"audio": "1.flac", "piece_id": "p", "timing": "3"}], ["audio", "piece_id", "timing"])
    (tmp_path / "1.flac").unlink()
    with pytest.raises(DatasetLayoutError, match=r"row 2, audio: .*1.flac does not exist"):
        load_rating_folder(tmp_path)
