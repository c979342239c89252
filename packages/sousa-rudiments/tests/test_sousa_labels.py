"""Label rows and the arrow schemas of the four label tables."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sousa_rudiments.labels import exercise_row, measure_rows, sample_row, stroke_rows
from sousa_rudiments.performance import Performance, generate_performance
from sousa_rudiments.profiles import generate_profiles
from sousa_rudiments.rudiments import get_rudiment
from sousa_rudiments.schema import (
    EXERCISES_SCHEMA,
    MEASURES_SCHEMA,
    SAMPLES_SCHEMA,
    STROKES_SCHEMA,
    SchemaError,
    rows_to_table,
    samples_schema,
)
from sousa_rudiments.scores import SCORE_NAMES

PROFILE = generate_profiles(1, seed=2, tier_weights={"intermediate": 1})[0]


def _performance(slug: str = "flam-tap", **kwargs: object) -> Performance:
    return generate_performance(get_rudiment(slug), PROFILE, 100, seed=4, **kwargs)  # type: ignore[arg-type]


def test_schema_columns_are_the_reference_columns_in_order() -> None:
    assert STROKES_SCHEMA.names == [
        "sample_id", "index", "hand", "stroke_type", "intended_time_ms", "actual_time_ms", "timing_error_ms",
        "intended_velocity", "actual_velocity", "velocity_error", "is_grace_note", "is_accent",
        "diddle_position", "flam_spacing_ms", "parent_stroke_index", "buzz_count",
    ]  # fmt: skip
    assert MEASURES_SCHEMA.names == [
        "sample_id", "index", "stroke_start", "stroke_end", "timing_mean_error_ms", "timing_std_ms",
        "timing_max_error_ms", "velocity_mean", "velocity_std", "velocity_consistency", "lr_velocity_ratio",
        "lr_timing_diff_ms",
    ]  # fmt: skip
    assert EXERCISES_SCHEMA.names == ["sample_id", *SCORE_NAMES, "overall_score", "tier_confidence"]
    assert SAMPLES_SCHEMA.names == [
        "sample_id", "profile_id", "rudiment_slug", "tempo_bpm", "duration_sec", "num_cycles", "skill_tier",
        "skill_tier_binary", "dominant_hand", "midi_path", "audio_path", "num_strokes", "num_measures",
        "soundfont", "augmentation_preset", "augmentation_group_id", "performance_id", "kit", "kit_program",
        "snare_note", "sample_rate",
    ]  # fmt: skip


DOCS = Path(__file__).resolve().parents[1] / "docs" / "label-schema.md"
_DOC_TYPES = {"string": pa.string(), "int32": pa.int32(), "float64": pa.float64(), "bool": pa.bool_()}


def _documented_columns(table: str) -> list[tuple[str, str, bool]]:
    """(name, type, nullable) of each row of the docs page's column table for ``labels/<table>.parquet``."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"## `labels/{table}.parquet`", 1)[1].split("\n## ", 1)[0]
    columns = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].rstrip("…").isdigit():
            continue
        name, kind = cells[1].strip("`"), cells[2]
        nullable = "null" in kind or (len(cells) > 3 and cells[3] == "null")
        columns.append((name, kind.split(",")[0].strip(), nullable))
    return columns


@pytest.mark.parametrize(
    ("table", "schema"),
    [
        ("strokes", STROKES_SCHEMA),
        ("measures", MEASURES_SCHEMA),
        ("exercises", EXERCISES_SCHEMA),
        ("samples", SAMPLES_SCHEMA),
    ],
)
def test_docs_page_lists_exactly_the_schema(table: str, schema: pa.Schema) -> None:
    documented = _documented_columns(table)
    if table == "samples":
        assert documented[-1] == ("aug_*", "float64 or string", True)
        documented = documented[:-1]
    assert [name for name, _, _ in documented] == schema.names
    for (name, kind, nullable), field in zip(documented, schema, strict=True):
        assert _DOC_TYPES[kind] == field.type, name
        assert nullable == field.nullable, name


