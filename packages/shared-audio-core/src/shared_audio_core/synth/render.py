"""MIDI → audio: sustain pedal, SoundFont release envelopes and velocity dynamics on prestosynth.

prestosynth (symusic 0.5.9) ignores controllers, releases notes with a linear-amplitude ramp and
ignores velocity for loudness. ``render_midi`` therefore plans every note itself before the engine
plays it:

1. **Sustain pedal** (CC64, down at values >= 64, per track as per MIDI channel): a note released
   while the pedal is down sounds until the pedal comes up; a key struck again ends the sounding
   note at the new onset, as FluidSynth does (one voice per key and channel).
2. **Volume envelope**: each note is held through its release time and shaped by the SF2 decay,
   sustain and release of the zones it plays (``envelopes``): linear in dB, 96 dB per decay or
   release time, as FluidSynth does. The compatibility SoundFont makes prestosynth's own envelope
   flat after its attack and hold, so the engine adds no ramps of its own.
3. **Velocity**: every note is scaled by ``velocity_gain`` (the SF2 default modulator, (v/127)²).

To shape notes one at a time, notes are packed into *lanes* in which no two notes (with their
release tails) overlap; each lane is rendered in one engine call and every note's span scaled by
its own gain curve. The number of lanes is the polyphony, tails included.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import symusic

from .envelopes import PERCUSSION_BANK, release_table
from .soundfont import InvalidSoundFontError, prestosynth_compatible_soundfont, resolve_soundfont

__all__ = [
    "RELEASE_RANGE_DB",
    "SUSTAIN_PEDAL_CC",
    "EmptyMidiError",
    "MidiLoadError",
    "SoundingNotes",
    "example_drum_midi",
    "load_score",
    "render_midi",
    "sounding_notes",
    "velocity_gain",
]

SUSTAIN_PEDAL_CC = 64
#: Level fall over one SF2 release time (FluidSynth's envelope spans 960 cB).
RELEASE_RANGE_DB = 96.0
#: Silence kept between two notes of one lane: the engine's own minimal release (1 ms) plus slack.
_LANE_GAP_S = 0.004
#: Slack on a non-looping sample's computed length before its lane is reused.
_SAMPLE_LENGTH_MARGIN = 1.05


class MidiLoadError(ValueError):
    """A MIDI file is missing or could not be parsed."""


class EmptyMidiError(ValueError):
    """The score has no notes, so there is nothing to render."""


def example_drum_midi() -> Path:
    """A ~10 s GM drum groove shipped with the package (made by ``benchmarks/make_example_groove.py``)."""
    return Path(str(resources.files("shared_audio_core") / "data" / "example_drum_groove.mid"))


def velocity_gain(velocity: int | np.ndarray) -> float | np.ndarray:
    """Amplitude factor of the SF2 default velocity modulator: (v/127)², i.e. 40·log10(v/127) dB."""
    return (np.asarray(velocity, dtype=np.float64) / 127.0) ** 2


def load_score(midi: str | Path | symusic.Score) -> symusic.Score:
    """Return a ``symusic.Score``; a path is parsed with errors that name the file."""
    if isinstance(midi, symusic.Score):
        return midi
    path = Path(midi)
    if not path.is_file():
        raise MidiLoadError(f"MIDI file not found: {path}")
    try:
        return symusic.Score(str(path))
    except Exception as exc:  # symusic raises plain RuntimeError/ValueError from C++
        raise MidiLoadError(f"{path}: cannot parse MIDI ({exc})") from exc


@functools.lru_cache(maxsize=8)
def _synthesizer(soundfont: str, sample_rate: int, quality: int) -> symusic.Synthesizer:
    # Loading a SoundFont parses the whole sample bank; reuse one synthesizer per configuration.
    return symusic.Synthesizer(soundfont, sample_rate=sample_rate, quality=quality)


@dataclass(frozen=True)
class SoundingNotes:
    """Every note of a score as it sounds, in seconds (one row per note, all arrays aligned)."""

    track: np.ndarray  # index into score.tracks
    onset: np.ndarray
    end: np.ndarray  # note-off, moved to the pedal release or the key's next strike
    pitch: np.ndarray
    velocity: np.ndarray

    def __len__(self) -> int:
        return len(self.onset)


def _pedal_intervals(track: symusic.Track) -> list[tuple[float, float]]:
    """(down, up) times of the sustain pedal; a pedal never lifted stays down forever."""
    intervals: list[tuple[float, float]] = []
    down: float | None = None
    for control in sorted(
        (c for c in track.controls if c.number == SUSTAIN_PEDAL_CC), key=lambda c: float(c.time)
    ):
        pressed = control.value >= 64
        if pressed and down is None:
            down = float(control.time)
        elif not pressed and down is not None:
            intervals.append((down, float(control.time)))
            down = None
    if down is not None:
        intervals.append((down, np.inf))
    return intervals


def sounding_notes(score: symusic.Score, drum_key_map: Mapping[int, int] | None = None) -> SoundingNotes:
    """Where each note of ``score`` really ends once the sustain pedal and re-strikes are applied.

    A note whose note-off falls while the pedal is down (``down <= off < up``) ends when it comes
    up; a pedal still down at the end of the file holds its notes to the last note-off of the score.
    A key struck again on the same track ends the note it is sounding at the new onset.
    """
    seconds = score if isinstance(score.ttype, symusic.core.Second) else score.to("second")
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("track", "onset", "end", "pitch", "velocity")}
    for index, track in enumerate(seconds.tracks):
        notes = track.notes.numpy()
        if len(notes["time"]) == 0:
            continue
        onset = notes["time"].astype(np.float64)
        end = onset + notes["duration"].astype(np.float64)
        pitch = notes["pitch"].astype(np.int64)
        if track.is_drum and drum_key_map:
            pitch = np.array([drum_key_map.get(int(p), int(p)) for p in pitch], dtype=np.int64)
        for down, up in _pedal_intervals(track):
            held = (end >= down) & (end < up) & (onset < up)
            end[held] = up
        columns["onset"].append(onset)
        columns["end"].append(end)
        columns["pitch"].append(pitch)
        columns["velocity"].append(notes["velocity"].astype(np.int64))
        columns["track"].append(np.full(len(onset), index, dtype=np.int64))
    if not columns["onset"]:
        return SoundingNotes(*(np.zeros(0) for _ in range(5)))
    merged = {k: np.concatenate(v) for k, v in columns.items()}
    last_off = float(np.max(np.where(np.isfinite(merged["end"]), merged["end"], merged["onset"])))
    score_end = max(last_off, float(seconds.end()))
    merged["end"] = np.minimum(merged["end"], score_end)
    # one voice per key and track: a re-strike ends the sounding note
    order = np.lexsort((merged["onset"], merged["pitch"], merged["track"]))
    for a, b in itertools.pairwise(order):
        same_key = merged["track"][a] == merged["track"][b] and merged["pitch"][a] == merged["pitch"][b]
        if same_key and merged["onset"][b] > merged["onset"][a]:
            merged["end"][a] = min(merged["end"][a], merged["onset"][b])
    merged["end"] = np.maximum(merged["end"], merged["onset"])
    return SoundingNotes(
        track=merged["track"],
        onset=merged["onset"],
        end=merged["end"],
        pitch=merged["pitch"],
        velocity=merged["velocity"],
    )


def _lanes(onset: np.ndarray, busy_until: np.ndarray) -> list[list[int]]:
    """Pack notes into the fewest lanes in which no two ``[onset, busy_until)`` spans overlap."""
    lanes: list[list[int]] = []
    free: list[tuple[float, int]] = []  # (time the lane is free, lane index)
    for note in np.argsort(onset, kind="stable"):
        if free and free[0][0] <= onset[note]:
            _, lane = heapq.heappop(free)
        else:
            lane = len(lanes)
            lanes.append([])
        lanes[lane].append(int(note))
        heapq.heappush(free, (float(busy_until[note]), lane))
    return lanes


def render_midi(
    midi: str | Path | symusic.Score,
    soundfont: str | Path | None = None,
    sample_rate: int = 44100,
    *,
    quality: int = 0,
    velocity_dynamics: bool = True,
    sf2_compat: bool = True,
    release_tails: bool = False,
    drum_key_map: Mapping[int, int] | None = None,
) -> np.ndarray:
    """Render a MIDI file or ``Score`` to float32 mono audio ``[n]`` at ``sample_rate``.

    Sustain pedal, SoundFont release envelopes and velocity are applied as the module doc says.
    The length is the end of the last sounding note (its note-off, or the pedal release holding it);
    ``release_tails=True`` extends it to the end of the last release instead of cutting the tails.
    ``velocity_dynamics=False`` plays every velocity at full level; ``sf2_compat=False`` returns
    prestosynth's raw output of the whole score (no pedal, release, velocity or SoundFont fixes).
    ``drum_key_map`` optionally remaps drum-track keys (e.g. ``{38: 40}``). The level is not
    normalised (dense scores can exceed 1.0: use ``audio.peak_normalize`` before writing PCM).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    score = load_score(midi)
    if score.note_num() == 0:
        name = midi if not isinstance(midi, symusic.Score) else "<score>"
        raise EmptyMidiError(f"{name}: the score has no notes to render")
    sf_path = resolve_soundfont(soundfont)
    synth_path = prestosynth_compatible_soundfont(sf_path) if sf2_compat else sf_path
    try:
        synth = _synthesizer(str(synth_path), int(sample_rate), int(quality))
    except (RuntimeError, OSError, ValueError) as exc:  # prestosynth's C++ loader errors
        raise InvalidSoundFontError(f"{sf_path}: prestosynth cannot load this SoundFont ({exc})") from exc
    if not sf2_compat:
        mono = _mono(synth.render(_remapped(score, drum_key_map or {}), stereo=False))
    else:
        mono = _render_planned(
            score, synth, sf_path, int(sample_rate), velocity_dynamics, release_tails, drum_key_map
        )
    if not np.all(np.isfinite(mono)):
        raise RuntimeError(f"synthesizer produced non-finite samples with SoundFont {sf_path}")
    return mono


