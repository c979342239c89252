"""Release the workspace's libraries to PyPI in lockstep (see docs/releasing.md).

Every library (each workspace member without the ``Private :: Do Not Upload`` classifier) carries the
same version, and each sibling dependency is pinned to the release series (``shared-audio-core>=0.2.0,<0.3``):
uv does not write sibling versions into wheels, so that range is what a PyPI user gets.

A release never builds from the working tree directly: the tree is copied to a temporary directory,
the version bump is applied there (and ``uv lock`` run, so ``uv lock --check`` passes), every library is built and smoke-installed alone (with only the
``shared-audio-core`` wheel it needs) into a fresh virtual environment outside the workspace, and its
command-line interface is run. Only when all of that passed, and only without ``--dry-run``, is the same
bump written to the working tree and the built files uploaded with ``uv publish``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from music_ml_publish.errors import PublishError, VerificationError

if TYPE_CHECKING:
    from packaging.version import Version

__all__ = [
    "CORE",
    "SMOKE_CALLS",
    "BumpPlan",
    "FileEdit",
    "Library",
    "LibraryResult",
    "ReleaseConfig",
    "apply_edits",
    "copy_workspace",
    "find_workspace_root",
    "format_summary",
    "parse_version",
    "plan_bump",
    "pypi_credentials",
    "release",
    "series_range",
    "workspace_libraries",
]

CORE = "shared-audio-core"
PRIVATE_CLASSIFIER = "Private :: Do Not Upload"
PYPI_CHECK_URL = "https://pypi.org/simple/"
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:(a|b|rc)(0|[1-9]\d*))?$")
_INIT_VERSION = re.compile(r"""^(__version__\s*=\s*)(["'])([^"']*)\2""", re.MULTILINE)
#: Not copied into the temporary build tree: environments, caches and build outputs.
_COPY_IGNORE = (
    ".venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.egg-info",
    "dist",
    "build",
    "runs",
    "lightning_logs",
)

#: The one real command each library's smoke test runs after ``--help`` (argv; a ``python`` first item
#: runs the venv's interpreter). Each runs in a scratch folder: piano-eval writes a tiny synthetic dataset there
#: (score → performance → SoundFont audio), which exercises torch-free data code and the synthesizer.
SMOKE_CALLS: dict[str, tuple[str, ...]] = {
    "shared-audio-core": ("audio-core", "presets"),
    "sousa-rudiments": ("sousa", "presets"),
    "drum-gen": ("drum-gen", "styles"),
    "piano-eval": (
        "piano-eval",
        "synthesize",
        "--out",
        "synthetic",
        "--pieces",
        "3",
        "--performances",
        "2",
        "--bars",
        "1",
        "--no-progress",
    ),
}


# ------------------------------------------------------------------------------------------ workspace
@dataclass(frozen=True)
class Library:
    """One releasable workspace member as its files declare it."""

    name: str
    path: Path  # relative to the workspace root
    import_name: str
    version: str
    scripts: tuple[str, ...]
    init_version: str | None  # ``__version__`` of src/<import_name>/__init__.py, None when it has none

    @property
    def pyproject(self) -> Path:
        return self.path / "pyproject.toml"

    @property
    def init_file(self) -> Path:
        return self.path / "src" / self.import_name / "__init__.py"

    @property
    def dist_name(self) -> str:
        """The file-name form of the distribution name (``shared_audio_core``)."""
        return re.sub(r"[-_.]+", "_", self.name).lower()


def find_workspace_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd, then this package) with a uv workspace."""
    candidates = [Path.cwd() if start is None else start]
    if start is None:
        candidates.append(Path(__file__).resolve())
    for begin in candidates:
        for directory in [begin, *begin.resolve().parents]:
            pyproject = directory / "pyproject.toml"
            if pyproject.is_file():
                try:
                    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
                except (OSError, tomllib.TOMLDecodeError):
                    continue
                if "workspace" in data.get("tool", {}).get("uv", {}):
                    return directory
    raise PublishError(
        f"no uv workspace (pyproject.toml with [tool.uv.workspace]) at or above {candidates[0]}"
    )


def _member_dirs(root: Path) -> list[Path]:
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    workspace = data["tool"]["uv"]["workspace"]
    excluded = {p.resolve() for pattern in workspace.get("exclude", []) for p in root.glob(pattern)}
    dirs = {
        p
        for pattern in workspace.get("members", [])
        for p in root.glob(pattern)
        if (p / "pyproject.toml").is_file()
    }
    return sorted(p for p in dirs if p.resolve() not in excluded)


def workspace_libraries(root: Path) -> list[Library]:
    """Releasable members, the core first (its siblings depend on it), then by name."""
    libraries = []
    for directory in _member_dirs(root):
        try:
            data = tomllib.loads((directory / "pyproject.toml").read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise PublishError(f"{directory / 'pyproject.toml'}: invalid TOML ({exc})") from exc
        project = data.get("project", {})
        if PRIVATE_CLASSIFIER in project.get("classifiers", []):
            continue
        name = project["name"]
        module = data.get("tool", {}).get("uv", {}).get("build-backend", {}).get("module-name")
        import_name = module or name.replace("-", "_")
        init = directory / "src" / import_name / "__init__.py"
        match = _INIT_VERSION.search(init.read_text(encoding="utf-8")) if init.is_file() else None
        libraries.append(
            Library(
                name=name,
                path=directory.relative_to(root),
                import_name=import_name,
                version=str(project.get("version", "")),
                scripts=tuple(project.get("scripts", {})),
                init_version=match.group(3) if match else None,
            )
        )
    if not libraries:
        raise PublishError(f"{root}: no releasable libraries among the workspace members")
    return sorted(libraries, key=lambda lib: (lib.name != CORE, lib.name))


# ------------------------------------------------------------------------------------------ bump
def parse_version(text: str) -> Version:
    """``text`` as a release version ``X.Y.Z`` (optionally ``aN``/``bN``/``rcN``); :class:`PublishError` otherwise."""
    from packaging.version import Version

    if not _VERSION.match(text):
        raise PublishError(
            f"malformed version {text!r}: expected X.Y.Z with numbers and no leading zeros, optionally "
            "followed by a pre-release aN, bN or rcN (e.g. 0.2.0, 1.0.0rc1)"
        )
    return Version(text)


def series_range(version: str) -> str:
    """The sibling range of a release: ``>=0.2.0,<0.3`` (0.x: the minor series), ``>=1.2.0,<2`` (1.x and later)."""
    v = parse_version(version)
    upper = f"0.{v.minor + 1}" if v.major == 0 else f"{v.major + 1}"
    return f">={v},<{upper}"


@dataclass(frozen=True)
class FileEdit:
    """A whole-file rewrite, relative to the workspace root; ``before`` guards against concurrent edits."""

    path: Path
    before: str
    after: str


@dataclass(frozen=True)
class BumpPlan:
    """Everything ``--version`` changes, computed from the tree without writing it."""

    current: str
    new: str
    libraries: tuple[Library, ...]
    edits: tuple[FileEdit, ...]
    sibling_range: str


def _sibling_requirements(project: Mapping, names: set[str]) -> list[tuple[str, str]]:
    """(list key, requirement) of every dependency on a sibling library."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found = []
    lists = [("dependencies", project.get("dependencies", []))]
    lists += [(f"optional-dependencies.{k}", v) for k, v in project.get("optional-dependencies", {}).items()]
    for key, requirements in lists:
        for item in requirements:
            if canonicalize_name(Requirement(str(item)).name) in names:
                found.append((key, str(item)))
    return found


def plan_bump(root: Path, new_version: str) -> BumpPlan:
    """The edits that move every library to ``new_version`` in lockstep.

    Refuses (:class:`PublishError`) a malformed version, one not greater than the current one, and a
    tree that is not in lockstep: versions that differ between libraries or from their ``__version__``,
    or a sibling range that does not contain the current version.
    """
    import tomlkit
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    new = parse_version(new_version)
    libraries = workspace_libraries(root)
    versions = {lib.name: lib.version for lib in libraries}
    if len(set(versions.values())) != 1:
        listed = ", ".join(f"{name} {version}" for name, version in versions.items())
        raise PublishError(f"the libraries are not in lockstep ({listed}); give them one version first")
    current_text = libraries[0].version
    try:
        current = Version(current_text)
    except InvalidVersion as exc:
        raise PublishError(f"the current version {current_text!r} is not a valid version") from exc
    for lib in libraries:
        if lib.init_version is not None and lib.init_version != lib.version:
            raise PublishError(
                f"not in lockstep: {lib.init_file} has __version__ {lib.init_version!r} but "
                f"{lib.pyproject} says {lib.version!r}"
            )
    if new <= current:
        raise PublishError(f"version {new} is not greater than the current version {current}")

    names = {canonicalize_name(lib.name) for lib in libraries}
    new_range = series_range(new_version)
    edits = []
    for lib in libraries:
        text = (root / lib.pyproject).read_text(encoding="utf-8")
        doc = tomlkit.parse(text)
        project = doc["project"]
        for key, requirement in _sibling_requirements(project, names):
            if not Requirement(requirement).specifier.contains(current, prereleases=True):
                raise PublishError(
                    f"not in lockstep: {lib.pyproject} requires {requirement!r} ({key}), which excludes the "
                    f"current version {current}"
                )
        project["version"] = str(new)
        sections = [project.get("dependencies", [])]
        sections += list(project.get("optional-dependencies", {}).values())
        for requirements in sections:
            for i, item in enumerate(requirements):
                req = Requirement(str(item))
                if canonicalize_name(req.name) in names:
                    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
                    marker = f"; {req.marker}" if req.marker else ""
                    requirements[i] = f"{req.name}{extras}{new_range}{marker}"
        edits.append(FileEdit(lib.pyproject, text, tomlkit.dumps(doc)))
        if lib.init_version is not None:
            init_text = (root / lib.init_file).read_text(encoding="utf-8")
            bumped = _INIT_VERSION.sub(
                lambda m: f"{m.group(1)}{m.group(2)}{new}{m.group(2)}", init_text, count=1
            )
            edits.append(FileEdit(lib.init_file, init_text, bumped))
    return BumpPlan(current_text, str(new), tuple(libraries), tuple(edits), new_range)


def apply_edits(root: Path, edits: Sequence[FileEdit]) -> None:
    """Write ``edits`` under ``root``; refuses if any file changed since the plan was made (nothing written)."""
    for edit in edits:
        if (root / edit.path).read_text(encoding="utf-8") != edit.before:
            raise PublishError(f"{root / edit.path} changed since the release was planned; run it again")
    for edit in edits:
        (root / edit.path).write_text(edit.after, encoding="utf-8")


def copy_workspace(root: Path, destination: Path) -> Path:
    """Copy what ``uv build`` needs (root files and every member, no environments or caches)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        if (root / name).is_file():
            shutil.copy2(root / name, destination / name)
    for license_file in root.glob("LICEN[CS]E*"):
        shutil.copy2(license_file, destination / license_file.name)
    for member in _member_dirs(root):
        rel = member.relative_to(root)
        shutil.copytree(
            member, destination / rel, ignore=shutil.ignore_patterns(*_COPY_IGNORE), symlinks=True
        )
    return destination


# ------------------------------------------------------------------------------------------ run
def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        raise PublishError("uv not found on PATH; install it from https://docs.astral.sh/uv/")
    return uv


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment minus what would tie a subprocess to the workspace's own virtual environment."""
    drop = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra or {})
    return env


