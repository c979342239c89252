"""Workspace members as the cross-package tests see them (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

WORKSPACE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Member:
    """One workspace member as declared by its pyproject.toml."""

    path: Path
    pyproject: dict

    @property
    def name(self) -> str:
        return self.pyproject["project"]["name"]

    @property
    def import_name(self) -> str:
        return self.name.replace("-", "_")

    @property
    def is_app(self) -> bool:
        return self.path.parent.name == "apps"


def workspace_members() -> list[Member]:
    members = []
    for kind in ("packages", "apps"):
        for pyproject in sorted((WORKSPACE_ROOT / kind).glob("*/pyproject.toml")):
            members.append(Member(pyproject.parent, tomllib.loads(pyproject.read_text())))
    return members