def _mono(rendered: np.ndarray) -> np.ndarray:
    rendered = np.asarray(rendered, dtype=np.float32)
    return rendered[0] if rendered.ndim == 2 and rendered.shape[0] == 1 else rendered.reshape(-1)


def _remapped(score: symusic.Score, drum_key_map: Mapping[int, int]) -> symusic.Score:
    if not drum_key_map:
        return score
    remapped = score.copy()
    for track in remapped.tracks:
        if track.is_drum:
            for note in track.notes:
                note.pitch = drum_key_map.get(note.pitch, note.pitch)
    return remapped


def _render_planned(
    score: symusic.Score,
    synth: symusic.Synthesizer,
    soundfont: Path,
    sample_rate: int,
    velocity_dynamics: bool,
    release_tails: bool,
    drum_key_map: Mapping[int, int] | None,
) -> np.ndarray:
    notes = sounding_notes(score, drum_key_map)
    tracks = list(score.tracks)
    table = release_table(soundfont)
    envelopes = [
        table.envelope(PERCUSSION_BANK if tracks[t].is_drum else 0, int(tracks[t].program), int(p), int(v))
        for t, p, v in zip(notes.track, notes.pitch, notes.velocity, strict=True)
    ]
    release = np.array([e.release_s for e in envelopes])
    # a voice whose sample ends (no loop) is silent from then on: the lane is free again
    voice_end = np.array([e.sample_s for e in envelopes]) * _SAMPLE_LENGTH_MARGIN + notes.onset
    gains = velocity_gain(notes.velocity) if velocity_dynamics else np.ones(len(notes))
    sounding_end = float(notes.end.max())
    length_s = float((notes.end + release).max()) if release_tails else sounding_end
    out = np.zeros(round(length_s * sample_rate) + 1, dtype=np.float64)
    for lane in _lanes(notes.onset, np.minimum(notes.end + release, voice_end) + _LANE_GAP_S):
        start = float(notes.onset[lane[0]])
        lane_score = symusic.Score(480, ttype="second")
        lane_tracks: dict[int, symusic.Track] = {}
        for i in lane:
            t = int(notes.track[i])
            if t not in lane_tracks:
                lane_tracks[t] = symusic.Track(
                    tracks[t].name, tracks[t].program, tracks[t].is_drum, ttype="second"
                )
            lane_tracks[t].notes.append(
                symusic.Note(
                    float(notes.onset[i] - start),
                    float(notes.end[i] + release[i] - notes.onset[i]),
                    int(notes.pitch[i]),
                    int(notes.velocity[i]),
                    ttype="second",
                )
            )
        lane_score.tracks.extend(lane_tracks.values())
        audio = _mono(synth.render(lane_score, stereo=False)).astype(np.float64)
        offset = round(start * sample_rate)
        for i in lane:
            a = round(notes.onset[i] * sample_rate) - offset
            off = round(notes.end[i] * sample_rate) - offset
            b = min(
                off + round(release[i] * sample_rate),
                round(min(voice_end[i], length_s + 1.0) * sample_rate) - offset,
                len(audio),
            )
            if b <= a:
                continue
            times = np.arange(b - a) / sample_rate
            attenuation = envelopes[i].attenuation_db(times, (off - a) / sample_rate)
            curve = gains[i] * 10.0 ** (-attenuation / 20.0)
            segment = audio[a:b] * curve
            end = min(offset + b, len(out))
            if end > offset + a:
                out[offset + a : end] += segment[: end - offset - a]
    return out[: round(length_s * sample_rate)].astype(np.float32)
