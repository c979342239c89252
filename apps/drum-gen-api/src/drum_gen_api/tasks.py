"""The one task function both modes run: request dict in, MIDI bytes and status in the store out.

All generation happens in drum-gen (``load_model`` → ``DrumGenerator.generate`` → ``Pattern.write_midi``,
the calls ``drum-gen generate`` makes); this module only loads the model once per process, keeps the
store's status current and turns failures into messages. It runs inside a Celery prefork child or an
embedded pool process, never in the API's event loop.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drum_gen.cli import inference_threads
from drum_gen.loader import ModelLoadError, load_model

from drum_gen_api.config import ServiceConfig
from drum_gen_api.store import ResultStore

if TYPE_CHECKING:
    from drum_gen.generator import DrumGenerator

logger = logging.getLogger(__name__)

MODEL_FIX = (
    "unset DRUM_GEN_MODEL to use the model shipped with drum-gen, or set it to a checkpoint directory "
    "(`drum-gen train --out runs/cpu-small` writes one) or a Hugging Face repo id, then restart the "
    "service (API and workers)"
)


@dataclass(frozen=True)
class ModelStatus:
    """What a process knows about its model: loaded (with details) or the reason and the fix."""

    ok: bool
    source: str | None = None
    device: str | None = None
    parameters: int | None = None
    styles: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": "ok" if self.ok else "error", "source": self.source}
        if self.ok:
            data |= {"device": self.device, "parameters": self.parameters, "styles": list(self.styles)}
        else:
            data |= {"error": self.error, "fix": MODEL_FIX}
        return data


_lock = threading.Lock()
_generator: DrumGenerator | None = None
_status: ModelStatus | None = None


def load_generator(config: ServiceConfig) -> tuple[DrumGenerator | None, ModelStatus]:
    """This process's generator, loaded on first call with drum-gen's loader (the shipped model by default).

    A failure is remembered, not retried per task: a broken model directory does not heal between
    requests, and the status (with the fix) is what ``/health`` and the failed tasks report.
    """
    global _generator, _status
    with _lock:
        if _status is None:
            from drum_gen.generator import DrumGenerator

            try:
                loaded = load_model(config.model, device=config.device)
                threads = inference_threads(config.threads, loaded.model.num_parameters)
                if threads is not None:
                    import torch

                    torch.set_num_threads(threads)
                _generator = DrumGenerator(loaded)
                _status = ModelStatus(
                    ok=True,
                    source=loaded.source,
                    device=loaded.device,
                    parameters=loaded.model.num_parameters,
                    styles=tuple(loaded.tokenizer.styles),
                )
                logger.info("pid %d loaded model %s on %s", os.getpid(), loaded.source, loaded.device)
            except Exception as err:  # whatever the checkpoint does wrong, the service stays up and says so
                _status = ModelStatus(ok=False, source=config.model or "shipped default", error=str(err))
                logger.error("pid %d cannot load the model: %s", os.getpid(), err)
        return _generator, _status


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_generation(task_id: str, request: dict[str, Any], store: ResultStore, config: ServiceConfig) -> str:
    """Generate the pattern of ``request`` and store its MIDI; returns the final status.

    Idempotent for redelivery (``acks_late``): a task whose record is already completed or failed
    is not run again, and one whose record expired is skipped.
    """
    record = store.get(task_id)
    if record is None:
        logger.warning("task %s has no record (expired or never created); skipped", task_id)
        return "missing"
    if record.finished:
        logger.info("task %s is already %s; redelivery ignored", task_id, record.status)
        return record.status
    record = store.start(task_id, worker_name())
    if record is None:
        return "missing"
    started = time.perf_counter()
    try:
        generator, status = load_generator(config)
        if generator is None:
            raise ModelLoadError(f"{status.error} Fix: {MODEL_FIX}")
        store.update(task_id, progress=30)
        pattern = generator.generate(**_generator_options(request))
        store.update(task_id, progress=80)
        with tempfile.TemporaryDirectory(prefix="drum-gen-api-") as tmp:
            midi = pattern.write_midi(Path(tmp) / "pattern.mid").read_bytes()
        result = {
            "style": generator.resolve_style(request["style"]).name,
            "bars": pattern.num_bars,
            "tempo_bpm": pattern.tempo_bpm,
            "time_signature": list(pattern.time_signature),
            "notes": len(pattern.notes),
            "humanized": pattern.humanized,
            "seed": request.get("seed"),
            "midi_bytes": len(midi),
            "seconds": round(time.perf_counter() - started, 3),
        }
        store.complete(task_id, midi, result)
        logger.info("task %s completed in %.2f s (%d notes)", task_id, result["seconds"], result["notes"])
        return "completed"
    except Exception as err:
        message = describe_failure(err, config)
        logger.warning("task %s failed: %s", task_id, message)
        store.fail(task_id, message)
        return "failed"


def _generator_options(request: dict[str, Any]) -> dict[str, Any]:
    """The request's fields as ``DrumGenerator.generate`` names them (the API adds time_signature only)."""
    names = ("humanize", "temperature", "top_k", "top_p", "seed", "enforce_style_rules")
    options = {name: request[name] for name in names if name in request}
    return {"style": request["style"], "bars": request["bars"], "tempo_bpm": request.get("tempo"), **options}


def describe_failure(err: BaseException, config: ServiceConfig) -> str:
    """A message for the status endpoint: what went wrong and, where there is one, what to do."""
    name = type(err).__name__
    if name == "SoftTimeLimitExceeded":
        return (
            f"generation exceeded the soft time limit of {config.soft_time_limit_s:g} s "
            f"({config.ENV['soft_time_limit_s']}); ask for fewer bars or raise the limit"
        )
    if name == "TimeLimitExceeded":
        return f"generation was killed at the hard time limit of {config.time_limit_s:g} s"
    return f"{name}: {err}"
