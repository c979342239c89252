"""Embedding cache: content-hash keys, resumable extraction, config separation, dataset reading."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from piano_eval.audio import (
    AudioEncoder,
    CachedEmbeddingDataset,
    EmbeddingCache,
    EmbeddingCacheError,
    LayerSelection,
    LogMelBackbone,
    collate_cached_embeddings,
    extract_embeddings,
)
from piano_eval.audio.cache import CacheConfig, file_content_hash
from piano_eval.heads import HeadConfig
from shared_audio_core.audio import AudioError, write_audio
from torch.utils.data import DataLoader


@pytest.fixture(scope="module")
def encoder() -> AudioEncoder:
    torch.manual_seed(0)
    backbone = LogMelBackbone(hidden_size=16, num_layers=2, num_heads=2, n_mels=24).eval()
    return AudioEncoder(backbone, LayerSelection.mean_range(1, 2))


@pytest.fixture
def audio_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for index, seconds in enumerate((0.3, 0.5, 0.2)):
        audio = (0.1 * rng.standard_normal(int(seconds * 22_050))).astype(np.float32)
        paths.append(write_audio(tmp_path / "audio" / f"clip{index}.wav", audio, 22_050))
    return paths


def _count_calls(monkeypatch, encoder: AudioEncoder) -> list[str]:
    calls: list[str] = []
    original = AudioEncoder.embed_file

    def counting(self, path):
        calls.append(str(path))
        return original(self, path)

    monkeypatch.setattr(AudioEncoder, "embed_file", counting)
    return calls


def test_extraction_writes_one_entry_per_file_with_the_encoder_features(
    encoder, audio_files, tmp_path
) -> None:
    entries = extract_embeddings(audio_files, encoder, tmp_path / "cache", progress=False)
    assert [e.source for e in entries] == audio_files
    for entry in entries:
        assert entry.path.exists() and entry.content_hash == file_content_hash(entry.source)
        cached = EmbeddingCache.open(entry.path.parent).read(entry.content_hash)
        torch.testing.assert_close(cached, encoder.embed_file(entry.source))
    assert entries[1].path.parent.name.startswith("logmel-")


def test_second_run_skips_cached_files_and_resumes_missing_ones(
    encoder, audio_files, tmp_path, monkeypatch
) -> None:
    entries = extract_embeddings(audio_files, encoder, tmp_path / "cache", progress=False)
    calls = _count_calls(monkeypatch, encoder)
    extract_embeddings(audio_files, encoder, tmp_path / "cache", progress=False)
    assert calls == []
    entries[1].path.unlink()  # simulate a run that stopped before this file
    extract_embeddings(audio_files, encoder, tmp_path / "cache", progress=False)
    assert calls == [str(audio_files[1])]
    assert not [p.name for p in entries[1].path.parent.iterdir() if p.name.startswith(".")]


def test_renamed_copy_reuses_the_entry_and_edited_file_does_not(
    encoder, audio_files, tmp_path, monkeypatch
) -> None:
    extract_embeddings(audio_files, encoder, tmp_path / "cache", progress=False)
    copy = shutil.copy(audio_files[0], tmp_path / "renamed.wav")
    edited = write_audio(tmp_path / "edited.wav", np.zeros(5000, np.float32) + 0.01, 22_050)
    calls = _count_calls(monkeypatch, encoder)
    extract_embeddings([copy, edited], encoder, tmp_path / "cache", progress=False)
    assert calls == [str(edited)]


def test_different_layers_or_weights_get_separate_cache_directories(encoder, audio_files, tmp_path) -> None:
    first = extract_embeddings(audio_files[:1], encoder, tmp_path / "cache", progress=False)[0]
    other_layers = AudioEncoder(encoder.backbone, LayerSelection.single(2))
    second = extract_embeddings(audio_files[:1], other_layers, tmp_path / "cache", progress=False)[0]
    torch.manual_seed(1)
    other_weights = AudioEncoder(LogMelBackbone(hidden_size=16, num_layers=2, num_heads=2, n_mels=24).eval())
    third = extract_embeddings(audio_files[:1], other_weights, tmp_path / "cache", progress=False)[0]
    assert len({first.path.parent, second.path.parent, third.path.parent}) == 3
    assert CacheConfig.for_encoder(encoder) == CacheConfig.for_encoder(encoder)


def test_dataset_reads_cached_embeddings_and_collates_with_masks(encoder, audio_files, tmp_path) -> None:
    entries = extract_embeddings(audio_files, encoder, tmp_path / "cache", progress=False)
    keys = [e.content_hash for e in entries]
    dataset = CachedEmbeddingDataset(entries[0].path.parent, keys)
    assert len(dataset) == 3
    lengths = [dataset[i]["embeddings"].shape[0] for i in range(3)]
    assert lengths == [encoder.embed_file(p).shape[0] for p in audio_files]
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=collate_cached_embeddings)))
    assert batch["mask"].sum(1).tolist() == lengths
    assert batch["keys"] == keys
    with pytest.raises(EmbeddingCacheError, match="not cached"):
        CachedEmbeddingDataset(entries[0].path.parent, ["0" * 64])


def test_cache_refuses_bad_features_and_foreign_directories(encoder, tmp_path) -> None:
    cache = EmbeddingCache(tmp_path / "cache", CacheConfig.for_encoder(encoder))
    with pytest.raises(EmbeddingCacheError, match="non-finite"):
        cache.write("abc", torch.full((3, encoder.output_dim), float("nan")), "x.wav")
    with pytest.raises(EmbeddingCacheError, match=r"\[T, 16\]"):
        cache.write("abc", torch.zeros(3, 5), "x.wav")
    with pytest.raises(EmbeddingCacheError, match="not an embedding cache"):
        EmbeddingCache.open(tmp_path)


def test_undecodable_file_stops_with_its_name_and_keeps_finished_entries(
    encoder, audio_files, tmp_path
) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match=r"broken\.wav"):
        extract_embeddings([audio_files[0], broken], encoder, tmp_path / "cache", progress=False)
    cache = EmbeddingCache(tmp_path / "cache", CacheConfig.for_encoder(encoder))
    assert cache.keys() == [file_content_hash(audio_files[0])]


def test_cached_pairs_train_a1_and_a2_backbone_free(encoder, audio_files, tmp_path) -> None:
    from piano_eval.audio import LoRAMultitaskModel, StagedAdaptationModel
    from piano_eval.audio.cache import CachedPairDataset
    from piano_eval.training import collate_embedding_pairs

    rng = np.random.default_rng(1)
    clean = [
        write_audio(tmp_path / f"p{i}.wav", (0.1 * rng.standard_normal(6000)).astype(np.float32), 24_000)
        for i in range(4)
    ]
    noisy = [
        write_audio(tmp_path / f"p{i}_aug.wav", (0.1 * rng.standard_normal(6000)).astype(np.float32), 24_000)
        for i in range(4)
    ]
    entries = extract_embeddings(clean + noisy, encoder, tmp_path / "cache", progress=False)
    keys = [e.content_hash for e in entries]
    dataset = CachedPairDataset(
        entries[0].path.parent,
        keys[:4],
        labels=torch.rand(4, 3),
        piece_ids=torch.tensor([0, 0, 1, 1]),
        augmented_keys=keys[4:],
    )
    assert len(dataset) == 4  # ordered same-piece pairs
    item = dataset[0]
    torch.testing.assert_close(item["a"], encoder.embed_file(clean[0]))
    torch.testing.assert_close(item["a_aug"], encoder.embed_file(noisy[0]))
    batch = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_embedding_pairs)))
    head = {"head": HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=3)}
    a1 = LoRAMultitaskModel(input_dim=encoder.output_dim, **head)
    losses, _ = a1.pair_losses(batch)
    assert {"ranking", "contrastive", "regression", "invariance"} <= set(losses)
    a2 = StagedAdaptationModel(input_dim=encoder.output_dim, **head)
    assert torch.isfinite(a2.training_step(batch, 0))
    with pytest.raises(EmbeddingCacheError, match="not cached"):
        CachedPairDataset(entries[0].path.parent, ["f" * 64, keys[0]], torch.rand(2, 3), torch.tensor([0, 0]))


def test_command_line_extracts_a_directory_and_resumes(audio_files, tmp_path, capsys) -> None:
    from piano_eval.audio.extract import main, parse_layers

    assert parse_layers("9-12") == LayerSelection.mean_range(9, 12)
    assert parse_layers("6,12") == LayerSelection.concat([6, 12])
    assert parse_layers("3") == LayerSelection.single(3)
    args = [
        str(audio_files[0].parent),
        "--cache-dir",
        str(tmp_path / "cli"),
        "--backbone",
        "logmel",
        "--layers",
        "2",
    ]
    args += ["--no-progress", "--device", "cpu"]
    assert main(args) == 0
    assert "3 files cached" in capsys.readouterr().out
    cache_dirs = [p for p in (tmp_path / "cli").iterdir() if p.is_dir()]
    assert len(cache_dirs) == 1 and len(list(cache_dirs[0].glob("*.safetensors"))) == 3
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--cache-dir", str(tmp_path / "cli"), "--backbone", "logmel"]) == 1
    assert "no audio files found" in capsys.readouterr().err
    # Resuming with the progress bar on: every file is already cached, the bar still counts all three.
    assert main([*args[:-3], "--device", "cpu"]) == 0
    assert "3/3" in capsys.readouterr().err


def test_command_line_reports_a_missing_muq_package_with_the_install_hint(
    audio_files, tmp_path, capsys, monkeypatch
) -> None:
    import sys

    from piano_eval.audio.extract import main

    monkeypatch.setitem(sys.modules, "muq", None)
    code = main([str(audio_files[0]), "--cache-dir", str(tmp_path), "--backbone", "muq", "--no-progress"])
    assert code == 2
    assert "pip install 'piano-eval[muq]'" in capsys.readouterr().err
