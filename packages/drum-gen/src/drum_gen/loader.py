"""Load a trained drum-gen checkpoint (local directory or Hugging Face Hub repo) with caching.

A checkpoint directory holds everything generation needs, written by :func:`save_checkpoint`:

- ``config.json`` + ``model.safetensors`` (+ ``README.md`` model card): the transformer (Hub mixin)
- ``tokenizer/``: the :class:`~drum_gen.tokenizer.DrumPatternTokenizer`
- ``drum_gen.json``: metadata (format version, styles, training config and results)
- ``style_classifier.json`` (optional): the :class:`~drum_gen.classifier.StyleClassifier` used by
  ``evaluate``; read only when first asked for, so a damaged one never stops generation
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from shared_audio_core.files import atomic_write_text
from shared_audio_core.hub import ModelSourceError, resolve_model_dir

from drum_gen.model import DrumPatternTransformer
from drum_gen.shipped import default_model_dir
from drum_gen.tokenizer import DrumPatternTokenizer

if TYPE_CHECKING:
    from drum_gen.classifier import StyleClassifier

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_FILE = "drum_gen.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
CLASSIFIER_FILE = "style_classifier.json"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)

HOW_TO_GET_A_MODEL = (
    "Leave out --model to use the default model shipped with drum-gen, train one on the CPU (about "
    "7 minutes on a quiet 2-core machine, at most 28) with `drum-gen train --out runs/cpu-small`, "
    "or pass `--model <checkpoint directory or Hugging Face repo id>`."
)


class ModelLoadError(RuntimeError):
    """A checkpoint cannot be loaded; the message names the missing file or the bad metadata."""


@dataclass
class LoadedDrumModel:
    """Everything needed to generate: model (in eval mode, on ``device``), tokenizer and metadata.

    ``device`` becomes ``"cpu"`` if a CUDA out-of-memory error forced the model there (at load or
    while sampling); ``warnings`` then says so.
    """

    model: DrumPatternTransformer
    tokenizer: DrumPatternTokenizer
    metadata: dict[str, Any]
    device: str
    source: str
    classifier_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    _classifier: StyleClassifier | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def classifier(self) -> StyleClassifier | None:
        """The checkpoint's style classifier (None if it has none), read on first use.

        Lazy because only ``evaluate`` needs it: a damaged file must not stop generation.

        Raises:
            ModelLoadError: the file exists but cannot be read; the message names it.
        """
        if self._classifier is None and self.classifier_path is not None:
            from drum_gen.classifier import StyleClassifier

            try:
                self._classifier = StyleClassifier.load(self.classifier_path)
            except Exception as err:
                raise ModelLoadError(
                    f"cannot load the style classifier {self.classifier_path}: {err}. It is needed for "
                    "evaluation only; retrain or replace the file (`drum-gen generate` works without it)"
                ) from err
        return self._classifier


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is a CUDA out-of-memory error (older code paths raise a plain RuntimeError)."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    )


def fall_back_to_cpu(model: DrumPatternTransformer, warnings: list[str], message: str) -> str:
    """Move ``model`` to the CPU after a CUDA out-of-memory error, log and record ``message``; returns ``"cpu"``."""
    logger.warning(message)
    warnings.append(message)
    model.to("cpu")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return "cpu"


def resolve_device(device: str | None = None) -> str:
    """``device`` as given, or ``"cuda"`` when a GPU is usable and ``"cpu"`` otherwise.

    An explicit device is checked, never silently replaced: a malformed name, or a CUDA device on a
    machine without a usable GPU (or with fewer GPUs), raises :class:`ModelLoadError`.
    """
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ModelLoadError(f"invalid device {device!r}: use cpu, cuda or cuda:N (N = GPU index)") from err
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"device {device!r} requested but CUDA is not available on this machine; "
                "use --device cpu, or leave --device out to pick automatically"
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ModelLoadError(f"device {device!r} requested but only {count} CUDA device(s) are visible")
    return device


def save_checkpoint(
    directory: str | Path,
    model: DrumPatternTransformer,
    tokenizer: DrumPatternTokenizer,
    metadata: dict[str, Any] | None = None,
    classifier: StyleClassifier | None = None,
) -> Path:
    """Write a complete checkpoint directory that :func:`load_model` reads back.

    ``drum_gen.json`` is the commit marker: an existing one is removed first and the new one is
    written last, atomically, so an interrupted save leaves a directory that :func:`load_model`
    refuses (naming the missing ``drum_gen.json``) instead of new weights with stale metadata.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / METADATA_FILE).unlink(missing_ok=True)
    model.save_pretrained(directory)
    tokenizer.save(directory / TOKENIZER_DIR)
    if classifier is not None:
        classifier.save(directory / CLASSIFIER_FILE)
    full_metadata = {"format_version": FORMAT_VERSION, "styles": tokenizer.styles, **(metadata or {})}
    atomic_write_text(directory / METADATA_FILE, json.dumps(full_metadata, indent=2, sort_keys=True))
    return directory


