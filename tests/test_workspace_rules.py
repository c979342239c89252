"""The rules of docs/architecture.md, checked on the source tree.

A model package may import the core and third-party libraries it declares — never a sibling model package,
never an app — and it must not declare dependencies it does not use.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from _workspace import WORKSPACE_ROOT, Member, workspace_members

LIBRARIES = [m for m in workspace_members() if not m.is_app]
CORE = "shared-audio-core"
MODEL_PACKAGES = [m for m in LIBRARIES if m.name != CORE]
# Declared but reached only at run time through another library, never imported by name.
RUNTIME_ONLY = {
    "shared-audio-core": {"fast-mp3-augment"},  # audiomentations' Mp3Compression backend
    "drum-gen": {"safetensors"},  # PyTorchModelHubMixin writes model.safetensors through it
    "sousa-rudiments": {"safetensors"},  # the same, for the recognition models
}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_top_levels(src: Path) -> set[str]:
    names: set[str] = set()
    for file in src.rglob("*.py"):
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _third_party_distributions(member: Member) -> set[str]:
    own = member.import_name
    mapping = packages_distributions()
    # Workspace members are installed editable, which packages_distributions() does not map.
    mapping.update({m.import_name: [m.name] for m in workspace_members()})
    optional = {
        _requirement_name(d)
        for extra in member.pyproject["project"].get("optional-dependencies", {}).values()
        for d in extra
    }
    dists: set[str] = set()
    for name in _imported_top_levels(member.path / "src"):
        if name == own or name in sys.stdlib_module_names or name == "__future__":
            continue
        found = mapping.get(name)
        if not found and name.replace("_", "-") in optional:
            found = [name]  # an optional extra that is not installed in this environment
        assert found, f"{member.name} imports {name!r}, which no installed distribution provides"
        dists.update(d.lower().replace("_", "-") for d in found)
    return dists


def test_all_four_libraries_are_members() -> None:
    assert {m.name for m in LIBRARIES} == {"shared-audio-core", "sousa-rudiments", "piano-eval", "drum-gen"}


@pytest.mark.parametrize("member", LIBRARIES, ids=lambda m: m.name)
def test_src_layout_and_py_typed(member: Member) -> None:
    package_dir = member.path / "src" / member.import_name
    assert (package_dir / "__init__.py").is_file()
    assert (package_dir / "py.typed").is_file()
    assert (member.path / "README.md").is_file()
    assert (member.path / "tests").is_dir()


@pytest.mark.parametrize("member", MODEL_PACKAGES, ids=lambda m: m.name)
def test_model_packages_depend_on_core_by_range_and_workspace_source(member: Member) -> None:
    deps = member.pyproject["project"]["dependencies"]
    core = [d for d in deps if _requirement_name(d) == CORE]
    assert core, f"{member.name} must depend on {CORE}"
    assert ">=" in core[0] and "<" in core[0].split(">=", 1)[1], (
        f"{core[0]!r} needs an explicit version range"
    )
    assert member.pyproject["tool"]["uv"]["sources"][CORE] == {"workspace": True}


@pytest.mark.parametrize("member", MODEL_PACKAGES, ids=lambda m: m.name)
def test_model_packages_never_import_siblings_or_apps(member: Member) -> None:
    imported = _imported_top_levels(member.path / "src")
    forbidden = {m.import_name for m in workspace_members() if m.name not in (CORE, member.name)}
    assert not imported & forbidden, f"{member.name} imports {sorted(imported & forbidden)}"


@pytest.mark.parametrize("member", LIBRARIES, ids=lambda m: m.name)
def test_declared_dependencies_match_imports(member: Member) -> None:
    project = member.pyproject["project"]
    declared = {_requirement_name(d) for d in project["dependencies"]}
    optional = {
        _requirement_name(d) for extra in project.get("optional-dependencies", {}).values() for d in extra
    }
    used = _third_party_distributions(member)
    undeclared = used - declared - optional
    assert not undeclared, f"{member.name} imports undeclared distributions {sorted(undeclared)}"
    unused = declared - used - RUNTIME_ONLY.get(member.name, set())
    assert not unused, f"{member.name} declares dependencies it never imports: {sorted(unused)}"


def test_apps_are_marked_private() -> None:
    for app in (m for m in workspace_members() if m.is_app):
        classifiers = app.pyproject["project"].get("classifiers", [])
        assert "Private :: Do Not Upload" in classifiers, f"{app.name} could be uploaded to PyPI"


def test_root_pins_torch_to_torchaudio_release_and_symusic_below_0_6() -> None:
    root = tomllib.loads((WORKSPACE_ROOT / "pyproject.toml").read_text())
    constraints = root["tool"]["uv"]["constraint-dependencies"]
    assert "torch==2.11.*" in constraints and "torchaudio==2.11.*" in constraints
    assert any(c.startswith("symusic") and "<0.6" in c for c in constraints)
    import torch

    assert torch.__version__.startswith("2.11.")


def test_library_sources_are_under_src() -> None:
    for member in LIBRARIES:
        stray = [p.name for p in member.path.glob("*.py")]
        assert not stray, f"{member.name} has modules outside src/: {stray}"
