"""Publish a model directory to the Hub: stage it with a generated model card, check it loads, upload.

The staged folder is a copy of the model directory whose ``README.md`` is the generated card, and
exactly what is uploaded (no marker files: a ``MANIFEST.json`` -- SHA-256 of every file, as the shipped
default models carry -- is rewritten and must match the uploaded folder). A folder staged before is
recognised by the first line of its card (:data:`~music_ml_publish.model_card.CARD_MARKER`). Before anything is uploaded the staged folder is loaded with its own library, the way the
card's snippet loads it from the Hub.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from music_ml_publish.errors import PublishError, VerificationError
from music_ml_publish.hub_auth import require_hub_login, validate_repo_id
from music_ml_publish.model_card import (
    CARD_MARKER,
    DRUM_GEN,
    SOUSA,
    EvaluationReport,
    ModelKind,
    build_model_card,
    detect_kind,
    read_json,
    read_report,
)

__all__ = [
    "ModelPublishConfig",
    "ModelPublishResult",
    "check_loads",
    "model_metadata",
    "publish_model",
    "stage_model",
]

_MANIFEST = "MANIFEST.json"


@dataclass(frozen=True)
class ModelPublishConfig:
    """What ``publish model`` does. ``dataset_id`` None: the kind's default (SOUSA: zkeown/sousa)."""

    model_dir: Path
    repo_id: str
    reports: tuple[str, ...]
    staging_dir: Path
    dry_run: bool = False
    private: bool = False
    dataset_id: str | None = None


@dataclass
class ModelPublishResult:
    """What was staged (and, online, uploaded); ``files`` are (path, bytes) in the staged folder."""

    kind: ModelKind
    repo_id: str
    staging_dir: Path
    files: list[tuple[str, int]]
    reports: list[EvaluationReport]
    loaded: str
    user: str | None = None
    commit_url: str | None = None
    missing_on_hub: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"


def model_metadata(kind: ModelKind, model_dir: Path) -> dict[str, Any]:
    """The library's own description of the model (``pipeline.json`` / ``drum_gen.json``)."""
    name = "pipeline.json" if kind is SOUSA else "drum_gen.json"
    return read_json(model_dir / name, f"{kind.library} model metadata")


def _inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def _staged_before(directory: Path) -> bool:
    card = directory / "README.md"
    try:
        return card.is_file() and CARD_MARKER in card.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def stage_model(model_dir: Path, staging_dir: Path, card: Any) -> list[tuple[str, int]]:
    """Copy ``model_dir`` into ``staging_dir`` with ``card`` as README.md; returns (path, bytes) per file."""
    if _inside(staging_dir, model_dir) or _inside(model_dir, staging_dir):
        raise PublishError(
            f"the staging folder {staging_dir} must be outside the model directory {model_dir}"
        )
    if staging_dir.exists():
        if not staging_dir.is_dir():
            raise PublishError(f"{staging_dir} exists and is not a directory")
        if any(staging_dir.iterdir()) and not _staged_before(staging_dir):
            raise PublishError(
                f"{staging_dir} is not empty and was not staged by publish; choose another --staging"
            )
        shutil.rmtree(staging_dir)
    shutil.copytree(model_dir, staging_dir, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    card.save(staging_dir / "README.md")
    manifest = staging_dir / _MANIFEST
    if manifest.is_file():
        from shared_audio_core.files import file_hashes

        data = json.loads(manifest.read_text(encoding="utf-8"))
        data["sha256"] = file_hashes(staging_dir)
        manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return [
        (p.relative_to(staging_dir).as_posix(), p.stat().st_size)
        for p in sorted(staging_dir.rglob("*"))
        if p.is_file()
    ]


def check_loads(kind: ModelKind, directory: Path) -> str:
    """Load ``directory`` with its library, as the card's snippet does; a one-line description of what loaded."""
    try:
        import torch
    except ModuleNotFoundError:  # pragma: no cover - both libraries depend on torch
        torch = None
    if torch is not None:
        torch.set_num_threads(1)  # tiny models: loading and a check gain nothing from more threads
    if kind is SOUSA:
        from sousa_rudiments.recognition import PipelineLoadError, RudimentPipeline

        try:
            pipeline = RudimentPipeline.from_pretrained(directory)
        except (PipelineLoadError, ValueError, OSError) as exc:
            raise VerificationError(f"the staged model does not load with sousa-rudiments: {exc}") from exc
        classes = len(pipeline.metadata.get("classes", []))
        return f"RudimentPipeline (mode {pipeline.config.mode}, {classes} rudiments)"
    assert kind is DRUM_GEN
    try:
        from drum_gen.loader import ModelLoadError, load_model
    except ModuleNotFoundError as exc:
        raise PublishError(
            "checking that a drum-gen model loads needs the drum-gen package (`pip install drum-gen`)"
        ) from exc
    try:
        loaded = load_model(directory, device="cpu")
    except (ModelLoadError, ValueError, OSError) as exc:
        raise VerificationError(f"the staged model does not load with drum-gen: {exc}") from exc
    return f"DrumPatternTransformer ({sum(p.numel() for p in loaded.model.parameters()):,} parameters)"


def publish_model(config: ModelPublishConfig, log: Callable[[str], None] = print) -> ModelPublishResult:
    """Check the inputs (and the login, unless ``dry_run``), stage, load-check and upload the model."""
    validate_repo_id(config.repo_id)
    kind = detect_kind(config.model_dir)
    metadata = model_metadata(kind, config.model_dir)
    if not config.reports:
        raise PublishError(
            "give at least one evaluation report with --report (the card's metrics come from it)"
        )
    reports = [read_report(kind, spec) for spec in config.reports]
    dataset_id = config.dataset_id or kind.default_dataset_id
    if dataset_id:
        validate_repo_id(dataset_id)
    identity = None
    if not config.dry_run:
        identity = require_hub_login()
        log(f"logged in to the Hub as {identity.user}")
    card = build_model_card(kind, config.repo_id, metadata, reports, dataset_id=dataset_id)
    files = stage_model(config.model_dir, config.staging_dir, card)
    log(f"staged {kind.name} from {config.model_dir} in {config.staging_dir}")
    loaded = check_loads(kind, config.staging_dir)
    log(f"the staged folder loads: {loaded}")
    result = ModelPublishResult(kind, config.repo_id, config.staging_dir, files, reports, loaded)
    if identity is None:
        return result

    from huggingface_hub import HfApi

    api = HfApi(token=identity.token)
    api.create_repo(config.repo_id, repo_type="model", private=config.private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=config.repo_id,
        folder_path=str(config.staging_dir),
        repo_type="model",
        commit_message=f"Upload {kind.name} with its model card",
    )
    result.user = identity.user
    result.commit_url = str(getattr(commit, "commit_url", "") or "")
    present = set(api.list_repo_files(config.repo_id, repo_type="model"))
    result.missing_on_hub = sorted({f for f, _ in files} - present)
    if result.missing_on_hub:
        raise VerificationError(
            f"{len(result.missing_on_hub)} staged files are not in {config.repo_id} "
            f"({', '.join(result.missing_on_hub[:5])}); rerun the same command"
        )
    return result
