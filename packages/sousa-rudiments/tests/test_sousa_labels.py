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
        "soundfont", "augmentation_preset", "augmentation_group_id",
    ]  # fmt: skip


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
    with pytest.raises(SchemaError, match="must start with 'aug_'"):
        sample_row(_performance(), PROFILE, "s-1", aug_params={"gain": 1.0})
    assert samples_schema(["aug_b", "aug_a"]).names[-2:] == ["aug_a", "aug_b"]