def _run(args: Sequence[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(args),
            cwd=cwd,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(args), 124, "", f"{type(exc).__name__}: {exc}")


def _tail(result: subprocess.CompletedProcess[str], lines: int = 6) -> str:
    text = (result.stderr or result.stdout or "").strip().splitlines()
    return " | ".join(text[-lines:]) or f"exit {result.returncode}"


def pypi_credentials(env: Mapping[str, str] | None = None) -> tuple[str, list[str]] | None:
    """How ``uv publish`` will authenticate (a description and its extra flags), or None without credentials."""
    env = os.environ if env is None else env
    if env.get("UV_PUBLISH_TOKEN"):
        return "token (UV_PUBLISH_TOKEN)", []
    if env.get("UV_PUBLISH_USERNAME") and env.get("UV_PUBLISH_PASSWORD"):
        return "username/password (UV_PUBLISH_USERNAME/UV_PUBLISH_PASSWORD)", []
    if env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        return "trusted publishing (GitHub Actions OIDC)", ["--trusted-publishing", "always"]
    return None


@dataclass(frozen=True)
class ReleaseConfig:
    """``publish release``: ``dist_dir`` None means ``ROOT/dist/VERSION``; ``python`` builds the smoke venvs."""

    version: str
    root: Path
    dry_run: bool = False
    dist_dir: Path | None = None
    python: str = sys.executable
    publish_url: str | None = None
    check_url: str | None = None
    keep_temp: bool = False


@dataclass
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class LibraryResult:
    """What happened to one library: its files, the smoke checks and whether it was uploaded."""

    library: Library
    version: str
    sibling_requirement: str | None
    wheel: Path | None = None
    sdist: Path | None = None
    checks: list[Check] = field(default_factory=list)
    published: bool = False

    @property
    def ok(self) -> bool:
        return self.wheel is not None and self.sdist is not None and all(c.ok for c in self.checks)


@dataclass
class ReleaseResult:
    plan: BumpPlan
    dist_dir: Path
    libraries: list[LibraryResult]
    dry_run: bool
    seconds: float
    credentials: str | None = None
    written: list[Path] = field(default_factory=list)  # files the release writes (or would) in the tree

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.libraries)


