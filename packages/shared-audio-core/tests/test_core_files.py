"""Atomic writes: complete files or none, usual permissions, no temporaries left behind."""

from __future__ import annotations

import os
import stat

import pytest
from shared_audio_core.files import atomic_output, atomic_write_bytes, atomic_write_text, is_temporary


def test_atomic_write_creates_parents_and_replaces_content(tmp_path):
    target = tmp_path / "a" / "b" / "data.bin"
    assert atomic_write_bytes(target, b"one") == target
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["data.bin"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "labels.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_output(target) as tmp:
        tmp.write_text("half writ")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["labels.json"]


def test_temporary_is_a_hidden_sibling_recognised_by_is_temporary(tmp_path):
    target = tmp_path / "x.flac"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path
        assert is_temporary(tmp)
        tmp.write_bytes(b"fLaC")
    assert not is_temporary(target)


def test_written_file_gets_umask_permissions_not_owner_only(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    target = atomic_write_bytes(tmp_path / "out.bin", b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_non_bytes_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match="expected bytes"):
        atomic_write_bytes(tmp_path / "x", 123)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_manifest_detects_missing_unexpected_and_changed_files(tmp_path):
    import hashlib
    import json

    from shared_audio_core.files import MANIFEST_FILE, file_hashes, verify_manifest

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "sub" / "w.bin").write_bytes(b"\x00\x01")
    hashes = file_hashes(tmp_path)
    assert hashes == {
        "a.json": hashlib.sha256(b"{}").hexdigest(),
        "sub/w.bin": hashlib.sha256(b"\x00\x01").hexdigest(),
    }
    with pytest.raises(ValueError, match=r"no MANIFEST\.json"):
        verify_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"sha256": hashes}))
    assert verify_manifest(tmp_path) == hashes  # the manifest itself is not hashed
    (tmp_path / "a.json").write_text('{"edited": true}')
    (tmp_path / "sub" / "w.bin").unlink()
    (tmp_path / "extra.txt").write_text("x")
    with pytest.raises(ValueError, match=r"missing sub/w\.bin; unexpected extra\.txt; changed a\.json"):
        verify_manifest(tmp_path)
