"""Datasets and the LightningDataModule over a feature cache, split by player profile (``splits.json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sousa_rudiments.recognition.cache import INDEX_FILE, CachedClip, build_feature_cache, load_cached_clip
from sousa_rudiments.recognition.features import STROKE_FEATURES, window_as_recording

SPLITS = ("train", "validation", "test")


def split_sample_ids(dataset_dir: str | Path, cache_dir: str | Path) -> dict[str, list[str]]:
    """Sample ids of each split, from the dataset's profile splits (no player in two splits)."""
    splits = {
        k: v["profiles"]
        for k, v in json.loads((Path(dataset_dir) / "splits.json").read_text())["splits"].items()
    }
    index = pd.read_parquet(Path(cache_dir) / INDEX_FILE)
    return {name: sorted(index.loc[index["profile_id"].isin(splits[name]), "sample_id"]) for name in SPLITS}


class OnsetSequences(Dataset):
    """Clips as onset sequences, at most ``max_onsets`` long.

    In training (``random_crop``) each item is a random window of ``min_crop_onsets`` to
    ``max_onsets`` onsets: recordings are as short or as long as the user made them, and a model that
    only ever saw whole generated clips of one length fails on other lengths. With
    ``crops_as_recordings`` a window's clip-relative inputs are recomputed over the window
    (:func:`~sousa_rudiments.recognition.features.window_as_recording`), so it looks like a short
    recording and not like a piece of a long one. Evaluation reads the first ``max_onsets`` onsets
    of each clip.
    """

    def __init__(
        self,
        clips: Sequence[CachedClip],
        *,
        max_onsets: int = 256,
        random_crop: bool = False,
        min_crop_onsets: int | None = None,
        crops_as_recordings: bool = False,
        seed: int = 0,
    ):
        if min_crop_onsets is not None and not 1 <= min_crop_onsets <= max_onsets:
            raise ValueError(f"min_crop_onsets must be in 1..max_onsets={max_onsets}, got {min_crop_onsets}")
        self.clips = [c for c in clips if len(c.inputs) > 0]
        self.max_onsets = max_onsets
        self.random_crop = random_crop
        self.min_crop_onsets = max_onsets if min_crop_onsets is None else min_crop_onsets
        self.crops_as_recordings = crops_as_recordings
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """Item ``i``, or ``(i, length)``: a window of that many onsets (from :class:`CropBatchSampler`)."""
        i, chosen = key if isinstance(key, tuple) else (key, None)
        clip = self.clips[i]
        n = len(clip.inputs)
        start, length = 0, min(n, self.max_onsets)
        if self.random_crop:
            if chosen is None:
                chosen = int(self.rng.integers(min(self.min_crop_onsets, length), length + 1))
            length = min(chosen, length)
            start = int(self.rng.integers(n - length + 1))
        window = slice(start, start + length)
        inputs, targets = clip.inputs[window], clip.targets[window]
        if self.random_crop and self.crops_as_recordings:
            inputs = window_as_recording(clip.inputs, clip.times, start, start + length)
            targets = targets.copy()
            targets[0, STROKE_FEATURES.index("ioi_beats")] = 0.0  # a recording's first stroke has no IOI
        return {
            "inputs": torch.from_numpy(np.ascontiguousarray(inputs)),
            "targets": torch.from_numpy(np.ascontiguousarray(targets)),
            "matched": torch.from_numpy(np.ascontiguousarray(clip.matched[window])),
            "label": torch.tensor(clip.label),
        }


