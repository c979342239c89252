"""MIDI → audio through a SoundFont, using symusic's ``Synthesizer`` (prestosynth).

symusic is pinned below 0.6 because 0.6.0's ``Synthesizer.render`` is broken. Drum tracks
(``Track.is_drum``, i.e. MIDI channel 10) are rendered from the SoundFont's percussion bank.

Three defects of prestosynth (symusic 0.5.9's engine) are corrected here, each measured and tested:

* **Root keys are ignored.** prestosynth pitches every sample from the sample header's original
  pitch and ignores the zone's ``overridingRootKey``; multi-sampled instruments come out wildly
  out of tune (TimGM6mb piano A4 sounded at ~1660 Hz, the acoustic snare 14 semitones low).
* **Zones without an explicit sustain level render as ~5 ms clicks** (a quarter of TimGM6mb's
  zones, e.g. acoustic snare 38, bongos, congas, cowbell).
* **Velocity does not change loudness** (SoundFont modulators are not implemented, so the standard
  velocity→attenuation modulator is missing; velocity only picks the sample layer).

The first two are fixed by rendering from a *compatibility copy* of the SoundFont
(``prestosynth_compatible_soundfont``): each zone with a root-key override points to a duplicate
sample header whose original pitch is that root key, and zones lacking a sustain generator get the
value prestosynth reads as full sustain. The copy is written once per SoundFont to a cache folder.
Velocity is fixed by rendering one pass per distinct velocity and scaling it by ``velocity_gain(v)``
= (v/127)², the -40·log10(127/v) dB curve of the SF2 default modulator (as FluidSynth applies it).
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import symusic

from shared_audio_core.files import atomic_write_bytes

__all__ = [
    "SOUNDFONT_SUFFIXES",
    "SYSTEM_SOUNDFONT_DIRS",
    "EmptyMidiError",
    "InvalidSoundFontError",
    "MidiLoadError",
    "SoundFontNotFoundError",
    "default_soundfont",
    "example_drum_midi",
    "find_system_soundfonts",
    "load_score",
    "prestosynth_compatible_soundfont",
    "render_midi",
    "resolve_soundfont",
    "velocity_gain",
]

SOUNDFONT_SUFFIXES: tuple[str, ...] = (".sf2", ".sf3")

#: Where Linux distributions (Debian/Ubuntu fluid-soundfont-gm, musescore-general-soundfont, Arch
#: soundfont-fluid ...) install SoundFonts. ``~`` is expanded at search time.
SYSTEM_SOUNDFONT_DIRS: tuple[str, ...] = (
    "/usr/share/sounds/sf2",
    "/usr/share/sounds/sf3",
    "/usr/share/soundfonts",
    "/usr/share/sf2",
    "/usr/local/share/soundfonts",
    "/usr/local/share/sounds/sf2",
    "/opt/homebrew/share/soundfonts",
    "~/.local/share/soundfonts",
)


class SoundFontNotFoundError(FileNotFoundError):
    """The SoundFont path does not exist."""


class InvalidSoundFontError(ValueError):
    """The path exists but is not a .sf2/.sf3 file."""


class MidiLoadError(ValueError):
    """A MIDI file is missing or could not be parsed."""


class EmptyMidiError(ValueError):
    """The score has no notes, so there is nothing to render."""


def default_soundfont() -> Path:
    """The General MIDI SoundFont ``TimGM6mb.sf2`` shipped inside pretty_midi (6 MB, always present)."""
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise SoundFontNotFoundError(f"pretty_midi's default SoundFont is missing: {path}")
    return path


def example_drum_midi() -> Path:
    """A ~10 s GM drum groove shipped with the package (made by ``benchmarks/make_example_groove.py``)."""
    return Path(str(resources.files("shared_audio_core") / "data" / "example_drum_groove.mid"))


def find_system_soundfonts(search_dirs: Iterable[str | Path] | None = None) -> list[Path]:
    """All .sf2/.sf3 files (recursively) under ``search_dirs`` (default ``SYSTEM_SOUNDFONT_DIRS``).

    Missing directories are skipped: absence of system SoundFonts is normal, not an error.
    """
    dirs = SYSTEM_SOUNDFONT_DIRS if search_dirs is None else search_dirs
    found: set[Path] = set()
    for directory in dirs:
        root = Path(os.path.expanduser(str(directory)))
        if not root.is_dir():
            continue
        for candidate in root.rglob("*"):
            if candidate.suffix.lower() in SOUNDFONT_SUFFIXES and candidate.is_file():
                found.add(candidate.resolve())
    return sorted(found)


def resolve_soundfont(soundfont: str | Path | None = None) -> Path:
    """``None`` → the default SoundFont; otherwise check the path exists and is a .sf2/.sf3 file."""
    if soundfont is None:
        return default_soundfont()
    path = Path(os.path.expanduser(str(soundfont)))
    if not path.exists():
        raise SoundFontNotFoundError(f"SoundFont not found: {path}")
    if not path.is_file() or path.suffix.lower() not in SOUNDFONT_SUFFIXES:
        raise InvalidSoundFontError(f"{path}: not a SoundFont file (expected one of {SOUNDFONT_SUFFIXES})")
    return path.resolve()


# ----------------------------------------------------------------------------- SoundFont compatibility
_COMPAT_REVISION = 2  # 2: SF3 copies duplicate compressed streams
_GEN_SUSTAIN_VOL_ENV = 37
_GEN_SAMPLE_ID = 53
_GEN_OVERRIDING_ROOT_KEY = 58
#: sustainVolEnv value that prestosynth 0.5.x renders as a held (full-level) sustain.
_PRESTO_FULL_SUSTAIN = 1000
_SHDR_SIZE = 46
_PDTA_CHUNKS = (b"phdr", b"pbag", b"pmod", b"pgen", b"inst", b"ibag", b"imod", b"igen", b"shdr")


def _cache_root() -> Path:
    root = os.environ.get("SHARED_AUDIO_CORE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "shared_audio_core"


def _riff_children(data: bytes | bytearray, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(chunk id, body start, body end) of the RIFF chunks in ``data[start:end]``."""
    children = []
    pos = start
    while pos + 8 <= end:
        chunk_id = bytes(data[pos : pos + 4])
        (size,) = struct.unpack_from("<I", data, pos + 4)
        children.append((chunk_id, pos + 8, min(pos + 8 + size, end)))
        pos += 8 + size + (size & 1)
    return children


