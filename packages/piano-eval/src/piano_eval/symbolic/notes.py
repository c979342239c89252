"""Note-level performance features: one row per played note, with exact onsets.

Frame features (:mod:`.continuous`, 50 Hz) and REMI tokens (a 31 ms grid) blur what separates a careful
performance from a careless one at the scale of tens of milliseconds: how far apart the notes of a chord
land, how even successive onsets are, how long a note is held against the next one, where the pedal
changes. This representation keeps them: each note is described by its own timing, loudness and length and
by its relation to its neighbours and to the pedal, so a sequence model (the S3 encoder reads any ``[T, C]``
sequence) sees them directly. Times are in centiseconds before the encoder's signed-log compression, so
a 2 ms chord spread and a 2 s note stay distinguishable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import symusic
import torch
from torch import nn

from piano_eval.heads import HeadConfig
from piano_eval.hub import PianoEvalHubMixin
from piano_eval.training import (
    ObjectiveConfig,
    PerformanceModule,
    ScheduleConfig,
    feature_part,
    load_part_weights,
)

NOTE_FEATURE_NAMES: tuple[str, ...] = (
    "pitch",  # MIDI pitch / 127
    "velocity",  # / 127
    "velocity_deviation",  # velocity − the performance's median velocity, in steps of 10
    "duration_cs",  # note length
    "gap_previous_cs",  # onset − previous onset (0 within a perfectly together chord)
    "gap_next_event_cs",  # time to the next onset ≥ 30 ms later (the next event, not the next chord note)
    "hold_ratio",  # duration / gap to the next event (articulation: < 1 detached, > 1 overlapping)
    "pitch_step",  # pitch − previous note's pitch, / 12
    "pitch_class_log_share",  # log share of the performance's notes with this pitch class (rare = out of key)
    "outside_top7_pitch_classes",  # 1 if not among the 7 most played pitch classes (a key estimate)
    "semitone_clash",  # 1 if a note sounding at this onset is a semitone away in pitch class (a wrong note?)
    "pedal_down",  # sustain pedal held at the onset
    "since_pedal_change_cs",  # time since the last pedal press or release
    "events_since_pedal_press",  # onset events since the pedal last went down (grows when changes are skipped)
    "pedal_changes_per_second",  # the performance's pedal activity (constant column)
    "notes_log_count",  # 4·log2(note count / 64): a few missed notes move it visibly (constant column)
)
EVENT_GAP_SECONDS = 0.03


def _notes_and_pedal(midi: str | Path | symusic.Score) -> tuple[np.ndarray, list[tuple[float, bool]]]:
    score = midi if isinstance(midi, symusic.Score) else symusic.Score(str(midi))
    score = score.to("second")
    rows, pedal = [], []
    for track in score.tracks:
        rows += [(n.time, n.duration, n.pitch, n.velocity) for n in track.notes]
        pedal += [(float(c.time), c.value >= 64) for c in track.controls if c.number == 64]
    rows.sort(key=lambda row: (row[0], row[2]))  # onset order, low to high within a chord
    return np.array(rows, dtype=np.float64).reshape(-1, 4), sorted(pedal)


def _pedal_context(
    pedal: list[tuple[float, bool]], onset: np.ndarray, event_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per note: pedal held at the onset, seconds since the last pedal change (or since the start), onset
    events since the last press (events + 1 before any press); and the number of pedal changes."""
    if not pedal:
        return np.zeros(len(onset)), onset - onset.min(), event_index + 1.0, 0
    times = np.array([t for t, _ in pedal])
    states = np.array([down for _, down in pedal], dtype=bool)
    is_change = np.r_[True, states[1:] != states[:-1]]
    changes = times[is_change]
    presses = times[is_change & states]
    last_event = np.searchsorted(times, onset, side="right") - 1
    pedal_down = (last_event >= 0) & states[np.maximum(last_event, 0)]
    last_change = np.searchsorted(changes, onset, side="right") - 1
    since_change = np.where(last_change >= 0, onset - changes[np.maximum(last_change, 0)], onset)
    events_since_press = event_index + 1.0
    if len(presses):
        last_press = np.searchsorted(presses, onset, side="right") - 1
        # the onset event a press belongs to: the first onset at or after it
        first_after = np.minimum(np.searchsorted(onset, presses), len(onset) - 1)
        press_event = event_index[first_after][np.maximum(last_press, 0)]
        events_since_press = np.where(last_press >= 0, event_index - press_event, events_since_press)
    return pedal_down.astype(np.float64), since_change, events_since_press, len(changes)


