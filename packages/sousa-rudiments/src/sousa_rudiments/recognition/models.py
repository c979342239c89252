"""The recognition models (``nn.Module`` + ``PyTorchModelHubMixin``: ``save_pretrained``/``from_pretrained``).

- :class:`FeatureInferenceModel`: per-onset audio inputs → the 12 SOUSA stroke features (stage 1).
- :class:`OnsetTransformer`: stroke features (+ the onset inputs) of a clip → 40 rudiments (stage 2).
- :class:`DirectAudioModel`: log-mel of the clip → 40 rudiments, a small CRNN trained from scratch.
"""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from sousa_rudiments.recognition.features import BINARY_FEATURES, ONSET_INPUTS, STROKE_FEATURES

NUM_RUDIMENTS = 40

CLASSIFIER_INPUTS: tuple[str, ...] = (*STROKE_FEATURES, "p_stroke", *ONSET_INPUTS)
"""Per-onset input of :class:`OnsetTransformer` (:meth:`FeatureInferenceModel.classifier_inputs`)."""

_HUB = {"library_name": "sousa-rudiments", "tags": ["audio-classification", "drums", "rudiments"]}


class Standardize(nn.Module):
    """Fixed per-feature standardisation with the training set's mean and std (stored in config.json).

    The inputs mix log-seconds, counts and dB: a per-token LayerNorm would normalise each onset
    across those unrelated units and erase absolute values (how long an IOI really is).
    """

    def __init__(self, size: int, mean: list[float] | None, std: list[float] | None):
        super().__init__()
        mean_t = torch.zeros(size) if mean is None else torch.tensor(mean, dtype=torch.float32)
        std_t = torch.ones(size) if std is None else torch.tensor(std, dtype=torch.float32)
        if mean_t.shape != (size,) or std_t.shape != (size,):
            raise ValueError(f"input_mean/input_std must have {size} values")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t.clamp_min(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of each position of ``[B, C, T]``: no statistic mixes onsets.

    (GroupNorm would pool over time, so padding and clip length would change every prediction.)
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the time axis (dim 1) of ``[B, T, C]`` values where ``mask`` ``[B, T]`` is True."""
    weights = mask.unsqueeze(-1).to(values.dtype)
    return (values * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class FeatureInferenceModel(nn.Module, PyTorchModelHubMixin, **_HUB):
    """Dilated residual 1-D convolutions over a clip's onsets predicting each onset's stroke features.

    Context matters: whether a stroke is a grace note or the second of a diddle depends on its
    neighbours' timing and level, which a per-onset model cannot see; dilations 1-8 with kernel 5
    see about 30 onsets either side (several rudiment cycles). Convolutions rather than a recurrent
    net because they train several times faster on a CPU. Outputs are logits for the binary
    features (``BINARY_FEATURES``) and values for the continuous ones.
    """

    def __init__(
        self,
        num_inputs: int = len(ONSET_INPUTS),
        hidden: int = 64,
        dilations: tuple[int, ...] = (1, 2, 4, 8),
        kernel_size: int = 5,
        dropout: float = 0.1,
        input_mean: list[float] | None = None,
        input_std: list[float] | None = None,
    ):
        super().__init__()
        self.input_norm = Standardize(num_inputs, input_mean, input_std)
        self.project = nn.Conv1d(num_inputs, hidden, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(hidden, hidden, kernel_size, padding=d * (kernel_size // 2), dilation=d),
                ChannelNorm(hidden),
                nn.GELU(),
                nn.Dropout(dropout),
            )
            for d in dilations
        )
        # the 12 stroke features, then one logit: is this detection a played stroke at all?
        self.head = nn.Conv1d(hidden, len(STROKE_FEATURES) + 1, 1)
        self.register_buffer("binary", torch.zeros(len(STROKE_FEATURES), dtype=torch.bool), persistent=False)
        self.binary[list(BINARY_FEATURES)] = True

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T, num_inputs]`` → ``[B, T, 13]`` raw outputs: the 12 features (logits for binary ones),
        then the logit that the detection is a played stroke (not a reflection, ring or noise burst)."""
        x = self.project(self.input_norm(inputs).transpose(1, 2))
        keep = None if mask is None else mask.unsqueeze(1).to(x.dtype)
        for block in self.blocks:
            if keep is not None:
                x = x * keep  # padding never leaks into real onsets
            x = x + block(x)
        return self.head(x).transpose(1, 2)

    def features(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Stroke features in their own units: probabilities for the binary ones."""
        return self._features(self.forward(inputs, mask))

    def _features(self, raw: torch.Tensor) -> torch.Tensor:
        strokes = raw[..., : len(STROKE_FEATURES)]
        return torch.where(self.binary, torch.sigmoid(strokes), strokes)

    def classifier_inputs(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What the rudiment classifier reads per onset (``CLASSIFIER_INPUTS``): stroke features, the
        probability that the detection is a stroke, and the onset inputs they came from."""
        raw = self.forward(inputs, mask)
        return torch.cat([self._features(raw), torch.sigmoid(raw[..., -1:]), inputs], dim=-1)

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, matched: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Masked BCE (binary features) + MSE (continuous) over detections matched to a stroke, plus BCE
        of "is a stroke" (``matched``) over every real detection.

        The network sees every detection in ``mask`` — spurious ones included — as it will at
        inference; only the stroke-feature targets are restricted to matched detections.
        """
        raw = self.forward(inputs, mask)
        strokes = raw[..., : len(STROKE_FEATURES)]
        weights = (matched & mask).unsqueeze(-1).to(raw.dtype)
        bce = nn.functional.binary_cross_entropy_with_logits(strokes, targets, reduction="none")
        mse = (strokes - targets) ** 2
        per = torch.where(self.binary, bce, mse) * weights
        feature_loss = per.sum() / (weights.sum() * strokes.shape[-1]).clamp_min(1.0)
        real = mask.to(raw.dtype)
        is_stroke = nn.functional.binary_cross_entropy_with_logits(
            raw[..., -1], matched.to(raw.dtype), reduction="none"
        )
        return feature_loss + (is_stroke * real).sum() / real.sum().clamp_min(1.0)

    def stroke_probability(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T]`` probability that each detection is a played stroke."""
        return torch.sigmoid(self.forward(inputs, mask)[..., -1])


class OnsetTransformer(nn.Module, PyTorchModelHubMixin, **_HUB):
    """Transformer encoder over a clip's onsets, mean-pooled, → rudiment logits.

    Input per onset (``CLASSIFIER_INPUTS``): the stage-1 stroke features and stroke probability
    followed by the onset inputs they came from, so a wrong hand or grace estimate can be outweighed
    by the timing it was made from, and a detection that is probably a reflection can be discounted.
    """

    def __init__(
        self,
        num_inputs: int = len(CLASSIFIER_INPUTS),
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 3,
        dropout: float = 0.1,
        max_onsets: int = 512,
        num_classes: int = NUM_RUDIMENTS,
        input_mean: list[float] | None = None,
        input_std: list[float] | None = None,
    ):
        super().__init__()
        self.input_norm = Standardize(num_inputs, input_mean, input_std)
        self.project = nn.Linear(num_inputs, d_model)
        self.position = nn.Embedding(max_onsets, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, 2 * d_model, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, num_classes))
        self.max_onsets = max_onsets

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, T, num_inputs]`` with ``mask`` ``[B, T]`` (True = real onset) → ``[B, classes]`` logits."""
        length = inputs.shape[1]
        if length > self.max_onsets:
            raise ValueError(f"{length} onsets exceed max_onsets={self.max_onsets}: analyse in windows")
        positions = torch.arange(length, device=inputs.device)
        hidden = self.project(self.input_norm(inputs)) + self.position(positions)
        hidden = self.encoder(hidden, src_key_padding_mask=~mask)
        return self.head(masked_mean(hidden, mask))


class DirectAudioModel(nn.Module, PyTorchModelHubMixin, **_HUB):
    """Small CRNN on the clip's log-mel: conv blocks (time kept fine) → BiGRU → mean pool → logits."""

    def __init__(
        self,
        n_mels: int = 64,
        channels: tuple[int, ...] = (16, 32, 48, 64),
        hidden: int = 64,
        dropout: float = 0.2,
        num_classes: int = NUM_RUDIMENTS,
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        previous = 1
        for i, width in enumerate(channels):
            blocks += [
                nn.Conv2d(previous, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d((2, 2) if i < 2 else (2, 1)),
            ]
            previous = width
        self.conv = nn.Sequential(*blocks)
        self.rnn = nn.GRU(previous, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, num_classes)
        self.time_stride = 4

    def forward(self, mel: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, n_mels, frames]`` log-mel (dB, ≤ 0) with frame ``mask`` ``[B, frames]`` → logits."""
        x = (mel.unsqueeze(1) + 40.0) / 40.0
        x = self.conv(x).mean(dim=2).transpose(1, 2)  # [B, frames/4, C]
        out, _ = self.rnn(x)
        if mask is None:
            pooled = out.mean(1)
        else:
            pooled = masked_mean(out, mask[:, :: self.time_stride][:, : out.shape[1]])
        return self.head(self.dropout(pooled))