def test_stroke_rows_mirror_the_performance() -> None:
    performance = _performance()
    rows = stroke_rows(performance, "s-1")
    assert len(rows) == performance.num_strokes
    for row, stroke in zip(rows, performance.strokes, strict=True):
        assert list(row) == STROKES_SCHEMA.names
        assert row["timing_error_ms"] == pytest.approx(
            stroke.actual_time_ms - stroke.intended_time_ms, abs=1e-3
        )
        assert row["velocity_error"] == stroke.actual_velocity - stroke.intended_velocity
        assert (
            row["is_grace_note"]
            == (row["stroke_type"] == "grace")
            == (row["parent_stroke_index"] is not None)
        )
        if row["is_grace_note"]:
            parent = rows[row["parent_stroke_index"]]
            assert parent["hand"] != row["hand"] and parent["actual_time_ms"] > row["actual_time_ms"]


def test_measure_rows_partition_the_strokes_and_measure_hand_gaps() -> None:
    performance = _performance()
    rows = measure_rows(performance, "s-1")
    assert len(rows) == performance.num_cycles
    assert rows[0]["stroke_start"] == 0 and rows[-1]["stroke_end"] == performance.num_strokes
    for previous, current in itertools.pairwise(rows):
        assert current["stroke_start"] == previous["stroke_end"]
    # flam tap cycle = 4 primaries + 2 flam graces
    assert all(r["stroke_end"] - r["stroke_start"] == 6 for r in rows)

    perfect = replace(
        performance,
        strokes=[
            replace(
                s,
                actual_time_ms=s.intended_time_ms + (30.0 if s.hand == "L" else 0.0),
                actual_velocity=50 if s.hand == "L" else 100,
            )
            for s in performance.strokes
        ],
    )
    for row in measure_rows(perfect, "s-1"):
        assert row["lr_timing_diff_ms"] == pytest.approx(30.0)
        assert row["lr_velocity_ratio"] == pytest.approx(0.5)
        assert row["timing_mean_error_ms"] == pytest.approx(15.0)  # 2 of 4 primaries per hand
        assert row["timing_max_error_ms"] == pytest.approx(30.0)
        assert row["timing_std_ms"] == pytest.approx(15.0)
        assert row["velocity_mean"] == pytest.approx(75.0)
        assert row["velocity_consistency"] == pytest.approx(1 - 25.0 / 75.0)


def test_tables_round_trip_through_parquet(tmp_path: Path) -> None:
    performance = _performance("single-dragadiddle")
    tables = {
        "strokes": rows_to_table(stroke_rows(performance, "s-1"), STROKES_SCHEMA),
        "measures": rows_to_table(measure_rows(performance, "s-1"), MEASURES_SCHEMA),
        "exercises": rows_to_table([exercise_row(performance, PROFILE, "s-1")], EXERCISES_SCHEMA),
    }
    aug = {"aug_gain_db": 1.5, "aug_room_preset": "hall"}
    schema = samples_schema({"aug_gain_db": pa.float64(), "aug_room_preset": pa.string()})
    tables["samples"] = rows_to_table(
        [sample_row(performance, PROFILE, "s-1", midi_path="midi/x.mid", aug_params=aug)], schema
    )
    for name, table in tables.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        loaded = pq.read_table(tmp_path / f"{name}.parquet")
        assert loaded.schema.equals(table.schema)
        assert loaded.to_pylist() == table.to_pylist()
    exercise = tables["exercises"].to_pylist()[0]
    assert exercise["flam_quality"] is None and exercise["diddle_quality"] is not None
    sample = tables["samples"].to_pylist()[0]
    assert (
        sample["num_strokes"] == performance.num_strokes and sample["num_measures"] == performance.num_cycles
    )
    assert sample["skill_tier_binary"] == "novice" and sample["aug_room_preset"] == "hall"
    assert sample["audio_path"] is None
    assert np.isclose(sample["duration_sec"], performance.duration_sec)


def test_schema_errors_are_typed_and_explicit() -> None:
    rows = stroke_rows(_performance(), "s-1")
    with pytest.raises(SchemaError, match="missing columns \\['buzz_count'\\]"):
        rows_to_table([{k: v for k, v in rows[0].items() if k != "buzz_count"}], STROKES_SCHEMA)
    with pytest.raises(SchemaError, match="unexpected columns \\['extra'\\]"):
        rows_to_table([{**rows[0], "extra": 1}], STROKES_SCHEMA)
    with pytest.raises(SchemaError, match="'hand' may not be null"):
        rows_to_table([{**rows[0], "hand": None}], STROKES_SCHEMA)
    with pytest.raises(SchemaError, match="do not fit"):
        rows_to_table([{**rows[0], "index": "first"}], STROKES_SCHEMA)
    with pytest.raises(SchemaError, match="aug_<effect>_<param>"):
        samples_schema(["gain_db"])
    with pytest.raises(SchemaError, match="float64 or string"):
        samples_schema({"aug_gain_db": pa.int64()})
    with pytest.raises(SchemaError, match="aug_<effect>_<param>"):
        sample_row(_performance(), PROFILE, "s-1", aug_params={"gain": 1.0})
    assert samples_schema(["aug_b", "aug_a"]).names[-2:] == ["aug_a", "aug_b"]


