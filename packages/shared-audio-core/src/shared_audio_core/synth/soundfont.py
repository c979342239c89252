"""Where SoundFonts come from, and the copy of one that prestosynth renders as its author meant.

Lookup: ``default_soundfont`` (TimGM6mb, shipped inside pretty_midi), ``find_system_soundfonts``
(the folders Linux distributions install into) and ``resolve_soundfont`` (checked paths).

Compatibility copy: prestosynth (symusic 0.5.9) ignores each zone's ``overridingRootKey`` (so
multi-sampled instruments come out wildly out of tune: TimGM6mb piano A4 sounded at ~1660 Hz, the
acoustic snare 14 semitones low) and renders zones without an explicit sustain level as ~5 ms
clicks. ``prestosynth_compatible_soundfont`` writes a copy in which each zone with a root-key
override points to a duplicate sample header whose original pitch is that root key, zones lacking a
sustain generator no longer click because every zone's decay and release are set to the minimum
and its sustain to full level: the renderer applies the SoundFont's own decay, sustain and release
in decibels as FluidSynth does (see ``envelopes``; prestosynth ramps them linearly in amplitude).
Only preset data is rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shared_audio_core.files import atomic_write_bytes

__all__ = [
    "SOUNDFONT_SUFFIXES",
    "SYSTEM_SOUNDFONT_DIRS",
    "InvalidSoundFontError",
    "SoundFontNotFoundError",
    "default_soundfont",
    "find_system_soundfonts",
    "prestosynth_compatible_soundfont",
    "resolve_soundfont",
    "sample_frames",
    "soundfont_layout",
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


def default_soundfont() -> Path:
    """The General MIDI SoundFont ``TimGM6mb.sf2`` shipped inside pretty_midi (6 MB, always present)."""
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise SoundFontNotFoundError(f"pretty_midi's default SoundFont is missing: {path}")
    return path


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
_COMPAT_REVISION = 3  # 2: SF3 copies duplicate compressed streams; 3: flat envelopes
_GEN_DECAY_VOL_ENV = 36
_GEN_SUSTAIN_VOL_ENV = 37
_GEN_RELEASE_VOL_ENV = 38
_GEN_KEYNUM_TO_VOL_ENV_DECAY = 40
_FLATTENED_GENERATORS = (
    _GEN_DECAY_VOL_ENV,
    _GEN_SUSTAIN_VOL_ENV,
    _GEN_RELEASE_VOL_ENV,
    _GEN_KEYNUM_TO_VOL_ENV_DECAY,
)
_GEN_SAMPLE_ID = 53
_GEN_OVERRIDING_ROOT_KEY = 58
#: The SF2 minimum time, -12000 timecents (1 ms): decay and release of the copy.
_MIN_TIMECENTS = -12000
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
    """Return new ``ibag``/``igen``/``shdr`` chunk bodies: root keys made explicit and every sample
    zone's volume envelope flat from its hold to its note-off (minimal decay and release).

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
                # the renderer applies decay, sustain and release itself (``envelopes``): the copy
                # holds every voice at full level from the end of its hold to its note-off.
                zone = [gen for gen in zone if gen[0] not in _FLATTENED_GENERATORS]
                zone[-1:-1] = [
                    [_GEN_DECAY_VOL_ENV, _MIN_TIMECENTS & 0xFFFF],
                    [_GEN_SUSTAIN_VOL_ENV, _PRESTO_FULL_SUSTAIN],
                    [_GEN_RELEASE_VOL_ENV, _MIN_TIMECENTS & 0xFFFF],
                ]  # sampleID stays last
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


@dataclass(frozen=True)
class _Layout:
    """The RIFF structure of a SoundFont: top-level chunks, the sdta/pdta children and their bodies."""

    top: list[tuple[bytes, int, int]]
    version: int
    sdta_children: list[tuple[bytes, int, int]]
    pdta_children: list[tuple[bytes, int, int]]
    chunks: dict[bytes, bytes]
    smpl: bytes


def _layout(source: Path, data: bytes | bytearray) -> _Layout:
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
    return _Layout(top, version, sdta_children, pdta_children, chunks, smpl)


def soundfont_layout(soundfont: str | Path) -> _Layout:
    """The RIFF layout of a SoundFont: version, chunk positions and the preset-data chunk bodies."""
    path = resolve_soundfont(soundfont)
    return _layout(path, path.read_bytes())


def sample_frames(ogg_stream: bytes, soundfont: str | Path) -> int:
    """Frames of one SF3 sample (an Ogg Vorbis stream cut from the ``smpl`` chunk of ``soundfont``)."""
    import io

    import soundfile

    try:
        return int(soundfile.info(io.BytesIO(ogg_stream)).frames)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise InvalidSoundFontError(
            f"{soundfont}: cannot decode one of its compressed samples ({exc})"
        ) from exc


def _build_compatible_copy(source: Path, target: Path) -> None:
    data = bytearray(source.read_bytes())
    layout = _layout(source, data)
    top, sdta_children, pdta_children = layout.top, layout.sdta_children, layout.pdta_children
    chunks, smpl = dict(layout.chunks), layout.smpl
    try:
        patched, appended = _patch_pdta(chunks, compressed=layout.version >= 3, smpl_size=len(smpl))
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
