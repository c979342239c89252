"""Model inputs from a performance's files, one function per input kind, so the benchmark, the DataModule
and the CLI turn files into tensors the same way.

``tokens``: REMI ids of the performance MIDI (S1); ``continuous``: 50 Hz frame features of the MIDI (S3);
``notes``: one row of exact-onset features per played note (S3 encoder on notes, :mod:`piano_eval.symbolic.notes`);
``waveform``: the audio at the audio models' 24 kHz (A1–A3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from shared_audio_core.audio import load_audio
from shared_audio_core.tokenize import PianoTokenizer, PianoTokenizerConfig

AUDIO_SAMPLE_RATE = 24_000
INPUT_KINDS: tuple[str, ...] = ("tokens", "continuous", "notes", "waveform")
MAX_TOKENS = 2048


def benchmark_tokenizer() -> PianoTokenizer:
    """REMI with 16 positions per beat: at the benchmark files' 120 qpm a 31 ms grid, fine enough for timing
    degradations (the default 8 positions, 62 ms, would quantise most of the jitter away)."""
    return PianoTokenizer(PianoTokenizerConfig(beat_res=((0, 4, 16), (4, 12, 8)), use_tempos=False))


def load_tokens(
    paths: Sequence[Path], tokenizer: PianoTokenizer | None = None, max_len: int = MAX_TOKENS
) -> list[torch.Tensor]:
    from piano_eval.data.validation import check_midi
    from piano_eval.symbolic.remi_transformer import tokenize_midi_files

    for path in paths:  # an empty or unreadable MIDI is named here, not deep in the tokenizer
        check_midi(path)
    return tokenize_midi_files(paths, tokenizer or benchmark_tokenizer(), max_len=max_len)


def load_continuous(paths: Sequence[Path]) -> list[torch.Tensor]:
    from piano_eval.data.validation import check_midi
    from piano_eval.symbolic.continuous import features_from_midi

    for path in paths:  # an empty or unreadable MIDI is named here, not as a zero-length tensor later
        check_midi(path)
    return [features_from_midi(p) for p in paths]


def load_notes(paths: Sequence[Path]) -> list[torch.Tensor]:
    from piano_eval.symbolic.notes import note_features

    return [note_features(p) for p in paths]


def load_waveforms(paths: Sequence[Path], sample_rate: int = AUDIO_SAMPLE_RATE) -> list[dict[str, Any]]:
    return [
        {"waveform": torch.from_numpy(load_audio(p, sample_rate)), "sample_rate": sample_rate} for p in paths
    ]


def input_loader(kind: str) -> Callable[[Sequence[Path]], list[Any]]:
    loaders = {
        "tokens": load_tokens,
        "continuous": load_continuous,
        "notes": load_notes,
        "waveform": load_waveforms,
    }
    if kind not in loaders:
        raise ValueError(f"unknown input kind {kind!r}; choose from {list(loaders)}")
    return loaders[kind]


def reads(kind: str) -> str:
    """Which file an input kind is made from: ``"midi"`` or ``"audio"``."""
    input_loader(kind)
    return "audio" if kind == "waveform" else "midi"


def part_collate(kind: str, tokenizer: PianoTokenizer | None = None) -> Callable[[Sequence[Any]], Any]:
    """The collate of one side of a pair for an input kind."""
    if kind == "tokens":
        from piano_eval.symbolic.remi_transformer import collate_token_parts

        pad = (tokenizer or benchmark_tokenizer()).pad_id
        return lambda seqs: collate_token_parts(seqs, pad)
    if kind in ("continuous", "notes"):
        from piano_eval.symbolic.continuous import collate_continuous_features

        return collate_continuous_features
    if kind == "waveform":
        from piano_eval.audio.models import collate_waveform_parts

        return collate_waveform_parts
    raise ValueError(f"unknown input kind {kind!r}; choose from {list(INPUT_KINDS)}")
