"""Hub staging loads with `datasets` per config; upload goes through HfApi (stubbed) or dry-run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import symusic
from huggingface_hub import DatasetCard, HfApi
from shared_audio_core.synth import default_soundfont
from sousa_rudiments import hub
from sousa_rudiments.dataset import GenerateConfig, generate
from sousa_rudiments.presets import get_preset

TINY = get_preset("tiny")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hub") / "dataset"
    generate(
        GenerateConfig(out, TINY, seed=0, with_audio=True, soundfonts=(default_soundfont(),), progress=False)
    )
    return out


@pytest.fixture(scope="module")
def staged(dataset_dir, tmp_path_factory) -> Path:
    return hub.prepare(dataset_dir, tmp_path_factory.mktemp("hub") / "staging", repo_id="someone/sousa-tiny")


@pytest.fixture(autouse=True)
def _isolated_datasets_cache(tmp_path, monkeypatch):
    """Keep `load_dataset`'s Arrow cache out of the user's ~/.cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets-cache")


def _expected_split_sizes(dataset_dir: Path) -> dict[str, int]:
    splits = json.loads((dataset_dir / "splits.json").read_text())["splits"]
    return {name: info["num_samples"] for name, info in splits.items()}


@pytest.mark.parametrize("config", ["audio", "midi_only", "labels_only"])
def test_staged_folder_loads_with_datasets(staged, dataset_dir, config):
    ds = datasets.load_dataset(str(staged), config)
    assert {name: split.num_rows for name, split in ds.items()} == _expected_split_sizes(dataset_dir)
    samples = pq.read_table(dataset_dir / "labels" / "samples.parquet")
    exercises = pq.read_table(dataset_dir / "labels" / "exercises.parquet")
    columns = ds["train"].column_names
    assert set(samples.column_names) <= set(columns)
    assert set(exercises.column_names) <= set(columns)
    assert "split" in columns
    assert ("audio" in columns) == (config == "audio")
    assert ("midi" in columns) == (config == "midi_only")
    for split in ds:
        assert set(ds[split]["split"]) == {split}
    profiles = {split: set(ds[split]["profile_id"]) for split in ds}
    assert not profiles["train"] & profiles["test"] and not profiles["train"] & profiles["validation"]


def test_audio_config_embeds_the_generated_flac(staged, dataset_dir):
    ds = datasets.load_dataset(str(staged), "audio", split="validation")
    assert isinstance(ds.features["audio"], datasets.Audio)
    row = ds.cast_column("audio", datasets.Audio(decode=False))[0]
    assert row["audio"]["bytes"] == (dataset_dir / row["audio_path"]).read_bytes()
    shard = next((staged / "data" / "audio").glob("validation-*.parquet"))
    meta = pq.ParquetFile(shard).metadata.row_group(0)
    codecs = {meta.column(i).path_in_schema: meta.column(i).compression for i in range(meta.num_columns)}
    assert codecs["audio.bytes"] == "UNCOMPRESSED" and codecs["sample_id"] == "ZSTD"
    audio, sr = sf.read(io.BytesIO(row["audio"]["bytes"]))
    assert sr == TINY.sample_rate and len(audio) == pytest.approx(row["duration_sec"] * sr, abs=sr * 0.01)


def test_midi_config_carries_parsable_midi(staged):
    ds = datasets.load_dataset(str(staged), "midi_only", split="train")
    row = ds[0]
    score = symusic.Score.from_midi(row["midi"])
    assert score.note_num() >= row["num_strokes"]


