"""Volume envelopes read from a SoundFont's preset and instrument zones, as FluidSynth plays them.

prestosynth (symusic 0.5.9) ramps decay and release linearly in *amplitude* (and cuts a note's
release at the end of the file). The SF2 specification (2.04 §8.1.2) and FluidSynth move them
linearly in *decibels*: 96 dB per decay or release time (FluidSynth's 960 cB envelope range), the
decay stopping at the sustain attenuation. The renderer applies that envelope itself, from the
generator values this module resolves the way a SoundFont player does (SF2 §9.4): the preset zones
matching (key, velocity) pick instruments, the instrument zones matching (key, velocity) are the
voices; an instrument generator comes from its zone, else the instrument's global zone, else the
default, the preset level adds its offset (its zone, else the preset's global zone), and the sums
are clamped to FluidSynth's limits. A note sounding several voices takes the envelope of the one
with the longest release. Modulators (other than the velocity curve the renderer applies) and
the modulation envelope/LFOs are not modelled.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .soundfont import InvalidSoundFontError, sample_frames, soundfont_layout

__all__ = ["NoteEnvelope", "ReleaseTable", "release_table", "timecents_to_seconds"]

GEN_DELAY_VOL_ENV = 33
GEN_ATTACK_VOL_ENV = 34
GEN_HOLD_VOL_ENV = 35
GEN_DECAY_VOL_ENV = 36
GEN_SUSTAIN_VOL_ENV = 37
GEN_RELEASE_VOL_ENV = 38
GEN_KEYNUM_TO_VOL_ENV_HOLD = 39
GEN_KEYNUM_TO_VOL_ENV_DECAY = 40
GEN_INSTRUMENT = 41
GEN_KEY_RANGE = 43
GEN_VEL_RANGE = 44
GEN_COARSE_TUNE = 51
GEN_FINE_TUNE = 52
GEN_SAMPLE_ID = 53
GEN_SAMPLE_MODES = 54
GEN_SCALE_TUNING = 56
GEN_OVERRIDING_ROOT_KEY = 58
_SHDR_SIZE = 46
#: SF2 default for releaseVolEnv: -12000 timecents = 1 ms.
DEFAULT_RELEASE_TIMECENTS = -12000
#: FluidSynth clamps releaseVolEnv to at least -7200 timecents (15.6 ms) to avoid clicks.
MIN_RELEASE_TIMECENTS = -7200
MAX_RELEASE_TIMECENTS = 8000
PERCUSSION_BANK = 128
#: FluidSynth's volume envelope spans 960 cB: decay and release fall 96 dB per their time.
RANGE_DB = 96.0
#: FluidSynth's generator limits (timecents; sustain in cB).
_LIMITS = {
    GEN_DELAY_VOL_ENV: (-12000, 5000),
    GEN_ATTACK_VOL_ENV: (-12000, 8000),
    GEN_HOLD_VOL_ENV: (-12000, 5000),
    GEN_DECAY_VOL_ENV: (-12000, 8000),
    GEN_SUSTAIN_VOL_ENV: (0, 1440),
    GEN_RELEASE_VOL_ENV: (MIN_RELEASE_TIMECENTS, MAX_RELEASE_TIMECENTS),
}


def timecents_to_seconds(timecents: float) -> float:
    """SF2 time unit: 1200 timecents per doubling, 0 = 1 s."""
    return float(2.0 ** (timecents / 1200.0))


@dataclass(frozen=True)
class _Zone:
    keys: tuple[int, int]
    velocities: tuple[int, int]
    generators: dict[int, int]  # signed amounts

    def matches(self, key: int, velocity: int) -> bool:
        return self.keys[0] <= key <= self.keys[1] and self.velocities[0] <= velocity <= self.velocities[1]


def _zones(bag_start: int, bag_end: int, bags: list[int], gens: bytes, link: int) -> Iterator[_Zone | dict]:
    """Yield the global generator dict first (``{}`` if none), then the linked zones."""
    first = True
    for bag in range(bag_start, bag_end):
        generators: dict[int, int] = {}
        keys, velocities = (0, 127), (0, 127)
        for k in range(bags[bag], bags[bag + 1]):
            oper, lo, hi = struct.unpack_from("<HBB", gens, k * 4)
            if oper == GEN_KEY_RANGE:
                keys = (lo, hi)
            elif oper == GEN_VEL_RANGE:
                velocities = (lo, hi)
            else:
                generators[oper] = struct.unpack_from("<h", gens, k * 4 + 2)[0]
        if link not in generators:
            if first:  # a zone without a link is the global zone only when it comes first
                yield generators
                first = False
            continue
        if first:
            yield {}
            first = False
        yield _Zone(keys, velocities, generators)
    if first:
        yield {}


@dataclass(frozen=True)
class NoteEnvelope:
    """One note's volume envelope as FluidSynth plays it, and how long its samples last.

    Delay, attack and hold are left to the engine; from ``decay_start_s`` after the onset the level
    falls by 96 dB per ``decay_s`` down to ``sustain_db`` while the key is held, and from the
    note-off by 96 dB per ``release_s``. ``sample_s`` is the longest time the note's samples last at
    the played pitch (``inf`` when a voice loops): a voice whose sample ends is silent from then on.
    """

    decay_start_s: float
    decay_s: float
    sustain_db: float  # attenuation (>= 0) reached at the end of the decay
    release_s: float
    sample_s: float

    def attenuation_db(self, t: np.ndarray, note_off_s: float) -> np.ndarray:
        """Attenuation in dB at times ``t`` (seconds after the onset) for a note held to ``note_off_s``."""

        def held(times: np.ndarray) -> np.ndarray:
            decaying = np.clip(times - self.decay_start_s, 0.0, None) * (RANGE_DB / self.decay_s)
            return np.minimum(decaying, self.sustain_db)

        at_off = held(np.asarray(note_off_s, dtype=np.float64))
        released = at_off + np.clip(t - note_off_s, 0.0, None) * (RANGE_DB / self.release_s)
        return np.where(t < note_off_s, held(t), released)


def _combined(
    gen: int,
    default: int,
    izone: _Zone,
    inst_global: dict[int, int],
    pzone: _Zone,
    preset_global: dict[int, int],
) -> int:
    """SF2 §9.4: instrument value (zone, else global, else default) plus preset offset (zone, else global)."""
    base = izone.generators.get(gen, inst_global.get(gen, default))
    return base + pzone.generators.get(gen, preset_global.get(gen, 0))


class ReleaseTable:
    """Release time and sample length of every (bank, program, key, velocity) of one SoundFont."""

    def __init__(self, source: Path) -> None:
        self._source = source
        layout = soundfont_layout(source)
        chunks = layout.chunks
        self._smpl = layout.smpl if layout.version >= 3 else None  # SF3: Ogg streams to decode
        phdr, pbag, pgen = chunks[b"phdr"], chunks[b"pbag"], chunks[b"pgen"]
        inst, ibag, igen = chunks[b"inst"], chunks[b"ibag"], chunks[b"igen"]
        shdr = chunks[b"shdr"]
        self._samples = [
            struct.unpack_from("<IIIIIBb", shdr, k * _SHDR_SIZE + 20) for k in range(len(shdr) // _SHDR_SIZE)
        ]
        self._sample_seconds: dict[int, float] = {}
        pbags = [struct.unpack_from("<H", pbag, k * 4)[0] for k in range(len(pbag) // 4)]
        ibags = [struct.unpack_from("<H", ibag, k * 4)[0] for k in range(len(ibag) // 4)]
        inst_bags = [struct.unpack_from("<H", inst, k * 22 + 20)[0] for k in range(len(inst) // 22)]
        self._instruments: list[tuple[dict[int, int], list[_Zone]]] = []
        for index in range(len(inst_bags) - 1):
            global_gens, *zones = _zones(inst_bags[index], inst_bags[index + 1], ibags, igen, GEN_SAMPLE_ID)
            self._instruments.append((global_gens, zones))
        self._presets: dict[tuple[int, int], tuple[dict[int, int], list[_Zone]]] = {}
        for index in range(len(phdr) // 38 - 1):
            program, bank, bag = struct.unpack_from("<HHH", phdr, index * 38 + 20)
            next_bag = struct.unpack_from("<H", phdr, (index + 1) * 38 + 24)[0]
            global_gens, *zones = _zones(bag, next_bag, pbags, pgen, GEN_INSTRUMENT)
            self._presets.setdefault((bank, program), (global_gens, zones))
        self._cache: dict[tuple[int, int, int, int], NoteEnvelope] = {}

    def has_preset(self, bank: int, program: int) -> bool:
        return (bank, program) in self._presets

    def _seconds_of_sample(self, sample: int) -> float:
        """Length of a sample at its own rate and pitch (SF3 streams are decoded once to count)."""
        if sample not in self._sample_seconds:
            start, end, _, _, rate, _, _ = self._samples[sample]
            frames = end - start if self._smpl is None else sample_frames(self._smpl[start:end], self._source)
            self._sample_seconds[sample] = frames / rate if rate > 0 else np.inf
        return self._sample_seconds[sample]

    def envelope(self, bank: int, program: int, key: int, velocity: int) -> NoteEnvelope:
        """Longest release among the note's voices (clamped as FluidSynth does) and sample length.

        A preset the SoundFont lacks falls back like a GM player: bank 0 (melodic) or program 0
        of the percussion bank; no matching voice gives the SF2 default (1 ms, clamped to 15.6 ms).
        """
        cache_key = (bank, program, key, velocity)
        if cache_key in self._cache:
            return self._cache[cache_key]
        preset = self._presets.get((bank, program))
        if preset is None:
            preset = self._presets.get((bank, 0) if bank == PERCUSSION_BANK else (0, program))
        voices: list[NoteEnvelope] = []
        preset_global, preset_zones = preset if preset is not None else ({}, [])
        for pzone in preset_zones:
            instrument = pzone.generators[GEN_INSTRUMENT]
            if not pzone.matches(key, velocity) or instrument >= len(self._instruments):
                continue
            inst_global, inst_zones = self._instruments[instrument]
            for izone in inst_zones:
                if izone.matches(key, velocity) and izone.generators[GEN_SAMPLE_ID] < len(self._samples):
                    voices.append(self._voice(key, izone, inst_global, pzone, preset_global))
        if not voices:
            release = timecents_to_seconds(max(DEFAULT_RELEASE_TIMECENTS, MIN_RELEASE_TIMECENTS))
            voices = [NoteEnvelope(0.0, timecents_to_seconds(-12000), 0.0, release, np.inf)]
        # the longest-ringing voice shapes the note; the longest sample bounds it
        longest = max(voices, key=lambda v: v.release_s)
        result = replace(longest, sample_s=max(v.sample_s for v in voices))
        self._cache[cache_key] = result
        return result

    def _voice(
        self, key: int, izone: _Zone, inst_global: dict[int, int], pzone: _Zone, preset_global: dict[int, int]
    ) -> NoteEnvelope:
        def value(gen: int, default: int = 0) -> int:
            amount = _combined(gen, default, izone, inst_global, pzone, preset_global)
            low, high = _LIMITS.get(gen, (-32768, 32767))
            return min(max(amount, low), high)

        hold_tc = value(GEN_HOLD_VOL_ENV, -12000) + (60 - key) * value(GEN_KEYNUM_TO_VOL_ENV_HOLD)
        decay_tc = value(GEN_DECAY_VOL_ENV, -12000) + (60 - key) * value(GEN_KEYNUM_TO_VOL_ENV_DECAY)
        decay_start = sum(
            timecents_to_seconds(tc)
            for tc in (
                value(GEN_DELAY_VOL_ENV, -12000),
                value(GEN_ATTACK_VOL_ENV, -12000),
                min(hold_tc, 5000),
            )
        )
        sample = izone.generators[GEN_SAMPLE_ID]
        modes = izone.generators.get(GEN_SAMPLE_MODES, inst_global.get(GEN_SAMPLE_MODES, 0))
        length = np.inf
        if not modes & 1:  # a sample that does not loop ends the voice
            root = izone.generators.get(GEN_OVERRIDING_ROOT_KEY, inst_global.get(GEN_OVERRIDING_ROOT_KEY, -1))
            root = root if 0 <= root < 128 else self._samples[sample][5]
            cents = (
                (key - root) * value(GEN_SCALE_TUNING, 100)
                + value(GEN_COARSE_TUNE) * 100
                + value(GEN_FINE_TUNE)
                + self._samples[sample][6]
            )
            length = self._seconds_of_sample(sample) / 2.0 ** (cents / 1200.0)
        return NoteEnvelope(
            decay_start_s=decay_start,
            decay_s=timecents_to_seconds(min(max(decay_tc, -12000), 8000)),
            sustain_db=RANGE_DB * min(value(GEN_SUSTAIN_VOL_ENV), 1000) / 1000.0,
            release_s=timecents_to_seconds(value(GEN_RELEASE_VOL_ENV, DEFAULT_RELEASE_TIMECENTS)),
            sample_s=length,
        )

    def release_seconds(self, bank: int, program: int, key: int, velocity: int) -> float:
        return self.envelope(bank, program, key, velocity).release_s


@functools.lru_cache(maxsize=16)
def _cached_table(path: str, mtime_ns: int, size: int) -> ReleaseTable:
    try:
        return ReleaseTable(Path(path))
    except (struct.error, IndexError, KeyError) as exc:
        raise InvalidSoundFontError(f"{path}: cannot read preset/instrument zones ({exc})") from exc


def release_table(soundfont: str | Path) -> ReleaseTable:
    """The (cached) release table of the SoundFont at ``soundfont``."""
    path = Path(soundfont)
    stat = path.stat()
    return _cached_table(str(path), stat.st_mtime_ns, stat.st_size)