class CropBatchSampler(Sampler[list[tuple[int, int]]]):
    """Training batches of random-length onset windows, grouped by length so that a batch pads little.

    Each epoch every clip gets a window length drawn from ``min_crop_onsets..min(n, max_onsets)``
    (as :class:`OnsetSequences` would draw it); clips are sorted by that length (ties broken at
    random), cut into batches, and the batches shuffled. With lengths drawn per item, a batch would be
    padded to its longest window — about 2.5x the real onsets on a ``medium`` dataset.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, *, min_crop_onsets: int, max_onsets: int, seed: int = 0
    ):
        self.lengths = np.minimum(np.asarray(lengths, dtype=int), max_onsets)
        self.batch_size = batch_size
        self.min_crop_onsets = min_crop_onsets
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        low = np.minimum(self.min_crop_onsets, self.lengths)
        crops = rng.integers(low, self.lengths + 1)
        order = np.lexsort((rng.random(len(crops)), crops))
        batches = [order[k : k + self.batch_size] for k in range(0, len(order), self.batch_size)]
        for b in rng.permutation(len(batches)):
            yield [(int(i), int(crops[i])) for i in batches[b]]


def collate_onsets(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad onset sequences to the longest; ``mask`` marks real onsets."""
    length = max(item["inputs"].shape[0] for item in items)
    batch = len(items)
    inputs = torch.zeros(batch, length, items[0]["inputs"].shape[1])
    targets = torch.zeros(batch, length, items[0]["targets"].shape[1])
    matched = torch.zeros(batch, length, dtype=torch.bool)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for i, item in enumerate(items):
        n = item["inputs"].shape[0]
        inputs[i, :n] = item["inputs"]
        targets[i, :n] = item["targets"]
        matched[i, :n] = item["matched"]
        mask[i, :n] = True
    return {
        "inputs": inputs,
        "targets": targets,
        "matched": matched,
        "mask": mask,
        "label": torch.stack([item["label"] for item in items]),
    }


class MelClips(Dataset):
    """Clips as log-mel; training draws a random ``crop_frames`` window (about 6 s at hop 256)."""

    def __init__(
        self, clips: Sequence[CachedClip], *, crop_frames: int = 512, random_crop: bool = False, seed: int = 0
    ):
        self.clips = list(clips)
        self.crop_frames = crop_frames
        self.random_crop = random_crop
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        mel = self.clips[i].mel
        frames = mel.shape[1]
        start = 0
        if frames > self.crop_frames and self.random_crop:
            start = int(self.rng.integers(frames - self.crop_frames + 1))
        window = mel[:, start : start + self.crop_frames].astype(np.float32)
        return {"mel": torch.from_numpy(window), "label": torch.tensor(self.clips[i].label)}


