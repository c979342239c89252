"""Shared machinery of the piano and drum tokenizers (ids, special tokens, decode, save/load).

The wrappers exist so model packages never touch miditok's many knobs directly: each tokenizer is
fully described by one small JSON-serialisable config dataclass, always frames a sequence as
``BOS … EOS``, and validates ids before miditok (which is lenient with malformed input) sees them.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import miditok
import symusic
from miditok import TokSequence
from miditok.utils import get_bars_ticks
from symusic.core import ScoreTick

from ._midi import MidiSource, load_score, source_name
from .errors import InvalidTokenError, MidiContentError, TokenizerConfigError

__all__ = ["CONFIG_FILE_NAME", "SPECIAL_TOKENS", "MidiTokenizerBase", "TokenIds"]

SPECIAL_TOKENS: tuple[str, ...] = ("PAD", "BOS", "EOS", "MASK")
CONFIG_FILE_NAME = "tokenizer_config.json"
MIDITOK_FILE_NAME = "miditok.json"
_FORMAT_VERSION = 1

# A flat id sequence (REMI, drums) or, for Octuple, one row of k field ids per note.
TokenIds = list[int] | list[list[int]]


class ConfigDictMixin:
    """``to_dict``/``from_dict`` for tokenizer config dataclasses (JSON-safe, unknown keys refused)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - known
        if unknown:
            raise TokenizerConfigError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**{k: tupleize(v) for k, v in data.items()})


