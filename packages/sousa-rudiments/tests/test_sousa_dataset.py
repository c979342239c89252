"""Dataset generation: presets, plan, splits, determinism, resume, shards, checks and stats."""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from shared_audio_core.synth import default_soundfont
from sousa_rudiments.dataset import (
    SPLIT_NAMES,
    CorruptDatasetError,
    DatasetMismatchError,
    GenerateConfig,
    Shard,
    check_dataset,
    dataset_stats,
    generate,
    merge_shards,
    plan_tasks,
    split_profiles,
)
from sousa_rudiments.dataset.generate import finalize_existing
from sousa_rudiments.dataset.plan import select_shard
from sousa_rudiments.dataset.storage import LABEL_TABLES, atomic_write_bytes, remove_stale_temporaries
from sousa_rudiments.presets import PRESETS, DatasetPreset, UnknownPresetError, get_preset
from sousa_rudiments.profiles import SKILL_TIERS, generate_profiles

TINY = get_preset("tiny")


def _config(out: Path, **kwargs) -> GenerateConfig:
    values = {"output_dir": out, "preset": TINY, "seed": 0, "progress": False}
    values.update(kwargs)
    if values.get("with_audio"):
        values.setdefault("soundfonts", (default_soundfont(),))
    return GenerateConfig(**values)


def label_bytes(root: Path) -> dict[str, bytes]:
    files = {name: (root / "labels" / f"{name}.parquet").read_bytes() for name in LABEL_TABLES}
    files["splits"] = (root / "splits.json").read_bytes()
    return files


@pytest.fixture(scope="module")
def labels_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sousa_labels") / "tiny"
    generate(_config(out))
    return out


@pytest.fixture(scope="module")
def audio_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sousa_audio") / "tiny"
    generate(_config(out, with_audio=True))
    return out


# ------------------------------------------------------------------------------------------ presets
def test_full_preset_is_100k_clips_from_20k_performances():
    full = get_preset("full")
    assert full.num_performances() == 20_000
    assert full.num_samples(with_audio=True) == 100_000
    assert full.num_samples(with_audio=False) == 20_000
    assert list(PRESETS) == ["tiny", "small", "medium", "full"]


def test_unknown_preset_lists_valid_names():
    with pytest.raises(UnknownPresetError, match="tiny, small, medium, full"):
        get_preset("huge")


def test_preset_round_trips_and_validates():
    for preset in PRESETS.values():
        assert DatasetPreset.from_dict(json.loads(json.dumps(preset.to_dict()))) == preset
    with pytest.raises(ValueError, match="unknown drum kits"):
        dataclasses.replace(TINY, kits=("standard", "marching"))
    with pytest.raises(ValueError, match="repeat"):
        dataclasses.replace(TINY, augmentations=("garage", "garage"))
    with pytest.raises(ValueError, match="unknown rudiment 'flam-tapp'"):
        dataclasses.replace(TINY, rudiments=("flam", "flam-tapp"))
    with pytest.raises(ValueError, match="non-empty"):
        dataclasses.replace(TINY, rudiments=())
    assert dataclasses.replace(TINY, rudiments=("Flam_Tap", "flam-tap", "DRAG")).rudiments == (
        "flam-tap",
        "drag",
    )


def test_presets_name_existing_augmentations():
    from shared_audio_core.augment import list_presets

    for preset in PRESETS.values():
        assert set(preset.augmentations) <= set(list_presets())


