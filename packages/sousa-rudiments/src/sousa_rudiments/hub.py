"""Stage a generated SOUSA dataset for the Hugging Face Hub and upload it.

:func:`prepare` builds the folder that is uploaded::

    README.md                              dataset card (YAML front matter: configs, features, splits, …)
    data/audio/{split}-00000-of-0000N.parquet      per-sample labels + the FLAC clip (``Audio`` feature)
    data/midi_only/{split}-00000-of-0000N.parquet  per-sample labels + the MIDI file bytes
    data/labels_only/{split}-00000-of-00001.parquet per-sample labels only
    labels/{strokes,measures,exercises,samples}.parquet   the full label tables (auxiliary)
    midi/{rudiment_slug}/{performance_id}.mid      raw MIDI, as generated
    audio/{rudiment_slug}/{sample_id}.flac         raw audio (only with ``include_raw_audio=True``)
    splits.json, metadata.json

The ``audio`` config embeds each clip in the parquet (the way ``datasets`` stores audio), so
``load_dataset(repo, "audio")`` works without extra downloads; raw FLAC files would double the upload,
so they are opt-in. Every config shares the per-sample columns: ``samples.parquet`` joined with
``exercises.parquet`` plus ``split``.

:func:`upload` sends the folder with ``HfApi.upload_large_folder`` (chunked and resumable: rerun the
same call after an interruption). huggingface_hub ≥ 1.x folds that into ``upload_folder``, which is
then used (it is resumable and multi-commit there).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from sousa_rudiments import __version__
from sousa_rudiments.dataset.splits import SPLIT_NAMES
from sousa_rudiments.dataset.storage import (
    LABEL_TABLES,
    METADATA_FILE,
    SPLITS_FILE,
    CorruptDatasetError,
    atomic_write_text,
    load_identity,
)

__all__ = [
    "DEFAULT_REPO_ID",
    "HUB_CONFIGS",
    "StagingError",
    "UploadPlan",
    "dataset_card",
    "prepare",
    "upload",
]

DEFAULT_REPO_ID = "zkeown/sousa"
HUB_CONFIGS: tuple[str, ...] = ("audio", "midi_only", "labels_only")
STAGING_MARKER = ".sousa-staging"
#: Parquet shards are cut at about this many bytes of media (the Hub's viewer prefers < 500 MB files).
DEFAULT_MAX_SHARD_BYTES = 400_000_000
TAGS: tuple[str, ...] = ("audio", "music", "drum-rudiments", "synthetic", "snare-drum", "midi")
TASK_CATEGORIES: tuple[str, ...] = ("audio-classification",)


def citation(repo_id: str) -> str:
    """BibTeX for the dataset published at ``repo_id`` (the card cites the repository it is on)."""
    return f"""@misc{{sousa2026,
  title        = {{{{SOUSA}}: Synthetic Open Unified Snare Assessment, a dataset of the 40 {{PAS}} drum rudiments}},
  author       = {{{{music-ml toolkit contributors}}}},
  year         = {{2026}},
  howpublished = {{\\url{{https://huggingface.co/datasets/{repo_id}}}}},
  note         = {{Generated with sousa-rudiments}}
}}"""


#: Columns of the per-sample configs a user reaches for first (the full schema: docs/label-schema.md).
CARD_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("sample_id", "string", "unique id, `<profile>_<rudiment>_<tempo>bpm[_aug<k>]`"),
    ("rudiment_slug", "string", "one of the 40 PAS rudiments (the classification target)"),
    ("skill_tier", "string", "beginner / intermediate / advanced / professional"),
    ("profile_id", "string", "synthetic player; splits never share one"),
    ("tempo_bpm", "float64", "tempo of the performance"),
    ("duration_sec", "float64", "length of the clip and its MIDI"),
    ("overall_score", "float64", "0-100 exercise score (timing, consistency, hand balance, ...)"),
    ("num_strokes", "int32", "rows of this sample in `labels/strokes.parquet`"),
    ("soundfont / kit / snare_note", "string / string / int32", "timbre the audio was rendered with"),
    ("augmentation_preset, aug_*", "string, float64", "recording environment and every drawn parameter"),
    ("audio", "Audio (FLAC bytes)", "`audio` config only"),
    ("midi", "binary", "`midi_only` config only: the performance MIDI file"),
)

LIMITATIONS = """- **Synthetic.** Players are parametric models of timing, velocity and hand balance, not recorded
  drummers; the audio is SoundFont synthesis plus simulated rooms and microphones. A model that scores
  well here still has to be checked on real recordings.
- **One instrument.** Snare drum only, one stroke-to-note mapping; no rim shots, stick clicks or
  dynamics beyond MIDI velocity; buzz rolls are a few fast bounces.
- **Timbre.** Only the SoundFonts and kits listed in `soundfont`/`kit` were used; hold some out to
  measure generalisation.
- **Labels are exact by construction.** Scores are computed from the simulated performance, not by
  human judges, so they measure deviation from the score, not musical quality."""


class StagingError(ValueError):
    """The dataset cannot be staged, or the staging folder is not one :func:`prepare` built."""


# ------------------------------------------------------------------------------------------ features
def _feature(dtype: pa.DataType) -> dict[str, Any]:
    """``datasets`` feature JSON for an Arrow type (the subset the label tables use)."""
    names = {
        pa.string(): "string",
        pa.large_string(): "large_string",
        pa.int32(): "int32",
        pa.int64(): "int64",
        pa.float32(): "float32",
        pa.float64(): "float64",
        pa.bool_(): "bool",
        pa.binary(): "binary",
    }
    for arrow_type, name in names.items():
        if dtype.equals(arrow_type):
            return {"dtype": name, "_type": "Value"}
    raise StagingError(f"no datasets feature for Arrow type {dtype}")


_AUDIO_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])


def _features_json(schema: pa.Schema) -> dict[str, Any]:
    return {
        f.name: ({"_type": "Audio"} if f.name == "audio" and f.type.equals(_AUDIO_TYPE) else _feature(f.type))
        for f in schema
    }


def _with_hf_metadata(table: pa.Table) -> pa.Table:
    info = {"info": {"features": _features_json(table.schema)}}
    return table.replace_schema_metadata({b"huggingface": json.dumps(info).encode()})


def _yaml_features(schema: pa.Schema) -> list[dict[str, str]]:
    out = []
    for name, feature in _features_json(schema).items():
        out.append({"name": name, "dtype": "audio" if feature["_type"] == "Audio" else feature["dtype"]})
    return out


# ------------------------------------------------------------------------------------------ prepare
def _sample_table(dataset_dir: Path) -> tuple[pa.Table, dict[str, Any]]:
    """samples ⋈ exercises, with a ``split`` column, sorted by sample id."""
    labels = dataset_dir / "labels"
    try:
        samples = pq.read_table(labels / "samples.parquet")
        exercises = pq.read_table(labels / "exercises.parquet")
        splits = json.loads((dataset_dir / SPLITS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, pa.ArrowInvalid) as exc:
        raise StagingError(
            f"{dataset_dir}: label tables or splits.json unreadable ({exc}); run `sousa check`"
        ) from exc
    split_of = {pid: name for name in SPLIT_NAMES for pid in splits["splits"][name]["profiles"]}
    scores = exercises.select(
        [c for c in exercises.column_names if c != "sample_id" and c not in samples.column_names]
    )
    by_id = dict(zip(exercises.column("sample_id").to_pylist(), range(exercises.num_rows), strict=True))
    order = [by_id[sid] for sid in samples.column("sample_id").to_pylist()]
    table = samples
    aligned = scores.take(pa.array(order, pa.int64()))
    for name in aligned.column_names:
        table = table.append_column(aligned.schema.field(name), aligned.column(name))
    split_column = pa.array([split_of[p] for p in samples.column("profile_id").to_pylist()], pa.string())
    table = table.append_column(pa.field("split", pa.string()), split_column)
    return table.sort_by("sample_id").replace_schema_metadata(None), splits


def _link_or_copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():
        destination.unlink()
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _shards(sizes: Sequence[int], max_bytes: int) -> list[tuple[int, int]]:
    bounds, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > max_bytes:
            bounds.append((start, i))
            start, total = i, 0
        total += size
    bounds.append((start, len(sizes)))
    return bounds


def _leaf_paths(schema: pa.Schema) -> list[str]:
    leaves = []
    for f in schema:
        if pa.types.is_struct(f.type):
            leaves += [f"{f.name}.{child.name}" for child in f.type]
        else:
            leaves.append(f.name)
    return leaves


def _write_config(
    dataset_dir: Path,
    staging_dir: Path,
    config: str,
    table: pa.Table,
    max_shard_bytes: int,
    progress: Any = None,
) -> _ConfigInfo:
    """Write one config's parquet shards per split; returns rows and bytes per split and the schema."""
    media_column = {"audio": "audio_path", "midi_only": "midi_path"}.get(config)
    counts: dict[str, int] = {}
    nbytes: dict[str, int] = {}
    schema: pa.Schema | None = None
    for split in SPLIT_NAMES:
        part = table.filter(pa.compute.equal(table.column("split"), split))
        counts[split] = part.num_rows
        nbytes[split] = 0
        paths = part.column(media_column).to_pylist() if media_column else []
        sizes = [(dataset_dir / p).stat().st_size for p in paths] if media_column else [0] * part.num_rows
        bounds = _shards(sizes, max_shard_bytes) if part.num_rows else [(0, 0)]
        for k, (lo, hi) in enumerate(bounds):
            chunk = part.slice(lo, hi - lo)
            if config == "audio":
                data = [{"bytes": (dataset_dir / p).read_bytes(), "path": p} for p in paths[lo:hi]]
                chunk = chunk.append_column(pa.field("audio", _AUDIO_TYPE), pa.array(data, _AUDIO_TYPE))
            elif config == "midi_only":
                data = [(dataset_dir / p).read_bytes() for p in paths[lo:hi]]
                chunk = chunk.append_column(pa.field("midi", pa.binary()), pa.array(data, pa.binary()))
            chunk = _with_hf_metadata(chunk)
            schema = chunk.schema
            out = staging_dir / "data" / config / f"{split}-{k:05d}-of-{len(bounds):05d}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            # FLAC and MIDI bytes do not compress further: store them as is, zstd for the labels.
            codecs = {leaf: "zstd" for leaf in _leaf_paths(chunk.schema)}
            codecs.update({leaf: "none" for leaf in codecs if leaf in ("audio.bytes", "midi")})
            pq.write_table(chunk, out, compression=codecs, row_group_size=100)
            if progress is not None:
                progress.update(1)
            nbytes[split] += out.stat().st_size
    assert schema is not None
    return _ConfigInfo(counts, nbytes, schema)


@dataclass(frozen=True)
class _ConfigInfo:
    rows: dict[str, int]
    nbytes: dict[str, int]
    schema: pa.Schema


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return label
    return "1M<n<10M"


def dataset_card(
    repo_id: str,
    configs: dict[str, _ConfigInfo],
    metadata: dict[str, Any],
) -> str:
    """The README.md of the Hub dataset: YAML front matter + description, layout, usage, citation."""
    from huggingface_hub import DatasetCardData

    default = "audio" if "audio" in configs else next(iter(configs))
    front: dict[str, Any] = {
        "license": "apache-2.0",
        "pretty_name": "SOUSA: synthetic drum rudiment performances",
        "tags": list(TAGS),
        "task_categories": list(TASK_CATEGORIES),
        "size_categories": [_size_category(sum(next(iter(configs.values())).rows.values()))],
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == default else {}),
                "data_files": [{"split": s, "path": f"data/{name}/{s}-*.parquet"} for s in SPLIT_NAMES],
            }
            for name in configs
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": _yaml_features(info.schema),
                "splits": [
                    {"name": s, "num_bytes": info.nbytes[s], "num_examples": info.rows[s]}
                    for s in SPLIT_NAMES
                ],
            }
            for name, info in configs.items()
        ],
    }
    preset = metadata.get("preset", {})
    counts = next(iter(configs.values())).rows
    split_table = "\n".join(f"| {s} | {counts[s]} |" for s in SPLIT_NAMES)
    config_lines = {
        "audio": "per-sample labels + the rendered FLAC clip (`audio`, an `Audio` feature)",
        "midi_only": "per-sample labels + the performance MIDI file (`midi`, bytes)",
        "labels_only": "per-sample labels and exercise scores only",
    }
    configs_md = "\n".join(f"- `{name}`: {config_lines[name]}" for name in configs)
    features_md = "\n".join(f"| `{name}` | {dtype} | {meaning} |" for name, dtype, meaning in CARD_FEATURES)
    reproduce = reproduction_command(metadata)
    body = f"""
# SOUSA: synthetic performances of the 40 PAS drum rudiments

SOUSA (Synthetic Open Unified Snare Assessment) holds snare-drum performances of the 40 Percussive Arts
Society rudiments played by simulated players of four skill tiers (beginner, intermediate, advanced,
professional). Every sample comes with hierarchical labels: per stroke (hand, stroke type, intended vs
actual timing and velocity, grace notes, diddles, buzz bounces), per pattern cycle, and per exercise
(timing, consistency, hand balance, flam/diddle quality, … scores 0–100 and an overall score).

Audio is rendered from the MIDI through General MIDI SoundFonts with several drum kits and two snare
notes (the `soundfont`, `kit`, `snare_note` columns), then passed through recording-environment
augmentations whose parameters are stored per sample (`augmentation_preset`, `aug_*`).

Generated with `sousa-rudiments` {metadata.get("generator_version", __version__)}, preset
`{preset.get("name", "?")}`, seed {metadata.get("seed", "?")}:
`{reproduce}`.

## Configs

{configs_md}

The full label tables are in `labels/` (`strokes.parquet`, `measures.parquet`, `exercises.parquet`,
`samples.parquet`; join on `sample_id`), raw MIDI in `midi/{{rudiment_slug}}/`.

## Splits

Splits are by player profile (no player appears in two splits), 70/15/15, stratified by skill tier.

| split | samples |
|---|---|
{split_table}

## Features

| column | type | meaning |
|---|---|---|
{features_md}

## Usage

`pip install datasets soundfile`. The snippet reads the FLAC bytes itself, so it needs no audio
decoder for `datasets` (with datasets ≥ 4, indexing an `Audio` column decodes it through
`torchcodec`; `pip install torchcodec` if you prefer `row["audio"]` decoded for you).

```python
import io

import soundfile as sf
from datasets import Audio, load_dataset

ds = load_dataset("{repo_id}", "{default}")
print(ds)
train = ds["train"].cast_column("audio", Audio(decode=False)) if "audio" in ds["train"].features else ds["train"]
row = train[0]
print(row["rudiment_slug"], row["skill_tier"], row["overall_score"])
if "audio" in row:
    samples, sample_rate = sf.read(io.BytesIO(row["audio"]["bytes"]))
    print(f"{{len(samples) / sample_rate:.2f}} s at {{sample_rate}} Hz")

# stroke-level labels
strokes = load_dataset("{repo_id}", data_files="labels/strokes.parquet", split="train")
print(strokes[0])
```

## Limitations

{LIMITATIONS}

## Citation

```bibtex
{citation(repo_id)}
```
"""
    return "---\n" + DatasetCardData(**front).to_yaml() + "\n---\n" + body


