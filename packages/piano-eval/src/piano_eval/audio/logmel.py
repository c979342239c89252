"""A small trainable log-mel CNN + Transformer backbone for CPU-only experiments and tests.

It exposes the same :class:`~piano_eval.audio.backbones.Backbone` interface as MuQ/MERT (hidden
states per layer, frame mask, a ``layers`` list whose attention blocks have ``q_proj``/``v_proj``), so
LoRA, staged adaptation and gradual unfreezing run on it unchanged.

Level is kept: the mel channels are layer-normed per frame (spectral shape, independent of gain) and a
separate channel carries the frame's level — its mean square in dBFS mapped with a fixed offset and scale
(``level_reference_db``, ``level_scale_db``; set them from a dataset's statistics if you like), never
normalised per frame or per clip. Without it the front end cannot hear loudness, so dynamics ratings stay
at chance.

Padding invariance by construction: the STFT is uncentred over a waveform right-padded with ``n_fft``
zeros, padded samples are zeroed by :class:`Backbone`, masked frames are zeroed before every
convolution and excluded as attention keys, so a clip gives the same valid frames alone or padded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from transformers.audio_utils import mel_filter_bank

from piano_eval.audio.backbones import Backbone, BackboneOutput


class SelfAttentionBlock(nn.Module):
    """Pre-norm Transformer block with separate q/k/v projections (so LoRA can target q_proj/v_proj)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.attention_norm = nn.LayerNorm(hidden_size)
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)
        self.ff_norm = nn.LayerNorm(hidden_size)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden_size, 4 * hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(4 * hidden_size, hidden_size),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, frames, width = x.shape
        h = self.attention_norm(x)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, frames, self.num_heads, width // self.num_heads).transpose(1, 2)

        # Items without any valid frame attend everywhere (avoids NaN); their frames stay masked.
        key_mask = mask | ~mask.any(dim=1, keepdim=True)
        attended = F.scaled_dot_product_attention(
            heads(self.q_proj(h)),
            heads(self.k_proj(h)),
            heads(self.v_proj(h)),
            attn_mask=key_mask[:, None, None, :],
            dropout_p=self.dropout.p if self.training else 0.0,
        )
        x = x + self.dropout(self.out_proj(attended.transpose(1, 2).reshape(batch, frames, width)))
        return x + self.dropout(self.feed_forward(self.ff_norm(x)))


def sinusoidal_positions(length: int, width: int, device: torch.device) -> torch.Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(
        torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10_000.0) / width)
    )
    table = torch.zeros(length, width, device=device)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div[: table[:, 1::2].shape[1]])
    return table


class LogMelBackbone(Backbone, PyTorchModelHubMixin, library_name="piano-eval", tags=["audio", "piano-eval"]):
    """Log-mel spectrogram -> 2 x Conv1d -> ``num_layers`` Transformer blocks; ``sample_rate / hop`` Hz frames."""

    def __init__(
        self,
        sample_rate: int = 24_000,
        n_fft: int = 1024,
        hop_length: int = 480,
        n_mels: int = 64,
        hidden_size: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.1,
        level_reference_db: float = -30.0,
        level_scale_db: float = 20.0,
    ) -> None:
        super().__init__("logmel")
        if hop_length < 1 or n_fft < hop_length:
            raise ValueError(f"need 1 <= hop_length <= n_fft, got hop {hop_length}, n_fft {n_fft}")
        if level_scale_db <= 0:
            raise ValueError(f"level_scale_db must be positive, got {level_scale_db}")
        self.level_reference_db = level_reference_db
        self.level_scale_db = level_scale_db
        self.sample_rate = sample_rate
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.layers_path = "layers"
        self.frame_rate = sample_rate / hop_length
        self.n_fft = n_fft
        self.hop_length = hop_length
        filters = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=n_mels,
            min_frequency=20.0,
            max_frequency=sample_rate / 2,
            sampling_rate=sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        self.register_buffer("mel_filters", torch.as_tensor(filters, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.mel_norm = nn.LayerNorm(n_mels)
        self.conv1 = nn.Conv1d(n_mels + 1, hidden_size, kernel_size=3, padding=1)  # + the level channel
        self.conv2 = nn.Conv1d(hidden_size, hidden_size, kernel_size=3, padding=1)
        self.layers = nn.ModuleList(
            SelfAttentionBlock(hidden_size, num_heads, dropout) for _ in range(num_layers)
        )

    def power_spectrum(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` -> one-sided STFT power ``[B, n_fft // 2 + 1, frames]``, ``frames = ceil(N / hop)``."""
        frames = math.ceil(waveform.shape[-1] / self.hop_length)
        padded = F.pad(waveform.float(), (0, self.n_fft))
        spec = torch.stft(
            padded, self.n_fft, self.hop_length, window=self.window, center=False, return_complex=True
        )
        return spec.abs().pow(2)[..., :frames]

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` -> ``[B, frames, n_mels]`` natural-log mel power."""
        return self._log_mel(self.power_spectrum(waveform))

    def _log_mel(self, power: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.einsum("bft,fm->btm", power, self.mel_filters) + 1e-6)

    def level_db(self, power: torch.Tensor) -> torch.Tensor:
        """Each frame's windowed mean square in dBFS ``[B, frames]`` (a full-scale sine is about -3 dB).

        Parseval for the one-sided spectrum: ``Σ_k |X_k|² ≈ (n_fft / 2) · Σ_n (w_n x_n)²``.
        """
        mean_square = 2.0 * power.sum(dim=1) / (self.n_fft * self.window.pow(2).sum())
        return 10.0 * torch.log10(mean_square + 1e-10)

    def front_end(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, frames, n_mels + 1]``: per-frame layer-normed log-mel, then the fixed-scale level channel."""
        power = self.power_spectrum(waveform)
        level = (self.level_db(power) - self.level_reference_db) / self.level_scale_db
        return torch.cat([self.mel_norm(self._log_mel(power)), level.unsqueeze(-1)], dim=-1)

    def encode(self, waveform: torch.Tensor, attention_mask: torch.Tensor) -> BackboneOutput:
        features = self.front_end(waveform)
        frames = features.shape[1]
        counts = torch.ceil(attention_mask.sum(-1).float() / self.hop_length).long()
        mask = torch.arange(frames, device=waveform.device).unsqueeze(0) < counts.unsqueeze(1)
        keep = mask.unsqueeze(-1).to(features.dtype)
        x = F.gelu(self.conv1((features * keep).transpose(1, 2))).transpose(1, 2)
        x = F.gelu(self.conv2((x * keep).transpose(1, 2))).transpose(1, 2)
        x = (x + sinusoidal_positions(frames, self.hidden_size, x.device)) * keep
        hidden_states = [x]
        for layer in self.layers:
            x = layer(x, mask) * keep
            hidden_states.append(x)
        return BackboneOutput(tuple(hidden_states), mask)