def note_features(midi: str | Path | symusic.Score | Any) -> torch.Tensor:
    """``[N, len(NOTE_FEATURE_NAMES)]`` float32 features of the performance's notes in onset order."""
    notes, pedal = _notes_and_pedal(midi)
    if len(notes) == 0:
        raise ValueError(f"{midi}: the MIDI has no notes")
    onset, duration, pitch, velocity = notes.T
    n = len(notes)
    gap_previous = np.diff(onset, prepend=onset[0])
    # next event: the first onset at least EVENT_GAP_SECONDS after this one (np.searchsorted on sorted onsets)
    next_index = np.searchsorted(onset, onset + EVENT_GAP_SECONDS, side="left")
    has_next = next_index < n
    next_onset = np.where(has_next, onset[np.minimum(next_index, n - 1)], onset + duration)
    gap_next = np.maximum(next_onset - onset, 1e-3)
    pitch_class = pitch.astype(int) % 12
    counts = np.bincount(pitch_class, minlength=12)
    share = counts[pitch_class] / n
    top7 = np.argsort(-counts, kind="stable")[:7]
    outside = ~np.isin(pitch_class, top7)
    # notes sounding at each onset (begun by it, not yet released); pitch-class distance 1 = a semitone clash
    sounding = (onset[None, :] <= onset[:, None] + EVENT_GAP_SECONDS) & (
        onset[:, None] < (onset + duration)[None, :]
    )
    np.fill_diagonal(sounding, False)
    distance = np.abs(pitch_class[:, None] - pitch_class[None, :]) % 12
    clash = (sounding & ((distance == 1) | (distance == 11))).any(axis=1)
    # onset events: groups of onsets closer than EVENT_GAP_SECONDS
    event_index = np.cumsum(np.r_[0, np.diff(onset) >= EVENT_GAP_SECONDS])

    pedal_down, since_change, events_since_press, pedal_changes = _pedal_context(pedal, onset, event_index)
    span = max(float((onset + duration).max() - onset.min()), 1e-3)

    columns = [
        pitch / 127.0,
        velocity / 127.0,
        (velocity - np.median(velocity)) / 10.0,
        100.0 * duration,
        100.0 * gap_previous,
        100.0 * gap_next,
        duration / gap_next,
        np.diff(pitch, prepend=pitch[0]) / 12.0,
        np.log(share),
        outside.astype(np.float64),
        clash.astype(np.float64),
        pedal_down.astype(np.float64),
        100.0 * since_change,
        events_since_press.astype(np.float64),
        np.full(n, pedal_changes / span),
        np.full(n, 4.0 * np.log2(n / 64.0)),
    ]
    return torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))


def compress(features: torch.Tensor) -> torch.Tensor:
    """Signed log1p: centiseconds, ratios and flags on comparable scales."""
    return torch.sign(features) * torch.log1p(features.abs())


class NoteEncoder(nn.Module, PianoEvalHubMixin, tags=["symbolic", "note-level", "transformer"]):
    """Per-note MLP → Transformer layers over the notes in onset order.

    No positional embedding and no per-note normalisation at the output: each note's features already say
    where it sits relative to its neighbours (gaps, pitch step), and a learned position table or a final
    LayerNorm would add a nuisance spread or remove the magnitudes (how uneven, how loud) that the
    statistics pooling of the head reads.
    """

    model_description = (
        "Note-level performance encoder: per-note MLP and Transformer layers over exact-onset features."
    )

    def __init__(
        self,
        input_channels: int = len(NOTE_FEATURE_NAMES),
        hidden_size: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}")
        self.input_channels = input_channels
        self.note_mlp = nn.Sequential(
            nn.Linear(input_channels, hidden_size),
            nn.GELU(),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
        )
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            num_heads,
            4 * hidden_size,
            dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = (
            nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False) if num_layers else None
        )

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if features.ndim != 3 or features.shape[-1] != self.input_channels:
            raise ValueError(f"features must be [B, N, {self.input_channels}], got {tuple(features.shape)}")
        mask = mask.bool()
        h = self.note_mlp(compress(torch.nan_to_num(features))) * mask.unsqueeze(-1)
        if self.transformer is not None:
            h = self.transformer(h, src_key_padding_mask=~mask)
        return h * mask.unsqueeze(-1)


class NoteSequenceModel(
    PerformanceModule,
    PianoEvalHubMixin,
    tags=["symbolic", "note-level"],
    coders={
        HeadConfig: (HeadConfig.to_dict, HeadConfig.from_dict),
        ObjectiveConfig: (ObjectiveConfig.to_dict, ObjectiveConfig.from_dict),
        ScheduleConfig: (ScheduleConfig.to_dict, ScheduleConfig.from_dict),
    },
):
    """:class:`NoteEncoder` + the shared head; parts are ``{"features": [B, N, C], "mask": [B, N]}``
    (:func:`note_features` per file, padded by :func:`piano_eval.training.collate_feature_parts`).

    The head should pool with ``pooling="attention_stats"``: spread-type defects are a standard deviation.
    ``pretrained_encoder`` starts the encoder from another run of this model — its Lightning checkpoint or
    ``save_pretrained`` folder, e.g. one trained on pseudo-labels — with a fresh head, which may rate other
    dimensions (staged training: pseudo-labels, then expert ratings).
    """

    model_description = "Note-level performance model: exact-onset note features → Transformer → shared head."

    def __init__(
        self,
        input_channels: int = len(NOTE_FEATURE_NAMES),
        encoder_dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        encoder_dropout: float = 0.0,
        pretrained_encoder: str | None = None,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__(
            encoder_dim, head, learning_rate, weight_decay, objective, schedule, backbone_lr_ratio
        )
        self.save_hyperparameters()
        self.encoder = NoteEncoder(input_channels, encoder_dim, num_layers, num_heads, encoder_dropout)
        if pretrained_encoder is not None:
            load_part_weights(self.encoder, pretrained_encoder)
            # the weights are this model's own now: checkpoints and save_pretrained rebuild without the source
            self.record_init_arg("pretrained_encoder", None)

    def hub_components(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, **super().hub_components()}

    def encode(self, part: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        features, mask = feature_part(part, type(self).__name__)
        return self.encoder(features, mask), mask


__all__ = ["NOTE_FEATURE_NAMES", "NoteEncoder", "NoteSequenceModel", "compress", "note_features"]