class MidiTokenizerBase(ABC):
    """Common API: ``encode``/``decode``/``decode_to_file``, special ids, vocabulary, ``save``/``load``.

    Subclasses set ``kind`` and ``config_class`` and implement ``_build_miditok``,
    ``_prepare_score`` (reduce a Score to the one track they tokenize) and ``_decoded_track``.
    """

    kind: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TokenizerConfigError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(self.config).__name__}"
            )
        self._tok: miditok.MusicTokenizer = self._build_miditok()
        for token in self._extra_tokens():
            if token in self._base_vocab():
                raise TokenizerConfigError(f"extra token {token!r} collides with a built-in token")
            self._tok.add_to_vocab(token)

    # ----------------------------------------------------------------------------------- hooks
    @abstractmethod
    def _build_miditok(self) -> miditok.MusicTokenizer:
        """The configured miditok tokenizer."""

    @abstractmethod
    def _prepare_score(self, score: ScoreTick, name: str) -> ScoreTick:
        """Reduce ``score`` to the single track this tokenizer encodes (raise if there is none)."""

    @abstractmethod
    def _decoded_track(self) -> tuple[int, bool, str]:
        """(program, is_drum, name) of the single track ``decode`` produces."""

    def _extra_tokens(self) -> Sequence[str]:
        return ()

    # ------------------------------------------------------------------------------ vocabulary
    @property
    def is_multi_vocab(self) -> bool:
        """True for Octuple: every id is a row of one id per token field."""
        return bool(self._tok.is_multi_voc)

    def _base_vocab(self) -> dict[str, int]:
        vocab = self._tok.vocab
        return vocab[0] if self.is_multi_vocab else vocab

    @property
    def vocab_size(self) -> int:
        """Number of ids (for Octuple: the sum over fields; see ``vocab_sizes``)."""
        return len(self._tok)

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        """Size of each token field's vocabulary (one entry unless Octuple)."""
        if self.is_multi_vocab:
            return tuple(len(v) for v in self._tok.vocab)
        return (len(self._tok),)

    @property
    def vocab(self) -> dict[str, int]:
        """Token string → id (a copy). For Octuple this is the first field's vocabulary."""
        return dict(self._base_vocab())

    @property
    def velocity_bins(self) -> tuple[int, ...]:
        """Velocity values tokens can represent; a note's velocity is snapped to the nearest one."""
        return tuple(int(v) for v in self._tok.velocities)

    @property
    def tempo_bins(self) -> tuple[float, ...]:
        """BPM values Tempo tokens can represent (empty without tempos); a tempo snaps to the nearest."""
        if not self._tok.config.use_tempos:
            return ()
        return tuple(float(t) for t in self._tok.tempos)

    def _special_id(self, name: str) -> int:
        return int(self._base_vocab()[f"{name}_None"])

    @property
    def pad_id(self) -> int:
        return self._special_id("PAD")

    @property
    def bos_id(self) -> int:
        return self._special_id("BOS")

    @property
    def eos_id(self) -> int:
        return self._special_id("EOS")

    @property
    def mask_id(self) -> int:
        return self._special_id("MASK")

    # Aliases used by the original plans (``pad_token_id``/``mask_token_id``).
    pad_token_id = pad_id
    mask_token_id = mask_id

    @property
    def special_ids(self) -> frozenset[int]:
        return frozenset(self._special_id(name) for name in SPECIAL_TOKENS)

    def token_to_id(self, token: str) -> int:
        """Id of a token string such as ``"Pitch_60"``, ``"PAD_None"`` or an extra token."""
        try:
            return int(self._base_vocab()[token])
        except KeyError:
            raise InvalidTokenError(f"token {token!r} is not in the {self.kind} vocabulary") from None

    def id_to_token(self, token_id: int) -> str:
        """Token string of an id (first field for Octuple)."""
        size = self.vocab_sizes[0]
        try:
            index = operator.index(token_id)  # ints, numpy and 0-d torch integers
        except TypeError:
            raise InvalidTokenError(f"token id must be an integer, got {token_id!r}") from None
        if isinstance(token_id, bool) or not 0 <= index < size:
            raise InvalidTokenError(f"token id {token_id!r} is outside the vocabulary [0, {size})")
        if self.is_multi_vocab:
            return str(self._tok[0, index])
        return str(self._tok[index])

    # ---------------------------------------------------------------------------------- encode
    def _preprocessed(self, midi: MidiSource) -> tuple[ScoreTick, str]:
        """The one-track, miditok-preprocessed score that is tokenized, and the source's name."""
        name = source_name(midi)
        score = self._prepare_score(load_score(midi), name)
        self._check_time_signatures(score, name)
        score = self._tok.preprocess_score(score)
        if not score.tracks or len(score.tracks[0].notes) == 0:
            raise MidiContentError(
                f"{name}: no notes left after miditok preprocessing (all outside the pitch range?)"
            )
        return score, name

    def count_bars(self, midi: MidiSource) -> int:
        """Bars up to the last note onset, counted as miditok does (size ``octuple_max_bars`` from it).

        Raises:
            MidiLoadError / MidiContentError: as for :meth:`encode`.
        """
        return bar_count(self._preprocessed(midi)[0])

    def _check_limits(self, score: ScoreTick, name: str) -> None:
        """Refuse a preprocessed score miditok would silently shorten (default: no limit)."""
        del score, name

    def _encode_music(self, midi: MidiSource) -> TokenIds:
        score, name = self._preprocessed(midi)
        self._check_limits(score, name)
        sequences = self._tok.encode(score, no_preprocess_score=True)
        if isinstance(sequences, TokSequence):
            sequences = [sequences]
        ids = sequences[0].ids
        if self.is_multi_vocab:
            return [[int(i) for i in row] for row in ids]
        return [int(i) for i in ids]

    def _check_time_signatures(self, score: ScoreTick, name: str) -> None:
        """miditok silently drops unsupported metres (REMI bars would then be wrong): refuse instead."""
        if not self._tok.config.use_time_signatures:
            return
        supported = set(self._tok.time_signatures)
        bad = sorted({(ts.numerator, ts.denominator) for ts in score.time_signatures} - supported)
        if bad:
            metres = ", ".join(f"{n}/{d}" for n, d in bad)
            raise MidiContentError(
                f"{name}: time signature(s) {metres} are not in the tokenizer's time_signature_range; "
                "add them to the config (or set use_time_signatures=False)"
            )

    def _frame(self, music: TokenIds, prefix: Sequence[int] = ()) -> TokenIds:
        if self.is_multi_vocab:
            width = len(self.vocab_sizes)
            rows = [[p] * width for p in prefix]
            return [[self.bos_id] * width, *rows, *music, [self.eos_id] * width]  # type: ignore[list-item]
        return [self.bos_id, *prefix, *music, self.eos_id]  # type: ignore[list-item]

    def encode(self, midi: MidiSource) -> TokenIds:
        """Tokenize a MIDI file or Score into ``[BOS, …, EOS]`` ids.

        Raises:
            MidiLoadError: missing or unreadable file.
            MidiContentError: nothing this tokenizer can encode in the file.
        """
        return self._frame(self._encode_music(midi))

    # ---------------------------------------------------------------------------------- decode
    def _music_ids(self, ids: Sequence[Any]) -> TokenIds:
        """Validate ids; drop BOS/PAD/extra tokens, stop at the first EOS, reject MASK."""
        sizes = self.vocab_sizes
        extra = {self.token_to_id(t) for t in self._extra_tokens()}
        skip = {self.pad_id, self.bos_id} | extra
        music: list[Any] = []
        for position, item in enumerate(ids):
            row = self._as_row(item, position)
            for field, (value, size) in enumerate(zip(row, sizes, strict=True)):
                if not 0 <= value < size:
                    raise InvalidTokenError(
                        f"id {value} at position {position} (field {field}) is outside the vocabulary [0, {size})"
                    )
            head = row[0]
            if head == self.eos_id:
                break
            if head == self.mask_id:
                raise InvalidTokenError(f"unfilled MASK token at position {position}; cannot decode")
            if head in skip:
                continue
            music.append(row if self.is_multi_vocab else head)
        return music

    def _as_row(self, item: Any, position: int) -> list[int]:
        if self.is_multi_vocab:
            if isinstance(item, int | bool) or len(item) != len(self.vocab_sizes):
                raise InvalidTokenError(
                    f"Octuple ids must be rows of {len(self.vocab_sizes)} ids; position {position} is {item!r}"
                )
            return [int(v) for v in item]
        if isinstance(item, bool) or not isinstance(item, int):
            try:
                return [int(item)]  # numpy / torch integer scalars
            except (TypeError, ValueError):
                raise InvalidTokenError(f"token id at position {position} is not an int: {item!r}") from None
        return [item]

    def decode(self, ids: Sequence[Any]) -> ScoreTick:
        """Turn ids (with or without BOS/EOS/PAD) back into a one-track ``symusic.Score``.

        Ticks per quarter of the result is ``config.output_ticks_per_quarter``.

        Raises:
            InvalidTokenError: an id outside the vocabulary, a wrongly shaped Octuple row, or a MASK.
        """
        music = self._music_ids(list(ids))
        program, is_drum, track_name = self._decoded_track()
        if music:
            seq = TokSequence(ids=music)
            self._tok.complete_sequence(seq)
            score = self._tok.decode([seq], programs=[(program, is_drum)])
        else:
            score = symusic.Score(self._tok.time_division)
        if not score.tracks:
            score.tracks.append(symusic.Track(name=track_name, program=program, is_drum=is_drum))
        for track in score.tracks:
            track.name, track.program, track.is_drum = track_name, program, is_drum
        return score.resample(self.config.output_ticks_per_quarter)

    def decode_to_file(self, ids: Sequence[Any], path: str | Path) -> Path:
        """Decode and write a standard MIDI file; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.decode(ids).dump_midi(path)
        return path

    # ------------------------------------------------------------------------------ save/load
    def save(self, directory: str | Path) -> Path:
        """Write ``tokenizer_config.json`` (our config) and ``miditok.json`` (miditok's own file)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        payload = {"tokenizer": self.kind, "format_version": _FORMAT_VERSION, "config": self.config.to_dict()}
        (directory / CONFIG_FILE_NAME).write_text(json.dumps(payload, indent=2) + "\n")
        self._tok.save(directory / MIDITOK_FILE_NAME)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Rebuild a tokenizer saved with :meth:`save` (identical vocabulary and ids)."""
        path = Path(directory) / CONFIG_FILE_NAME
        if not path.is_file():
            raise TokenizerConfigError(f"no {CONFIG_FILE_NAME} in {directory}")
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise TokenizerConfigError(f"{path} is not valid JSON: {err}") from err
        if payload.get("tokenizer") != cls.kind:
            raise TokenizerConfigError(
                f"{path} holds a {payload.get('tokenizer')!r} tokenizer, not {cls.kind!r}"
            )
        if payload.get("format_version") != _FORMAT_VERSION:
            raise TokenizerConfigError(
                f"{path}: unsupported format_version {payload.get('format_version')!r}"
            )
        return cls(cls.config_class.from_dict(payload["config"]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, config={self.config!r})"


def bar_count(score: ScoreTick) -> int:
    """Bars up to the last note onset, exactly the count miditok's Octuple clips a score by."""
    return len(get_bars_ticks(score, only_notes_onsets=True))


def miditok_time_signature_range(spec: Sequence[Sequence[Any]]) -> dict[int, list[int]]:
    """``((denominator, (numerators...)), ...)`` → miditok's ``{denominator: [numerators]}``."""
    return {int(den): [int(n) for n in nums] for den, nums in spec}


def miditok_beat_res(spec: Sequence[Sequence[int]]) -> dict[tuple[int, int], int]:
    """``((start_beat, end_beat, positions_per_beat), ...)`` → miditok's ``beat_res`` mapping."""
    return {(int(a), int(b)): int(r) for a, b, r in spec}


def tupleize(value: Any) -> Any:
    """Lists (from JSON) back to nested tuples so configs compare equal after a round trip."""
    if isinstance(value, list | tuple):
        return tuple(tupleize(v) for v in value)
    return value
