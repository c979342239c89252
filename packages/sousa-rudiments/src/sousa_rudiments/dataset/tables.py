"""Label rows for one sample and their conversion to typed, sorted Arrow tables.

Stroke, measure and exercise rows come from :mod:`sousa_rudiments.labels` (the label schema is
documented in ``docs/label-schema.md``); this module adds the per-sample row (paths, timbre,
augmentation parameters) and fixes column types with :mod:`sousa_rudiments.schema`, so every run
writes identical tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

__all__ = [
    "SAMPLE_EXTRA_FIELDS",
    "concat_sorted",
    "rows_to_table",
    "sample_row",
    "sample_tables",
    "schema_for",
    "with_sample_id",
]

#: Per-sample columns this package adds to the fixed ``SAMPLES_SCHEMA`` when the label schema does
#: not define them: which timbre was rendered (kit per sample) and at which sample rate.
SAMPLE_EXTRA_FIELDS: tuple[pa.Field, ...] = (
    pa.field("performance_id", pa.string()),
    pa.field("kit", pa.string()),
    pa.field("kit_program", pa.int32()),
    pa.field("snare_note", pa.int32()),
    pa.field("sample_rate", pa.int32()),
)

_SORT_KEYS: dict[str, list[tuple[str, str]]] = {
    "strokes": [("sample_id", "ascending"), ("index", "ascending")],
    "measures": [("sample_id", "ascending"), ("index", "ascending")],
    "exercises": [("sample_id", "ascending")],
    "samples": [("sample_id", "ascending")],
}


def schema_for(name: str) -> pa.Schema:
    from sousa_rudiments import schema

    return {
        "strokes": schema.STROKES_SCHEMA,
        "measures": schema.MEASURES_SCHEMA,
        "exercises": schema.EXERCISES_SCHEMA,
        "samples": schema.SAMPLES_SCHEMA,
    }[name]


def sample_row(
    performance: Any, profile: Any, sample_id: str, performance_id: str, media: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``samples.parquet`` row: ``labels.sample_row`` plus timbre columns (kit per sample).

    Augmentation parameters the core reports as ``None`` (effect not drawn) are left out of the row
    and become nulls when rows are combined into a table.
    """
    from sousa_rudiments.labels import sample_row as base_sample_row

    aug = {key: value for key, value in (media.get("aug_params") or {}).items() if value is not None}
    row = base_sample_row(
        performance,
        profile,
        sample_id,
        midi_path=media["midi_path"],
        audio_path=media.get("audio_path"),
        soundfont=media.get("soundfont"),
        augmentation_preset=media.get("augmentation_preset"),
        augmentation_group_id=performance_id,
        aug_params=aug,
    )
    row.update(
        performance_id=performance_id,
        kit=media.get("kit"),
        kit_program=media.get("kit_program"),
        snare_note=media.get("snare_note"),
        sample_rate=media.get("sample_rate"),
    )
    return row


def performance_label_rows(
    performance: Any, profile: Any, sample_id: str = ""
) -> dict[str, list[dict[str, Any]]]:
    """Stroke, measure and exercise rows of a performance (every clip of it shares them)."""
    from sousa_rudiments.labels import exercise_row, measure_rows, stroke_rows

    return {
        "strokes": list(stroke_rows(performance, sample_id)),
        "measures": list(measure_rows(performance, sample_id)),
        "exercises": [exercise_row(performance, profile, sample_id)],
    }


def sample_tables(
    performance: Any, profile: Any, sample_id: str, performance_id: str, media: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """All label rows of one sample, by table name."""
    rows = performance_label_rows(performance, profile, sample_id)
    rows["samples"] = [sample_row(performance, profile, sample_id, performance_id, media)]
    return rows


def _samples_schema(rows: Sequence[Mapping[str, Any]]) -> pa.Schema:
    """Fixed samples columns + this package's extras + every ``aug_*`` column present (sorted)."""
    base = schema_for("samples")
    fields = list(base)
    names = set(base.names)
    fields += [f for f in SAMPLE_EXTRA_FIELDS if f.name not in names]
    names |= {f.name for f in SAMPLE_EXTRA_FIELDS}
    aug_columns = sorted({k for row in rows for k in row if k.startswith("aug_") and k not in names})
    for column in aug_columns:
        values = [row.get(column) for row in rows if row.get(column) is not None]
        if values and all(isinstance(v, str) for v in values):
            fields.append(pa.field(column, pa.string()))
        else:
            fields.append(pa.field(column, pa.float64()))
    return pa.schema(fields)


def rows_to_table(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows → table with the schema's column order and types (unknown columns are an error)."""
    schema = _samples_schema(rows) if name == "samples" else schema_for(name)
    unknown = sorted({k for row in rows for k in row} - set(schema.names))
    if unknown:
        raise ValueError(f"{name} rows carry columns that are not in the schema: {unknown}")
    return pa.Table.from_pylist([dict(row) for row in rows], schema=schema)


def with_sample_id(table: pa.Table, sample_id: str) -> pa.Table:
    """``table`` with every ``sample_id`` set to ``sample_id`` (a performance's rows for one clip)."""
    index = table.schema.get_field_index("sample_id")
    field = table.schema.field(index)
    return table.set_column(index, field, pa.array([sample_id] * table.num_rows, field.type))


def concat_sorted(name: str, tables: Sequence[pa.Table]) -> pa.Table:
    """One table sorted by sample id (and row index), whatever order the parts arrived in."""
    if not tables:
        schema = schema_for(name)
        return schema.empty_table()
    table = pa.concat_tables(tables, promote_options="default")
    keys = [(column, order) for column, order in _SORT_KEYS[name] if column in table.schema.names]
    return table.sort_by(keys).combine_chunks()