def test_dataset_card_front_matter(staged, dataset_dir):
    card = DatasetCard.load(staged / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert {"audio", "drum-rudiments", "synthetic", "snare-drum", "midi"} <= set(data["tags"])
    assert data["task_categories"] == ["audio-classification"]
    assert [c["config_name"] for c in data["configs"]] == ["audio", "midi_only", "labels_only"]
    sizes = _expected_split_sizes(dataset_dir)
    for info in data["dataset_info"]:
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == sizes
        names = [f["name"] for f in info["features"]]
        assert "sample_id" in names and "overall_score" in names
    audio_features = {f["name"]: f["dtype"] for f in data["dataset_info"][0]["features"]}
    assert audio_features["audio"] == "audio"
    text = card.text
    assert 'load_dataset("someone/sousa-tiny", "audio")' in text
    assert "@misc{sousa2026" in text
    assert "no player appears in two splits" in text


def test_staging_carries_labels_midi_and_metadata(staged, dataset_dir):
    for name in ("strokes", "measures", "exercises", "samples"):
        assert (staged / "labels" / f"{name}.parquet").read_bytes() == (
            dataset_dir / "labels" / f"{name}.parquet"
        ).read_bytes()
    midi = sorted(p.relative_to(dataset_dir) for p in (dataset_dir / "midi").rglob("*.mid"))
    assert midi == sorted(p.relative_to(staged) for p in (staged / "midi").rglob("*.mid"))
    assert not (staged / "audio").exists()  # embedded in data/audio instead (opt-in raw copy)
    assert (staged / "splits.json").read_text() == (dataset_dir / "splits.json").read_text()


def test_prepare_refuses_foreign_folders_and_incomplete_datasets(dataset_dir, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(hub.StagingError, match="not empty"):
        hub.prepare(dataset_dir, foreign)
    assert (foreign / "keep.txt").read_text() == "x"
    with pytest.raises(hub.StagingError, match="not a SOUSA dataset"):
        hub.prepare(tmp_path / "nowhere", tmp_path / "stage")


def test_prepare_is_repeatable_into_its_own_folder(dataset_dir, tmp_path):
    target = tmp_path / "stage"
    hub.prepare(dataset_dir, target, include_raw_audio=True, max_shard_bytes=20_000)
    assert len(list((target / "audio").rglob("*.flac"))) == TINY.num_samples(with_audio=True)
    assert len(list((target / "data" / "audio").glob("train-*.parquet"))) > 1  # sharded by size
    hub.prepare(dataset_dir, target)
    assert not (target / "audio").exists()
    ds = datasets.load_dataset(str(target), "audio", split="train")
    assert ds.num_rows == _expected_split_sizes(dataset_dir)["train"]


def test_dry_run_lists_files_without_network(staged, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("dry run must not construct an HfApi")

    monkeypatch.setattr("huggingface_hub.HfApi.__init__", no_network)
    plan = hub.upload(staged, "someone/sousa-tiny", dry_run=True)
    assert plan.dry_run and plan.method == "dry-run"
    assert "README.md" in plan.files and "labels/strokes.parquet" in plan.files
    assert any(f.startswith("data/audio/") for f in plan.files)
    assert hub.STAGING_MARKER not in plan.files
    assert plan.total_bytes == sum((staged / f).stat().st_size for f in plan.files)


class _RecordingHub:
    """Stands in for the Hub's HTTP API: records what upload asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def upload_large_folder(self, **kwargs):
        self.calls.append(("upload_large_folder", kwargs))
        return "done"


def test_upload_uses_upload_large_folder(staged):
    api = _RecordingHub()
    plan = hub.upload(staged, "someone/sousa-tiny", api=api, private=True, num_workers=4)
    assert plan.method == "upload_large_folder" and plan.result == "done"
    ((method, kwargs),) = api.calls
    assert method == "upload_large_folder"
    assert kwargs["repo_id"] == "someone/sousa-tiny" and kwargs["repo_type"] == "dataset"
    assert Path(kwargs["folder_path"]) == staged and kwargs["private"] is True and kwargs["num_workers"] == 4
    assert hub.STAGING_MARKER in kwargs["ignore_patterns"]


def test_upload_through_installed_hfapi_is_stubbed_at_the_method(staged, monkeypatch):
    """With the installed huggingface_hub, the real HfApi object is used; its network methods are stubbed."""
    calls: list[tuple[str, dict]] = []

    def record(name):
        def method(self, *args, **kwargs):
            calls.append((name, kwargs))
            return f"{name}-ok"

        return method

    # huggingface_hub >= 1.0 folded upload_large_folder into the (resumable) upload_folder.
    expected = "upload_large_folder" if hasattr(HfApi, "upload_large_folder") else "upload_folder"
    for name in ("upload_large_folder", "upload_folder", "create_repo"):
        if hasattr(HfApi, name):
            monkeypatch.setattr(HfApi, name, record(name))
    plan = hub.upload(staged, "someone/sousa-tiny", token="hf_dummy", private=True)
    assert plan.method == expected and plan.result == f"{expected}-ok"
    uploads = [kwargs for name, kwargs in calls if name == expected]
    assert len(uploads) == 1
    assert uploads[0]["repo_type"] == "dataset" and Path(uploads[0]["folder_path"]) == staged
    assert (
        uploads[0]["repo_id"] == "someone/sousa-tiny" and hub.STAGING_MARKER in uploads[0]["ignore_patterns"]
    )
    if expected == "upload_folder":
        # the repo is created (private as asked, no error when it exists) before the resumable upload
        assert [name for name, _ in calls] == ["create_repo", "upload_folder"]
        assert calls[0][1] == {
            "repo_id": "someone/sousa-tiny",
            "repo_type": "dataset",
            "private": True,
            "exist_ok": True,
        }
    else:
        assert uploads[0]["private"] is True


def test_upload_falls_back_to_resumable_upload_folder(staged):
    class FolderOnlyApi:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def create_repo(self, **kwargs):
            self.calls.append(f"create_repo:{kwargs['repo_type']}:{kwargs['exist_ok']}")

        def upload_folder(self, **kwargs):
            self.calls.append(f"upload_folder:{kwargs['repo_type']}")
            return "commit"

    api = FolderOnlyApi()
    plan = hub.upload(staged, "someone/sousa-tiny", api=api)
    assert plan.method == "upload_folder" and api.calls == [
        "create_repo:dataset:True",
        "upload_folder:dataset",
    ]


def test_upload_validates_inputs(staged, tmp_path):
    with pytest.raises(hub.StagingError, match="owner/name"):
        hub.upload(staged, "no-slash", dry_run=True)
    with pytest.raises(hub.StagingError, match="not built by"):
        hub.upload(tmp_path, "a/b", dry_run=True)


def test_labels_only_dataset_stages_midi_and_labels_configs(tmp_path):
    source = tmp_path / "labels"
    generate(GenerateConfig(source, TINY, seed=2, progress=False))
    staged = hub.prepare(source, tmp_path / "stage")
    data = DatasetCard.load(staged / "README.md").data.to_dict()
    assert [c["config_name"] for c in data["configs"]] == ["midi_only", "labels_only"]
    assert data["configs"][0].get("default") is True
    ds = datasets.load_dataset(str(staged), "labels_only")
    assert sum(split.num_rows for split in ds.values()) == TINY.num_samples(with_audio=False)


def _card_snippet(card_text: str) -> str:
    start = card_text.index("```python\n") + len("```python\n")
    return card_text[start : card_text.index("```", start)]


def test_the_card_usage_snippet_runs_as_published(staged, capsys):
    """The exact text of the card's snippet, pointed at the staged folder instead of the Hub."""
    snippet = _card_snippet((staged / "README.md").read_text())
    assert '"someone/sousa-tiny"' in snippet
    exec(compile(snippet.replace('"someone/sousa-tiny"', repr(str(staged))), "card-snippet", "exec"), {})
    out = capsys.readouterr().out
    assert " s at " in out and "Hz" in out  # the audio of the first row was decoded


def test_card_cites_its_repo_and_reproduces_a_restricted_dataset(tmp_path):
    metadata = {"preset": {"name": "small", "rudiments": ["flam-tap", "drag"]}, "seed": 4, "with_audio": True}
    command = hub.reproduction_command(metadata)
    assert (
        command == "sousa generate --preset small --seed 4 --rudiment flam-tap --rudiment drag --with-audio"
    )
    assert "https://huggingface.co/datasets/org/other-name" in hub.citation("org/other-name")
    unrestricted = {"preset": {"name": "small"}, "seed": 0, "with_audio": False}
    assert hub.reproduction_command(unrestricted) == "sousa generate --preset small --seed 0"


def test_card_has_feature_table_and_limitations(staged):
    text = (staged / "README.md").read_text()
    assert "## Features" in text and "| `rudiment_slug` | string |" in text
    assert "## Limitations" in text and "Synthetic." in text
    assert "https://huggingface.co/datasets/someone/sousa-tiny" in text
