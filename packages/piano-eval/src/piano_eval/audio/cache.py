"""Frozen-embedding cache: extract backbone features once, train heads on them many times.

Layout: ``<cache_dir>/<config_key>/<content_hash>.safetensors`` plus ``<config_key>/config.json``.
``config_key`` hashes the backbone weights, layer selection, chunking and sample rate, so features
from different backbones/layers never mix; ``content_hash`` is the SHA-256 of the audio file's bytes,
so renaming a file reuses its entry and editing it does not. Extraction streams one file at a time
(bounded memory), writes atomically and skips finished entries, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from shared_audio_core.files import atomic_output, atomic_write_text
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from piano_eval.audio.encoder import AudioEncoder
from piano_eval.training import PerformancePairDataset, pad_sequences

CACHE_FORMAT_VERSION = 1


class EmbeddingCacheError(RuntimeError):
    """A missing, mismatched or unreadable cache entry."""


def file_content_hash(path: str | Path, block_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()


def weights_fingerprint(module: nn.Module) -> str:
    """SHA-256 over parameter/buffer names, shapes and values: two randomly initialised models differ."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CacheConfig:
    """What determines the features; its hash names the cache sub-directory."""

    backbone: str
    weights: str
    layers: dict[str, Any]
    chunk_seconds: float
    sample_rate: int
    hidden_size: int
    version: int = CACHE_FORMAT_VERSION

    @classmethod
    def for_encoder(cls, encoder: AudioEncoder) -> CacheConfig:
        return cls(
            backbone=encoder.backbone.name,
            weights=weights_fingerprint(encoder.backbone),
            layers=encoder.layers.to_dict(),
            chunk_seconds=encoder.chunking.chunk_seconds,
            sample_rate=encoder.sample_rate,
            hidden_size=encoder.output_dim,
        )

    def key(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        slug = "".join(c if c.isalnum() else "-" for c in Path(self.backbone).name)[:40]
        return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CacheConfig:
        return cls(**data)


@dataclass(frozen=True)
class CacheEntry:
    """One cached file: where the audio came from and where its ``[T, D]`` features live."""

    source: Path
    content_hash: str
    path: Path


class EmbeddingCache:
    """Read/write access to one ``<cache_dir>/<config_key>`` directory."""

    def __init__(self, cache_dir: str | Path, config: CacheConfig) -> None:
        self.config = config
        self.root = Path(cache_dir) / config.key()
        self.root.mkdir(parents=True, exist_ok=True)
        config_path = self.root / "config.json"
        if config_path.exists():
            stored = CacheConfig.from_dict(json.loads(config_path.read_text()))
            if stored != config:
                raise EmbeddingCacheError(f"{config_path} records a different configuration than requested")
        else:
            atomic_write_text(config_path, json.dumps(config.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def open(cls, directory: str | Path) -> EmbeddingCache:
        """Open an existing ``<cache_dir>/<config_key>`` directory (read-only use, e.g. for training)."""
        directory = Path(directory)
        config_path = directory / "config.json"
        if not config_path.exists():
            raise EmbeddingCacheError(f"{directory} is not an embedding cache (no config.json)")
        cache = cls(directory.parent, CacheConfig.from_dict(json.loads(config_path.read_text())))
        if cache.root != directory:
            raise EmbeddingCacheError(f"{directory} does not match its config key {cache.config.key()}")
        return cache

    def entry_path(self, content_hash: str) -> Path:
        return self.root / f"{content_hash}.safetensors"

    def __contains__(self, content_hash: str) -> bool:
        return self.entry_path(content_hash).exists()

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.safetensors"))

    def write(self, content_hash: str, features: torch.Tensor, source: str | Path) -> Path:
        if features.ndim != 2 or features.shape[1] != self.config.hidden_size:
            raise EmbeddingCacheError(
                f"features must be [T, {self.config.hidden_size}], got {tuple(features.shape)}"
            )
        if not torch.isfinite(features).all():
            raise EmbeddingCacheError(f"{source}: non-finite features; refusing to cache them")
        path = self.entry_path(content_hash)
        metadata = {"source": str(source), "num_frames": str(features.shape[0])}
        with atomic_output(path) as tmp:  # a killed run never leaves a truncated entry behind
            save_file({"embeddings": features.detach().to("cpu", torch.float32).contiguous()}, tmp, metadata)
        return path

    def read(self, content_hash: str) -> torch.Tensor:
        path = self.entry_path(content_hash)
        if not path.exists():
            raise EmbeddingCacheError(f"no cached embeddings for {content_hash} in {self.root}")
        with safe_open(str(path), framework="pt") as handle:
            return handle.get_tensor("embeddings")

    def source_of(self, content_hash: str) -> str:
        with safe_open(str(self.entry_path(content_hash)), framework="pt") as handle:
            return (handle.metadata() or {}).get("source", "")


def extract_embeddings(
    paths: Iterable[str | Path],
    encoder: AudioEncoder,
    cache_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> list[CacheEntry]:
    """Embed each audio file with ``encoder`` into the cache, one file at a time; skip cached ones.

    Returns one :class:`CacheEntry` per input path, in order. Decoding errors name the file
    (``shared_audio_core.audio.AudioError``) and stop the run; entries written so far are kept.
    """
    paths = [Path(p) for p in paths]
    cache = EmbeddingCache(cache_dir, CacheConfig.for_encoder(encoder))
    was_training = encoder.training
    encoder.eval()
    entries: list[CacheEntry] = []
    bar = tqdm(paths, desc=f"embedding ({cache.root.name})", unit="file", disable=not progress)
    try:
        for path in bar:
            content_hash = file_content_hash(path)
            if overwrite or content_hash not in cache:
                cache.write(content_hash, encoder.embed_file(path), path)
            else:
                bar.set_postfix_str("cached")
            entries.append(CacheEntry(path, content_hash, cache.entry_path(content_hash)))
    finally:
        encoder.train(was_training)
    return entries


class CachedEmbeddingDataset(Dataset[dict[str, Any]]):
    """Items ``{"embeddings": [T, D], "key": content_hash}`` read lazily from a cache (one file in memory)."""

    def __init__(
        self,
        cache: EmbeddingCache | str | Path,
        keys: Sequence[str] | None = None,
        max_frames: int | None = None,
    ) -> None:
        self.cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache.open(cache)
        self.keys = list(keys) if keys is not None else self.cache.keys()
        missing = [k for k in self.keys if k not in self.cache]
        if missing:
            raise EmbeddingCacheError(
                f"{len(missing)} keys are not cached in {self.cache.root}: {missing[:3]}"
            )
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        key = self.keys[index]
        embeddings = self.cache.read(key)
        if self.max_frames is not None:
            embeddings = embeddings[: self.max_frames]
        return {"embeddings": embeddings, "key": key}


class CachedPairDataset(PerformancePairDataset):
    """Same-piece performance pairs whose parts are read lazily from the cache (backbone-free A1-A3).

    ``keys[i]`` is performance ``i``'s content hash; ``augmented_keys[i]`` (optional) the hash of an
    augmented rendition of the same performance, returned as ``"a_aug"``/``"b_aug"`` for the invariance
    loss and A2's self-supervised stage. Collate with ``piano_eval.training.collate_embedding_pairs``.
    """

    def __init__(
        self,
        cache: EmbeddingCache | str | Path,
        keys: Sequence[str],
        labels: torch.Tensor,
        piece_ids: torch.Tensor,
        pairs: Sequence[tuple[int, int]] | None = None,
        label_mask: torch.Tensor | None = None,
        augmented_keys: Sequence[str] | None = None,
        max_frames: int | None = None,
    ) -> None:
        super().__init__(list(keys), labels, piece_ids, pairs, label_mask)
        self.cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache.open(cache)
        if augmented_keys is not None and len(augmented_keys) != len(keys):
            raise ValueError(f"{len(augmented_keys)} augmented keys for {len(keys)} performances")
        self.augmented_keys = list(augmented_keys) if augmented_keys is not None else None
        wanted = list(keys) + (self.augmented_keys or [])
        missing = [k for k in wanted if k not in self.cache]
        if missing:
            raise EmbeddingCacheError(
                f"{len(missing)} keys are not cached in {self.cache.root}: {missing[:3]}"
            )
        self.max_frames = max_frames

    def _read(self, key: str) -> torch.Tensor:
        embeddings = self.cache.read(key)
        return embeddings if self.max_frames is None else embeddings[: self.max_frames]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        i, j = self.pairs[index]
        item["a"], item["b"] = self._read(item["a"]), self._read(item["b"])
        if self.augmented_keys is not None:
            item["a_aug"] = self._read(self.augmented_keys[i])
            item["b_aug"] = self._read(self.augmented_keys[j])
        return item


def collate_cached_embeddings(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pad :class:`CachedEmbeddingDataset` items into ``{"embeddings", "mask", "keys"}``."""
    embeddings, mask = pad_sequences([item["embeddings"] for item in items])
    return {"embeddings": embeddings, "mask": mask, "keys": [item["key"] for item in items]}
