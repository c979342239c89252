"""--model DIR_OR_HUB_ID: a folder wins, a repo id is downloaded, everything else fails with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_audio_core.hub import ModelSourceError, is_hub_repo_id, resolve_model_dir


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("someone/drum-model", True),
        ("org.name/model_v1.2", True),
        ("./someone/model", False),
        ("/abs/path", False),
        ("~/models/x", False),
        ("no-slash", False),
        ("a/b/c", False),
        ("-bad/name", False),
    ],
)
def test_repo_ids_are_told_from_paths(text: str, expected: bool) -> None:
    assert is_hub_repo_id(text) is expected


def test_a_local_folder_wins_over_a_repo_id_of_the_same_spelling(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "someone" / "model"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)

    def no_download(**kwargs):  # pragma: no cover - failing here is the bug
        raise AssertionError("downloaded although the folder exists")

    monkeypatch.setattr("huggingface_hub.snapshot_download", no_download)
    assert resolve_model_dir("someone/model") == Path("someone/model")


def test_a_repo_id_is_downloaded_through_huggingface_hub(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def download(repo_id: str) -> str:
        calls.append(repo_id)
        return str(tmp_path)

    monkeypatch.setattr("huggingface_hub.snapshot_download", download)
    assert resolve_model_dir("someone/model") == tmp_path
    assert calls == ["someone/model"]


def test_a_failed_download_names_the_repo_the_cause_and_the_hint(monkeypatch) -> None:
    def offline(repo_id: str) -> str:
        raise OSError("network disabled")

    monkeypatch.setattr("huggingface_hub.snapshot_download", offline)
    with pytest.raises(
        ModelSourceError, match=r"'someone/model'.*Hub \(OSError: network disabled\)\. Train one"
    ):
        resolve_model_dir("someone/model", hint="Train one first.")


def test_a_file_and_a_missing_folder_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "weights.safetensors"
    file.write_bytes(b"x")
    with pytest.raises(ModelSourceError, match="is a file; expected a model directory"):
        resolve_model_dir(file)
    with pytest.raises(ModelSourceError, match=r"model directory not found: .*nowhere\. Leave it out\."):
        resolve_model_dir(tmp_path / "nowhere", hint="Leave it out.")
