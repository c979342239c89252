"""Atomic file output shared by every writer in the toolkit.

Long jobs (dataset generation, embedding caches, rendering) are killed and resumed; a file that exists must
therefore be complete. Writers produce a hidden temporary sibling (``.<name>.<random>.tmp``) and move it into
place with ``os.replace``, which is atomic on POSIX and Windows within one directory. On failure the temporary
is removed, so an interrupted writer leaves either the old file or the new one — never a truncated one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "MANIFEST_FILE",
    "TEMPORARY_SUFFIX",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "file_hashes",
    "is_temporary",
    "verify_manifest",
]

#: Name of the SHA-256 manifest of a shipped model directory (see :func:`verify_manifest`).
MANIFEST_FILE = "MANIFEST.json"

TEMPORARY_SUFFIX = ".tmp"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; the final file should get the usual umask permissions.
_FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds it replaces ``path`` atomically.

    The parent directory is created if needed. Write with any library that takes a path
    (soundfile, safetensors, pyarrow): pass an explicit format where the library guesses it from the suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _FILE_MODE)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` all or nothing; returns ``path``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{path}: expected bytes, got {type(data).__name__}")
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` all or nothing; returns ``path``."""
    return atomic_write_bytes(path, text.encode(encoding))


def is_temporary(path: str | Path) -> bool:
    """True for a leftover temporary of :func:`atomic_output` (safe to delete when no writer runs)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def file_hashes(directory: str | Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` except the manifest, by POSIX relative path."""
    directory = Path(directory)
    hashes = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_FILE):
        hashes[path.relative_to(directory).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def verify_manifest(directory: str | Path) -> dict[str, str]:
    """Check ``directory`` against its ``MANIFEST.json`` (``{"sha256": {path: hash}}``) and return the hashes.

    Shipped models are package data: a damaged or hand-edited copy must be detected, not silently used.

    Raises:
        ValueError: no manifest, or a file is missing, unexpected or changed (every one is named).
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ValueError(f"{directory}: no {MANIFEST_FILE}; the default model is not installed")
    recorded = json.loads(manifest_path.read_text())["sha256"]
    actual = file_hashes(directory)
    problems = [f"missing {name}" for name in sorted(set(recorded) - set(actual))]
    problems += [f"unexpected {name}" for name in sorted(set(actual) - set(recorded))]
    problems += [
        f"changed {name}" for name in sorted(set(recorded) & set(actual)) if recorded[name] != actual[name]
    ]
    if problems:
        raise ValueError(f"{directory} does not match its {MANIFEST_FILE}: " + "; ".join(problems))
    return actual
