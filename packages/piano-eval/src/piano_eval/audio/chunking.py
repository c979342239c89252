"""Split long waveforms into fixed-length chunks and stitch per-chunk frames back with masks.

Backbones such as MuQ were trained on ~30 s excerpts and attention cost grows quadratically, so
long recordings are cut into ``chunk_seconds`` pieces, encoded independently and concatenated.
Every padded sample / frame is tracked in a boolean mask (True = valid) so that pooling ignores it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch


class ChunkingError(ValueError):
    """Bad chunking input (wrong rank, mismatched mask, non-positive length)."""


@dataclass(frozen=True)
class ChunkingConfig:
    """``chunk_seconds``: chunk length; ``max_chunks_per_forward``: chunks per backbone call (bounds memory)."""

    chunk_seconds: float = 30.0
    max_chunks_per_forward: int = 8

    def __post_init__(self) -> None:
        if self.chunk_seconds <= 0:
            raise ChunkingError(f"chunk_seconds must be > 0, got {self.chunk_seconds}")
        if self.max_chunks_per_forward < 1:
            raise ChunkingError(f"max_chunks_per_forward must be >= 1, got {self.max_chunks_per_forward}")

    def chunk_samples(self, sample_rate: int) -> int:
        return max(1, round(self.chunk_seconds * sample_rate))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkingConfig:
        return cls(**data)


@dataclass
class Chunks:
    """Chunked audio: ``samples``/``mask`` are ``[B * C, L]``; chunk ``b * C + c`` is chunk ``c`` of item ``b``."""

    samples: torch.Tensor
    mask: torch.Tensor
    batch_size: int
    chunks_per_item: int

    @property
    def has_audio(self) -> torch.Tensor:
        """``[B * C]`` True where the chunk holds at least one valid sample (others need no backbone call)."""
        return self.mask.any(dim=-1)


def check_waveform_batch(waveforms: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Validate a ``[B, N]`` batch and return a boolean mask (all True when ``mask`` is None)."""
    if waveforms.ndim != 2:
        raise ChunkingError(f"waveforms must be [batch, samples], got shape {tuple(waveforms.shape)}")
    if waveforms.shape[-1] == 0:
        raise ChunkingError("waveforms have zero samples")
    if mask is None:
        return torch.ones(waveforms.shape, dtype=torch.bool, device=waveforms.device)
    if mask.shape != waveforms.shape:
        raise ChunkingError(f"mask shape {tuple(mask.shape)} != waveform shape {tuple(waveforms.shape)}")
    return mask.to(torch.bool)


def split_into_chunks(waveforms: torch.Tensor, mask: torch.Tensor | None, chunk_samples: int) -> Chunks:
    """Cut ``[B, N]`` audio into ``ceil(N / L)`` chunks of ``L = min(chunk_samples, N)`` samples.

    Padding samples are zeroed so that whatever a caller left in the padding cannot leak into the
    backbone's convolutions or normalisation statistics.
    """
    if chunk_samples < 1:
        raise ChunkingError(f"chunk_samples must be >= 1, got {chunk_samples}")
    mask = check_waveform_batch(waveforms, mask)
    batch, total = waveforms.shape
    length = min(chunk_samples, total)
    count = math.ceil(total / length)
    pad = count * length - total
    samples = torch.where(mask, waveforms, torch.zeros((), dtype=waveforms.dtype, device=waveforms.device))
    if pad:
        samples = torch.nn.functional.pad(samples, (0, pad))
        mask = torch.nn.functional.pad(mask, (0, pad), value=False)
    return Chunks(
        samples=samples.reshape(batch * count, length),
        mask=mask.reshape(batch * count, length),
        batch_size=batch,
        chunks_per_item=count,
    )


def merge_chunk_frames(
    frames: torch.Tensor, frame_mask: torch.Tensor, batch_size: int, chunks_per_item: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate per-chunk ``[B * C, T, D]`` frames into ``[B, T', D]`` with a ``[B, T']`` mask.

    Valid frames form a prefix of every item (full chunks, then one partial chunk), so the result is
    trimmed to the longest valid prefix in the batch; masked frames are zeroed.
    """
    if frames.ndim != 3 or frame_mask.shape != frames.shape[:2]:
        raise ChunkingError(
            f"frames must be [chunks, T, D] with a [chunks, T] mask, got {tuple(frames.shape)} / "
            f"{tuple(frame_mask.shape)}"
        )
    if frames.shape[0] != batch_size * chunks_per_item:
        raise ChunkingError(f"expected {batch_size * chunks_per_item} chunks, got {frames.shape[0]}")
    per_chunk, dim = frames.shape[1], frames.shape[2]
    merged = frames.reshape(batch_size, chunks_per_item * per_chunk, dim)
    merged_mask = frame_mask.to(torch.bool).reshape(batch_size, chunks_per_item * per_chunk)
    # Valid frames of a partial chunk are followed by that chunk's padded frames and then nothing valid,
    # so the last valid index + 1 is each item's length.
    positions = torch.arange(1, merged_mask.shape[1] + 1, device=merged_mask.device)
    lengths = (merged_mask * positions).amax(dim=1)
    keep = max(int(lengths.max().item()), 1)
    merged, merged_mask = merged[:, :keep], merged_mask[:, :keep]
    merged = merged.masked_fill(~merged_mask.unsqueeze(-1), 0.0)
    return merged, merged_mask


def frames_from_samples(sample_lengths: torch.Tensor, num_samples: int, num_frames: int) -> torch.Tensor:
    """Frame mask ``[B, num_frames]`` for backbones without an exact length formula.

    A frame counts as valid when it starts inside the valid samples: ``ceil(len * T / N)`` frames.
    """
    counts = torch.ceil(sample_lengths.to(torch.float64) * num_frames / num_samples).long()
    counts = counts.clamp(min=0, max=num_frames)
    return torch.arange(num_frames, device=sample_lengths.device).unsqueeze(0) < counts.unsqueeze(1)
