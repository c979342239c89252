"""A saved model folder that can be loaded without knowing how it was built.

``save_components`` writes the Hub components (``encoder/``, ``scorer/``, …) but not which LightningModule
they belong to, its constructor arguments, which input kind it reads (:mod:`piano_eval.data.inputs`) or the
names of the dimensions it scores; some modules (S3, the audio models) list only ``scorer/`` as a component.
:func:`save_model_folder` adds ``piano_eval_model.json`` (class path, init arguments, input kind, dimensions)
and ``module.safetensors`` (the whole module's weights), so :func:`load_model_folder` rebuilds it exactly.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError
from safetensors.torch import load_model as load_weights_into
from safetensors.torch import save_model as save_weights
from shared_audio_core.files import atomic_output, atomic_write_text, verify_manifest
from shared_audio_core.hub import ModelSourceError, resolve_model_dir

from piano_eval.data.inputs import reads
from piano_eval.dimensions import dimension_names
from piano_eval.training import PerformanceModule

if TYPE_CHECKING:
    from piano_eval.scoring.ensemble import PerformanceEnsemble

SIDECAR = "piano_eval_model.json"
WEIGHTS = "module.safetensors"
FORMAT_VERSION = 1


class ModelFolderError(ValueError):
    """A model folder is missing, incomplete or was written by something else; the message names it."""


@dataclass(frozen=True)
class SavedModel:
    """A loaded model (eval mode) with what it needs to be fed and how to name its outputs."""

    model: PerformanceModule | PerformanceEnsemble
    input_kind: str
    dimensions: tuple[str, ...]
    directory: Path

    @property
    def name(self) -> str:
        return self.directory.name


def _jsonable(value: Any, where: str) -> Any:
    """Constructor arguments as JSON: config dataclasses become dicts (every module's ``coerce_config``
    accepts them back), tuples lists; anything else (a module, a tensor) cannot be recorded."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), where)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ModelFolderError(
        f"init argument {where} is a {type(value).__name__}; only JSON-able values and config dataclasses "
        "can be recorded in a model folder"
    )


def save_model_folder(
    model: PerformanceModule | PerformanceEnsemble,
    directory: str | Path,
    input_kind: str,
    dimensions: Sequence[str] | None = None,
) -> Path:
    """``model.save_components(directory)`` plus the sidecar and the full weights; returns ``directory``.

    ``input_kind`` is one of :data:`piano_eval.data.inputs.INPUT_KINDS`; ``dimensions`` name the model's
    outputs (default: :func:`piano_eval.dimensions.dimension_names`).
    """
    reads(input_kind)  # unknown kind -> ValueError listing the known ones
    dims = tuple(dimensions) if dimensions is not None else dimension_names(model.num_dimensions)
    if len(dims) != model.num_dimensions:
        raise ValueError(f"{len(dims)} dimension names for a model with {model.num_dimensions} outputs")
    cls = type(model)
    sidecar = {
        "format": FORMAT_VERSION,
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "init_args": _jsonable(dict(model.hparams), "init_args"),
        "input_kind": input_kind,
        "dimensions": list(dims),
    }
    directory = Path(directory)
    model.save_components(directory)
    with atomic_output(directory / WEIGHTS) as tmp:
        save_weights(model, str(tmp))  # handles tied weights, unlike save_file(state_dict)
    atomic_write_text(directory / SIDECAR, json.dumps(sidecar, indent=2) + "\n")  # last: marks it complete
    return directory


def read_sidecar(directory: str | Path) -> dict[str, Any]:
    """The sidecar's contents, checked for the keys :func:`load_model_folder` needs."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFolderError(f"model folder not found: {directory}")
    path = directory / SIDECAR
    if not path.is_file():
        found = sorted(p.name for p in directory.iterdir())
        raise ModelFolderError(
            f"{directory}: no {SIDECAR} (has {found}); save the model with "
            "piano_eval.scoring.save_model_folder(model, folder, input_kind) so it can be reloaded"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{path}: not valid JSON ({exc})") from exc
    missing = [k for k in ("format", "class_path", "init_args", "input_kind", "dimensions") if k not in data]
    if missing:
        raise ModelFolderError(f"{path}: missing {missing}")
    if data["format"] != FORMAT_VERSION:
        raise ModelFolderError(f"{path}: format {data['format']}, this piano-eval reads {FORMAT_VERSION}")
    return data


def import_module_class(class_path: str, source: Path | str) -> type:
    """The model class ``class_path`` names: a :class:`PerformanceModule` or a :class:`PerformanceEnsemble`."""
    from piano_eval.scoring.ensemble import PerformanceEnsemble

    module_name, _, class_name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ModelFolderError(f"{source}: cannot import {class_path!r} ({exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, PerformanceModule | PerformanceEnsemble)):
        raise ModelFolderError(f"{source}: {class_path} is not a piano_eval PerformanceModule")
    return cls


def load_model_folder(directory: str | Path) -> SavedModel:
    """Rebuild the module recorded by :func:`save_model_folder`, load its weights, return it in eval mode."""
    directory = Path(directory)
    data = read_sidecar(directory)
    source = directory / SIDECAR
    cls = import_module_class(data["class_path"], source)
    try:
        reads(data["input_kind"])
    except ValueError as exc:
        raise ModelFolderError(f"{source}: {exc}") from exc
    try:
        model = cls(**data["init_args"])
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f"{source}: cannot rebuild {cls.__name__} from init_args ({exc})") from exc
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ModelFolderError(f"{directory}: no {WEIGHTS} (the folder was not fully written)")
    try:
        load_weights_into(model, str(weights), strict=True, device="cpu")
    except (RuntimeError, OSError, ValueError, SafetensorError) as exc:  # shape/key mismatch, corrupt
        raise ModelFolderError(f"{weights}: weights do not fit {cls.__name__} ({exc})") from exc
    dims = tuple(data["dimensions"])
    if len(dims) != model.num_dimensions:
        raise ModelFolderError(
            f"{source}: {len(dims)} dimension names, the model scores {model.num_dimensions}"
        )
    return SavedModel(model.eval(), data["input_kind"], dims, directory)


def default_model_dir() -> Path:
    """The model folder shipped inside the package (``scripts/ship_default_model.py`` writes it)."""
    return Path(__file__).resolve().parent / "default_model"


def load_model(source: str | Path | None = None) -> SavedModel:
    """A model folder, a Hugging Face Hub repo id holding one, or (``None``) the default model shipped in the
    wheel: the N-notes model of the FULL synthetic benchmark (its model card: ``default_model/README.md``)."""
    if source is None:
        directory = default_model_dir()
        try:
            verify_manifest(directory)  # package data: a damaged copy must fail, not score differently
        except ValueError as exc:
            raise ModelFolderError(f"{exc}; reinstall piano-eval") from exc
        return load_model_folder(directory)
    try:
        directory = resolve_model_dir(source, hint="Leave --model out to use the shipped default model.")
    except ModelSourceError as exc:
        raise ModelFolderError(str(exc)) from exc
    return load_model_folder(directory)
