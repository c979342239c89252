"""Feature cache: detections, per-onset inputs, aligned targets and log-mel for every clip of a dataset.

Computing onsets from the rendered audio is the expensive step of training, so it runs once per
dataset and analysis setting. One ``.npz`` per sample is written atomically; an interrupted build
resumes by skipping the files that exist. ``cache_config.json`` records the settings, and a cache
built with other settings is refused rather than mixed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sousa_rudiments.recognition.features import log_mel, onset_inputs, stroke_targets
from sousa_rudiments.recognition.onsets import DEFAULT_ONSETS, OnsetConfig, detect_onsets
from sousa_rudiments.rudiments import list_rudiments

CACHE_VERSION = 1
CONFIG_FILE = "cache_config.json"
INDEX_FILE = "index.parquet"

RUDIMENT_SLUGS: tuple[str, ...] = tuple(r.slug for r in list_rudiments())
"""Class index order of every model: the rudiment library's order (PAS numbers 1-40)."""


class FeatureCacheError(RuntimeError):
    """The cache directory holds features of another dataset or other settings."""


@dataclass(frozen=True)
class CachedClip:
    """One clip's cached arrays (see :func:`analyse_clip`)."""

    sample_id: str
    label: int
    inputs: np.ndarray
    targets: np.ndarray
    matched: np.ndarray
    times: np.ndarray
    mel: np.ndarray


def analyse_clip(audio: np.ndarray, config: OnsetConfig = DEFAULT_ONSETS) -> dict[str, np.ndarray | float]:
    """Everything the models need from one mono clip at ``config.sample_rate`` (no labels)."""
    detection = detect_onsets(audio, config)
    return {
        "times": detection.times,
        "strengths": detection.strengths,
        "tempo_bpm": detection.tempo_bpm,
        "inputs": onset_inputs(audio, detection, config),
        "mel": log_mel(audio, config.sample_rate).astype(np.float16),
    }


def _identity(dataset_dir: Path, config: OnsetConfig) -> dict[str, Any]:
    """What the features depend on: onset settings and the dataset's generator, seed, preset, SoundFonts."""
    metadata = json.loads((dataset_dir / "metadata.json").read_text())
    dataset = {k: metadata.get(k) for k in ("generator_version", "seed", "preset", "soundfonts")}
    identity = {"cache_version": CACHE_VERSION, "onsets": dataclasses.asdict(config), "dataset": dataset}
    return _without_description(identity)


def _without_description(identity: dict[str, Any]) -> dict[str, Any]:
    """The preset's ``description`` is prose that may change freely (caches written before kept it)."""
    preset = identity.get("dataset", {}).get("preset")
    if not isinstance(preset, dict) or "description" not in preset:
        return identity
    preset = {k: v for k, v in preset.items() if k != "description"}
    return {**identity, "dataset": {**identity["dataset"], "preset": preset}}


def require_cache_settings(dataset_dir: str | Path, cache_dir: str | Path, config: OnsetConfig) -> None:
    """Refuse a cache that was not built from ``dataset_dir`` with onset settings ``config``.

    Raises:
        FeatureCacheError: no cache there, or one of another dataset or other onset settings (features
            detected at another threshold would not match what the trained pipeline detects).
    """
    config_path = Path(cache_dir) / CONFIG_FILE
    if not config_path.is_file():
        raise FeatureCacheError(f"{cache_dir} is not a feature cache (no {CONFIG_FILE})")
    existing = _without_description(json.loads(config_path.read_text()))
    wanted = _identity(Path(dataset_dir), config)
    if existing == wanted:
        return
    built = existing.get("onsets")
    if existing.get("dataset") != wanted["dataset"]:
        detail = "it holds features of another dataset"
    elif isinstance(built, dict) and built != wanted["onsets"]:
        detail = f"it was detected with other onset settings ({_onset_difference(built, config)})"
    else:
        detail = f"it was built by cache version {existing.get('cache_version')} (this is {CACHE_VERSION})"
    raise FeatureCacheError(f"{cache_dir}: {detail}; use a new --cache directory")