def reproduction_command(metadata: dict[str, Any]) -> str:
    """The ``sousa generate`` call that regenerates the dataset recorded in ``metadata``.

    A preset restricted to some rudiments (``--rudiment``) is named by its base preset plus one
    ``--rudiment`` flag each, so a restricted dataset is reproduced, not the full preset.
    """
    from sousa_rudiments.presets import PRESETS

    preset = metadata.get("preset", {})
    name = str(preset.get("name", "?"))
    parts = ["sousa generate", "--preset", name, "--seed", str(metadata.get("seed", 0))]
    rudiments = tuple(preset.get("rudiments") or ())
    base = PRESETS[name].rudiments if name in PRESETS else None
    if rudiments and rudiments != tuple(base or ()):
        for slug in rudiments:
            parts += ["--rudiment", str(slug)]
    if metadata.get("with_audio"):
        parts.append("--with-audio")
    return " ".join(parts)


def prepare(
    dataset_dir: str | Path,
    staging_dir: str | Path,
    *,
    repo_id: str = DEFAULT_REPO_ID,
    include_raw_audio: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    progress: bool = False,
) -> Path:
    """Build the upload folder for ``dataset_dir`` in ``staging_dir`` (see the module docstring).

    ``staging_dir`` must be new, empty, or a folder an earlier ``prepare`` built (it is rebuilt).
    Media files are hard-linked where the file system allows, so staging a large dataset is cheap.
    """
    dataset_dir, staging_dir = Path(dataset_dir), Path(staging_dir)
    try:
        identity = load_identity(dataset_dir)
    except CorruptDatasetError as exc:
        raise StagingError(str(exc)) from exc
    if identity is None:
        raise StagingError(f"{dataset_dir} is not a SOUSA dataset (no {METADATA_FILE})")
    metadata = json.loads((dataset_dir / METADATA_FILE).read_text(encoding="utf-8"))
    if not metadata.get("complete"):
        raise StagingError(f"{dataset_dir} is incomplete; finish it with `sousa generate` before publishing")
    if staging_dir.exists():
        if not staging_dir.is_dir():
            raise StagingError(f"{staging_dir} exists and is not a directory")
        if any(staging_dir.iterdir()) and not (staging_dir / STAGING_MARKER).exists():
            raise StagingError(
                f"{staging_dir} is not empty and was not built by sousa; choose an empty directory"
            )
        for sub in ("data", "labels", "midi", "audio"):
            shutil.rmtree(staging_dir / sub, ignore_errors=True)
    staging_dir.mkdir(parents=True, exist_ok=True)
    (staging_dir / STAGING_MARKER).write_text(f"staged from {dataset_dir.resolve()}\n", encoding="utf-8")

    table, _ = _sample_table(dataset_dir)
    names = [c for c in HUB_CONFIGS if c != "audio" or identity.with_audio]
    with tqdm(desc="staging parquet shards", unit="file", disable=not progress) as bar:
        configs = {
            name: _write_config(dataset_dir, staging_dir, name, table, max_shard_bytes, bar) for name in names
        }

    for name in LABEL_TABLES:
        _link_or_copy(dataset_dir / "labels" / f"{name}.parquet", staging_dir / "labels" / f"{name}.parquet")
    for name in (SPLITS_FILE, METADATA_FILE):
        shutil.copy2(dataset_dir / name, staging_dir / name)
    media = ["midi"] + (["audio"] if include_raw_audio and identity.with_audio else [])
    for sub in media:
        for path in sorted((dataset_dir / sub).glob("*/*")):
            if path.is_file() and not path.name.startswith("."):
                _link_or_copy(path, staging_dir / path.relative_to(dataset_dir))
    atomic_write_text(staging_dir / "README.md", dataset_card(repo_id, configs, metadata))
    return staging_dir


