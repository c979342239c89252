"""Generate a SOUSA dataset: plan → (parallel) per-performance work → merge into label tables.

Each performance is one task. A task writes its MIDI, its audio clips and finally a done-marker
holding its label rows and the hashes of its files (see :mod:`.storage`). Every random draw is
seeded from (dataset seed, sample id), so a resumed run, another worker count or another shard
produces exactly the same bytes. The merge step reads the markers and writes the four parquet tables
sorted by sample id, ``splits.json`` and the final ``metadata.json``.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import shared_audio_core
from tqdm.auto import tqdm

from sousa_rudiments import __version__
from sousa_rudiments.dataset import tables as table_builders
from sousa_rudiments.dataset.plan import PerformanceTask, Shard, plan_tasks, select_shard
from sousa_rudiments.dataset.seeding import stable_seed
from sousa_rudiments.dataset.splits import SPLIT_NAMES, split_profiles
from sousa_rudiments.dataset.storage import (
    LABEL_TABLES,
    METADATA_FILE,
    PARTS_DIR,
    SPLITS_FILE,
    CorruptDatasetError,
    DatasetIdentity,
    DatasetMismatchError,
    PartRecord,
    atomic_write_bytes,
    atomic_write_text,
    audio_relpath,
    check_writable,
    describe_files,
    file_digest,
    load_identity,
    midi_relpath,
    part_path,
    read_part,
    remove_stale_temporaries,
    write_part,
    write_table,
)
from sousa_rudiments.presets import DatasetPreset

__all__ = [
    "GenerateConfig",
    "GenerateResult",
    "IncompleteDatasetError",
    "build_identity",
    "finalize",
    "finalize_existing",
    "generate",
    "merge_shards",
    "run_tasks",
]

QUARANTINE_DIR = "_quarantine"
#: Tables whose rows every clip of a performance shares (stored once per done-marker).
SHARED_LABEL_TABLES: tuple[str, ...] = ("strokes", "measures", "exercises")


class IncompleteDatasetError(RuntimeError):
    """Label tables were requested but some performances of the plan are not generated yet."""


@dataclass(frozen=True)
class GenerateConfig:
    """Everything ``sousa generate`` needs. ``soundfonts`` are resolved paths (used only with audio)."""

    output_dir: Path
    preset: DatasetPreset
    seed: int = 0
    with_audio: bool = False
    soundfonts: tuple[Path, ...] = ()
    workers: int = 1
    shard: Shard | None = None
    progress: bool = True
    #: Regenerate performances whose files fail validation (after moving them to ``_quarantine/``);
    #: without it such a directory is refused.
    repair: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        object.__setattr__(self, "soundfonts", tuple(Path(p) for p in self.soundfonts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": str(self.output_dir),
            "preset": self.preset.to_dict(),
            "seed": self.seed,
            "with_audio": self.with_audio,
            "soundfonts": [str(p) for p in self.soundfonts],
            "workers": self.workers,
            "shard": None if self.shard is None else str(self.shard),
            "progress": self.progress,
            "repair": self.repair,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerateConfig:
        return cls(
            output_dir=Path(data["output_dir"]),
            preset=DatasetPreset.from_dict(data["preset"]),
            seed=int(data.get("seed", 0)),
            with_audio=bool(data.get("with_audio", False)),
            soundfonts=tuple(Path(p) for p in data.get("soundfonts", ())),
            workers=int(data.get("workers", 1)),
            shard=None if data.get("shard") is None else Shard.parse(data["shard"]),
            progress=bool(data.get("progress", True)),
            repair=bool(data.get("repair", False)),
        )


@dataclass
class GenerateResult:
    output_dir: Path
    num_tasks: int
    generated: int
    reused: int
    redone: list[str] = field(default_factory=list)
    finalized: bool = False
    num_samples: int = 0


#: Revision of what a seed generates, bumped whenever the same seed writes different data so that a
#: resumed directory never mixes the two (the package version alone does not move between releases).
#: 2: PAS same-lead and rhythm fixes (#8, #20, #22, #26, #27, #29, #31, #36, #37, #39, #40), strokes
#: kept in order with physical minimum gaps, the core renderer's sustain pedal and SF2 envelopes,
#: EQ bands with recorded Q.
#: 3: single-kit SoundFonts (Debian's avldrums sampled acoustic kits) join the timbre pool as kit
#: ``sampled``, so the same installed SoundFonts draw other timbres than before.
DATA_REVISION = 3


def build_identity(config: GenerateConfig) -> DatasetIdentity:
    return DatasetIdentity(
        generator_version=f"{__version__}+data.{DATA_REVISION}",
        seed=config.seed,
        preset=config.preset.to_dict(),
        with_audio=config.with_audio,
        soundfonts=tuple(p.name for p in config.soundfonts) if config.with_audio else (),
        soundfont_sha256=tuple(_soundfont_digest(p) for p in config.soundfonts) if config.with_audio else (),
        core_version=shared_audio_core.__version__,
    )


@functools.lru_cache(maxsize=16)
def _soundfont_digest(path: Path) -> str:
    return file_digest(path)[:16]


# ------------------------------------------------------------------------------------------ context
class _Context:
    """Per-process state: profiles, the timbre pool and the seeds, built once per worker."""

    def __init__(self, config: GenerateConfig) -> None:
        from sousa_rudiments.profiles import generate_profiles
        from sousa_rudiments.render import TimbrePool

        self.config = config
        self.root = config.output_dir
        self.identity = build_identity(config)
        self.digest = self.identity.digest()
        self.profiles = {p.profile_id: p for p in generate_profiles(config.preset.num_profiles, config.seed)}
        self.pool = (
            TimbrePool(config.soundfonts, config.preset.kits, config.preset.snare_notes)
            if config.with_audio
            else None
        )

    def run(self, task: PerformanceTask) -> tuple[str, int]:
        from shared_audio_core.audio import write_audio

        from sousa_rudiments.midi import performance_to_score
        from sousa_rudiments.performance import generate_performance
        from sousa_rudiments.render import render_clip
        from sousa_rudiments.rudiments import get_rudiment

        cfg = self.config
        preset = cfg.preset
        profile = self.profiles[task.profile_id]
        performance = generate_performance(
            get_rudiment(task.rudiment_slug),
            profile,
            task.tempo_bpm,
            num_cycles=preset.num_cycles,
            seed=stable_seed(cfg.seed, "performance", task.performance_id),
        )
        score = performance_to_score(performance)
        midi_rel = midi_relpath(task.rudiment_slug, task.performance_id)
        atomic_write_bytes(self.root / midi_rel, bytes(score.dumps_midi()))
        written = [midi_rel]

        # Stroke, measure and exercise labels depend on the performance only: the marker stores them
        # once (sample_id "") and the merge step stamps each clip's sample id on them.
        tables: dict[str, list[dict[str, Any]]] = table_builders.performance_label_rows(performance, profile)
        tables["samples"] = []
        for spec in task.samples:
            media: dict[str, Any] = {"midi_path": midi_rel, "audio_path": None}
            if cfg.with_audio:
                assert self.pool is not None and spec.augmentation_preset is not None
                timbre = self.pool.choose(
                    np.random.default_rng(stable_seed(cfg.seed, "timbre", spec.sample_id))
                )
                clip = render_clip(
                    score,
                    timbre,
                    sample_rate=preset.sample_rate,
                    augmentation_preset=spec.augmentation_preset,
                    seed=stable_seed(cfg.seed, "augment", spec.sample_id),
                )
                audio_rel = audio_relpath(task.rudiment_slug, spec.sample_id)
                write_audio(self.root / audio_rel, clip.audio, preset.sample_rate, bit_depth=preset.bit_depth)
                written.append(audio_rel)
                media.update(
                    audio_path=audio_rel,
                    sample_rate=preset.sample_rate,
                    soundfont=timbre.soundfont_name,
                    kit=timbre.kit,
                    kit_program=timbre.program,
                    snare_note=timbre.snare_note,
                    augmentation_preset=spec.augmentation_preset,
                    aug_params=clip.aug_params,
                )
            tables["samples"].append(
                table_builders.sample_row(performance, profile, spec.sample_id, task.performance_id, media)
            )

        record = PartRecord(
            performance_id=task.performance_id,
            rudiment_slug=task.rudiment_slug,
            identity_digest=self.digest,
            files=describe_files(self.root, written),
            tables=tables,
        )
        write_part(self.root, record)
        return task.performance_id, len(task.samples)


_WORKER: _Context | None = None


def _init_worker(config: GenerateConfig) -> None:
    global _WORKER
    _WORKER = _Context(config)


def _run_in_worker(task: PerformanceTask) -> tuple[str, int]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.run(task)


def run_tasks(
    config: GenerateConfig,
    tasks: Sequence[PerformanceTask],
    *,
    on_done: Callable[[str, int], None] | None = None,
) -> int:
    """Run ``tasks`` in ``config.workers`` spawned processes (inline for one); returns samples written."""
    total = 0
    if not tasks:
        return 0
    if config.workers <= 1:
        context = _Context(config)
        results: Iterable[tuple[str, int]] = (context.run(task) for task in tasks)
        for perf_id, n in results:
            total += n
            if on_done:
                on_done(perf_id, n)
        return total
    spawn = multiprocessing.get_context("spawn")
    chunksize = max(1, min(8, len(tasks) // (config.workers * 8)))
    with spawn.Pool(config.workers, initializer=_init_worker, initargs=(config,)) as pool:
        for perf_id, n in pool.imap_unordered(_run_in_worker, tasks, chunksize=chunksize):
            total += n
            if on_done:
                on_done(perf_id, n)
    return total


# ------------------------------------------------------------------------------------------ driver
def _validate_inputs(config: GenerateConfig) -> list[str]:
    """Fail fast on unknown rudiments/augmentations; returns the rudiment slugs in use."""
    from sousa_rudiments.rudiments import RUDIMENTS, get_rudiment

    slugs = list(config.preset.rudiments) if config.preset.rudiments is not None else list(RUDIMENTS)
    for slug in slugs:
        get_rudiment(slug)  # raises UnknownRudimentError naming the valid slugs
    if config.with_audio:
        from shared_audio_core.augment import get_preset as get_augmentation

        for name in config.preset.augmentations:
            get_augmentation(name)  # raises UnknownPresetError listing the valid presets
        if not config.soundfonts:
            raise ValueError("--with-audio needs at least one SoundFont")
        from sousa_rudiments.render import TimbrePool

        TimbrePool(config.soundfonts, config.preset.kits, config.preset.snare_notes)
    if config.workers < 1:
        raise ValueError(f"workers must be >= 1, got {config.workers}")
    # Checked here, before anything is written: a seed rejected later (by the profile sampler) would leave a
    # metadata.json recording it, and every later run would refuse the directory as "another seed".
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {config.seed!r}")
    return slugs


def _prepare_directory(config: GenerateConfig, identity: DatasetIdentity) -> None:
    root = config.output_dir
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output path {root} exists and is not a directory")
    existing = load_identity(root) if root.is_dir() else None
    if existing is None:
        if root.is_dir() and any(not p.name.startswith(".") for p in root.iterdir()):
            raise DatasetMismatchError(
                f"{root} is not empty and has no {METADATA_FILE}, so it is not a SOUSA dataset directory; "
                "choose an empty or new directory (nothing was changed)"
            )
        check_writable(root)
        atomic_write_text(root / METADATA_FILE, _metadata_json(identity, complete=False))
        return
    diffs = identity.differences(existing)
    if diffs:
        raise DatasetMismatchError(
            f"{root} holds a dataset generated with a different configuration ({'; '.join(diffs)}). "
            "Use the original options to resume, or choose another output directory (nothing was changed)."
        )
    check_writable(root)


def _metadata_json(identity: DatasetIdentity, *, complete: bool, extra: dict[str, Any] | None = None) -> str:
    import json

    data = identity.to_dict()
    data["complete"] = complete
    if extra:
        data.update(extra)
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class _CorruptPart:
    """A done-marker that failed validation, and the files it (and its performance) covers."""

    marker: Path
    message: str
    files: tuple[str, ...]


def _scan_done(
    root: Path, tasks: Sequence[PerformanceTask], digest: str, progress: bool
) -> tuple[set[str], list[_CorruptPart]]:
    """Performance ids whose marker and files validate, and the parts that do not (left untouched)."""
    done: set[str] = set()
    corrupt: list[_CorruptPart] = []
    candidates = [t for t in tasks if part_path(root, t.rudiment_slug, t.performance_id).exists()]
    for task in tqdm(
        candidates, desc="verifying existing", unit="perf", disable=not progress or not candidates
    ):
        path = part_path(root, task.rudiment_slug, task.performance_id)
        try:
            record = read_part(path, root, digest)
            expected = {s.sample_id for s in task.samples}
            if {row["sample_id"] for row in record.tables["samples"]} != expected:
                raise CorruptDatasetError(f"{path}: lists other samples than the plan")
        except CorruptDatasetError as exc:
            files = [midi_relpath(task.rudiment_slug, task.performance_id)]
            files += [
                audio_relpath(task.rudiment_slug, s.sample_id) for s in task.samples if s.augmentation_preset
            ]
            corrupt.append(_CorruptPart(path, str(exc), tuple(files)))
            continue
        done.add(task.performance_id)
    return done, corrupt


def _quarantine(root: Path, parts: Sequence[_CorruptPart]) -> Path:
    """Move corrupt markers and their media under ``_quarantine/`` (kept for inspection, not deleted)."""
    target = root / QUARANTINE_DIR
    for part in parts:
        for source in [part.marker, *(root / rel for rel in part.files)]:
            if source.exists():
                destination = target / source.relative_to(root)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, destination)
    return target


def generate(config: GenerateConfig) -> GenerateResult:
    """Generate (or resume) the dataset described by ``config``; see the module docstring."""
    from sousa_rudiments.profiles import generate_profiles

    slugs = _validate_inputs(config)
    identity = build_identity(config)
    _prepare_directory(config, identity)
    root = config.output_dir

    profiles = generate_profiles(config.preset.num_profiles, config.seed)
    all_tasks = plan_tasks(
        config.preset, [p.profile_id for p in profiles], slugs, with_audio=config.with_audio
    )
    tasks = select_shard(all_tasks, config.shard)
    digest = identity.digest()
    done, corrupt = _scan_done(root, tasks, digest, config.progress)
    if corrupt and not config.repair:
        listing = "; ".join(part.message for part in corrupt[:5]) + (" …" if len(corrupt) > 5 else "")
        raise CorruptDatasetError(
            f"{len(corrupt)} already generated performance(s) failed validation: {listing}. Nothing was "
            f"changed. Rerun with --repair to move them to {QUARANTINE_DIR}/ and generate them again."
        )
    if config.shard is None:
        # Shards may share one directory (NFS); another shard's in-flight temporaries are not stale.
        remove_stale_temporaries(root)
    if corrupt:
        where = _quarantine(root, corrupt)
        for part in corrupt:
            print(f"sousa: regenerating (old files moved to {where}): {part.message}", file=sys.stderr)
    problems = [part.message for part in corrupt]
    if any(t.performance_id not in done for t in tasks):
        # Until the merge runs again the label tables (if any) do not describe the files on disk.
        atomic_write_text(root / METADATA_FILE, _metadata_json(identity, complete=False))
    todo = [t for t in tasks if t.performance_id not in done]

    bar = tqdm(
        total=sum(len(t.samples) for t in tasks),
        initial=sum(len(t.samples) for t in tasks if t.performance_id in done),
        desc=f"generating {config.preset.name}" + (f" shard {config.shard}" if config.shard else ""),
        unit="sample",
        disable=not config.progress,
    )
    try:
        run_tasks(config, todo, on_done=lambda _pid, n: bar.update(n))
    finally:
        bar.close()

    result = GenerateResult(root, len(tasks), generated=len(todo), reused=len(done), redone=problems)
    if config.shard is None:
        result.num_samples = finalize(
            root, identity, all_tasks, profiles, config.seed, progress=config.progress
        )
        result.finalized = True
    elif _all_done(root, all_tasks):
        # Shards sharing one directory: the last one to finish validates the others' work and merges.
        try:
            result.num_samples = finalize_existing(root, progress=config.progress)
            result.finalized = True
        except IncompleteDatasetError as exc:
            print(f"sousa: not merging yet: {exc}", file=sys.stderr)
    return result


def _all_done(root: Path, tasks: Sequence[PerformanceTask]) -> bool:
    return all(part_path(root, t.rudiment_slug, t.performance_id).exists() for t in tasks)


def finalize(
    root: Path,
    identity: DatasetIdentity,
    tasks: Sequence[PerformanceTask],
    profiles: Sequence[Any],
    seed: int,
    *,
    progress: bool = True,
) -> int:
    """Merge every done-marker into the label tables, write splits.json and the final metadata."""
    missing = [
        t.performance_id for t in tasks if not part_path(root, t.rudiment_slug, t.performance_id).exists()
    ]
    if missing:
        raise IncompleteDatasetError(
            f"{len(missing)} of {len(tasks)} performances are not generated yet (first: {missing[0]}); "
            "run the same `sousa generate` command without --shard, or finish every shard"
        )
    digest = identity.digest()
    collected: dict[str, list[pa.Table]] = {name: [] for name in LABEL_TABLES}
    for task in tqdm(tasks, desc="merging labels", unit="perf", disable=not progress):
        record = read_part(
            part_path(root, task.rudiment_slug, task.performance_id), root, digest, verify_files=False
        )
        sample_ids = [row["sample_id"] for row in record.tables["samples"]]
        collected["samples"].append(table_builders.rows_to_table("samples", record.tables["samples"]))
        for name in SHARED_LABEL_TABLES:
            shared = table_builders.rows_to_table(name, record.tables[name])
            collected[name].extend(table_builders.with_sample_id(shared, sid) for sid in sample_ids)
    merged = {name: table_builders.concat_sorted(name, collected[name]) for name in LABEL_TABLES}
    for name, table in merged.items():
        write_table(table, root / "labels" / f"{name}.parquet")

    assignment = split_profiles([(p.profile_id, p.skill_tier) for p in profiles], seed)
    samples = merged["samples"]
    per_split = {name: 0 for name in SPLIT_NAMES}
    for profile_id in samples.column("profile_id").to_pylist():
        per_split[assignment.split_of[profile_id]] += 1
    splits_doc = {
        "by": "profile_id",
        "stratified_by": "skill_tier",
        "ratios": dict(zip(SPLIT_NAMES, assignment.ratios, strict=True)),
        "seed": seed,
        "splits": {
            name: {"profiles": assignment.profiles[name], "num_samples": per_split[name]}
            for name in SPLIT_NAMES
        },
    }
    import json

    atomic_write_text(root / SPLITS_FILE, json.dumps(splits_doc, indent=2, sort_keys=True) + "\n")
    counts = {
        "num_samples": samples.num_rows,
        "num_performances": len(tasks),
        "num_profiles": len(profiles),
        "num_strokes": merged["strokes"].num_rows,
        "num_measures": merged["measures"].num_rows,
    }
    atomic_write_text(root / METADATA_FILE, _metadata_json(identity, complete=True, extra={"counts": counts}))
    return samples.num_rows


def finalize_existing(root: Path, *, progress: bool = True) -> int:
    """Validate every done-marker of the dataset at ``root`` and write its label tables and splits.

    Needs no SoundFont: it renders nothing. Used after merging shards.
    """
    from sousa_rudiments.profiles import generate_profiles
    from sousa_rudiments.rudiments import RUDIMENTS

    identity = load_identity(root)
    if identity is None:
        raise DatasetMismatchError(f"{root} has no {METADATA_FILE}; it is not a SOUSA dataset directory")
    preset = DatasetPreset.from_dict(identity.preset)
    slugs = list(preset.rudiments) if preset.rudiments is not None else list(RUDIMENTS)
    profiles = generate_profiles(preset.num_profiles, identity.seed)
    tasks = plan_tasks(preset, [p.profile_id for p in profiles], slugs, with_audio=identity.with_audio)
    done, corrupt = _scan_done(root, tasks, identity.digest(), progress)
    if corrupt or len(done) != len(tasks):
        detail = f"; first problem: {corrupt[0].message}" if corrupt else ""
        raise IncompleteDatasetError(
            f"{len(tasks) - len(done)} of {len(tasks)} performances are missing or corrupt{detail}. "
            "Rerun the shard(s) that produced them (same command), then merge again."
        )
    return finalize(root, identity, tasks, profiles, identity.seed, progress=progress)


def merge_shards(sources: Sequence[Path], output_dir: Path, *, progress: bool = True) -> DatasetIdentity:
    """Combine shard directories (same identity) into ``output_dir``; hard-links files where possible.

    Only media and done-markers are taken; the label tables are then built by running ``sousa
    generate`` with the original options on ``output_dir`` (it finds every performance done).
    """
    identities = []
    for source in sources:
        identity = load_identity(source)
        if identity is None:
            raise DatasetMismatchError(f"{source} has no {METADATA_FILE}; it is not a SOUSA shard directory")
        identities.append(identity)
    for source, identity in zip(sources[1:], identities[1:], strict=True):
        diffs = identity.differences(identities[0])
        if diffs:
            raise DatasetMismatchError(f"{source} differs from {sources[0]}: {'; '.join(diffs)}")
    target = load_identity(output_dir) if output_dir.is_dir() else None
    if target is not None and target.differences(identities[0]):
        raise DatasetMismatchError(
            f"{output_dir} holds a different dataset: {'; '.join(target.differences(identities[0]))}"
        )
    check_writable(output_dir)
    if target is None:
        atomic_write_text(output_dir / METADATA_FILE, _metadata_json(identities[0], complete=False))
    for source in sources:
        files = [
            p
            for sub in ("midi", "audio", PARTS_DIR)
            for p in sorted((source / sub).glob("*/*"))
            if p.is_file()
        ]
        files = [p for p in files if not p.name.startswith(".")]
        # Markers last, so an interrupted merge never has a marker without its media.
        files.sort(key=lambda p: p.parts[-3] == PARTS_DIR)
        for path in tqdm(files, desc=f"merging {source}", unit="file", disable=not progress):
            destination = output_dir / path.relative_to(source)
            if destination.exists():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            tmp = destination.with_name(f".{destination.name}.merge.tmp")
            try:
                os.link(path, tmp)
            except OSError:
                shutil.copy2(path, tmp)
            os.replace(tmp, destination)
    return identities[0]