def _depends_on_core(root: Path, lib: Library) -> bool:
    project = tomllib.loads((root / lib.pyproject).read_text(encoding="utf-8"))["project"]
    return lib.name != CORE and any(
        key == "dependencies" for key, _ in _sibling_requirements(project, {CORE})
    )


def _relock(root: Path, copy: Path) -> list[FileEdit]:
    """``uv lock`` in the bumped copy (CI runs ``uv lock --check``); the lock edit the tree gets, if any."""
    lock = Path("uv.lock")
    if not (root / lock).is_file():
        return []
    ran = _run([_uv(), "lock"], cwd=copy)
    if ran.returncode != 0:
        raise PublishError(
            f"`uv lock` failed in the bumped copy ({_tail(ran)}); nothing was written or built"
        )
    before = (root / lock).read_text(encoding="utf-8")
    after = (copy / lock).read_text(encoding="utf-8")
    return [] if after == before else [FileEdit(lock, before, after)]


def _check(result: LibraryResult, name: str, started: float, ok: bool, detail: str = "") -> bool:
    result.checks.append(Check(name, ok, time.monotonic() - started, detail))
    return ok


def _wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode("utf-8")


def _build(lib: Library, copy: Path, dist: Path, version: str, result: LibraryResult) -> None:
    started = time.monotonic()
    built = _run([_uv(), "build", "--package", lib.name, "--out-dir", str(dist)], cwd=copy)
    wheel = dist / f"{lib.dist_name}-{version}-py3-none-any.whl"
    sdist = dist / f"{lib.dist_name}-{version}.tar.gz"
    ok = built.returncode == 0 and wheel.is_file() and sdist.is_file()
    if not _check(result, "build", started, ok, "" if ok else _tail(built)):
        return
    result.wheel, result.sdist = wheel, sdist
    started = time.monotonic()
    metadata = _wheel_metadata(wheel)
    problems = [] if f"\nVersion: {version}\n" in metadata else [f"wheel METADATA lacks Version: {version}"]
    if result.sibling_requirement:
        core = [line for line in metadata.splitlines() if line.startswith(f"Requires-Dist: {CORE}")]
        want = result.sibling_requirement.split(CORE, 1)[1]
        if not core or want not in core[0].replace(" ", ""):
            problems.append(f"wheel requires {core or 'no ' + CORE}, expected {want}")
    _check(result, "metadata", started, not problems, "; ".join(problems))