def resolve_checkpoint_dir(path_or_repo: str | Path) -> Path:
    """A local checkpoint directory for ``path_or_repo`` (downloading a Hub repo id when needed)."""
    path = Path(path_or_repo).expanduser()
    if path.is_file():
        raise ModelLoadError(
            f"{path} is a file; expected a checkpoint directory containing {', '.join(REQUIRED_FILES)}"
        )
    try:
        return resolve_model_dir(path_or_repo, hint=HOW_TO_GET_A_MODEL).resolve()
    except ModelSourceError as err:
        raise ModelLoadError(str(err)) from err


def _read_metadata(directory: Path) -> dict[str, Any]:
    for name in REQUIRED_FILES:
        if not (directory / name).is_file():
            raise ModelLoadError(f"checkpoint {directory} is missing {name}. {HOW_TO_GET_A_MODEL}")
    if not (directory / TOKENIZER_DIR).is_dir():
        raise ModelLoadError(f"checkpoint {directory} is missing the {TOKENIZER_DIR}/ directory")
    metadata_path = directory / METADATA_FILE
    try:
        metadata = json.loads(metadata_path.read_text())
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"bad metadata in {metadata_path}: invalid JSON ({err})") from err
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"bad metadata in {metadata_path}: expected a JSON object")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelLoadError(
            f"bad metadata in {metadata_path}: format_version {version!r}, this drum-gen reads {FORMAT_VERSION}"
        )
    config_path = directory / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"bad model config in {config_path}: invalid JSON ({err})") from err
    if not isinstance(config, dict) or "vocab_size" not in config:
        raise ModelLoadError(f"bad model config in {config_path}: expected a JSON object with 'vocab_size'")
    return metadata


def _move_to_device(model: DrumPatternTransformer, device: str, warnings: list[str]) -> str:
    """Move ``model`` to ``device``; on CUDA out-of-memory fall back to the CPU and say so."""
    try:
        model.to(device)
        return device
    except torch.OutOfMemoryError as err:
        if not device.startswith("cuda"):
            raise
        return fall_back_to_cpu(
            model,
            warnings,
            f"CUDA out of memory while loading the model on {device}; retrying on the CPU ({err})",
        )


@functools.lru_cache(maxsize=4)
def _load_cached(directory: str, device: str) -> LoadedDrumModel:
    checkpoint = Path(directory)
    metadata = _read_metadata(checkpoint)
    try:
        model = DrumPatternTransformer.from_pretrained(checkpoint)
    except Exception as err:
        raise ModelLoadError(f"cannot load model weights from {checkpoint / WEIGHTS_FILE}: {err}") from err
    try:
        tokenizer = DrumPatternTokenizer.load(checkpoint / TOKENIZER_DIR)
    except Exception as err:
        raise ModelLoadError(f"cannot load the tokenizer from {checkpoint / TOKENIZER_DIR}: {err}") from err
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ModelLoadError(
            f"bad metadata in {checkpoint}: tokenizer vocabulary ({tokenizer.vocab_size}) does not match "
            f"the model's vocab_size ({model.config.vocab_size})"
        )
    classifier_path = checkpoint / CLASSIFIER_FILE
    warnings: list[str] = []
    actual_device = _move_to_device(model, device, warnings)
    model.eval()
    logger.info(
        "loaded drum-gen model from %s on %s (%d parameters)", checkpoint, actual_device, model.num_parameters
    )
    return LoadedDrumModel(
        model=model,
        tokenizer=tokenizer,
        metadata=metadata,
        device=actual_device,
        source=str(checkpoint),
        classifier_path=classifier_path if classifier_path.is_file() else None,
        warnings=warnings,
    )


def load_model(path_or_repo: str | Path | None = None, device: str | None = None) -> LoadedDrumModel:
    """Load a checkpoint directory or Hub repo id; repeated calls with the same (path, device) are cached.

    ``path_or_repo=None`` loads the default model shipped inside the package (``shipped``).

    ``device=None`` picks CUDA when available, else the CPU. If the model does not fit on the GPU the
    load is retried on the CPU (``LoadedDrumModel.device`` and ``.warnings`` say so).

    Raises:
        ModelLoadError: the directory or a required file is missing, or the metadata is malformed.
    """
    if path_or_repo is None:
        directory = default_model_dir()
        if not (directory / METADATA_FILE).is_file():
            raise ModelLoadError(f"the default model is not installed in {directory}. {HOW_TO_GET_A_MODEL}")
    else:
        directory = resolve_checkpoint_dir(path_or_repo)
    return _load_cached(str(directory), resolve_device(device))


def clear_model_cache() -> None:
    """Forget cached models (e.g. after retraining into the same directory)."""
    _load_cached.cache_clear()