def test_sample_row_keeps_unapplied_augmentations_as_nulls_and_records_the_kit() -> None:
    performance = _performance()
    aug = {"aug_reverb_ir": None, "aug_gain_gain_db": -3, "aug_noise_snr_db": None, "aug_mp3_codec": "lame"}
    row = sample_row(
        performance,
        PROFILE,
        "p_aug0",
        midi_path="midi/flam-tap/p.mid",
        audio_path="audio/flam-tap/p_aug0.flac",
        augmentation_group_id="p",
        performance_id="p",
        kit="jazz",
        kit_program=32,
        snare_note=40,
        sample_rate=44100,
        aug_params=aug,
    )
    assert list(row)[len(SAMPLES_SCHEMA.names) :] == sorted(aug)
    assert row["aug_reverb_ir"] is None and row["aug_noise_snr_db"] is None
    assert row["aug_gain_gain_db"] == -3.0 and isinstance(row["aug_gain_gain_db"], float)
    schema = samples_schema(
        {"aug_reverb_ir": pa.string(), "aug_gain_gain_db": pa.float64(), "aug_noise_snr_db": pa.float64(),
         "aug_mp3_codec": pa.string()}
    )  # fmt: skip
    (back,) = rows_to_table([row], schema).to_pylist()
    assert back["kit"] == "jazz" and back["kit_program"] == 32 and back["snare_note"] == 40
    assert back["performance_id"] == "p" and back["sample_rate"] == 44100 and back["aug_reverb_ir"] is None
    # without audio: a performance rendered once is its own sample, timbre columns are null
    bare = sample_row(performance, PROFILE, "p", midi_path="midi/flam-tap/p.mid")
    assert bare["performance_id"] == "p"
    assert [bare[c] for c in ("kit", "kit_program", "snare_note", "sample_rate")] == [None] * 4


def test_dataset_sample_tables_merge_to_the_sorted_documented_schema() -> None:
    from sousa_rudiments.dataset import tables

    performance = _performance()

    def row(sample_id: str, aug: dict[str, object]) -> dict[str, object]:
        return sample_row(performance, PROFILE, sample_id, midi_path="m.mid", aug_params=aug)  # type: ignore[arg-type]

    # part 1 never drew reverb (its IR column is all null), part 2 did; only part 2 knows aug_b_x
    part1 = tables.rows_to_table("samples", [row("s-2", {"aug_reverb_ir": None, "aug_gain_db": 1.0})])
    part2 = tables.rows_to_table(
        "samples", [row("s-1", {"aug_reverb_ir": "ir3", "aug_gain_db": None, "aug_b_x": None})]
    )
    merged = tables.concat_sorted("samples", [part1, part2])
    expected = samples_schema(
        {"aug_b_x": pa.float64(), "aug_gain_db": pa.float64(), "aug_reverb_ir": pa.string()}
    )
    assert merged.schema.equals(expected)
    assert merged.column("sample_id").to_pylist() == ["s-1", "s-2"]
    assert merged.column("aug_reverb_ir").to_pylist() == ["ir3", None]
    assert merged.column("aug_gain_db").to_pylist() == [None, 1.0]
    with pytest.raises(SchemaError, match="mixes strings and numbers"):
        tables.rows_to_table("samples", [row("a", {"aug_x_y": "s"}), row("b", {"aug_x_y": 2.0})])
    with pytest.raises(SchemaError, match="missing columns \\['kit'\\]"):
        tables.rows_to_table("samples", [{k: v for k, v in row("a", {}).items() if k != "kit"}])
    with pytest.raises(SchemaError, match="'performance_id' may not be null"):
        tables.rows_to_table("samples", [{**row("a", {}), "performance_id": None}])