def _smoke(lib: Library, core_wheel: Path | None, work: Path, python: str, result: LibraryResult) -> None:
    """Install the wheel alone (plus the core wheel) in a fresh venv outside the workspace and run it."""
    assert result.wheel is not None
    venv = work / "venvs" / lib.name
    started = time.monotonic()
    made = _run([_uv(), "venv", "--python", python, str(venv)], cwd=work)
    wheels = (
        [str(result.wheel)]
        if lib.name == CORE or core_wheel is None
        else [str(core_wheel), str(result.wheel)]
    )
    installed = (
        made
        if made.returncode
        else _run([_uv(), "pip", "install", "--python", str(venv / "bin" / "python"), *wheels], cwd=work)
    )
    if not _check(result, "install", started, installed.returncode == 0, _tail(installed)):
        return
    bin_dir = venv / "bin"
    started = time.monotonic()
    mod = lib.import_name
    probe = (
        f"import importlib.metadata as m, {mod}; print(m.version({lib.name!r})); "
        f"print(getattr({mod}, '__version__', '-')); print({mod}.__file__)"
    )
    ran = _run([str(bin_dir / "python"), "-c", probe], cwd=work)
    lines = ran.stdout.split()
    ok = ran.returncode == 0 and len(lines) == 3 and lines[0] == result.version and str(venv) in lines[2]
    ok = ok and lines[1] in ("-", result.version)
    _check(result, "import", started, ok, "" if ok else (ran.stdout.strip() + " " + _tail(ran)).strip())
    for script in lib.scripts:
        started = time.monotonic()
        ran = _run([str(bin_dir / script), "--help"], cwd=work, timeout=300)
        ok = ran.returncode == 0 and "usage:" in ran.stdout
        _check(result, f"{script} --help", started, ok, "" if ok else _tail(ran))
    call = SMOKE_CALLS.get(lib.name)
    if call:
        started = time.monotonic()
        executable = str(bin_dir / ("python" if call[0] == "python" else call[0]))
        ran = _run([executable, *call[1:]], cwd=work, timeout=300)
        ok = ran.returncode == 0 and bool(ran.stdout.strip())
        label = " ".join(call[:2]) if call[0] != "python" else "python -c import"
        _check(result, label, started, ok, "" if ok else _tail(ran))


