"""REMI (or Octuple) tokenizer for solo piano MIDI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import miditok
import symusic
from symusic.core import ScoreTick

from ._base import (
    SPECIAL_TOKENS,
    ConfigDictMixin,
    MidiTokenizerBase,
    bar_count,
    miditok_beat_res,
    miditok_time_signature_range,
)
from .errors import MidiContentError, TokenizerConfigError, TooManyBarsError

__all__ = ["DEFAULT_TIME_SIGNATURE_RANGE", "PianoTokenizer", "PianoTokenizerConfig"]

# (denominator, numerators): common simple and compound metres, plus odd ones in 8ths.
DEFAULT_TIME_SIGNATURE_RANGE: tuple[tuple[int, tuple[int, ...]], ...] = (
    (2, (1, 2, 3, 4)),
    (4, (1, 2, 3, 4, 5, 6, 7, 8)),
    (8, (3, 5, 6, 7, 9, 12)),
)


def _check_common(cfg: Any) -> None:
    if cfg.num_velocities < 1 or cfg.num_velocities > 127:
        raise TokenizerConfigError(f"num_velocities must be in [1, 127], got {cfg.num_velocities}")
    lo, hi = cfg.tempo_range
    if not 0 < lo < hi:
        raise TokenizerConfigError(
            f"tempo_range must be (low, high) with 0 < low < high, got {cfg.tempo_range}"
        )
    if cfg.num_tempos < 2:
        raise TokenizerConfigError(f"num_tempos must be >= 2, got {cfg.num_tempos}")
    if cfg.output_ticks_per_quarter < 1:
        raise TokenizerConfigError("output_ticks_per_quarter must be positive")


@dataclass(frozen=True)
class PianoTokenizerConfig(ConfigDictMixin):
    """Everything that defines a piano vocabulary; saved next to every tokenizer.

    Attributes:
        pitch_range: lowest and highest pitch kept, inclusive (88-key piano: 21–108). Notes outside
            are dropped by miditok's preprocessing.
        beat_res: ``(start_beat, end_beat, positions_per_beat)`` spans for Duration tokens; the
            Position grid uses the largest resolution (default 8 per beat = 32nd notes).
        num_velocities: velocity bins, evenly spaced over 0–127.
        use_sustain_pedal: emit ``Pedal``/``PedalOff`` tokens from CC64 (REMI only; Octuple has none).
        use_tempos / num_tempos / tempo_range: ``Tempo`` tokens on a linear grid of
            ``(high - low) / (num_tempos - 1)`` BPM; the default 211 bins over 40–250 is a 1-BPM grid,
            so every integer BPM survives a round trip (a coarser grid shifts every later onset).
            Tempos outside the range snap to its nearest end.
        use_time_signatures / time_signature_range: ``TimeSig`` tokens for the listed metres.
        octuple: use miditok Octuple instead of REMI; then every id is a row of 7 field ids
            ``[pitch, position, bar, velocity, duration, tempo, time_sig]``.
        octuple_max_bars: number of Bar embeddings in Octuple. ``encode`` raises ``TooManyBarsError``
            for a longer piece (miditok would drop the notes past it); size it with ``count_bars``.
        program: MIDI program written on decode (0 = acoustic grand).
        output_ticks_per_quarter: time resolution of decoded Scores.
    """

    pitch_range: tuple[int, int] = (21, 108)
    beat_res: tuple[tuple[int, int, int], ...] = ((0, 4, 8), (4, 12, 4))
    num_velocities: int = 32
    use_sustain_pedal: bool = True
    use_tempos: bool = True
    num_tempos: int = 211
    tempo_range: tuple[float, float] = (40.0, 250.0)
    use_time_signatures: bool = True
    time_signature_range: tuple[tuple[int, tuple[int, ...]], ...] = field(
        default=DEFAULT_TIME_SIGNATURE_RANGE
    )
    octuple: bool = False
    octuple_max_bars: int = 128
    program: int = 0
    output_ticks_per_quarter: int = 480

    def __post_init__(self) -> None:
        lo, hi = self.pitch_range
        if not 0 <= lo <= hi <= 127:
            raise TokenizerConfigError(
                f"pitch_range must satisfy 0 <= low <= high <= 127, got {self.pitch_range}"
            )
        if not self.beat_res or any(r < 1 or a >= b for a, b, r in self.beat_res):
            raise TokenizerConfigError(
                f"beat_res spans must be (start < end, resolution >= 1): {self.beat_res}"
            )
        if not 0 <= self.program <= 127:
            raise TokenizerConfigError(f"program must be in [0, 127], got {self.program}")
        if self.octuple_max_bars < 1:
            raise TokenizerConfigError("octuple_max_bars must be positive")
        _check_common(self)

    @property
    def positions_per_beat(self) -> int:
        """Resolution of the Position grid (onsets are quantised to 1/positions_per_beat beats)."""
        return max(r for _, _, r in self.beat_res)


class PianoTokenizer(MidiTokenizerBase):
    """Solo-piano tokenizer: all non-drum tracks are merged into one piano stream.

    ``encode`` returns ``[BOS, …, EOS]`` (flat ids for REMI; ``[n, 7]`` rows for Octuple, with
    BOS/EOS rows repeating the special id in every field).
    """

    kind: ClassVar[str] = "piano"
    config_class: ClassVar[type] = PianoTokenizerConfig
    config: PianoTokenizerConfig

    def __init__(self, config: PianoTokenizerConfig | None = None) -> None:
        super().__init__(config)

    def _build_miditok(self) -> miditok.MusicTokenizer:
        cfg = self.config
        tok_config = miditok.TokenizerConfig(
            pitch_range=tuple(cfg.pitch_range),  # miditok ranges are inclusive
            beat_res=miditok_beat_res(cfg.beat_res),
            num_velocities=cfg.num_velocities,
            special_tokens=list(SPECIAL_TOKENS),
            use_sustain_pedals=cfg.use_sustain_pedal and not cfg.octuple,
            use_tempos=cfg.use_tempos,
            num_tempos=cfg.num_tempos,
            tempo_range=tuple(cfg.tempo_range),
            use_time_signatures=cfg.use_time_signatures,
            time_signature_range=miditok_time_signature_range(cfg.time_signature_range),
            use_programs=False,
        )
        if cfg.octuple:
            # Set only for Octuple: on REMI this option switches to numbered Bar tokens.
            tok_config.additional_params["max_bar_embedding"] = cfg.octuple_max_bars
            return miditok.Octuple(tok_config)
        return miditok.REMI(tok_config)

    def _prepare_score(self, score: ScoreTick, name: str) -> ScoreTick:
        merged = symusic.Score(score.ticks_per_quarter)
        merged.tempos.extend(score.tempos)
        merged.time_signatures.extend(score.time_signatures)
        merged.key_signatures.extend(score.key_signatures)
        piano = symusic.Track(name="Piano", program=self.config.program, is_drum=False)
        for track in score.tracks:
            if track.is_drum:
                continue
            piano.notes.extend(track.notes)
            piano.pedals.extend(track.pedals)
            piano.controls.extend(track.controls)
        if len(piano.notes) == 0:
            raise MidiContentError(f"{name}: no non-drum notes to tokenize")
        piano.sort()
        merged.tracks.append(piano)
        return merged

    def _check_limits(self, score: ScoreTick, name: str) -> None:
        if not self.config.octuple:
            return
        limit = self.config.octuple_max_bars
        bars = bar_count(score)
        if bars > limit:
            raise TooManyBarsError(
                f"{name}: {bars} bars but octuple_max_bars is {limit}; miditok would drop every note "
                f"after bar {limit}. Use PianoTokenizerConfig(octuple=True, octuple_max_bars={bars}) or more.",
                bars=bars,
                limit=limit,
            )

    def _decoded_track(self) -> tuple[int, bool, str]:
        return self.config.program, False, "Piano"
