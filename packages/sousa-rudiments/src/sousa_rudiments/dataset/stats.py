"""``sousa stats DIR``: sample counts and label summaries per skill tier, rudiment and tempo."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

__all__ = ["GROUPINGS", "dataset_stats", "format_stats"]

GROUPINGS: tuple[str, ...] = ("skill_tier", "rudiment_slug", "tempo_bpm")
#: Exercise scores summarised when present (means per group).
_SCORE_COLUMNS: tuple[str, ...] = ("overall_score", "timing_accuracy", "velocity_control", "hand_balance")


def _load(root: Path) -> pd.DataFrame:
    labels = root / "labels"
    for name in ("samples", "exercises", "strokes"):
        if not (labels / f"{name}.parquet").is_file():
            raise FileNotFoundError(f"{labels / f'{name}.parquet'} is missing; run `sousa generate` first")
    samples = pq.read_table(labels / "samples.parquet").to_pandas()
    exercises = pq.read_table(labels / "exercises.parquet").to_pandas()
    scores = [c for c in _SCORE_COLUMNS if c in exercises.columns]
    strokes = pq.read_table(labels / "strokes.parquet", columns=["sample_id", "timing_error_ms"]).to_pandas()
    timing = (
        strokes.assign(abs_timing_error_ms=strokes["timing_error_ms"].abs())
        .groupby("sample_id")["abs_timing_error_ms"]
        .mean()
    )
    frame = samples.merge(exercises[["sample_id", *scores]], on="sample_id", how="left")
    return frame.merge(
        timing.rename("mean_abs_timing_error_ms"), left_on="sample_id", right_index=True, how="left"
    )


def dataset_stats(root: str | Path) -> dict[str, pd.DataFrame]:
    """One table per grouping: samples, profiles, mean duration, mean |timing error| and mean scores."""
    frame = _load(Path(root))
    value_columns = ["duration_sec", "num_strokes", "mean_abs_timing_error_ms"]
    value_columns += [c for c in _SCORE_COLUMNS if c in frame.columns]
    tables: dict[str, pd.DataFrame] = {}
    for key in GROUPINGS:
        grouped = frame.groupby(key, sort=True)
        table = grouped.agg(samples=("sample_id", "size"), profiles=("profile_id", "nunique"))
        table = table.join(grouped[value_columns].mean().round(2))
        tables[key] = table
    return tables


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (pandas' ``to_markdown`` needs the optional tabulate package)."""
    frame = table.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def format_stats(tables: dict[str, pd.DataFrame], fmt: str = "text") -> str:
    """Render the tables as plain text, markdown or JSON."""
    if fmt == "json":
        import json

        return json.dumps(
            {k: v.reset_index().to_dict(orient="records") for k, v in tables.items()}, indent=2, default=str
        )
    parts = []
    for key, table in tables.items():
        if fmt == "markdown":
            parts.append(f"### by {key}\n\n{_markdown(table)}")
        elif fmt == "text":
            parts.append(f"== by {key} ==\n{table.to_string()}")
        else:
            raise ValueError(f"unknown format {fmt!r}; use text, markdown or json")
    return "\n\n".join(parts) + "\n"
