"""Input kinds beyond :mod:`piano_eval.data.inputs`, for the benchmark experiments: the ``graph`` kind (S2) and
the fused kinds ``waveform+<symbolic>`` (F1–F3), where one performance is a pair part carrying both streams::

    {"audio_input": {"waveform": [N], "sample_rate": 24000}, "symbolic_input": <the symbolic kind's input>}

which :class:`~piano_eval.fusion.FusedPerformanceModule` feeds to its frozen audio and symbolic encoders
(the same format as :mod:`piano_eval.data.datamodule`'s fused kinds). A fused kind reads both files of a
performance, so its loader takes the performances themselves, not one list of paths.

:func:`load_inputs`, :func:`kind_collate` and :func:`kind_reads` answer for every kind, these and the ones of
:mod:`piano_eval.data.inputs`, so the benchmark runner treats them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from piano_eval.data import inputs
from piano_eval.data.folder import RatedPerformance

AUDIO_KIND = "waveform"
SYMBOLIC_KINDS: tuple[str, ...] = ("tokens", "continuous", "notes", "graph")
FUSED_KINDS: tuple[str, ...] = tuple(f"{AUDIO_KIND}+{kind}" for kind in SYMBOLIC_KINDS)
EXTRA_KINDS: tuple[str, ...] = ("graph", *FUSED_KINDS)
ALL_KINDS: tuple[str, ...] = (*inputs.INPUT_KINDS, *EXTRA_KINDS)


def fused_kind(symbolic_kind: str) -> str:
    """The fused kind of the audio with ``symbolic_kind`` (``"notes"`` → ``"waveform+notes"``)."""
    if symbolic_kind not in SYMBOLIC_KINDS:
        raise ValueError(
            f"no fused kind for {symbolic_kind!r}; the symbolic kinds are {list(SYMBOLIC_KINDS)}"
        )
    return f"{AUDIO_KIND}+{symbolic_kind}"


def symbolic_part(kind: str) -> str:
    """The symbolic kind inside a fused kind (``"waveform+notes"`` → ``"notes"``)."""
    _check(kind)
    if kind not in FUSED_KINDS:
        raise ValueError(f"{kind!r} is not a fused kind; the fused kinds are {list(FUSED_KINDS)}")
    return kind.split("+", 1)[1]


def _check(kind: str) -> None:
    if kind not in ALL_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; choose from {list(ALL_KINDS)}")


def kind_reads(kind: str) -> tuple[str, ...]:
    """The files an input kind is made from: ``("midi",)``, ``("audio",)`` or ``("audio", "midi")``."""
    _check(kind)
    if kind in FUSED_KINDS:
        return ("audio", "midi")
    if kind == "graph":
        return ("midi",)
    return (inputs.reads(kind),)


def reads_audio(kind: str) -> bool:
    """Whether the kind's input changes when the audio does (audio augmentation, robustness)."""
    return "audio" in kind_reads(kind)


def _paths(kind: str, performances: Sequence[RatedPerformance], source: str) -> list[Any]:
    attribute = "audio_path" if source == "audio" else "midi_path"
    paths = [getattr(p, attribute) for p in performances]
    missing = [p.performance_id for p, path in zip(performances, paths, strict=True) if path is None]
    if missing:
        raise ValueError(f"input kind {kind!r} reads {source}, missing for {missing[:5]}")
    return paths


def _load_single(kind: str, performances: Sequence[RatedPerformance]) -> list[Any]:
    paths = _paths(kind, performances, kind_reads(kind)[0])
    if kind == "graph":
        from piano_eval.data.graph_inputs import load_graphs

        return list(load_graphs(paths))
    return inputs.input_loader(kind)(paths)


def load_inputs(kind: str, performances: Sequence[RatedPerformance]) -> list[Any]:
    """The model inputs of ``performances`` for ``kind``, in order (a missing file is named)."""
    _check(kind)
    if kind not in FUSED_KINDS:
        return _load_single(kind, performances)
    audio = _load_single(AUDIO_KIND, performances)
    symbolic = _load_single(symbolic_part(kind), performances)
    return [{"audio_input": a, "symbolic_input": s} for a, s in zip(audio, symbolic, strict=True)]


def with_audio(kind: str, item: Any, audio: Any) -> Any:
    """``item`` with its audio replaced by ``audio`` (a waveform item): an augmented view of a performance."""
    _check(kind)
    if kind == AUDIO_KIND:
        return audio
    if kind in FUSED_KINDS:
        return {**item, "audio_input": audio}
    raise ValueError(f"input kind {kind!r} reads no audio; audio augmentation does not apply to it")


def kind_collate(kind: str) -> Callable[[Sequence[Any]], Any]:
    """The collate of one side of a pair for ``kind``."""
    _check(kind)
    if kind == "graph":
        from piano_eval.data.graph_inputs import collate_graphs

        return collate_graphs
    if kind not in FUSED_KINDS:
        return inputs.part_collate(kind)
    audio = inputs.part_collate(AUDIO_KIND)
    symbolic = kind_collate(symbolic_part(kind))

    def fused(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not parts:
            raise ValueError("empty batch")
        batch = {
            "audio_input": audio([p["audio_input"] for p in parts]),
            "symbolic_input": symbolic([p["symbolic_input"] for p in parts]),
        }
        if "score_input" in parts[0]:  # score conditioning: the score MIDI in the symbolic kind's format
            batch["score_input"] = symbolic([p["score_input"] for p in parts])
        return batch

    return fused


__all__ = [
    "ALL_KINDS",
    "EXTRA_KINDS",
    "FUSED_KINDS",
    "SYMBOLIC_KINDS",
    "fused_kind",
    "kind_collate",
    "kind_reads",
    "load_inputs",
    "reads_audio",
    "symbolic_part",
    "with_audio",
]
