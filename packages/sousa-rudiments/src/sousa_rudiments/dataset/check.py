"""``sousa check DIR``: schema, counts, split hygiene and file integrity of a generated dataset.

File integrity: every file's size and SHA-256 against its done-marker, every MIDI file decoded and
compared note by note with the strokes table, every audio file decoded and its length compared
with ``duration_sec``.

Every problem found is collected (not just the first) so one run tells the whole story; the CLI exits
non-zero when any is found.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from sousa_rudiments.dataset.splits import SPLIT_NAMES
from sousa_rudiments.dataset.storage import (
    LABEL_TABLES,
    METADATA_FILE,
    SPLITS_FILE,
    CorruptDatasetError,
    iter_part_paths,
    load_identity,
    read_part,
)

__all__ = ["CheckReport", "check_dataset"]


@dataclass
class CheckReport:
    root: Path
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    files_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = f"{self.root}: " + ("OK" if self.ok else f"{len(self.problems)} problem(s)")
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        lines = [head, f"  {counts}, files decoded={self.files_checked}"]
        lines += [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  … and {len(self.problems) - 50} more")
        return "\n".join(lines)


def _check_schema(name: str, table: pa.Table, report: CheckReport) -> None:
    """The table must have exactly the documented schema: column names, order and types."""
    from sousa_rudiments.dataset.tables import schema_for
    from sousa_rudiments.schema import AUG_PREFIX, SchemaError, samples_schema

    where = f"labels/{name}.parquet"
    if name == "samples":
        aug = {f.name: f.type for f in table.schema if f.name.startswith(AUG_PREFIX)}
        try:
            expected = samples_schema(aug)
        except SchemaError as exc:
            report.problems.append(f"{where}: {exc}")
            return
    else:
        expected = schema_for(name)
    for f in expected:
        if f.name not in table.schema.names:
            report.problems.append(f"{where}: column {f.name!r} is missing")
        elif not table.schema.field(f.name).type.equals(f.type):
            report.problems.append(
                f"{where}: column {f.name!r} has type {table.schema.field(f.name).type}, expected {f.type}"
            )
        elif not f.nullable and table.column(f.name).null_count:
            report.problems.append(f"{where}: column {f.name!r} has nulls, the schema forbids them")
    extra = [n for n in table.schema.names if n not in expected.names]
    if extra:
        report.problems.append(f"{where}: columns not in the label schema: {extra}")
    elif table.schema.names != expected.names and set(table.schema.names) == set(expected.names):
        report.problems.append(f"{where}: columns are not in the documented order")


def _decode_midi(path: Path) -> str | None:
    import symusic

    try:
        score = symusic.Score(str(path))
    except Exception as exc:  # symusic raises plain C++ errors
        return f"cannot parse MIDI ({exc})"
    return None if score.note_num() > 0 else "MIDI has no notes"


#: Audio may differ from ``duration_sec`` by the MIDI tick grid and sample rounding, no more.
AUDIO_LENGTH_TOLERANCE_S = 0.005


def _decode_audio(path: Path, sample_rate: int | None, duration_sec: float | None) -> str | None:
    from shared_audio_core.audio import AudioError, audio_info, load_audio

    try:
        info = audio_info(path)
        if sample_rate is not None and info.sample_rate != sample_rate:
            return f"sample rate {info.sample_rate} Hz, samples.parquet says {sample_rate}"
        load_audio(path, info.sample_rate)
    except AudioError as exc:
        return str(exc)
    length = info.frames / info.sample_rate
    if duration_sec is not None and abs(length - duration_sec) > AUDIO_LENGTH_TOLERANCE_S:
        return f"audio lasts {length:.3f} s, samples.parquet says duration_sec {duration_sec:.3f} s"
    return None


def _midi_matches_strokes(path: Path, strokes: list[dict[str, Any]], tempo_bpm: float) -> str | None:
    """The MIDI must sound the strokes table: one note per stroke (``buzz_count`` per buzz stroke),
    each non-buzz stroke at its ``actual_time_ms`` (to one MIDI tick) with its ``actual_velocity``."""
    from sousa_rudiments.midi import DEFAULT_TPQ, read_midi_notes

    notes = read_midi_notes(path)
    expected = sum(int(s["buzz_count"]) if s["buzz_count"] else 1 for s in strokes)
    if len(notes) != expected:
        return f"MIDI has {len(notes)} notes, the strokes table implies {expected}"
    tick_ms = 60000.0 / (tempo_bpm * DEFAULT_TPQ)
    unmatched = [(t, v) for t, _, v in notes]
    for stroke in strokes:
        if stroke["buzz_count"]:
            continue
        want_t, want_v = float(stroke["actual_time_ms"]), max(1, min(127, round(stroke["actual_velocity"])))
        hit = next(
            (k for k, (t, v) in enumerate(unmatched) if abs(t - want_t) <= tick_ms and v == want_v), None
        )
        if hit is None:
            return (
                f"no MIDI note for stroke {stroke['index']} ({stroke['hand']} at {want_t:.2f} ms, "
                f"velocity {want_v})"
            )
        unmatched.pop(hit)
    return None


def check_dataset(root: str | Path, *, decode: bool = True, progress: bool = False) -> CheckReport:
    """Validate the dataset at ``root``; see :class:`CheckReport`."""
    root = Path(root)
    report = CheckReport(root)
    if not root.is_dir():
        report.problems.append(f"{root} is not a directory")
        return report
    try:
        identity = load_identity(root)
    except CorruptDatasetError as exc:
        report.problems.append(str(exc))
        return report
    if identity is None:
        report.problems.append(f"{METADATA_FILE} is missing: not a SOUSA dataset")
        return report
    metadata: dict[str, Any] = json.loads((root / METADATA_FILE).read_text(encoding="utf-8"))
    if not metadata.get("complete"):
        report.problems.append(
            "metadata.json says the dataset is incomplete: rerun `sousa generate` to finish it"
        )

    tables: dict[str, pa.Table] = {}
    for name in LABEL_TABLES:
        path = root / "labels" / f"{name}.parquet"
        if not path.is_file():
            report.problems.append(f"labels/{name}.parquet is missing")
            continue
        try:
            tables[name] = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            report.problems.append(f"labels/{name}.parquet cannot be read ({exc})")
            continue
        _check_schema(name, tables[name], report)
        report.counts[name] = tables[name].num_rows
    if "samples" not in tables:
        return report
    samples = tables["samples"].to_pylist()

    # ---- counts
    from sousa_rudiments.presets import DatasetPreset

    preset = DatasetPreset.from_dict(identity.preset)
    expected = preset.num_samples(with_audio=identity.with_audio)
    if len(samples) != expected:
        report.problems.append(
            f"samples.parquet has {len(samples)} rows; preset {preset.name!r} plans {expected}"
        )
    ids = [row["sample_id"] for row in samples]
    duplicates = [sid for sid, n in Counter(ids).items() if n > 1]
    if duplicates:
        report.problems.append(f"{len(duplicates)} duplicate sample ids (first: {duplicates[0]})")
    id_set = set(ids)
    if "exercises" in tables:
        exercise_ids = tables["exercises"].column("sample_id").to_pylist()
        if sorted(exercise_ids) != sorted(ids):
            report.problems.append("exercises.parquet does not have exactly one row per sample")
    for name, count_column in (("strokes", "num_strokes"), ("measures", "num_measures")):
        if name not in tables:
            continue
        counts = Counter(tables[name].column("sample_id").to_pylist())
        stray = set(counts) - id_set
        if stray:
            report.problems.append(f"{name}.parquet has rows for unknown samples (first: {sorted(stray)[0]})")
        wrong = [row["sample_id"] for row in samples if counts.get(row["sample_id"], 0) != row[count_column]]
        if wrong:
            report.problems.append(
                f"{len(wrong)} samples whose {name} row count differs from {count_column} (first: {wrong[0]})"
            )

    # ---- splits
    _check_splits(root, samples, report)

    # ---- files
    if decode:
        # Decoding alone passes a valid FLAC/MIDI copied over another one; the done-markers record each
        # file's size and SHA-256, so compare them too.
        digest = identity.digest()
        for part in iter_part_paths(root):
            try:
                read_part(part, root, digest, verify_files=True)
            except CorruptDatasetError as exc:
                report.problems.append(str(exc))
        seen_midi: set[str] = set()  # the clips of one performance share its MIDI file
        strokes_by_sample: dict[str, list[dict[str, Any]]] = {}
        if "strokes" in tables:
            for stroke in tables["strokes"].to_pylist():
                strokes_by_sample.setdefault(stroke["sample_id"], []).append(stroke)
        for row in tqdm(samples, desc="decoding files", unit="sample", disable=not progress):
            midi = row.get("midi_path")
            if not midi or not (root / midi).is_file():
                report.problems.append(f"{row['sample_id']}: MIDI file {midi} is missing")
            elif midi not in seen_midi:
                seen_midi.add(midi)
                error = _decode_midi(root / midi)
                if error is None and row["sample_id"] in strokes_by_sample:
                    error = _midi_matches_strokes(
                        root / midi, strokes_by_sample[row["sample_id"]], float(row["tempo_bpm"])
                    )
                report.files_checked += 1
                if error:
                    report.problems.append(f"{midi}: {error}")
            audio = row.get("audio_path")
            if identity.with_audio and not audio:
                report.problems.append(f"{row['sample_id']}: no audio_path in a dataset generated with audio")
            if audio:
                if not (root / audio).is_file():
                    report.problems.append(f"{row['sample_id']}: audio file {audio} is missing")
                else:
                    error = _decode_audio(root / audio, row.get("sample_rate"), row.get("duration_sec"))
                    report.files_checked += 1
                    if error:
                        report.problems.append(f"{audio}: {error}")
    return report


def _check_splits(root: Path, samples: list[dict[str, Any]], report: CheckReport) -> None:
    path = root / SPLITS_FILE
    if not path.is_file():
        report.problems.append(f"{SPLITS_FILE} is missing")
        return
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))["splits"]
        members = {name: set(splits[name]["profiles"]) for name in SPLIT_NAMES}
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"{SPLITS_FILE} is malformed ({exc})")
        return
    for i, first in enumerate(SPLIT_NAMES):
        for second in SPLIT_NAMES[i + 1 :]:
            shared = members[first] & members[second]
            if shared:
                report.problems.append(f"profiles in both {first} and {second}: {sorted(shared)}")
    assigned = set().union(*members.values())
    profiles = {row["profile_id"] for row in samples}
    if profiles - assigned:
        report.problems.append(f"profiles in no split: {sorted(profiles - assigned)}")
    if assigned - profiles:
        report.problems.append(f"splits.json lists profiles without samples: {sorted(assigned - profiles)}")
    for name in SPLIT_NAMES:
        n = sum(1 for row in samples if row["profile_id"] in members[name])
        report.counts[f"{name}_samples"] = n
        if splits[name].get("num_samples") != n:
            report.problems.append(
                f"splits.json says {name} has {splits[name].get('num_samples')} samples; found {n}"
            )
