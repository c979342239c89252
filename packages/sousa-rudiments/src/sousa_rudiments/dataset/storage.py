"""On-disk layout, atomic writes, dataset identity and per-performance done-markers.

Layout of a dataset directory::

    metadata.json                       identity (generator version, seed, preset, audio, SoundFonts) + counts
    midi/{rudiment_slug}/{performance_id}.mid
    audio/{rudiment_slug}/{sample_id}.flac
    labels/{strokes,measures,exercises,samples}.parquet
    splits.json
    _parts/{rudiment_slug}/{performance_id}.json   done-marker: label rows + sha256 of the media written

Every file is written to a hidden temporary sibling and moved into place with ``os.replace``, so a
killed run leaves complete files or none. A performance counts as done only when its marker exists
and every file it lists still has the recorded size and hash; anything else is regenerated.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from shared_audio_core.files import TEMPORARY_SUFFIX, atomic_write_bytes, atomic_write_text, is_temporary

__all__ = [
    "LABEL_TABLES",
    "METADATA_FILE",
    "PARTS_DIR",
    "SPLITS_FILE",
    "CorruptDatasetError",
    "DatasetIdentity",
    "DatasetMismatchError",
    "PartRecord",
    "atomic_write_bytes",
    "atomic_write_text",
    "audio_relpath",
    "check_writable",
    "file_digest",
    "iter_part_paths",
    "load_identity",
    "midi_relpath",
    "part_path",
    "read_part",
    "remove_stale_temporaries",
    "write_part",
    "write_table",
]

METADATA_FILE = "metadata.json"
SPLITS_FILE = "splits.json"
PARTS_DIR = "_parts"
LABELS_DIR = "labels"
LABEL_TABLES: tuple[str, ...] = ("strokes", "measures", "exercises", "samples")


class DatasetMismatchError(ValueError):
    """The output directory already holds a dataset generated with a different configuration."""


class CorruptDatasetError(ValueError):
    """A file the dataset needs exists but cannot be read."""


def midi_relpath(rudiment_slug: str, performance_id: str) -> str:
    return f"midi/{rudiment_slug}/{performance_id}.mid"


def audio_relpath(rudiment_slug: str, sample_id: str) -> str:
    return f"audio/{rudiment_slug}/{sample_id}.flac"


def part_path(root: Path, rudiment_slug: str, performance_id: str) -> Path:
    return root / PARTS_DIR / rudiment_slug / f"{performance_id}.json"


# ------------------------------------------------------------------------------------------ atomic IO
def remove_stale_temporaries(root: Path) -> int:
    """Delete ``.<name>.*.tmp`` files a killed run left behind; returns how many."""
    removed = 0
    for sub in ("midi", "audio", PARTS_DIR, LABELS_DIR, "."):  # never _quarantine/: kept as found
        base = root / sub
        if not base.is_dir():
            continue
        pattern = "*" if sub == "." else "**/*"
        for candidate in base.glob(pattern):
            if is_temporary(candidate) and candidate.is_file():
                candidate.unlink()
                removed += 1
    return removed


def check_writable(root: Path) -> None:
    """Create ``root`` if needed and prove a file can be written there; ``PermissionError`` names it."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=TEMPORARY_SUFFIX, dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"output directory {root} is not writable: {exc.strerror or exc}") from exc


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ identity
@dataclass(frozen=True)
class DatasetIdentity:
    """Everything that decides the dataset's content; two runs with equal identities agree byte for byte."""

    generator_version: str
    seed: int
    preset: dict[str, Any]
    with_audio: bool
    soundfonts: tuple[str, ...]
    #: SHA-256 (first 16 hex digits) of each SoundFont file: the same name with other content renders
    #: other audio, so shards and resumes must agree on the bytes, not just the names.
    soundfont_sha256: tuple[str, ...] = ()
    #: shared-audio-core renders and augments the audio, so its version is part of the identity too.
    core_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": "sousa-rudiments",
            "generator_version": self.generator_version,
            "core_version": self.core_version,
            "seed": self.seed,
            "preset": self.preset,
            "with_audio": self.with_audio,
            "soundfonts": list(self.soundfonts),
            "soundfont_sha256": list(self.soundfont_sha256),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetIdentity:
        return cls(
            generator_version=str(data["generator_version"]),
            seed=int(data["seed"]),
            preset=dict(data["preset"]),
            with_audio=bool(data["with_audio"]),
            soundfonts=tuple(data["soundfonts"]),
            soundfont_sha256=tuple(data.get("soundfont_sha256", ())),
            core_version=str(data.get("core_version", "")),
        )

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self._comparable(), sort_keys=True).encode()).hexdigest()[:16]

    def _comparable(self) -> dict[str, Any]:
        data = self.to_dict()
        data["preset"] = {k: v for k, v in self.preset.items() if k != "description"}
        return data

    def differences(self, other: DatasetIdentity) -> list[str]:
        mine, theirs = self._comparable(), other._comparable()
        diffs = []
        for key in (
            "generator_version",
            "core_version",
            "seed",
            "with_audio",
            "soundfonts",
            "soundfont_sha256",
        ):
            if mine[key] != theirs[key]:
                diffs.append(f"{key}: existing {theirs[key]!r}, requested {mine[key]!r}")
        if mine["preset"] != theirs["preset"]:
            if mine["preset"].get("name") != theirs["preset"].get("name"):
                diffs.append(
                    f"preset: existing {theirs['preset'].get('name')!r}, requested {mine['preset'].get('name')!r}"
                )
            else:
                changed = sorted(
                    k for k in mine["preset"] if mine["preset"].get(k) != theirs["preset"].get(k)
                )
                diffs.append(f"preset {mine['preset'].get('name')!r} definition differs in {changed}")
        return diffs


