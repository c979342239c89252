"""`publish release`: the lockstep version bump on a copy of the tree, its refusals, and the dry run
that builds every library and smoke-installs each wheel alone in a fresh venv."""

from __future__ import annotations

import difflib
import hashlib
import shutil
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from music_ml_publish.cli import main
from music_ml_publish.errors import PublishError
from music_ml_publish.release import (
    CORE,
    apply_edits,
    parse_version,
    plan_bump,
    pypi_credentials,
    series_range,
    workspace_libraries,
)

WORKSPACE_ROOT = Path(__file__).resolve().parents[3]
LIBRARIES = {"shared-audio-core", "sousa-rudiments", "piano-eval", "drum-gen"}


def _tree_files(root: Path) -> list[Path]:
    files = [root / "pyproject.toml"]
    for kind in ("packages", "apps"):
        for pyproject in sorted((root / kind).glob("*/pyproject.toml")):
            files.append(pyproject)
            files += sorted(pyproject.parent.glob("src/*/__init__.py"))
    return files


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in _tree_files(root)}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The workspace's pyprojects and package __init__ files, copied (what the bump reads and writes)."""
    copy = tmp_path / "tree"
    for path in _tree_files(WORKSPACE_ROOT):
        target = copy / path.relative_to(WORKSPACE_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return copy


def _current_version() -> str:
    return tomllib.loads((WORKSPACE_ROOT / "packages" / CORE / "pyproject.toml").read_text())["project"][
        "version"
    ]


def _next_minor(version: str) -> str:
    v = parse_version(version)
    return f"{v.major}.{v.minor + 1}.0"


def test_the_four_libraries_are_released_and_the_apps_are_not(tree):
    libraries = workspace_libraries(tree)
    assert {lib.name for lib in libraries} == LIBRARIES
    assert libraries[0].name == CORE  # built and uploaded first: its siblings need it
    scripts = {lib.name: lib.scripts for lib in libraries}
    assert scripts["sousa-rudiments"] == ("sousa",) and scripts["piano-eval"] == ("piano-eval",)


def test_bump_moves_all_four_in_lockstep_with_consistent_ranges(tree):
    before = {p: p.read_text() for p in _tree_files(tree)}
    new = _next_minor(_current_version())
    plan = plan_bump(tree, new)
    assert {p: p.read_text() for p in _tree_files(tree)} == before  # planning writes nothing
    apply_edits(tree, plan.edits)

    libraries = workspace_libraries(tree)
    assert {lib.version for lib in libraries} == {new}
    assert {lib.init_version for lib in libraries} == {new}
    v = parse_version(new)
    expected_range = f">={new},<{v.major}.{v.minor + 1}" if v.major == 0 else f">={new},<{v.major + 1}"
    for lib in libraries:
        project = tomllib.loads((tree / lib.pyproject).read_text())["project"]
        core = [d for d in project["dependencies"] if d.startswith(CORE)]
        if lib.name == CORE:
            assert core == []
        else:
            assert core == [f"{CORE}{expected_range}"], lib.name
        # only the version line and the core requirement changed; formatting and comments are kept
        diff = [
            line
            for line in difflib.unified_diff(
                before[tree / lib.pyproject].splitlines(),
                (tree / lib.pyproject).read_text().splitlines(),
                n=0,
                lineterm="",
            )
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        changed = {line[1:].strip() for line in diff}
        assert all(line.startswith(("version =", f'"{CORE}')) for line in changed), diff
        assert len(diff) == (2 if lib.name == CORE else 4), diff
    for app in (tree / "apps").glob("*/pyproject.toml"):  # apps are never released: untouched
        assert app.read_text() == before[app]


def test_series_range():
    assert series_range("0.1.1") == ">=0.1.1,<0.2"
    assert series_range("0.2.0") == ">=0.2.0,<0.3"
    assert series_range("1.0.0") == ">=1.0.0,<2"
    assert series_range("2.3.4rc1") == ">=2.3.4rc1,<3"


@pytest.mark.parametrize(
    "version", ["1.2", "v1.2.3", "1.2.3.4", "01.2.3", "1.2.3-beta", "abc", "", "1.2.3.post1"]
)
def test_malformed_versions_are_refused(tree, version):
    with pytest.raises(PublishError, match="malformed version"):
        plan_bump(tree, version)


def test_a_version_not_greater_than_the_current_one_is_refused(tree):
    current = parse_version(_current_version())
    for version in (str(current), "0.0.1", f"{current.major}.{current.minor}.{current.micro}rc1"):
        with pytest.raises(PublishError, match=rf"not greater than the current version {current}"):
            plan_bump(tree, version)


def test_a_tree_not_in_lockstep_is_refused(tree):
    drum_gen = tree / "packages" / "drum-gen" / "pyproject.toml"
    drum_gen.write_text(
        drum_gen.read_text().replace(f'version = "{_current_version()}"', 'version = "0.1.5"', 1)
    )
    with pytest.raises(PublishError, match=r"not in lockstep \(.*drum-gen 0\.1\.5"):
        plan_bump(tree, "9.0.0")


def test_a_stale_dunder_version_is_refused(tree):
    init = tree / "packages" / "piano-eval" / "src" / "piano_eval" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{_current_version()}"', '"0.0.9"'))
    with pytest.raises(PublishError, match=r"__version__ '0\.0\.9'"):
        plan_bump(tree, "9.0.0")


def test_a_core_range_excluding_the_current_version_is_refused(tree):
    sousa = tree / "packages" / "sousa-rudiments" / "pyproject.toml"
    text = sousa.read_text()
    start = text.index(f'"{CORE}')
    end = text.index('"', start + 1)
    sousa.write_text(text[:start] + f'"{CORE}>=0.0.1,<0.0.5' + text[end:])
    with pytest.raises(PublishError, match="excludes the current version"):
        plan_bump(tree, "9.0.0")


def test_edits_are_refused_when_a_file_changed_after_planning(tree):
    plan = plan_bump(tree, "9.0.0")
    before = _digest(tree)
    sousa = tree / "packages" / "sousa-rudiments" / "pyproject.toml"
    sousa.write_text(sousa.read_text() + "\n# edited meanwhile\n")
    with pytest.raises(PublishError, match="changed since the release was planned"):
        apply_edits(tree, plan.edits)
    after = _digest(tree)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"packages/sousa-rudiments/pyproject.toml"}  # nothing else was written


def test_pypi_credentials():
    assert pypi_credentials({}) is None
    assert pypi_credentials({"UV_PUBLISH_USERNAME": "me"}) is None
    assert pypi_credentials({"UV_PUBLISH_TOKEN": "pypi-x"}) == ("token (UV_PUBLISH_TOKEN)", [])
    oidc = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    assert pypi_credentials(oidc)[1] == ["--trusted-publishing", "always"]


def test_release_without_credentials_stops_before_building(tree, tmp_path, monkeypatch, capsys):
    for name in ("UV_PUBLISH_TOKEN", "UV_PUBLISH_PASSWORD", "ACTIONS_ID_TOKEN_REQUEST_URL"):
        monkeypatch.delenv(name, raising=False)
    before = _digest(tree)
    dist = tmp_path / "dist"
    code = main(["release", "--version", "9.0.0", "--root", str(tree), "--dist", str(dist)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no PyPI credentials" in err and "UV_PUBLISH_TOKEN" in err and "trusted publishing" in err
    assert not dist.exists() and _digest(tree) == before


def test_release_cli_reports_a_bad_version(tree, capsys):
    assert main(["release", "--version", "0.2", "--root", str(tree), "--dry-run"]) == 2
    assert "publish release: error: malformed version '0.2'" in capsys.readouterr().err


@pytest.mark.slow
def test_release_dry_run_builds_and_smoke_tests_every_library(tmp_path, capsys):
    """The CI check of a release: bump in a copy, build, install each wheel alone, run its CLI."""
    before = _digest(WORKSPACE_ROOT)
    lock_before = (WORKSPACE_ROOT / "uv.lock").read_bytes()
    dist = tmp_path / "dist"
    version = "0.1.1" if parse_version("0.1.1") > parse_version(_current_version()) else "99.0.0"
    started = time.monotonic()
    code = main(
        ["release", "--version", version, "--dry-run", "--root", str(WORKSPACE_ROOT), "--dist", str(dist)]
    )
    seconds = time.monotonic() - started
    out = capsys.readouterr().out
    print(f"release dry run took {seconds:.0f} s")  # shown with -s or -rP
    assert code == 0, out
    assert _digest(WORKSPACE_ROOT) == before  # the working tree is not modified
    assert (WORKSPACE_ROOT / "uv.lock").read_bytes() == lock_before
    would_write = next(line for line in out.splitlines() if line.startswith("would write in the tree:"))
    assert "uv.lock" in would_write and "packages/sousa-rudiments/pyproject.toml" in would_write
    wheels = sorted(dist.glob(f"*-{version}-py3-none-any.whl"))
    sdists = sorted(dist.glob(f"*-{version}.tar.gz"))
    assert len(wheels) == 4 and len(sdists) == 4
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            metadata = archive.read(next(n for n in archive.namelist() if n.endswith("METADATA"))).decode()
        assert f"\nVersion: {version}\n" in metadata
        if not wheel.name.startswith("shared_audio_core"):
            core = next(line for line in metadata.splitlines() if line.startswith(f"Requires-Dist: {CORE}"))
            assert series_range(version).split(",")[0] in core.replace(" ", ""), core
    table = out[out.index("library ") :]
    for name in LIBRARIES:
        row = next(line for line in table.splitlines() if line.startswith(name + " "))
        assert f"-> {version}" in row and ": ok" in row and "dry run" in row, row
    assert (
        "sousa --help, sousa presets" in table
        and "drum-gen styles" in table
        and "audio-core presets" in table
    )
    assert "FAILED" not in out
    assert "is unchanged and nothing was uploaded" in out
