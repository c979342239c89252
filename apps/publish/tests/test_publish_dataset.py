"""`publish dataset sousa`: input and login checks before any staging, counts verified per split and config.

The Hub cannot be reached here, so the upload path ends at the login check; the verification that runs
after an upload (re-load with `datasets.load_dataset` and compare counts) runs on the staged folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from music_ml_publish.cli import main
from music_ml_publish.dataset import (
    compare_counts,
    expected_split_counts,
    staged_split_counts,
    verify_loaded_dataset,
)
from music_ml_publish.errors import VerificationError


def _splits(dataset: Path) -> dict[str, int]:
    splits = json.loads((dataset / "splits.json").read_text())["splits"]
    return {name: info["num_samples"] for name, info in splits.items()}


@pytest.fixture(scope="module")
def staged(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder a real dry run stages (module-scoped: the later tests read it)."""
    staging = tmp_path_factory.mktemp("publish") / "staging"
    code = main(
        [
            "dataset",
            "sousa",
            str(tiny_dataset),
            "--repo-id",
            "someone/sousa-tiny",
            "--staging",
            str(staging),
            "--dry-run",
            "--no-progress",
        ]
    )
    assert code == 0
    return staging


@pytest.mark.slow
def test_dry_run_stages_every_config_with_the_dataset_split_counts(tiny_dataset, tmp_path, capsys):
    staging = tmp_path / "staging"
    code = main(
        [
            "dataset",
            "sousa",
            str(tiny_dataset),
            "--repo-id",
            "someone/sousa-tiny",
            "--staging",
            str(staging),
            "--dry-run",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    expected = _splits(tiny_dataset)
    assert sum(expected.values()) == 24  # tiny with audio: 12 performances x 2 augmentations
    counts = staged_split_counts(staging)
    assert set(counts) == {"audio", "midi_only", "labels_only"}
    assert all(per_split == expected for per_split in counts.values())
    # the printed table: one row per split, every column the dataset's count
    for split, n in expected.items():
        row = next(line.split() for line in out.splitlines() if line.split()[:1] == [split])
        assert row[1:] == [str(n)] * 5, row
    assert (
        "dry run: would upload" in out and "datasets/someone/sousa-tiny" in out and "nothing was sent" in out
    )
    assert "README.md" in out and "data/audio" in out and "midi/flam-tap" in out
    card = (staging / "README.md").read_text()
    assert 'load_dataset("someone/sousa-tiny", "audio")' in card


@pytest.mark.slow
def test_verification_loads_the_staged_folder_and_compares_counts(staged, tiny_dataset):
    expected = _splits(tiny_dataset)
    assert expected_split_counts(tiny_dataset) == expected
    assert verify_loaded_dataset(staged, expected) == expected
    assert verify_loaded_dataset(staged, expected, config="audio") == expected
    wrong = {**expected, "train": expected["train"] + 1}
    with pytest.raises(
        VerificationError, match=rf"train: expected {wrong['train']}, found {expected['train']}"
    ):
        verify_loaded_dataset(staged, wrong)


@pytest.mark.slow
def test_verification_catches_a_lost_shard(staged, tiny_dataset, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(staged, broken)
    for shard in (broken / "data" / "labels_only").glob("test-*.parquet"):
        shard.unlink()
    expected = _splits(tiny_dataset)
    with pytest.raises(VerificationError, match=rf"test: expected {expected['test']}, found 0"):
        compare_counts(expected, staged_split_counts(broken)["labels_only"], "labels_only")
    with pytest.raises(VerificationError, match="load_dataset"):
        verify_loaded_dataset(broken, expected)  # the card still names the lost files
    # the command checks a reused staging folder the same way before it uploads anything
    code = main(
        [
            "dataset",
            "sousa",
            str(tiny_dataset),
            "--repo-id",
            "someone/sousa-tiny",
            "--staging",
            str(broken),
            "--dry-run",
            "--reuse-staging",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "verification failed: staged config 'labels_only'" in err
        and f"expected {expected['test']}, found 0" in err
    )


@pytest.mark.slow
def test_staged_rows_are_the_dataset_samples(staged, tiny_dataset):
    samples = pq.read_table(tiny_dataset / "labels" / "samples.parquet").column("sample_id").to_pylist()
    staged_ids = []
    for shard in sorted((staged / "data" / "labels_only").glob("*.parquet")):
        staged_ids += pq.read_table(shard, columns=["sample_id"]).column("sample_id").to_pylist()
    assert sorted(staged_ids) == sorted(samples)


@pytest.mark.slow
def test_no_login_fails_before_any_staging(tiny_dataset, tmp_path, offline_env, run_publish):
    staging = tmp_path / "staging"
    args = [
        "dataset",
        "sousa",
        str(tiny_dataset),
        "--repo-id",
        "someone/sousa-tiny",
        "--staging",
        str(staging),
    ]
    result = run_publish(args, offline_env(), tmp_path)
    assert result.returncode == 2, result.stderr
    assert "not logged in to the Hugging Face Hub" in result.stderr
    assert "hf auth login" in result.stderr and "HF_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert not staging.exists()


@pytest.mark.slow
def test_a_token_that_cannot_be_checked_fails_before_any_staging(
    tiny_dataset, tmp_path, offline_env, run_publish
):
    staging = tmp_path / "staging"
    args = [
        "dataset",
        "sousa",
        str(tiny_dataset),
        "--repo-id",
        "someone/sousa-tiny",
        "--staging",
        str(staging),
    ]
    env = offline_env(
        HF_TOKEN="hf_not_a_real_token", HF_ENDPOINT="http://127.0.0.1:9"
    )  # nothing listens there
    result = run_publish(args, env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        "the Hugging Face token could not be verified" in result.stderr and "hf auth login" in result.stderr
    )
    assert not staging.exists()


def test_missing_directory(tmp_path, capsys):
    code = main(["dataset", "sousa", str(tmp_path / "nope"), "--repo-id", "a/b", "--dry-run"])
    assert code == 2
    assert f"{tmp_path / 'nope'}: no such directory" in capsys.readouterr().err


def test_not_a_sousa_dataset(tmp_path, capsys):
    (tmp_path / "some.txt").write_text("x")
    code = main(
        ["dataset", "sousa", str(tmp_path), "--repo-id", "a/b", "--dry-run", "--staging", str(tmp_path / "s")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "is not a SOUSA dataset (no metadata.json)" in err and "sousa generate" in err
    assert not (tmp_path / "s").exists()


def test_foreign_metadata_and_unfinished_datasets_are_refused(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "metadata.json").write_text("{not json")
    assert main(["dataset", "sousa", str(foreign), "--repo-id", "a/b", "--dry-run"]) == 2
    assert "metadata.json is unreadable" in capsys.readouterr().err


@pytest.mark.slow
def test_an_incomplete_dataset_is_refused(tiny_dataset, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_dataset, partial)
    metadata = json.loads((partial / "metadata.json").read_text())
    (partial / "metadata.json").write_text(json.dumps({**metadata, "complete": False}))
    assert main(["dataset", "sousa", str(partial), "--repo-id", "a/b", "--dry-run"]) == 2
    assert "is incomplete; finish it with `sousa generate`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("repo_id", "reason"),
    [
        ("sousa", "exactly OWNER/NAME"),
        ("a/b/c", "exactly OWNER/NAME"),
        ("/sousa", "exactly OWNER/NAME"),
        ("me/so usa", "letters, digits"),
        ("me/-sousa", "letters, digits"),
        ("me/so--usa", "'--' and '..'"),
        ("me/sousa.git", ".git"),
        ("me/" + "x" * 100, "longer than 96"),
    ],
)
def test_bad_repo_ids(repo_id, reason, tmp_path, capsys):
    code = main(["dataset", "sousa", str(tmp_path), "--repo-id", repo_id, "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"bad repo id {repo_id!r}" in err and reason in err


def test_help_describes_the_steps(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["dataset", "sousa", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "load_dataset(REPO_ID" in text and "resumably" in text and "Exit codes" in text