def collate_mels(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad log-mels with the -80 dB floor; ``mask`` marks real frames."""
    length = max(item["mel"].shape[1] for item in items)
    mel = torch.full((len(items), items[0]["mel"].shape[0], length), -80.0)
    mask = torch.zeros(len(items), length, dtype=torch.bool)
    for i, item in enumerate(items):
        n = item["mel"].shape[1]
        mel[i, :, :n] = item["mel"]
        mask[i, :n] = True
    return {"mel": mel, "mask": mask, "label": torch.stack([item["label"] for item in items])}


def _as_list(value: str | Path | Sequence[str | Path]) -> list[str]:
    return [str(value)] if isinstance(value, str | Path) else [str(v) for v in value]


class RudimentDataModule(L.LightningDataModule):
    """Train/validation/test loaders over the feature caches of one or more generated SOUSA datasets.

    ``kind`` is ``"onsets"`` (stage 1 and 2) or ``"mel"`` (the direct audio model). Several datasets
    (generated with other seeds: other simulated players) are pooled split by split, each split
    taken from its own dataset's profile split. ``min_crop_onsets`` (onsets only) makes training draw
    windows of random length, and ``crops_as_recordings`` makes each look like a recording of its own
    (see :class:`OnsetSequences`). The caches are read into memory once (a ``small`` dataset's cache
    is ~100 MB, a ``medium`` one 2.6 GB, mostly log-mels). A cache without its ``index.parquet``
    (never built, or interrupted) is built in ``prepare_data`` with ``cache_workers`` processes (once per node, before the
    processes of a distributed run read it); a finished one is used as is. ``predict`` reads the
    test split.
    """

    def __init__(
        self,
        dataset_dir: str | list[str],
        cache_dir: str | list[str],
        kind: str = "onsets",
        batch_size: int = 32,
        max_onsets: int = 256,
        min_crop_onsets: int | None = None,
        crops_as_recordings: bool = False,
        crop_frames: int = 512,
        seed: int = 0,
        num_workers: int = 0,
        cache_workers: int = 1,
    ):
        super().__init__()
        if kind not in ("onsets", "mel"):
            raise ValueError(f"kind must be 'onsets' or 'mel', got {kind!r}")
        if len(_as_list(dataset_dir)) != len(_as_list(cache_dir)):
            raise ValueError("give one cache directory per dataset directory")
        self.save_hyperparameters()
        self._clips: dict[str, list[CachedClip]] | None = None

    def prepare_data(self) -> None:
        pairs = zip(_as_list(self.hparams.dataset_dir), _as_list(self.hparams.cache_dir), strict=True)
        for dataset, cache in pairs:
            if not (Path(cache) / INDEX_FILE).is_file():
                build_feature_cache(dataset, cache, workers=self.hparams.cache_workers)

    def setup(self, stage: str | None = None) -> None:
        if self._clips is None:
            clips: dict[str, list[CachedClip]] = {name: [] for name in SPLITS}
            pairs = zip(_as_list(self.hparams.dataset_dir), _as_list(self.hparams.cache_dir), strict=True)
            for dataset, cache in pairs:
                for name, sample_ids in split_sample_ids(dataset, cache).items():
                    clips[name] += [load_cached_clip(cache, sid) for sid in sample_ids]
            self._clips = clips

    def clips(self, split: str) -> list[CachedClip]:
        self.setup()
        assert self._clips is not None
        return self._clips[split]

    def input_statistics(self) -> tuple[list[float], list[float]]:
        """Mean and std of each onset input over the training split (for the models' standardisation)."""
        stacked = np.concatenate([clip.inputs for clip in self.clips("train") if len(clip.inputs)])
        return stacked.mean(0).astype(float).tolist(), stacked.std(0).astype(float).tolist()

    def _dataset(self, split: str) -> Dataset:
        train = split == "train"
        h = self.hparams
        if h.kind == "onsets":
            return OnsetSequences(
                self.clips(split),
                max_onsets=h.max_onsets,
                random_crop=train,
                min_crop_onsets=h.min_crop_onsets,
                crops_as_recordings=h.crops_as_recordings,
                seed=h.seed,
            )
        crop = h.crop_frames if train else 100_000
        return MelClips(self.clips(split), crop_frames=crop, random_crop=train, seed=h.seed)

    def _loader(self, split: str) -> DataLoader:
        collate = collate_onsets if self.hparams.kind == "onsets" else collate_mels
        h = self.hparams
        trainer = getattr(self, "trainer", None)
        distributed = trainer is not None and trainer.world_size > 1  # Lightning shards plain samplers
        if split == "train" and h.kind == "onsets" and h.min_crop_onsets is not None and not distributed:
            dataset = self._dataset(split)
            assert isinstance(dataset, OnsetSequences)
            sampler = CropBatchSampler(
                [len(c.inputs) for c in dataset.clips],
                h.batch_size,
                min_crop_onsets=h.min_crop_onsets,
                max_onsets=h.max_onsets,
                seed=h.seed,
            )
            sampler.epoch = trainer.current_epoch if trainer is not None else 0  # a resumed run draws anew
            return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=h.num_workers)
        return DataLoader(
            self._dataset(split),
            batch_size=self.hparams.batch_size,
            shuffle=split == "train",
            collate_fn=collate,
            num_workers=self.hparams.num_workers,
            generator=torch.Generator().manual_seed(self.hparams.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")