def load_identity(root: Path) -> DatasetIdentity | None:
    """The identity stored in ``root/metadata.json``; ``None`` if there is none yet."""
    path = root / METADATA_FILE
    if not path.exists():
        return None
    try:
        return DatasetIdentity.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptDatasetError(
            f"{path} is unreadable ({exc}); it decides whether existing files can be reused, so nothing was "
            "changed. Restore it, or choose another output directory."
        ) from exc


# ------------------------------------------------------------------------------------------ parts
@dataclass(frozen=True)
class PartRecord:
    """The finished work for one performance: its label rows and the media files it wrote."""

    performance_id: str
    rudiment_slug: str
    identity_digest: str
    files: dict[str, dict[str, Any]]
    tables: dict[str, list[dict[str, Any]]]

    def to_json(self) -> str:
        return json.dumps(
            {
                "performance_id": self.performance_id,
                "rudiment_slug": self.rudiment_slug,
                "identity_digest": self.identity_digest,
                "files": self.files,
                "tables": self.tables,
            },
            sort_keys=True,
            default=_json_default,
        )


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays and tuples from label builders → plain JSON values."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a done-marker")


def describe_files(root: Path, relpaths: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {rel: {"size": (root / rel).stat().st_size, "sha256": file_digest(root / rel)} for rel in relpaths}


def write_part(root: Path, record: PartRecord) -> Path:
    """Write the done-marker last, after every media file it lists is in place."""
    return atomic_write_text(part_path(root, record.rudiment_slug, record.performance_id), record.to_json())


def read_part(path: Path, root: Path, identity_digest: str, *, verify_files: bool = True) -> PartRecord:
    """Load and validate a done-marker; raise ``CorruptDatasetError`` saying what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = PartRecord(
            performance_id=data["performance_id"],
            rudiment_slug=data["rudiment_slug"],
            identity_digest=data["identity_digest"],
            files=data["files"],
            tables={name: data["tables"][name] for name in LABEL_TABLES},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptDatasetError(f"{path}: unreadable done-marker ({exc})") from exc
    if record.identity_digest != identity_digest:
        raise CorruptDatasetError(f"{path}: written by a different dataset configuration")
    if verify_files:
        for rel, info in record.files.items():
            media = root / rel
            if not media.is_file():
                raise CorruptDatasetError(f"{path}: {rel} is missing")
            if media.stat().st_size != info["size"] or file_digest(media) != info["sha256"]:
                raise CorruptDatasetError(
                    f"{path}: {rel} changed since it was written (size or sha256 differs)"
                )
    return record


def iter_part_paths(root: Path) -> Iterator[Path]:
    base = root / PARTS_DIR
    if base.is_dir():
        yield from sorted(base.glob("*/*.json"))


# ------------------------------------------------------------------------------------------ parquet
def write_table(table: pa.Table, path: Path) -> Path:
    """Write parquet reproducibly: fixed codec and row-group size, no pandas or timestamp metadata."""
    table = table.replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        row_group_size=256_000,
        use_dictionary=True,
        write_statistics=True,
        store_schema=True,
    )
    return atomic_write_bytes(path, sink.getvalue().to_pybytes())
