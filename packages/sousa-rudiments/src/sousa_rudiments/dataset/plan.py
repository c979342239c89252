"""Which performances and samples a dataset contains, as a deterministic, sortable plan.

A *performance* is one (profile, rudiment, tempo) take, written once as MIDI. A *sample* is one clip
of it: with audio, one per augmentation preset (each with its own timbre draw); without audio, the
performance itself. Ids are derived from what the sample is, never from a counter, so any subset
(a shard, a resumed run) names its samples exactly as a clean full run does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sousa_rudiments.presets import DatasetPreset

__all__ = ["PerformanceTask", "SampleSpec", "Shard", "performance_id", "plan_tasks", "sample_id"]


def performance_id(profile_id: str, rudiment_slug: str, tempo_bpm: int) -> str:
    return f"{profile_id}_{rudiment_slug}_{int(tempo_bpm):03d}bpm"


def sample_id(perf_id: str, augmentation_index: int | None) -> str:
    return perf_id if augmentation_index is None else f"{perf_id}_aug{augmentation_index}"


@dataclass(frozen=True)
class SampleSpec:
    sample_id: str
    augmentation_index: int | None
    augmentation_preset: str | None


@dataclass(frozen=True)
class PerformanceTask:
    """One unit of work: generate a performance, write its MIDI and every sample of it."""

    performance_id: str
    profile_id: str
    rudiment_slug: str
    tempo_bpm: int
    samples: tuple[SampleSpec, ...]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): every ``count``-th task of the sorted plan."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard must be i/N with 0 <= i < N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ValueError(f"shard must look like 'i/N' (e.g. 0/4), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def plan_tasks(
    preset: DatasetPreset, profile_ids: list[str], rudiment_slugs: list[str], *, with_audio: bool
) -> list[PerformanceTask]:
    """All tasks of the dataset, sorted by performance id."""
    tasks = []
    for profile in profile_ids:
        for slug in rudiment_slugs:
            for tempo in preset.tempos_bpm:
                perf = performance_id(profile, slug, tempo)
                if with_audio:
                    samples = tuple(
                        SampleSpec(sample_id(perf, k), k, name) for k, name in enumerate(preset.augmentations)
                    )
                else:
                    samples = (SampleSpec(sample_id(perf, None), None, None),)
                tasks.append(PerformanceTask(perf, profile, slug, int(tempo), samples))
    ids = [t.performance_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("performance ids collide; profile ids or rudiment slugs are not unique")
    return sorted(tasks, key=lambda t: t.performance_id)


def select_shard(tasks: list[PerformanceTask], shard: Shard | None) -> list[PerformanceTask]:
    return list(tasks) if shard is None else tasks[shard.index :: shard.count]