def _publish(result: LibraryResult, config: ReleaseConfig, extra: list[str], root: Path) -> None:
    assert result.sdist is not None and result.wheel is not None
    args = [_uv(), "publish", *extra]
    if config.publish_url:
        args += ["--publish-url", config.publish_url]
    check_url = config.check_url or (None if config.publish_url else PYPI_CHECK_URL)
    if check_url:
        args += ["--check-url", check_url]  # a rerun skips the files already uploaded
    ran = _run([*args, str(result.sdist), str(result.wheel)], cwd=root)
    if ran.returncode != 0:
        raise PublishError(
            f"uv publish failed for {result.library.name} ({_tail(ran)}); the built files stay in "
            f"{result.wheel.parent}: rerun `uv publish --check-url {check_url or PYPI_CHECK_URL} "
            f"{result.wheel.parent}/*` once the problem is fixed"
        )
    result.published = True


def release(config: ReleaseConfig, log: Callable[[str], None] = print) -> ReleaseResult:
    """Plan the bump, build and smoke-test in a temporary copy, then (not ``dry_run``) bump the tree and publish."""
    begun = time.monotonic()
    root = config.root
    plan = plan_bump(root, config.version)
    credentials = None
    extra: list[str] = []
    if not config.dry_run:
        found = pypi_credentials()
        if found is None:
            raise PublishError(
                "no PyPI credentials: set UV_PUBLISH_TOKEN to a PyPI API token "
                "(https://pypi.org/manage/account/token/), or run in GitHub Actions with trusted publishing "
                "(`permissions: id-token: write`); --dry-run needs none"
            )
        credentials, extra = found
    _uv()
    dist = (config.dist_dir or root / "dist" / plan.new).resolve()
    dist.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"publish-release-{plan.new}-"))
    results = [
        LibraryResult(lib, plan.new, f"{CORE}{plan.sibling_range}" if _depends_on_core(root, lib) else None)
        for lib in plan.libraries
    ]
    try:
        log(f"bumping {plan.current} -> {plan.new} in a copy of {root} ({work / 'repo'})")
        copy = copy_workspace(root, work / "repo")
        apply_edits(copy, plan.edits)
        log("updating uv.lock in the copy (`uv lock`)")
        edits = [*plan.edits, *_relock(root, copy)]
        for r in results:
            log(f"building {r.library.name} {plan.new}")
            _build(r.library, copy, dist, plan.new, r)
        core_wheel = next((r.wheel for r in results if r.library.name == CORE), None)
        for r in results:
            if r.wheel is None:
                continue
            log(f"smoke-installing {r.library.name} alone in a fresh venv")
            _smoke(r.library, core_wheel, work, config.python, r)
            log(
                "  " + ", ".join(f"{c.name} {'ok' if c.ok else 'FAILED'} {c.seconds:.1f} s" for c in r.checks)
            )
        outcome = ReleaseResult(
            plan, dist, results, config.dry_run, 0.0, credentials, [e.path for e in edits]
        )
        if not outcome.ok or config.dry_run:
            outcome.seconds = time.monotonic() - begun
            return outcome
        log(f"writing version {plan.new} into the working tree ({len(edits)} files, uv.lock included)")
        apply_edits(root, edits)
        for r in results:
            log(f"uploading {r.library.name} {plan.new} ({credentials})")
            _publish(r, config, extra, root)
        outcome.seconds = time.monotonic() - begun
        return outcome
    finally:
        if config.keep_temp:
            log(f"kept the temporary copy and venvs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def format_summary(result: ReleaseResult) -> str:
    """The table ``publish release`` prints: one row per library."""
    headers = (
        "library",
        "version",
        f"{CORE} range",
        "wheel",
        "sdist",
        "smoke test (fresh venv)",
        "published",
    )
    rows = []
    for r in result.libraries:
        smoke = [c for c in r.checks if c.name not in ("build", "metadata")]
        failed = [c.name for c in smoke if not c.ok]
        checks = ", ".join(c.name for c in smoke) + (f": FAILED {', '.join(failed)}" if failed else ": ok")
        rows.append(
            (
                r.library.name,
                f"{result.plan.current} -> {r.version}",
                r.sibling_requirement.split(CORE, 1)[1] if r.sibling_requirement else "-",
                f"{r.wheel.stat().st_size / 1e6:.2f} MB" if r.wheel else "FAILED",
                f"{r.sdist.stat().st_size / 1e6:.2f} MB" if r.sdist else "FAILED",
                checks or "-",
                "yes" if r.published else ("dry run" if result.dry_run else "no"),
            )
        )
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*headers).rstrip(), line.format(*("-" * w for w in widths))]
    out += [line.format(*row).rstrip() for row in rows]
    failures = [(r.library.name, c) for r in result.libraries for c in r.checks if not c.ok]
    out += [f"FAILED {name}: {c.name}: {c.detail}" for name, c in failures]
    verb = "would write" if result.dry_run else "wrote"
    out.append(f"{verb} in the tree: {', '.join(str(p) for p in result.written) or 'nothing'}")
    out.append(f"built files in {result.dist_dir}; {result.seconds:.0f} s")
    return "\n".join(out)


def raise_for_failures(result: ReleaseResult) -> None:
    if not result.ok:
        names = ", ".join(r.library.name for r in result.libraries if not r.ok)
        raise VerificationError(f"the release checks failed for {names}; nothing was written or uploaded")