def _onset_difference(built: dict[str, Any], wanted: OnsetConfig) -> str:
    """``delta 0.07 in the cache, 0.1 wanted``: the settings that differ."""
    return "; ".join(
        f"{name} {built.get(name)!r} in the cache, {value!r} wanted"
        for name, value in dataclasses.asdict(wanted).items()
        if built.get(name) != value
    )


def _atomic_savez(path: Path, **arrays: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _build_one(job: tuple[str, str, str, float, list[dict], str, dict[str, Any]]) -> str:
    from shared_audio_core.audio import load_audio

    sample_id, audio_path, slug, tempo_bpm, strokes, out_path, config_dict = job
    config = OnsetConfig(**config_dict)
    audio = load_audio(audio_path, config.sample_rate)
    analysis = analyse_clip(audio, config)
    targets, matched = stroke_targets(analysis["times"], strokes, tempo_bpm)
    _atomic_savez(
        Path(out_path),
        label=np.int64(RUDIMENT_SLUGS.index(slug)),
        targets=targets,
        matched=matched,
        **analysis,
    )
    return sample_id


def build_feature_cache(
    dataset_dir: str | Path,
    cache_dir: str | Path,
    *,
    config: OnsetConfig = DEFAULT_ONSETS,
    workers: int = 1,
    sample_ids: Iterable[str] | None = None,
    progress: bool = True,
) -> Path:
    """Analyse every audio clip of a SOUSA dataset into ``cache_dir`` (resumable); returns ``cache_dir``.

    Raises:
        FeatureCacheError: ``cache_dir`` was built from another dataset or with other settings.
        FileNotFoundError: the dataset has no label tables or no audio (generate it ``--with-audio``).
    """
    dataset_dir, cache_dir = Path(dataset_dir), Path(cache_dir)
    samples_path = dataset_dir / "labels" / "samples.parquet"
    if not samples_path.is_file():
        raise FileNotFoundError(f"{dataset_dir} is not a finished SOUSA dataset (no labels/samples.parquet)")
    samples = pd.read_parquet(samples_path)
    if samples["audio_path"].isna().all():
        raise FileNotFoundError(f"{dataset_dir} has no audio: generate it with --with-audio")
    cache_dir.mkdir(parents=True, exist_ok=True)
    config_path = cache_dir / CONFIG_FILE
    if config_path.is_file():
        require_cache_settings(dataset_dir, cache_dir, config)
    else:
        config_path.write_text(json.dumps(_identity(dataset_dir, config), indent=2, sort_keys=True))
    if sample_ids is not None:
        wanted = set(sample_ids)
        samples = samples[samples["sample_id"].isin(wanted)]
    strokes = pd.read_parquet(dataset_dir / "labels" / "strokes.parquet")
    strokes_by_sample = {sid: group.to_dict("records") for sid, group in strokes.groupby("sample_id")}
    jobs = []
    for row in samples.itertuples(index=False):
        out = cache_dir / f"{row.sample_id}.npz"
        if out.is_file():
            continue
        jobs.append(
            (
                row.sample_id,
                str(dataset_dir / row.audio_path),
                row.rudiment_slug,
                float(row.tempo_bpm),
                strokes_by_sample.get(row.sample_id, []),
                str(out),
                dataclasses.asdict(config),
            )
        )
    bar = tqdm(total=len(jobs), desc="analysing clips", unit="clip", disable=not progress)
    if workers <= 1:
        for job in jobs:
            _build_one(job)
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_build_one, jobs, chunksize=8):
                bar.update()
    bar.close()
    index_columns = [
        "sample_id",
        "profile_id",
        "rudiment_slug",
        "tempo_bpm",
        "skill_tier",
        "soundfont",
        "kit",
    ]
    index_columns += ["augmentation_preset", "duration_sec"]
    samples[index_columns].reset_index(drop=True).to_parquet(cache_dir / INDEX_FILE)
    return cache_dir


def load_cached_clip(cache_dir: str | Path, sample_id: str) -> CachedClip:
    with np.load(Path(cache_dir) / f"{sample_id}.npz") as data:
        return CachedClip(
            sample_id=sample_id,
            label=int(data["label"]),
            inputs=data["inputs"],
            targets=data["targets"],
            matched=data["matched"],
            times=data["times"],
            mel=data["mel"],
        )