def _patch_pdta(
    chunks: dict[bytes, bytes], *, compressed: bool = False, smpl_size: int = 0
) -> tuple[dict[bytes, bytes], list[tuple[int, int]]]:
    """Return new ``ibag``/``igen``/``shdr`` chunk bodies with root keys and sustains made explicit.

    Also returns the ``(start, end)`` byte ranges of the ``smpl`` chunk to append to it: in an SF3
    (``compressed``) a sample is an Ogg Vorbis stream addressed by byte offsets, so a copy cannot
    start a few samples later (the stream would not decode); its bytes are duplicated instead and
    the copy's header points at the duplicate (SF3 loop points are relative to the sample start).
    """
    inst, ibag, igen, shdr = chunks[b"inst"], chunks[b"ibag"], chunks[b"igen"], chunks[b"shdr"]
    inst_bags = [struct.unpack_from("<H", inst, k * 22 + 20)[0] for k in range(len(inst) // 22)]
    bags = [struct.unpack_from("<HH", ibag, k * 4) for k in range(len(ibag) // 4)]
    gens = [list(struct.unpack_from("<HH", igen, k * 4)) for k in range(len(igen) // 4)]
    headers = [bytearray(shdr[k * _SHDR_SIZE : (k + 1) * _SHDR_SIZE]) for k in range(len(shdr) // _SHDR_SIZE)]
    if len(inst_bags) < 2 or len(bags) < 2 or len(headers) < 2:
        raise ValueError("instrument, bag or sample table is empty")
    terminal = headers.pop()  # the "EOS" record must stay last
    copies: dict[tuple[int, int], int] = {}
    copies_per_sample: dict[int, int] = {}
    appended: list[tuple[int, int]] = []
    new_bags: list[tuple[int, int]] = []
    new_gens: list[list[int]] = []
    for inst_index in range(len(inst_bags) - 1):
        global_gens: dict[int, int] = {}
        for zone_pos, bag in enumerate(range(inst_bags[inst_index], inst_bags[inst_index + 1])):
            zone = [list(g) for g in gens[bags[bag][0] : bags[bag + 1][0]]]
            ops = {op: amount for op, amount in zone}
            if zone_pos == 0 and _GEN_SAMPLE_ID not in ops:
                global_gens = ops
            if _GEN_SAMPLE_ID in ops and ops[_GEN_SAMPLE_ID] < len(headers):
                sample = ops[_GEN_SAMPLE_ID]
                root = ops.get(_GEN_OVERRIDING_ROOT_KEY, global_gens.get(_GEN_OVERRIDING_ROOT_KEY, 0xFFFF))
                if root < 128 and headers[sample][40] != root:
                    if (sample, root) not in copies:
                        record = bytearray(headers[sample])
                        record[40] = root
                        # prestosynth caches decoded samples by (key, start offset): give each copy
                        # its own start so copies never collide.
                        start, end = struct.unpack_from("<II", record, 20)
                        if compressed:
                            new_start = smpl_size + sum(e - s for s, e in appended)
                            appended.append((start, end))
                            struct.pack_into("<II", record, 20, new_start, new_start + end - start)
                        else:  # 1-2 samples later: inaudible
                            shift = copies_per_sample.get(sample, 0) + 1
                            if start + shift < end - 1:
                                struct.pack_into("<I", record, 20, start + shift)
                                copies_per_sample[sample] = shift
                        headers.append(record)
                        copies[(sample, root)] = len(headers) - 1
                    for gen in zone:
                        if gen[0] == _GEN_SAMPLE_ID:
                            gen[1] = copies[(sample, root)]
                if _GEN_SUSTAIN_VOL_ENV not in ops and _GEN_SUSTAIN_VOL_ENV not in global_gens:
                    zone.insert(
                        len(zone) - 1, [_GEN_SUSTAIN_VOL_ENV, _PRESTO_FULL_SUSTAIN]
                    )  # sampleID stays last
            new_bags.append((len(new_gens), bags[bag][1]))
            new_gens.extend(zone)
    new_bags.append((len(new_gens), bags[-1][1]))
    new_gens.append(gens[-1])
    headers.append(terminal)
    if len(headers) > 0xFFFF or len(new_gens) > 0xFFFF:
        raise ValueError("compatibility copy would exceed the SF2 limit of 65535 samples/generators")
    patched = {
        b"ibag": b"".join(struct.pack("<HH", *bag) for bag in new_bags),
        b"igen": b"".join(struct.pack("<HH", *gen) for gen in new_gens),
        b"shdr": b"".join(bytes(record) for record in headers),
    }
    return patched, appended


def _chunk_bytes(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _build_compatible_copy(source: Path, target: Path) -> None:
    data = bytearray(source.read_bytes())
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise InvalidSoundFontError(f"{source}: not a RIFF 'sfbk' SoundFont")
    top = _riff_children(data, 12, len(data))
    lists = {bytes(data[s : s + 4]): (s, e) for cid, s, e in top if cid == b"LIST"}
    if b"pdta" not in lists or b"sdta" not in lists:
        raise InvalidSoundFontError(f"{source}: SoundFont lacks 'sdta' sample or 'pdta' preset data")
    info = {cid: bytes(data[s:e]) for cid, s, e in _riff_children(data, *_list_body(lists.get(b"INFO")))}
    version = struct.unpack_from("<H", info[b"ifil"])[0] if len(info.get(b"ifil", b"")) >= 2 else 2
    sdta_children = _riff_children(data, *_list_body(lists[b"sdta"]))
    pdta_children = _riff_children(data, *_list_body(lists[b"pdta"]))
    chunks = {cid: bytes(data[s:e]) for cid, s, e in pdta_children}
    missing = [c.decode() for c in _PDTA_CHUNKS if c not in chunks]
    smpl = next((bytes(data[s:e]) for cid, s, e in sdta_children if cid == b"smpl"), None)
    if missing or smpl is None:
        raise InvalidSoundFontError(f"{source}: SoundFont data lacks chunks {missing or ['smpl']}")
    try:
        patched, appended = _patch_pdta(chunks, compressed=version >= 3, smpl_size=len(smpl))
    except (ValueError, struct.error, IndexError) as exc:
        raise InvalidSoundFontError(f"{source}: cannot rewrite SoundFont preset data ({exc})") from exc
    chunks.update(patched)
    smpl += b"".join(smpl[start:end] for start, end in appended)

    parts = []
    for cid, s, e in top:
        kind = bytes(data[s : s + 4]) if cid == b"LIST" else None
        if kind == b"pdta":
            body = b"".join(_chunk_bytes(c, chunks[c]) for c, _, _ in pdta_children)
        elif kind == b"sdta" and appended:
            body = b"".join(
                _chunk_bytes(c, smpl if c == b"smpl" else bytes(data[cs:ce])) for c, cs, ce in sdta_children
            )
        else:
            parts.append(_chunk_bytes(cid, bytes(data[s:e])))
            continue
        parts.append(_chunk_bytes(b"LIST", kind + body))
    payload = b"sfbk" + b"".join(parts)
    atomic_write_bytes(target, b"RIFF" + struct.pack("<I", len(payload)) + payload)


def _list_body(span: tuple[int, int] | None) -> tuple[int, int]:
    """Child range of a LIST chunk whose body spans ``span`` (the 4-byte list type skipped)."""
    return (0, 0) if span is None else (span[0] + 4, span[1])


@functools.lru_cache(maxsize=16)
def _compatible_copy(source: str, mtime_ns: int, size: int, cache_dir: str) -> Path:
    digest = hashlib.sha1(Path(source).read_bytes()).hexdigest()[:16]
    target = (
        Path(cache_dir)
        / f"{Path(source).stem}.{digest}.presto{_COMPAT_REVISION}{Path(source).suffix.lower()}"
    )
    if not target.is_file():
        _build_compatible_copy(Path(source), target)
    return target


def prestosynth_compatible_soundfont(
    soundfont: str | Path | None = None, *, cache_dir: str | Path | None = None
) -> Path:
    """Path of a copy of ``soundfont`` that prestosynth renders as the SoundFont specifies.

    Built once (atomically) under ``cache_dir`` (default ``$SHARED_AUDIO_CORE_CACHE/soundfonts`` or
    ``~/.cache/shared_audio_core/soundfonts``), keyed by the file's content hash. Only preset data
    is rewritten; sample data is copied unchanged. See the module docstring for what is fixed.
    """
    source = resolve_soundfont(soundfont)
    stat = source.stat()
    folder = Path(cache_dir) if cache_dir is not None else _cache_root() / "soundfonts"
    return _compatible_copy(str(source), stat.st_mtime_ns, stat.st_size, str(folder))


def velocity_gain(velocity: int | np.ndarray) -> float | np.ndarray:
    """Amplitude factor of the SF2 default velocity modulator: (v/127)², i.e. 40·log10(v/127) dB."""
    return (np.asarray(velocity, dtype=np.float64) / 127.0) ** 2


@functools.lru_cache(maxsize=8)
def _synthesizer(soundfont: str, sample_rate: int, quality: int) -> symusic.Synthesizer:
    # Loading a SoundFont parses the whole sample bank; reuse one synthesizer per configuration.
    return symusic.Synthesizer(soundfont, sample_rate=sample_rate, quality=quality)


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


def render_midi(
    midi: str | Path | symusic.Score,
    soundfont: str | Path | None = None,
    sample_rate: int = 44100,
    *,
    quality: int = 0,
    velocity_dynamics: bool = True,
    sf2_compat: bool = True,
    drum_key_map: Mapping[int, int] | None = None,
) -> np.ndarray:
    """Render a MIDI file or ``Score`` to float32 mono audio ``[n]`` at ``sample_rate``.

    ``velocity_dynamics`` applies the velocity→loudness curve prestosynth lacks and ``sf2_compat``
    renders from ``prestosynth_compatible_soundfont`` (see module doc); turn them off only to get
    prestosynth's raw output. ``drum_key_map`` optionally remaps drum-track keys (e.g. ``{38: 40}``).
    The length equals the score's end time (last note-off); release tails past it are cut. The
    level is not normalised (dense scores can exceed 1.0, so use ``audio.peak_normalize`` before
    writing integer PCM).
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

    layers = _velocity_layers(score, drum_key_map or {}, split=velocity_dynamics)
    mono = np.zeros(0, dtype=np.float32)
    for gain, layer in layers:
        rendered = np.asarray(synth.render(layer, stereo=False), dtype=np.float32)
        channel = rendered[0] if rendered.ndim == 2 and rendered.shape[0] == 1 else rendered.reshape(-1)
        if channel.shape[0] > mono.shape[0]:
            mono = np.concatenate([mono, np.zeros(channel.shape[0] - mono.shape[0], dtype=np.float32)])
        mono[: channel.shape[0]] += np.float32(gain) * channel
    if not np.all(np.isfinite(mono)):
        raise RuntimeError(f"synthesizer produced non-finite samples with SoundFont {sf_path}")
    return mono


def _velocity_layers(
    score: symusic.Score, drum_key_map: Mapping[int, int], *, split: bool
) -> list[tuple[float, symusic.Score]]:
    """Split the score into one score per distinct velocity (with its gain), remapping drum keys.

    Controllers, pedals and pitch bends are dropped: prestosynth ignores them anyway.
    """
    tick_score = score if isinstance(score.ttype, symusic.core.Tick) else score.to("tick")
    tracks = []
    for track in tick_score.tracks:
        notes = track.notes.numpy()
        if track.is_drum and drum_key_map:
            pitch = notes["pitch"].copy()
            for src, dst in drum_key_map.items():
                pitch[notes["pitch"] == src] = dst
            notes["pitch"] = pitch
        tracks.append((track, notes))
    all_velocities = np.concatenate([n["velocity"] for _, n in tracks]).astype(np.int64)
    groups: list[int | None] = sorted(set(all_velocities.tolist())) if split else [None]

    layers: list[tuple[float, symusic.Score]] = []
    for velocity in groups:
        layer = symusic.Score(tick_score.ticks_per_quarter)
        layer.tempos = tick_score.tempos.copy()
        layer.time_signatures = tick_score.time_signatures.copy()
        for track, notes in tracks:
            keep = (
                np.ones(len(notes["velocity"]), dtype=bool)
                if velocity is None
                else notes["velocity"] == velocity
            )
            if not keep.any():
                continue
            new_track = symusic.Track(track.name, track.program, track.is_drum)
            new_track.notes = symusic.Note.from_numpy(
                notes["time"][keep], notes["duration"][keep], notes["pitch"][keep], notes["velocity"][keep]
            )
            layer.tracks.append(new_track)
        layers.append((1.0 if velocity is None else float(velocity_gain(velocity)), layer))
    return layers
