"""Arrow schemas of the four SOUSA label tables (column order and types are part of the dataset's contract).

``labels/strokes.parquet`` (one row per stroke), ``labels/measures.parquet`` (one row per pattern cycle),
``labels/exercises.parquet`` (one row per sample) and ``labels/samples.parquet`` (one row per sample). The
samples table has the fixed columns of ``SAMPLES_SCHEMA`` followed by any number of ``aug_*`` columns (the
flattened parameters of the augmentation applied to the audio) of type float64 or string; build its full
schema with :func:`samples_schema`. Column-by-column documentation: ``docs/label-schema.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from .scores import SCORE_NAMES

__all__ = [
    "AUG_PREFIX",
    "EXERCISES_SCHEMA",
    "MEASURES_SCHEMA",
    "SAMPLES_SCHEMA",
    "STROKES_SCHEMA",
    "SchemaError",
    "rows_to_table",
    "samples_schema",
]

AUG_PREFIX = "aug_"


class SchemaError(ValueError):
    """Rows or columns that do not fit a label-table schema."""


STROKES_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("hand", pa.string(), nullable=False),
        pa.field("stroke_type", pa.string(), nullable=False),
        pa.field("intended_time_ms", pa.float64(), nullable=False),
        pa.field("actual_time_ms", pa.float64(), nullable=False),
        pa.field("timing_error_ms", pa.float64(), nullable=False),
        pa.field("intended_velocity", pa.int32(), nullable=False),
        pa.field("actual_velocity", pa.int32(), nullable=False),
        pa.field("velocity_error", pa.int32(), nullable=False),
        pa.field("is_grace_note", pa.bool_(), nullable=False),
        pa.field("is_accent", pa.bool_(), nullable=False),
        pa.field("diddle_position", pa.int32()),
        pa.field("flam_spacing_ms", pa.float64()),
        pa.field("parent_stroke_index", pa.int32()),
        pa.field("buzz_count", pa.int32()),
    ]
)

MEASURES_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("stroke_start", pa.int32(), nullable=False),
        pa.field("stroke_end", pa.int32(), nullable=False),
        pa.field("timing_mean_error_ms", pa.float64(), nullable=False),
        pa.field("timing_std_ms", pa.float64(), nullable=False),
        pa.field("timing_max_error_ms", pa.float64(), nullable=False),
        pa.field("velocity_mean", pa.float64(), nullable=False),
        pa.field("velocity_std", pa.float64(), nullable=False),
        pa.field("velocity_consistency", pa.float64(), nullable=False),
        pa.field("lr_velocity_ratio", pa.float64()),
        pa.field("lr_timing_diff_ms", pa.float64()),
    ]
)

_ALWAYS_DEFINED_SCORES = {
    "timing_accuracy",
    "timing_consistency",
    "tempo_stability",
    "subdivision_evenness",
    "velocity_control",
}
EXERCISES_SCHEMA = pa.schema(
    [pa.field("sample_id", pa.string(), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=name not in _ALWAYS_DEFINED_SCORES) for name in SCORE_NAMES]
    + [
        pa.field("overall_score", pa.float64(), nullable=False),
        pa.field("tier_confidence", pa.float64(), nullable=False),
    ]
)

SAMPLES_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("rudiment_slug", pa.string(), nullable=False),
        pa.field("tempo_bpm", pa.float64(), nullable=False),
        pa.field("duration_sec", pa.float64(), nullable=False),
        pa.field("num_cycles", pa.int32(), nullable=False),
        pa.field("skill_tier", pa.string(), nullable=False),
        pa.field("skill_tier_binary", pa.string(), nullable=False),
        pa.field("dominant_hand", pa.string(), nullable=False),
        pa.field("midi_path", pa.string()),
        pa.field("audio_path", pa.string()),
        pa.field("num_strokes", pa.int32(), nullable=False),
        pa.field("num_measures", pa.int32(), nullable=False),
        pa.field("soundfont", pa.string()),
        pa.field("augmentation_preset", pa.string()),
        pa.field("augmentation_group_id", pa.string()),
        pa.field("performance_id", pa.string(), nullable=False),
        pa.field("kit", pa.string()),
        pa.field("kit_program", pa.int32()),
        pa.field("snare_note", pa.int32()),
        pa.field("sample_rate", pa.int32()),
    ]
)
"""Fixed columns of the samples table; ``aug_*`` columns follow (see :func:`samples_schema`).

``performance_id`` names the MIDI performance a clip was rendered from; ``kit``, ``kit_program``,
``snare_note`` and ``sample_rate`` describe the rendered audio and are null without audio.
"""


def samples_schema(aug_columns: Mapping[str, pa.DataType] | Iterable[str] = ()) -> pa.Schema:
    """``SAMPLES_SCHEMA`` plus the given ``aug_*`` columns (sorted by name; float64 unless told string).

    ``aug_columns`` is either names (all float64) or a name → type mapping with types float64 or string.
    """
    columns: dict[str, pa.DataType] = (
        dict(aug_columns)
        if isinstance(aug_columns, Mapping)
        else {name: pa.float64() for name in aug_columns}
    )
    fields = list(SAMPLES_SCHEMA)
    for name in sorted(columns):
        dtype = columns[name]
        if not name.startswith(AUG_PREFIX) or len(name) == len(AUG_PREFIX):
            raise SchemaError(f"extra samples column {name!r} must be named 'aug_<effect>_<param>'")
        if dtype not in (pa.float64(), pa.string()):
            raise SchemaError(f"aug column {name!r} must be float64 or string, got {dtype}")
        fields.append(pa.field(name, dtype))
    return pa.schema(fields)


def rows_to_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) as a table with exactly ``schema``; a missing, extra or mistyped column raises."""
    names = set(schema.names)
    for i, row in enumerate(rows):
        missing, extra = names - set(row), set(row) - names
        if missing or extra:
            raise SchemaError(
                f"row {i}: missing columns {sorted(missing)}, unexpected columns {sorted(extra)}"
            )
    try:
        table = pa.Table.from_pylist(list(rows), schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        raise SchemaError(f"rows do not fit the schema: {error}") from error
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise SchemaError(f"column {field.name!r} may not be null")
    return table