# ------------------------------------------------------------------------------------------ plan
def test_plan_ids_are_unique_and_shards_partition_it():
    profiles = [p.profile_id for p in generate_profiles(4, 0)]
    tasks = plan_tasks(TINY, profiles, list(TINY.rudiments), with_audio=True)
    assert len(tasks) == TINY.num_performances()
    sample_ids = [s.sample_id for t in tasks for s in t.samples]
    assert len(sample_ids) == len(set(sample_ids)) == TINY.num_samples(with_audio=True)
    shards = [select_shard(tasks, Shard(i, 3)) for i in range(3)]
    ids = [t.performance_id for shard in shards for t in shard]
    assert sorted(ids) == sorted(t.performance_id for t in tasks)
    assert Shard.parse(" 2/5 ") == Shard(2, 5)
    for bad in ("5/5", "a/b", "1", "-1/3"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


# ------------------------------------------------------------------------------------------ splits
def test_splits_are_by_profile_stratified_and_70_15_15():
    profiles = generate_profiles(100, seed=5)
    assignment = split_profiles([(p.profile_id, p.skill_tier) for p in profiles], seed=5)
    sizes = {name: len(ids) for name, ids in assignment.profiles.items()}
    assert sizes == {"train": 70, "validation": 15, "test": 15}
    all_ids = [pid for ids in assignment.profiles.values() for pid in ids]
    assert sorted(all_ids) == sorted(p.profile_id for p in profiles)  # each profile in exactly one split
    tier_of = {p.profile_id: p.skill_tier for p in profiles}
    for name in SPLIT_NAMES:
        tiers = Counter(tier_of[pid] for pid in assignment.profiles[name])
        assert set(tiers) == set(SKILL_TIERS), f"{name} misses a tier: {tiers}"
        share = len(assignment.profiles[name]) / 100
        for tier in SKILL_TIERS:  # every tier is ~25% of every split
            assert abs(tiers[tier] / len(assignment.profiles[name]) - 0.25) < 0.1 + 0.5 / (share * 100)


def test_splits_are_seeded_and_never_empty():
    pairs = [(p.profile_id, p.skill_tier) for p in generate_profiles(12, 0)]
    assert split_profiles(pairs, 1).profiles == split_profiles(pairs, 1).profiles
    assert split_profiles(pairs, 1).profiles != split_profiles(pairs, 2).profiles
    tiny = split_profiles([(p.profile_id, p.skill_tier) for p in generate_profiles(4, 0)], 0)
    assert {k: len(v) for k, v in tiny.profiles.items()} == {"train": 2, "validation": 1, "test": 1}


# ------------------------------------------------------------------------------------------ generate
def test_labels_only_dataset_layout_and_check(labels_dataset):
    report = check_dataset(labels_dataset)
    assert report.ok, report.summary()
    metadata = json.loads((labels_dataset / "metadata.json").read_text())
    assert metadata["complete"] and metadata["seed"] == 0 and metadata["preset"]["name"] == "tiny"
    assert metadata["generator_version"] and metadata["with_audio"] is False
    samples = pq.read_table(labels_dataset / "labels" / "samples.parquet").to_pylist()
    assert len(samples) == TINY.num_samples(with_audio=False) == metadata["counts"]["num_samples"]
    assert [r["sample_id"] for r in samples] == sorted(r["sample_id"] for r in samples)
    for row in samples:
        assert row["midi_path"] == f"midi/{row['rudiment_slug']}/{row['sample_id']}.mid"
        assert row["audio_path"] is None and row["kit"] is None
        assert (labels_dataset / row["midi_path"]).is_file()
    strokes = pq.read_table(labels_dataset / "labels" / "strokes.parquet")
    assert strokes.column_names[0] == "sample_id"
    keys = list(
        zip(strokes.column("sample_id").to_pylist(), strokes.column("index").to_pylist(), strict=True)
    )
    assert keys == sorted(keys)


def test_same_seed_gives_byte_identical_labels_and_other_seed_differs(labels_dataset, tmp_path):
    again = tmp_path / "again"
    generate(_config(again))
    assert label_bytes(again) == label_bytes(labels_dataset)
    other = tmp_path / "other"
    generate(_config(other, seed=1))
    assert label_bytes(other)["strokes"] != label_bytes(labels_dataset)["strokes"]


def test_audio_dataset_records_timbre_and_augmentation(audio_dataset):
    report = check_dataset(audio_dataset)
    assert report.ok, report.summary()
    assert report.files_checked == TINY.num_performances() + TINY.num_samples(with_audio=True)
    samples = pq.read_table(audio_dataset / "labels" / "samples.parquet").to_pylist()
    assert len(samples) == TINY.num_samples(with_audio=True)
    by_group = Counter(r["augmentation_group_id"] for r in samples)
    assert set(by_group.values()) == {len(TINY.augmentations)}
    for row in samples:
        assert row["soundfont"] == default_soundfont().name
        assert row["kit"] in TINY.kits and row["snare_note"] in TINY.snare_notes
        assert row["augmentation_preset"] in TINY.augmentations
        assert row["audio_path"] == f"audio/{row['rudiment_slug']}/{row['sample_id']}.flac"
        assert 0 < row["aug_peak_scale"] <= 1.0
        info = sf.info(str(audio_dataset / row["audio_path"]))
        assert info.samplerate == TINY.sample_rate == row["sample_rate"]
        assert info.subtype == "PCM_24"
        assert info.duration == pytest.approx(row["duration_sec"], abs=0.01)
    assert any(k.startswith("aug_reverb") or k.startswith("aug_eq") for k in samples[0])


def test_label_tables_have_exactly_the_documented_schema(audio_dataset, labels_dataset):
    from shared_audio_core.augment.augmentor import flat_param_columns
    from sousa_rudiments.schema import EXERCISES_SCHEMA, MEASURES_SCHEMA, STROKES_SCHEMA, samples_schema

    for root in (audio_dataset, labels_dataset):
        for name, schema in (
            ("strokes", STROKES_SCHEMA),
            ("measures", MEASURES_SCHEMA),
            ("exercises", EXERCISES_SCHEMA),
        ):
            assert pq.read_schema(root / "labels" / f"{name}.parquet").remove_metadata().equals(schema)
    # audio: every aug column the core can emit (+ the peak scale), sorted, null where the effect was not drawn
    table = pq.read_table(audio_dataset / "labels" / "samples.parquet")
    aug_names = sorted([*flat_param_columns(), "aug_peak_scale"])
    aug_types = {n: pa.string() if n == "aug_reverb_ir" else pa.float64() for n in aug_names}
    assert table.schema.remove_metadata().equals(samples_schema(aug_types))
    assert 0 < table.column("aug_reverb_ir").null_count < table.num_rows
    # without audio: the fixed columns only, timbre columns null, one sample per performance
    bare = pq.read_table(labels_dataset / "labels" / "samples.parquet")
    assert bare.schema.remove_metadata().equals(samples_schema())
    assert bare.column("performance_id").to_pylist() == bare.column("sample_id").to_pylist()
    for column in ("kit", "kit_program", "snare_note", "sample_rate", "audio_path"):
        assert bare.column(column).null_count == bare.num_rows


def test_check_rejects_a_samples_table_off_the_schema(labels_dataset, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(labels_dataset, work)
    path = work / "labels" / "samples.parquet"
    table = pq.read_table(path)
    names = table.schema.names
    pq.write_table(table.select([names[1], names[0], *names[2:]]), path)
    assert "samples.parquet: columns are not in the documented order" in "\n".join(
        check_dataset(work).problems
    )
    pq.write_table(table.append_column("extra", pa.array([1.0] * table.num_rows)), path)
    assert "columns not in the label schema: ['extra']" in "\n".join(check_dataset(work).problems)
    pq.write_table(table.drop_columns(["kit"]), path)
    assert "samples.parquet: column 'kit' is missing" in "\n".join(check_dataset(work).problems)


def test_several_soundfonts_multiply_the_timbres_and_are_recorded_per_sample(tmp_path):
    fonts = []
    for name in ("KitA.sf2", "KitB.sf2"):
        fonts.append(tmp_path / name)
        fonts[-1].write_bytes(default_soundfont().read_bytes())
    preset = dataclasses.replace(TINY, rudiments=("flam",))
    out = tmp_path / "two-fonts"
    generate(_config(out, preset=preset, with_audio=True, soundfonts=tuple(fonts)))
    samples = pq.read_table(out / "labels" / "samples.parquet").to_pylist()
    assert len(samples) == preset.num_samples(with_audio=True, num_rudiments=1)
    assert {row["soundfont"] for row in samples} == {"KitA.sf2", "KitB.sf2"}
    metadata = json.loads((out / "metadata.json").read_text())
    assert "KitA.sf2" in json.dumps(metadata) and "KitB.sf2" in json.dumps(metadata)
    assert check_dataset(out).ok


def test_shards_merge_into_the_clean_dataset(labels_dataset, tmp_path):
    shard_dirs = []
    for i in range(2):
        out = tmp_path / f"shard{i}"
        result = generate(_config(out, shard=Shard(i, 2)))
        assert not result.finalized and not (out / "labels").exists()
        shard_dirs.append(out)
    merged = tmp_path / "merged"
    merge_shards(shard_dirs, merged, progress=False)
    assert finalize_existing(merged, progress=False) == TINY.num_samples(with_audio=False)
    assert label_bytes(merged) == label_bytes(labels_dataset)
    # Shards sharing one directory: the last one to finish merges.
    shared = tmp_path / "shared"
    assert not generate(_config(shared, shard=Shard(1, 2))).finalized
    last = generate(_config(shared, shard=Shard(0, 2)))
    assert last.finalized and last.num_samples == TINY.num_samples(with_audio=False)
    assert label_bytes(shared) == label_bytes(labels_dataset)
    # The other route: copy shard 1 into shard 0's directory and rerun without --shard.
    shutil.copytree(shard_dirs[1] / "_parts", shard_dirs[0] / "_parts", dirs_exist_ok=True)
    shutil.copytree(shard_dirs[1] / "midi", shard_dirs[0] / "midi", dirs_exist_ok=True)
    result = generate(_config(shard_dirs[0]))
    assert result.generated == 0 and result.finalized
    assert label_bytes(shard_dirs[0]) == label_bytes(labels_dataset)


def test_corrupt_work_is_refused_then_repaired_without_losing_files(labels_dataset, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(labels_dataset, work)
    parts = sorted((work / "_parts").glob("*/*.json"))
    parts[0].write_text("{ truncated")  # corrupt marker
    midi = sorted((work / "midi").glob("*/*.mid"))
    victim = next(m for m in midi if m.stem != parts[0].stem)
    victim.write_bytes(victim.read_bytes()[:10])  # corrupt media behind a valid marker
    (work / "midi" / "flam-tap" / ".x.mid.123.tmp").write_bytes(b"partial")  # leftover of a killed write
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}

    with pytest.raises(
        CorruptDatasetError, match=r"2 already generated performance\(s\) failed validation"
    ) as err:
        generate(_config(work))
    assert "--repair" in str(err.value) and victim.name in str(err.value)
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before  # nothing touched

    (work / "labels" / "strokes.parquet").write_bytes(b"garbage")  # final tables are rebuilt anyway

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(importlib.import_module("sousa_rudiments.dataset.generate"), "run_tasks", interrupted)
        with pytest.raises(KeyboardInterrupt):
            generate(_config(work, repair=True))
    # Interrupted right after quarantining: the tables no longer describe the files, and says so.
    assert json.loads((work / "metadata.json").read_text())["complete"] is False
    result = generate(_config(work))  # the quarantined performances are now simply missing
    assert result.generated == 2 and result.reused == TINY.num_performances() - 2
    assert result.redone == []
    assert not (work / "midi" / "flam-tap" / ".x.mid.123.tmp").exists()
    quarantine = work / "_quarantine"
    assert (quarantine / parts[0].relative_to(work)).read_text() == "{ truncated"
    assert (quarantine / victim.relative_to(work)).read_bytes() == before[victim]
    assert label_bytes(work) == label_bytes(labels_dataset)
    assert check_dataset(work).ok


def test_missing_work_is_regenerated_silently(labels_dataset, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(labels_dataset, work)
    sorted((work / "_parts").glob("*/*.json"))[3].unlink()  # as if killed before the marker was written
    result = generate(_config(work))
    assert result.generated == 1 and not result.redone
    assert label_bytes(work) == label_bytes(labels_dataset)


def test_different_configuration_is_refused_and_nothing_changes(labels_dataset, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(labels_dataset, work)
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    with pytest.raises(DatasetMismatchError, match="seed: existing 0, requested 1"):
        generate(_config(work, seed=1))
    with pytest.raises(DatasetMismatchError, match="preset: existing 'tiny', requested 'small'"):
        generate(_config(work, preset=get_preset("small")))
    with pytest.raises(DatasetMismatchError, match="with_audio"):
        generate(_config(work, with_audio=True))
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before


def test_corrupt_metadata_is_an_error_that_keeps_files(labels_dataset, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(labels_dataset, work)
    (work / "metadata.json").write_text("{not json")
    n_files = sum(1 for p in work.rglob("*") if p.is_file())
    with pytest.raises(CorruptDatasetError, match=r"metadata\.json is unreadable"):
        generate(_config(work))
    assert sum(1 for p in work.rglob("*") if p.is_file()) == n_files


def test_foreign_non_empty_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetMismatchError, match="not a SOUSA dataset directory"):
        generate(_config(tmp_path))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "midi" / "file.bin"
    atomic_write_bytes(target, b"one")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, 123)  # type: ignore[arg-type]
    assert target.read_bytes() == b"one"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]
    (target.parent / ".file.bin.abc.tmp").write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == 1


# ------------------------------------------------------------------------------------------ check / stats
def test_check_reports_missing_files_and_overlapping_splits(labels_dataset, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(labels_dataset, work)
    removed = sorted((work / "midi").glob("*/*.mid"))[0]
    removed.unlink()
    splits = json.loads((work / "splits.json").read_text())
    leaked = splits["splits"]["test"]["profiles"][0]
    splits["splits"]["train"]["profiles"].append(leaked)
    (work / "splits.json").write_text(json.dumps(splits))
    report = check_dataset(work)
    assert not report.ok
    text = "\n".join(report.problems)
    assert f"{removed.relative_to(work)} is missing" in text
    assert f"profiles in both train and test: ['{leaked}']" in text


def test_check_reports_corrupt_audio_and_wrong_counts(audio_dataset, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(audio_dataset, work)
    flac = sorted((work / "audio").glob("*/*.flac"))[-1]
    flac.write_bytes(b"fLaC" + b"\0" * 20)
    table = pq.read_table(work / "labels" / "samples.parquet")
    pq.write_table(table.slice(1), work / "labels" / "samples.parquet")
    report = check_dataset(work)
    text = "\n".join(report.problems)
    assert flac.name in text
    assert f"samples.parquet has {table.num_rows - 1} rows; preset 'tiny' plans {table.num_rows}" in text
    assert "exercises.parquet does not have exactly one row per sample" in text


def test_stats_tables_per_tier_rudiment_and_tempo(labels_dataset):
    tables = dataset_stats(labels_dataset)
    assert set(tables) == {"skill_tier", "rudiment_slug", "tempo_bpm"}
    assert tables["skill_tier"]["samples"].sum() == TINY.num_samples(with_audio=False)
    assert set(tables["rudiment_slug"].index) == set(TINY.rudiments)
    tiers = tables["skill_tier"]
    assert (
        tiers.loc["beginner", "mean_abs_timing_error_ms"]
        > tiers.loc["professional", "mean_abs_timing_error_ms"]
    )


def test_identity_pins_soundfont_bytes_not_just_names(tmp_path):
    from sousa_rudiments.dataset.generate import build_identity

    copy = tmp_path / "a" / default_soundfont().name
    copy.parent.mkdir()
    copy.write_bytes(default_soundfont().read_bytes())
    edited = tmp_path / "b" / default_soundfont().name
    edited.parent.mkdir()
    edited.write_bytes(default_soundfont().read_bytes() + b"\0\0")
    original = build_identity(_config(tmp_path / "x", with_audio=True, soundfonts=(copy,)))
    same = build_identity(_config(tmp_path / "x", with_audio=True, soundfonts=(default_soundfont(),)))
    other = build_identity(_config(tmp_path / "x", with_audio=True, soundfonts=(edited,)))
    assert original.differences(same) == []
    (diff,) = original.differences(other)
    assert diff.startswith("soundfont_sha256")


def test_check_compares_midi_with_the_strokes_table(labels_dataset, tmp_path):
    import symusic

    work = tmp_path / "work"
    shutil.copytree(labels_dataset, work)
    assert check_dataset(work, decode=True).ok
    midi = sorted((work / "midi").rglob("*.mid"))[0]
    score = symusic.Score(str(midi))
    score.tracks[0].notes[3].velocity = max(1, score.tracks[0].notes[3].velocity - 20)
    score.dump_midi(str(midi))
    problems = "\n".join(check_dataset(work).problems)
    assert f"{midi.relative_to(work).as_posix()}: no MIDI note for stroke" in problems


def test_check_compares_audio_length_with_duration(audio_dataset, tmp_path):
    from shared_audio_core.audio import audio_info, load_audio, write_audio

    work = tmp_path / "work"
    shutil.copytree(audio_dataset, work)
    assert check_dataset(work).ok  # every clip's length matches its duration_sec
    flac = sorted((work / "audio").rglob("*.flac"))[0]
    rate = audio_info(flac).sample_rate
    audio = load_audio(flac, rate)
    write_audio(flac, audio[: len(audio) // 2], rate, bit_depth=24)
    problems = "\n".join(check_dataset(work).problems)
    assert "samples.parquet says duration_sec" in problems and flac.name in problems
