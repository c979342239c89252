"""What the page shows of a segment: its slice of audio, a waveform and a piano roll of its MIDI.

Only the segment's frames are decoded (``soundfile`` seeks), so a 20 s window of an hour-long recording
costs the same as a 20 s file. Figures are ``matplotlib.figure.Figure`` objects, not pyplot ones: Gradio
renders them in worker threads and pyplot's global state is not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import soundfile as sf
import symusic
from matplotlib.figure import Figure

from piano_labeler.segments import Segment

WAVEFORM_POINTS = 2000  # min/max envelope bins: plenty for a ~1000 px wide plot
SUSTAIN_PEDAL = "sustain pedal (CC64)"


class MediaError(ValueError):
    """A segment's audio or MIDI cannot be read; the message names the file."""


# ---------------------------------------------------------------------------------------------------- audio
def read_slice(segment: Segment) -> tuple[int, np.ndarray]:
    """``(sample_rate, float32 [frames, channels])`` of the segment's window of its audio file."""
    try:
        with sf.SoundFile(str(segment.audio_path)) as audio:
            rate = audio.samplerate
            start = min(round(segment.start_time * rate), audio.frames)
            stop = min(round(segment.end_time * rate), audio.frames)
            audio.seek(start)
            data = audio.read(stop - start, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise MediaError(f"{segment.audio_path}: cannot read audio ({error})") from None
    if not len(data):
        raise MediaError(
            f"{segment.audio_path}: no audio between {segment.start_time:g} and {segment.end_time:g} s"
        )
    return rate, data


def to_int16(audio: np.ndarray) -> np.ndarray:
    """16-bit PCM for the browser's player (a mono file as ``[frames]``)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    return pcm[:, 0] if pcm.ndim == 2 and pcm.shape[1] == 1 else pcm


def waveform_figure(rate: int, audio: np.ndarray, start_time: float) -> Figure:
    """Min/max envelope of the (channel-averaged) slice against the recording's time in seconds."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    bins = min(WAVEFORM_POINTS, len(mono))
    edges = np.linspace(0, len(mono), bins + 1).astype(int)
    low = np.minimum.reduceat(mono, edges[:-1])
    high = np.maximum.reduceat(mono, edges[:-1])
    times = start_time + edges[:-1] / rate
    figure = Figure(figsize=(7, 2.2), layout="constrained")
    axes = figure.add_subplot()
    axes.fill_between(times, low, high, color="#3b6ea5", linewidth=0.5)
    axes.set_xlim(start_time, start_time + len(mono) / rate)
    axes.set_ylim(-1.0, 1.0)
    axes.set_xlabel("time in the recording (s)")
    axes.set_ylabel("amplitude")
    axes.grid(alpha=0.3)
    return figure


# ----------------------------------------------------------------------------------------------------- MIDI
@dataclass(frozen=True)
class MidiWindow:
    """The notes sounding in a window (times in the recording's seconds) and the sustain-pedal spans."""

    onsets: np.ndarray
    offsets: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray
    pedals: tuple[tuple[float, float], ...]

    def __len__(self) -> int:
        return len(self.pitches)


@lru_cache(maxsize=16)
def _score(path: str, mtime_ns: int) -> symusic.Score:
    """Parsed once per file version: a segment list cuts one recording into many windows."""
    del mtime_ns  # part of the cache key only
    return symusic.Score(path, ttype="second")


def midi_window(path: Path, start: float, end: float) -> MidiWindow:
    """Notes of every non-drum track overlapping ``[start, end)`` and the pedal spans overlapping it."""
    try:
        score = _score(str(path), path.stat().st_mtime_ns)
    except (RuntimeError, ValueError, OSError) as error:
        raise MediaError(f"{path}: cannot read MIDI ({error})") from None
    onsets, offsets, pitches, velocities, pedals = [], [], [], [], []
    for track in score.tracks:
        if track.is_drum:
            continue
        notes = track.notes.numpy()
        onsets.append(notes["time"].astype(np.float64))
        offsets.append(notes["time"].astype(np.float64) + notes["duration"])
        pitches.append(notes["pitch"].astype(np.int64))
        velocities.append(notes["velocity"].astype(np.int64))
        for pedal in track.pedals:
            pedals.append((float(pedal.time), float(pedal.time + pedal.duration)))
    on, off = np.concatenate(onsets or [np.zeros(0)]), np.concatenate(offsets or [np.zeros(0)])
    keep = (on < end) & (off > start)
    return MidiWindow(
        on[keep],
        off[keep],
        np.concatenate(pitches or [np.zeros(0, np.int64)])[keep],
        np.concatenate(velocities or [np.zeros(0, np.int64)])[keep],
        tuple(sorted((a, b) for a, b in pedals if a < end and b > start)),
    )


def piano_roll_figure(window: MidiWindow, start: float, end: float) -> Figure:
    """Notes as bars (darker = louder) over the window, the sustain pedal as a strip below."""
    figure = Figure(figsize=(7, 2.8), layout="constrained")
    roll, pedal = figure.subplots(2, 1, sharex=True, height_ratios=[5, 1])
    if len(window):
        colours = matplotlib.colormaps["Blues"](0.35 + 0.65 * window.velocities / 127.0)
        roll.barh(
            window.pitches,
            window.offsets - window.onsets,
            left=window.onsets,
            height=0.8,
            color=colours,
            edgecolor="#1f3b5c",
            linewidth=0.3,
        )
        roll.set_ylim(window.pitches.min() - 2, window.pitches.max() + 2)
    else:
        roll.text(0.5, 0.5, "no notes in this window", ha="center", va="center", transform=roll.transAxes)
    roll.set_ylabel("MIDI pitch")
    roll.grid(alpha=0.3)
    for a, b in window.pedals:
        pedal.axvspan(max(a, start), min(b, end), color="#d08c2c", alpha=0.8)
    pedal.set_yticks([])
    pedal.set_ylabel("pedal", rotation=0, ha="right", va="center")
    pedal.set_xlim(start, end)
    pedal.set_xlabel("time in the recording (s)")
    return figure


def message_figure(text: str) -> Figure:
    """A small figure that says why there is no plot (no MIDI, or one that cannot be read)."""
    figure = Figure(figsize=(7, 1.2), layout="constrained")
    axes = figure.add_subplot()
    axes.axis("off")
    axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return figure


__all__ = [
    "MediaError",
    "MidiWindow",
    "message_figure",
    "midi_window",
    "piano_roll_figure",
    "read_slice",
    "to_int16",
    "waveform_figure",
]
