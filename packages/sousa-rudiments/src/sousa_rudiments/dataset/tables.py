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

from sousa_rudiments.schema import AUG_PREFIX, SchemaError

__all__ = [
    "concat_sorted",
    "rows_to_table",
    "sample_row",
    "sample_tables",
    "schema_for",
    "with_sample_id",
]

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
    """The ``samples.parquet`` row (``labels.sample_row``): paths, timbre (kit per sample), augmentation.

    Every ``aug_*`` column the renderer reports is kept, ``None`` where the effect was not drawn.
    """
    from sousa_rudiments.labels import sample_row as base_sample_row

    return base_sample_row(
        performance,
        profile,
        sample_id,
        midi_path=media["midi_path"],
        audio_path=media.get("audio_path"),
        soundfont=media.get("soundfont"),
        augmentation_preset=media.get("augmentation_preset"),
        augmentation_group_id=performance_id,
        performance_id=performance_id,
        kit=media.get("kit"),
        kit_program=media.get("kit_program"),
        snare_note=media.get("snare_note"),
        sample_rate=media.get("sample_rate"),
        aug_params=media.get("aug_params"),
    )


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


def _aug_types(rows: Sequence[Mapping[str, Any]]) -> dict[str, pa.DataType]:
    """``aug_*`` column → string if its values are strings, float64 if numbers, null if all ``None``."""
    types: dict[str, pa.DataType] = {}
    for row in rows:
        for name, value in row.items():
            if not name.startswith(AUG_PREFIX):
                continue
            if value is None:
                types.setdefault(name, pa.null())
                continue
            dtype = pa.string() if isinstance(value, str) else pa.float64()
            known = types.get(name, pa.null())
            if known != pa.null() and known != dtype:
                raise SchemaError(f"aug column {name!r} mixes strings and numbers")
            types[name] = dtype
    return types


def _samples_part_schema(rows: Sequence[Mapping[str, Any]]) -> pa.Schema:
    """Fixed samples columns + the ``aug_*`` columns present, sorted (type null while all values are null)."""
    from sousa_rudiments.schema import SAMPLES_SCHEMA

    types = _aug_types(rows)
    return pa.schema(list(SAMPLES_SCHEMA) + [pa.field(name, types[name]) for name in sorted(types)])


def rows_to_table(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows → table with the schema's column order and types; a missing, unknown or illegally null
    column is a :class:`~sousa_rudiments.schema.SchemaError`.

    Samples rows may differ in their ``aug_*`` keys (a missing key is a null); an ``aug_*`` column whose
    values are all null has type null here and gets its final type in :func:`concat_sorted`.
    """
    from sousa_rudiments.schema import rows_to_table as checked_rows_to_table

    if name != "samples":
        return checked_rows_to_table(rows, schema_for(name))
    schema = _samples_part_schema(rows)
    filled = [{column: row.get(column) for column in schema.names} for row in rows]
    for i, row in enumerate(rows):
        missing = [c for c in schema_for("samples").names if c not in row]
        unknown = sorted(set(row) - set(schema.names))
        if missing or unknown:
            raise SchemaError(f"samples row {i}: missing columns {missing}, unexpected columns {unknown}")
    return checked_rows_to_table(filled, schema)


def _finish_samples(table: pa.Table) -> pa.Table:
    """Samples table with exactly ``schema.samples_schema``: aug columns sorted, all-null ones float64."""
    from sousa_rudiments.schema import samples_schema

    aug = {
        f.name: (pa.float64() if f.type == pa.null() else f.type)
        for f in table.schema
        if f.name.startswith(AUG_PREFIX)
    }
    final = samples_schema(aug)
    return table.select(final.names).cast(final)


def with_sample_id(table: pa.Table, sample_id: str) -> pa.Table:
    """``table`` with every ``sample_id`` set to ``sample_id`` (a performance's rows for one clip)."""
    index = table.schema.get_field_index("sample_id")
    field = table.schema.field(index)
    return table.set_column(index, field, pa.array([sample_id] * table.num_rows, field.type))


def concat_sorted(name: str, tables: Sequence[pa.Table]) -> pa.Table:
    """One table sorted by sample id (and row index), whatever order the parts arrived in.

    The samples table comes out with exactly ``schema.samples_schema(...)``: fixed columns, then the
    ``aug_*`` columns sorted by name (a column null in every sample is float64).
    """
    if not tables:
        schema = schema_for(name)
        return schema.empty_table()
    table = pa.concat_tables(tables, promote_options="default")
    if name == "samples":
        table = _finish_samples(table)
    keys = [(column, order) for column, order in _SORT_KEYS[name] if column in table.schema.names]
    return table.sort_by(keys).combine_chunks()
