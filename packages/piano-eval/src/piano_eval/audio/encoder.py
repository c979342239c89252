"""Backbone + layer selection + 30 s chunking: waveforms in, frame features and a frame mask out.

:class:`AudioEncoder` is the one place audio enters a backbone. Every call states the sample rate of
the audio; a mismatch raises :class:`SampleRateMismatchError` instead of silently producing features
from audio at the wrong speed. :meth:`AudioEncoder.embed_audio` / :meth:`embed_file` resample for you
(``shared_audio_core.audio``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from shared_audio_core.audio import load_audio, resample
from torch import nn

from piano_eval.audio.backbones import Backbone, BackboneConfig, BackboneError, build_backbone
from piano_eval.audio.chunking import ChunkingConfig, ChunkingError, merge_chunk_frames, split_into_chunks
from piano_eval.audio.layers import LayerSelection


class SampleRateMismatchError(BackboneError, ValueError):
    """Audio at a rate other than the backbone's was passed to the encoder."""


@dataclass
class Waveforms:
    """A padded batch of mono audio that carries its sample rate: ``samples``/``mask`` are ``[B, N]``."""

    samples: torch.Tensor
    mask: torch.Tensor
    sample_rate: int

    @classmethod
    def from_arrays(
        cls, arrays: Sequence[np.ndarray], sample_rate: int, *, target_rate: int | None = None
    ) -> Waveforms:
        """Pad 1-D arrays into a batch, resampling each from ``sample_rate`` to ``target_rate`` first."""
        if not arrays:
            raise ValueError("from_arrays needs at least one waveform")
        rate = target_rate or sample_rate
        converted = []
        for index, audio in enumerate(arrays):
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim != 1 or audio.size == 0:
                raise ValueError(f"waveform {index} must be a non-empty 1-D array, got shape {audio.shape}")
            converted.append(resample(audio, sample_rate, rate) if rate != sample_rate else audio)
        longest = max(a.shape[0] for a in converted)
        samples = torch.zeros(len(converted), longest)
        mask = torch.zeros(len(converted), longest, dtype=torch.bool)
        for row, audio in enumerate(converted):
            samples[row, : audio.shape[0]] = torch.from_numpy(audio)
            mask[row, : audio.shape[0]] = True
        return cls(samples, mask, rate)

    def to(self, device: torch.device | str) -> Waveforms:
        return Waveforms(self.samples.to(device), self.mask.to(device), self.sample_rate)


class AudioEncoder(nn.Module):
    """Run a backbone chunk by chunk and combine the selected hidden states into ``[B, T, D]`` features."""

    def __init__(
        self,
        backbone: Backbone,
        layers: LayerSelection | None = None,
        chunking: ChunkingConfig | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.layers = layers or LayerSelection.single(backbone.num_layers)
        self.layers.validate(backbone.num_layers + 1)
        self.chunking = chunking or ChunkingConfig()

    @classmethod
    def from_config(
        cls,
        backbone: BackboneConfig | str,
        layers: LayerSelection | None = None,
        chunking: ChunkingConfig | None = None,
    ) -> AudioEncoder:
        return cls(build_backbone(backbone), layers, chunking)

    @property
    def sample_rate(self) -> int:
        return self.backbone.sample_rate

    @property
    def output_dim(self) -> int:
        return self.layers.output_dim(self.backbone.hidden_size)

    def check_rate(self, sample_rate: int) -> None:
        if int(sample_rate) != self.sample_rate:
            raise SampleRateMismatchError(
                f"backbone {self.backbone.name!r} expects {self.sample_rate} Hz audio, got {sample_rate} Hz; "
                "resample first (Waveforms.from_arrays(..., target_rate=encoder.sample_rate) or "
                "AudioEncoder.embed_audio)"
            )

    def forward(
        self,
        waveforms: Waveforms | torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        sample_rate: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``Waveforms`` (or a ``[B, N]`` tensor plus its ``sample_rate``) into features and a mask."""
        if isinstance(waveforms, Waveforms):
            samples, mask, rate = waveforms.samples, waveforms.mask, waveforms.sample_rate
        else:
            if sample_rate is None:
                raise SampleRateMismatchError("pass sample_rate= with a raw waveform tensor")
            samples, rate = waveforms, sample_rate
        self.check_rate(rate)
        chunks = split_into_chunks(samples, mask, self.chunking.chunk_samples(self.sample_rate))
        active = torch.nonzero(chunks.has_audio).squeeze(1)
        if active.numel() == 0:
            raise ChunkingError("the batch holds no valid audio samples (every mask entry is False)")
        step = self.chunking.max_chunks_per_forward
        pieces: list[torch.Tensor] = []
        piece_masks: list[torch.Tensor] = []
        for start in range(0, active.numel(), step):
            index = active[start : start + step]
            out = self.backbone(chunks.samples[index], chunks.mask[index])
            pieces.append(self.layers.apply(out.hidden_states))
            piece_masks.append(out.frame_mask)
        first = pieces[0]
        frames = first.new_zeros(chunks.samples.shape[0], first.shape[1], first.shape[2])
        frame_mask = torch.zeros(frames.shape[:2], dtype=torch.bool, device=frames.device)
        frames = frames.index_copy(0, active, torch.cat(pieces))
        frame_mask = frame_mask.index_copy(0, active, torch.cat(piece_masks))
        features, mask = merge_chunk_frames(frames, frame_mask, chunks.batch_size, chunks.chunks_per_item)
        empty = torch.nonzero(~mask.any(dim=1)).flatten().tolist()
        if empty:
            raise ChunkingError(
                f"batch items {empty} are too short for backbone {self.backbone.name!r} to produce a frame"
            )
        return features, mask

    @torch.no_grad()
    def embed_audio(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        """Deterministic (eval-mode) features ``[T, D]`` for one mono array at any rate.

        The array is resampled to the backbone's rate; the module's train/eval mode is restored after.
        """
        batch = Waveforms.from_arrays([audio], sample_rate, target_rate=self.sample_rate)
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            features, mask = self(batch.to(device))
        finally:
            self.train(was_training)
        return features[0, mask[0]].cpu()

    def embed_file(self, path: str | Path) -> torch.Tensor:
        """Decode, downmix and resample ``path`` to the backbone rate, then :meth:`embed_audio`."""
        return self.embed_audio(load_audio(path, self.sample_rate), self.sample_rate)
