"""REMI tokenizer for a single GM drum track, with conditioning tokens for generation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import miditok
import symusic
from symusic.core import ScoreTick

from ._base import (
    SPECIAL_TOKENS,
    ConfigDictMixin,
    MidiTokenizerBase,
    TokenIds,
    miditok_time_signature_range,
)
from ._midi import MidiSource
from .errors import InvalidTokenError, MidiContentError, TokenizerConfigError
from .piano import DEFAULT_TIME_SIGNATURE_RANGE, _check_common

__all__ = ["DrumTokenizer", "DrumTokenizerConfig"]

_EXTRA_TOKEN_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*_\S+$")


@dataclass(frozen=True)
class DrumTokenizerConfig(ConfigDictMixin):
    """Everything that defines a drum vocabulary; saved next to every tokenizer.

    Attributes:
        positions_per_beat: onset grid; 4 = 16th notes (the minimum), 8 = 32nds, 12 = 16th triplets too.
        pitch_range: drum pitches kept, inclusive (miditok ``PitchDrum`` tokens; GM kit is 35–81).
            Notes outside are dropped by miditok's preprocessing.
        num_velocities: velocity bins evenly spaced over 0–127.
        use_durations: drum hits are one-shots, so by default no Duration tokens are emitted and
            decoded hits get miditok's fixed short duration.
        max_duration_beats: longest Duration token when ``use_durations``.
        use_tempos / num_tempos / tempo_range: ``Tempo`` tokens (default: a 1-BPM grid over 40–250, so
            every integer BPM round-trips exactly; tempos outside the range snap to its nearest end).
        use_time_signatures / time_signature_range: ``TimeSig`` tokens for the listed metres.
        extra_tokens: tokens appended after miditok's vocabulary, in order, e.g. ``"Style_jdilla"``,
            ``"TempoBin_90"``; format ``Type_value``. They are for conditioning: ``encode`` can place
            them after BOS (``prefix_tokens``) and ``decode`` skips them.
        output_ticks_per_quarter: time resolution of decoded Scores.
    """

    positions_per_beat: int = 4
    pitch_range: tuple[int, int] = (27, 87)
    num_velocities: int = 32
    use_durations: bool = False
    max_duration_beats: int = 4
    use_tempos: bool = True
    num_tempos: int = 211
    tempo_range: tuple[float, float] = (40.0, 250.0)
    use_time_signatures: bool = True
    time_signature_range: tuple[tuple[int, tuple[int, ...]], ...] = DEFAULT_TIME_SIGNATURE_RANGE
    extra_tokens: tuple[str, ...] = ()
    output_ticks_per_quarter: int = 480

    def __post_init__(self) -> None:
        if isinstance(self.extra_tokens, str):
            raise TokenizerConfigError("extra_tokens must be a sequence of strings, not one string")
        object.__setattr__(self, "extra_tokens", tuple(self.extra_tokens))
        if self.positions_per_beat < 4:
            raise TokenizerConfigError(
                f"positions_per_beat must be >= 4 (a 16th-note grid or finer), got {self.positions_per_beat}"
            )
        lo, hi = self.pitch_range
        if not 0 <= lo <= hi <= 127:
            raise TokenizerConfigError(
                f"pitch_range must satisfy 0 <= low <= high <= 127, got {self.pitch_range}"
            )
        if self.max_duration_beats < 1:
            raise TokenizerConfigError("max_duration_beats must be >= 1")
        bad = [t for t in self.extra_tokens if not isinstance(t, str) or not _EXTRA_TOKEN_PATTERN.match(t)]
        if bad:
            raise TokenizerConfigError(f"extra tokens must look like 'Type_value' (no spaces): {bad}")
        if len(set(self.extra_tokens)) != len(self.extra_tokens):
            raise TokenizerConfigError(f"extra_tokens contains duplicates: {list(self.extra_tokens)}")
        _check_common(self)


class DrumTokenizer(MidiTokenizerBase):
    """Drum-only tokenizer: every ``is_drum`` track is merged into one stream; other tracks are ignored.

    Decoded Scores hold exactly one track with ``is_drum=True`` (written on MIDI channel 10).
    """

    kind: ClassVar[str] = "drums"
    config_class: ClassVar[type] = DrumTokenizerConfig
    config: DrumTokenizerConfig

    def __init__(self, config: DrumTokenizerConfig | None = None) -> None:
        super().__init__(config)

    def _build_miditok(self) -> miditok.MusicTokenizer:
        cfg = self.config
        tok_config = miditok.TokenizerConfig(
            # Pitch tokens are unused for a drum-only vocabulary, but miditok 3.1's REMI decoder checks
            # PitchDrum values against ``pitch_range``, so it must cover the drum range too.
            pitch_range=tuple(cfg.pitch_range),
            drums_pitch_range=tuple(cfg.pitch_range),  # inclusive in miditok
            beat_res={(0, cfg.max_duration_beats): cfg.positions_per_beat},
            num_velocities=cfg.num_velocities,
            special_tokens=list(SPECIAL_TOKENS),
            use_pitchdrum_tokens=True,
            use_note_duration_programs=list(range(-1, 128)) if cfg.use_durations else [],
            use_tempos=cfg.use_tempos,
            num_tempos=cfg.num_tempos,
            tempo_range=tuple(cfg.tempo_range),
            use_time_signatures=cfg.use_time_signatures,
            time_signature_range=miditok_time_signature_range(cfg.time_signature_range),
            use_programs=False,
        )
        return miditok.REMI(tok_config)

    def _extra_tokens(self) -> Sequence[str]:
        return self.config.extra_tokens

    @property
    def extra_token_ids(self) -> dict[str, int]:
        """Extra (conditioning) token → id, in vocabulary order."""
        return {t: self.token_to_id(t) for t in self.config.extra_tokens}

    def _prepare_score(self, score: ScoreTick, name: str) -> ScoreTick:
        drum_tracks = [t for t in score.tracks if t.is_drum]
        if not drum_tracks:
            raise MidiContentError(f"{name}: no drum track (is_drum / MIDI channel 10) to tokenize")
        merged = symusic.Score(score.ticks_per_quarter)
        merged.tempos.extend(score.tempos)
        merged.time_signatures.extend(score.time_signatures)
        drums = symusic.Track(name="Drums", program=0, is_drum=True)
        for track in drum_tracks:
            drums.notes.extend(track.notes)
        if len(drums.notes) == 0:
            raise MidiContentError(f"{name}: the drum track has no notes")
        drums.sort()
        merged.tracks.append(drums)
        return merged

    def _decoded_track(self) -> tuple[int, bool, str]:
        return 0, True, "Drums"

    def encode(self, midi: MidiSource, prefix_tokens: Sequence[str] = ()) -> TokenIds:
        """``[BOS, *prefix_tokens, …drum tokens…, EOS]``; prefix tokens must be ``extra_tokens``.

        Raises:
            InvalidTokenError: a prefix token that is not one of ``config.extra_tokens``.
            MidiLoadError / MidiContentError: as for every tokenizer (no drum track included).
        """
        if isinstance(prefix_tokens, str):
            raise InvalidTokenError("prefix_tokens must be a sequence of token strings, not one string")
        unknown = [t for t in prefix_tokens if t not in self.config.extra_tokens]
        if unknown:
            raise InvalidTokenError(
                f"prefix tokens {unknown} are not in extra_tokens {list(self.config.extra_tokens)}"
            )
        prefix = [self.token_to_id(t) for t in prefix_tokens]
        return self._frame(self._encode_music(midi), prefix)