# ------------------------------------------------------------------------------------------ upload
@dataclass(frozen=True)
class UploadPlan:
    """What an upload sends: files relative to the staging folder and their total size."""

    repo_id: str
    staging_dir: Path
    files: tuple[str, ...]
    total_bytes: int
    dry_run: bool
    method: str = ""
    result: Any = field(default=None, compare=False)

    @property
    def num_files(self) -> int:
        return len(self.files)


def _staged_files(staging_dir: Path) -> list[Path]:
    return sorted(p for p in staging_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def upload(
    staging_dir: str | Path,
    repo_id: str,
    dry_run: bool = False,
    *,
    private: bool = False,
    token: str | None = None,
    api: Any = None,
    num_workers: int | None = None,
) -> UploadPlan:
    """Upload a folder built by :func:`prepare` to the dataset repo ``repo_id`` (resumable).

    ``dry_run`` only lists the files and sizes (no network). ``api`` defaults to ``HfApi(token=token)``.
    Uses ``api.upload_large_folder`` when it exists; huggingface_hub >= 1.0 removed it and made
    ``upload_folder`` the resumable multi-commit upload, so there ``create_repo`` + ``upload_folder`` run
    instead (``num_workers`` only applies to ``upload_large_folder``; ``upload_folder`` has no such knob).
    """
    staging_dir = Path(staging_dir)
    if not (staging_dir / STAGING_MARKER).exists() or not (staging_dir / "README.md").is_file():
        raise StagingError(
            f"{staging_dir} was not built by sousa_rudiments.hub.prepare (run `sousa hub prepare`)"
        )
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise StagingError(f"repo_id must look like 'owner/name', got {repo_id!r}")
    files = _staged_files(staging_dir)
    rel = tuple(p.relative_to(staging_dir).as_posix() for p in files)
    total = sum(p.stat().st_size for p in files)
    if dry_run:
        return UploadPlan(repo_id, staging_dir, rel, total, dry_run=True, method="dry-run")

    from huggingface_hub import HfApi

    api = api if api is not None else HfApi(token=token)
    ignore = [f"**/{STAGING_MARKER}", STAGING_MARKER]
    if hasattr(api, "upload_large_folder"):
        kwargs: dict[str, Any] = {}
        if num_workers is not None:
            kwargs["num_workers"] = num_workers
        result = api.upload_large_folder(
            repo_id=repo_id,
            folder_path=str(staging_dir),
            repo_type="dataset",
            private=private,
            ignore_patterns=ignore,
            **kwargs,
        )
        method = "upload_large_folder"
    else:
        api.create_repo(repo_id=repo_id, repo_type="dataset", private=private, exist_ok=True)
        result = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(staging_dir),
            repo_type="dataset",
            ignore_patterns=ignore,
            commit_message=f"Upload SOUSA dataset ({len(rel)} files)",
        )
        method = "upload_folder"
    return UploadPlan(repo_id, staging_dir, rel, total, dry_run=False, method=method, result=result)
