"""The `sousa` command: generate → check → stats, and clear errors for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sousa_rudiments.cli import EXIT_BAD_INPUT, EXIT_PROBLEMS, build_parser, main
from sousa_rudiments.presets import get_preset


@pytest.fixture(scope="module")
def tiny_audio(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "D"
    assert (
        main(
            [
                "generate",
                "--preset",
                "tiny",
                "--with-audio",
                "--no-system-soundfonts",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return out


def test_console_script_is_declared():
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts["sousa"] == "sousa_rudiments.cli:main"


def test_installed_console_script_checks_the_dataset(tiny_audio):
    script = Path(sys.executable).with_name("sousa")
    assert script.is_file(), "the `sousa` console script is not installed in this environment"
    done = subprocess.run(
        [str(script), "check", str(tiny_audio), "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{tiny_audio}: OK" in done.stdout


def test_generate_then_check_passes(tiny_audio, capsys):
    assert main(["check", str(tiny_audio), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{tiny_audio}: OK" in out
    assert "samples=24" in out and "files decoded=36" in out


def test_rerun_reuses_everything(tiny_audio, capsys):
    assert (
        main(
            [
                "generate",
                "--preset",
                "tiny",
                "--with-audio",
                "--no-system-soundfonts",
                "--out",
                str(tiny_audio),
                "--quiet",
            ]
        )
        == 0
    )
    assert "0 performances generated, 12 reused" in capsys.readouterr().out


def test_stats_prints_tables_per_tier_rudiment_tempo(tiny_audio, capsys):
    assert main(["stats", str(tiny_audio)]) == 0
    text = capsys.readouterr().out
    for heading in ("by skill_tier", "by rudiment_slug", "by tempo_bpm"):
        assert heading in text
    assert "professional" in text and "flam-tap" in text
    assert main(["stats", str(tiny_audio), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(row["samples"] for row in data["skill_tier"]) == 24
    assert main(["stats", str(tiny_audio), "--format", "markdown"]) == 0
    assert "| skill_tier | samples |" in capsys.readouterr().out


def test_check_fails_with_exit_1_on_a_broken_dataset(tiny_audio, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_audio, broken)
    next((broken / "audio").rglob("*.flac")).unlink()
    assert main(["check", str(broken), "--quiet"]) == EXIT_PROBLEMS
    assert "is missing" in capsys.readouterr().out


def test_presets_lists_sizes(capsys):
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert "full" in text and "100000" in text and "20000" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["generate", "--preset", "gigantic"],
            "unknown preset 'gigantic'; choose one of tiny, small, medium, full",
        ),
        (
            ["generate", "--preset", "tiny", "--rudiment", "flam-tapp"],
            "unknown rudiment 'flam-tapp'; valid slugs: single-stroke-roll,",
        ),
        (
            ["generate", "--preset", "tiny", "--with-audio", "--soundfont", "/nonexistent/kit.sf2"],
            "SoundFont not found",
        ),
        (["generate", "--preset", "tiny", "--shard", "3/2"], "shard must be i/N"),
        (
            ["generate", "--preset", "tiny", "--soundfont", "/x.sf2"],
            "--soundfont only applies with --with-audio",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("sousa generate: error:")
    assert message in err
    assert not out.exists() or not any(out.iterdir())


def test_soundfont_that_is_not_a_soundfont_exits_2(tmp_path, capsys):
    fake = tmp_path / "kit.sf2"
    fake.write_bytes(b"not a soundfont")
    out = tmp_path / "out"
    argv = [
        "generate",
        "--preset",
        "tiny",
        "--with-audio",
        "--no-system-soundfonts",
        "--soundfont",
        str(fake),
    ]
    assert main([*argv, "--out", str(out), "--quiet"]) == EXIT_BAD_INPUT
    assert f"{fake}: not a SoundFont (missing RIFF/sfbk header)" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert main(["generate", "--preset", "tiny", "--out", str(blocker / "sub"), "--quiet"]) == EXIT_BAD_INPUT
    assert "is not writable" in capsys.readouterr().err
    assert blocker.read_text() == "not a directory"


def test_mismatched_output_directory_is_refused_without_changes(tiny_audio, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(tiny_audio, work)
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    code = main(
        [
            "generate",
            "--preset",
            "tiny",
            "--seed",
            "9",
            "--with-audio",
            "--no-system-soundfonts",
            "--out",
            str(work),
        ]
    )
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "different configuration" in err and "seed: existing 0, requested 9" in err
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before


def test_corrupt_metadata_exits_2_and_keeps_files(tiny_audio, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(tiny_audio, work)
    (work / "metadata.json").write_text("{")
    n = sum(1 for _ in work.rglob("*"))
    assert main(["generate", "--preset", "tiny", "--out", str(work), "--quiet"]) == EXIT_BAD_INPUT
    assert "unreadable" in capsys.readouterr().err
    assert sum(1 for _ in work.rglob("*")) == n
    assert main(["check", str(work), "--quiet"]) == EXIT_PROBLEMS


def test_corrupt_partial_files_exit_2_then_repair(tiny_audio, tmp_path, capsys):
    work = tmp_path / "work"
    shutil.copytree(tiny_audio, work)
    flac = sorted((work / "audio").rglob("*.flac"))[0]
    flac.write_bytes(flac.read_bytes()[:100])
    argv = [
        "generate",
        "--preset",
        "tiny",
        "--with-audio",
        "--no-system-soundfonts",
        "--out",
        str(work),
        "--quiet",
    ]
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "failed validation" in err and flac.name in err and "--repair" in err
    assert len(flac.read_bytes()) == 100  # nothing was changed
    assert main([*argv, "--repair"]) == 0
    assert "regenerated 1 corrupt" in capsys.readouterr().out
    assert (work / "_quarantine" / flac.relative_to(work)).stat().st_size == 100
    assert main(["check", str(work), "--quiet"]) == 0


def test_hub_prepare_and_dry_run_upload(tiny_audio, tmp_path, capsys):
    staging = tmp_path / "staging"
    assert (
        main(
            ["hub", "prepare", str(tiny_audio), str(staging), "--repo-id", "me/sousa", "--include-raw-audio"]
        )
        == 0
    )
    assert (staging / "README.md").is_file() and len(list((staging / "audio").rglob("*.flac"))) == 24
    capsys.readouterr()
    assert main(["hub", "upload", str(staging), "me/sousa", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would upload" in out and "to datasets/me/sousa" in out
    assert main(["hub", "upload", str(tmp_path / "nothing"), "me/sousa", "--dry-run"]) == EXIT_BAD_INPUT
    assert "not built by" in capsys.readouterr().err


def test_help_mentions_every_command():
    text = build_parser().format_help()
    for command in ("generate", "check", "stats", "merge", "presets", "hub"):
        assert command in text


def test_rudiment_slugs_are_canonicalised_so_case_variants_are_one_rudiment(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "generate",
        "--preset",
        "tiny",
        "--rudiment",
        "flam",
        "--rudiment",
        "FLAM",
        "--rudiment",
        "Flam_Tap",
    ]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in (out / "midi").iterdir()) == ["flam", "flam-tap"]
    samples = pq.read_table(out / "labels" / "samples.parquet")
    tiny = get_preset("tiny")
    assert samples.num_rows == tiny.num_profiles * len(tiny.tempos_bpm) * 2
    assert all(
        path.startswith(("midi/flam/", "midi/flam-tap/")) for path in samples.column("midi_path").to_pylist()
    )
    assert main(["check", str(out), "--quiet"]) == 0


@pytest.mark.parametrize("seed", ["-1", "1.5", "x"])
def test_bad_seed_writes_nothing_and_a_valid_run_then_succeeds(seed, tmp_path, capsys):
    out = tmp_path / "d"
    argv = ["generate", "--preset", "tiny", "--quiet", "--rudiment", "flam", "--out", str(out)]
    try:
        code = main([*argv, "--seed", seed])
    except SystemExit as exc:  # argparse rejects a non-integer before generate runs
        code = exc.code
    assert code == EXIT_BAD_INPUT
    assert "seed" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert main([*argv, "--seed", "3"]) == 0
    assert json.loads((out / "metadata.json").read_text())["seed"] == 3


def test_library_rejects_a_bad_seed_before_writing(tmp_path):
    from sousa_rudiments.dataset.generate import GenerateConfig, generate

    out = tmp_path / "d"
    for seed in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            generate(GenerateConfig(output_dir=out, preset=get_preset("tiny"), seed=seed, progress=False))  # type: ignore[arg-type]
        assert not out.exists() or not any(out.iterdir())


def test_check_detects_a_valid_flac_copied_over_another(tiny_audio, tmp_path, capsys):
    broken = tmp_path / "swapped"
    shutil.copytree(tiny_audio, broken)
    first, second = sorted((broken / "audio").rglob("*.flac"))[:2]
    shutil.copyfile(first, second)  # still decodes, but is not the file the marker recorded
    assert main(["check", str(broken), "--quiet"]) == EXIT_PROBLEMS
    assert "sha256" in capsys.readouterr().out
