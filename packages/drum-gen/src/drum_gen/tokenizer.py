"""Drum pattern tokenizer: the core REMI ``DrumTokenizer`` plus style and tempo conditioning tokens.

Every training and generation sequence is ``[BOS, Style_<slug>, TempoBin_<bpm>, …REMI drum tokens…, EOS]``.
The REMI body carries Bar / TimeSig / Position / PitchDrum / Velocity tokens; tempo is not in the body
(``use_tempos=False``) because it is already the ``TempoBin`` condition, and the exact requested tempo is
written back at decode time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from shared_audio_core.files import atomic_write_text
from shared_audio_core.tokenize import DrumTokenizer, DrumTokenizerConfig, InvalidTokenError

from drum_gen.pattern import Pattern
from drum_gen.styles import UnknownStyleError, get_style, slugify

CONFIG_FILE = "drum_pattern_tokenizer.json"
CORE_DIR = "core"
BAR_TOKEN = "Bar_None"
PREFIX_LENGTH = 3  # BOS, Style, TempoBin
DEFAULT_TEMPO_BINS: tuple[int, ...] = tuple(range(60, 201, 10))


class TokenizerError(ValueError):
    """Bad tokenizer configuration, unknown style/tempo, or an unusable saved tokenizer."""


def style_slug(name: str) -> str:
    """Token-safe style identifier (``"J Dilla"`` -> ``"j_dilla"``), same rule as ``StyleSpec.slug``."""
    slug = slugify(name)
    if not slug:
        raise TokenizerError(f"style name {name!r} has no letters or digits")
    return slug


@dataclass(frozen=True)
class DrumPatternTokenizerConfig:
    """Styles and tempo bins the model is conditioned on, and the REMI grid.

    ``positions_per_beat=24`` represents 16ths, 32nds and 16th triplets exactly (the trap hi-hat rolls of
    the corpus need all three); ``num_velocities`` bins the velocity range.
    """

    styles: tuple[str, ...]
    tempo_bins: tuple[int, ...] = DEFAULT_TEMPO_BINS
    positions_per_beat: int = 24
    num_velocities: int = 16
    ticks_per_beat: int = 480

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(self.styles))
        object.__setattr__(self, "tempo_bins", tuple(int(t) for t in self.tempo_bins))
        if not self.styles:
            raise TokenizerError("a drum pattern tokenizer needs at least one style")
        slugs = [style_slug(s) for s in self.styles]
        if len(set(slugs)) != len(slugs):
            raise TokenizerError(f"styles map to duplicate tokens: {list(self.styles)}")
        if not self.tempo_bins or sorted(set(self.tempo_bins)) != list(self.tempo_bins):
            raise TokenizerError(f"tempo_bins must be strictly increasing, got {self.tempo_bins}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["styles"] = list(self.styles)
        data["tempo_bins"] = list(self.tempo_bins)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrumPatternTokenizerConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TokenizerError(f"unknown DrumPatternTokenizerConfig keys: {sorted(unknown)}")
        return cls(**data)


class DrumPatternTokenizer:
    """Encodes :class:`~drum_gen.pattern.Pattern` objects with their style and tempo, and decodes back."""

    def __init__(self, config: DrumPatternTokenizerConfig) -> None:
        self.config = config
        self._style_tokens = {name: f"Style_{style_slug(name)}" for name in config.styles}
        self._tempo_tokens = {bpm: f"TempoBin_{bpm}" for bpm in config.tempo_bins}
        core_config = DrumTokenizerConfig(
            positions_per_beat=config.positions_per_beat,
            num_velocities=config.num_velocities,
            use_tempos=False,
            extra_tokens=(*self._style_tokens.values(), *self._tempo_tokens.values()),
            output_ticks_per_quarter=config.ticks_per_beat,
        )
        self.core = DrumTokenizer(core_config)

    # ------------------------------------------------------------------ vocabulary
    @property
    def styles(self) -> list[str]:
        return list(self.config.styles)

    @property
    def vocab_size(self) -> int:
        return self.core.vocab_size

    @property
    def pad_id(self) -> int:
        return self.core.pad_id

    @property
    def bos_id(self) -> int:
        return self.core.bos_id

    @property
    def eos_id(self) -> int:
        return self.core.eos_id

    @property
    def bar_token_ids(self) -> frozenset[int]:
        return frozenset({self.core.token_to_id(BAR_TOKEN)})

    @property
    def conditioning_token_ids(self) -> frozenset[int]:
        """Ids that belong only in the prompt (BOS, styles, tempo bins); never sampled in the body."""
        return frozenset({self.bos_id, self.core.mask_id, *self.core.extra_token_ids.values()})

    def token_to_id(self, token: str) -> int:
        return self.core.token_to_id(token)

    def id_to_token(self, token_id: int) -> str:
        return self.core.id_to_token(token_id)

    def resolve_style(self, style: str) -> str:
        """The configured style name matching ``style`` (name, slug, spacing variant or registry alias)."""
        candidates = [style_slug(style)]
        with contextlib.suppress(UnknownStyleError):
            candidates.append(style_slug(get_style(style).name))
        for name in self.config.styles:
            if style_slug(name) in candidates:
                return name
        raise TokenizerError(f"style {style!r} is not one this model was trained on: {self.styles}")

    def tempo_bin(self, tempo_bpm: float) -> int:
        """Nearest tempo bin (ties go to the slower bin)."""
        if not tempo_bpm > 0:
            raise TokenizerError(f"tempo must be positive, got {tempo_bpm}")
        return min(self.config.tempo_bins, key=lambda b: (abs(b - tempo_bpm), b))

    # ------------------------------------------------------------------ encode / decode
    def prompt_ids(self, style: str, tempo_bpm: float) -> list[int]:
        """``[BOS, Style, TempoBin]`` — the conditioning prompt generation starts from."""
        name = self.resolve_style(style)
        return [
            self.bos_id,
            self.core.token_to_id(self._style_tokens[name]),
            self.core.token_to_id(self._tempo_tokens[self.tempo_bin(tempo_bpm)]),
        ]

    def encode_pattern(self, pattern: Pattern, style: str) -> list[int]:
        """``[BOS, Style, TempoBin, …, EOS]`` for a (quantized) pattern of ``style``."""
        name = self.resolve_style(style)
        prefix = [self._style_tokens[name], self._tempo_tokens[self.tempo_bin(pattern.tempo_bpm)]]
        ids = self.core.encode(pattern.to_score(), prefix_tokens=prefix)
        return [int(i) for i in ids]  # type: ignore[arg-type]

    def decode_conditions(self, ids: Sequence[int]) -> tuple[str | None, int | None]:
        """(style name, tempo bin) read from the conditioning tokens of ``ids``, None where absent."""
        style_by_id = {self.core.token_to_id(t): name for name, t in self._style_tokens.items()}
        tempo_by_id = {self.core.token_to_id(t): bpm for bpm, t in self._tempo_tokens.items()}
        style = next((style_by_id[i] for i in ids if i in style_by_id), None)
        tempo = next((tempo_by_id[i] for i in ids if i in tempo_by_id), None)
        return style, tempo

    def decode_pattern(
        self, ids: Sequence[int], tempo_bpm: float | None = None, bars: int | None = None
    ) -> Pattern:
        """A quantized pattern from token ids (a pitch hit twice at one position is kept once, loudest).

        ``tempo_bpm`` defaults to the TempoBin of the sequence (120 if none); ``bars`` fixes the length
        and drops any note past it.

        Raises:
            InvalidTokenError: an id outside the vocabulary or a MASK token.
        """
        ids = [int(i) for i in ids]
        if tempo_bpm is None:
            _, tempo_bin = self.decode_conditions(ids)
            tempo_bpm = float(tempo_bin) if tempo_bin is not None else 120.0
        score = self.core.decode(ids)
        pattern = Pattern.from_score(score, ticks_per_beat=self.config.ticks_per_beat)
        # Merge repeated hits of one pitch at one position (a sampled sequence may repeat a PitchDrum).
        pattern = pattern.replace(tempo_bpm=float(tempo_bpm)).quantized(self.config.positions_per_beat)
        if bars is not None:
            limit = bars * pattern.ticks_per_bar
            pattern = pattern.replace(notes=tuple(n for n in pattern.notes if n.time < limit), bars=bars)
        return pattern

    def count_bars(self, ids: Sequence[int]) -> int:
        return sum(1 for i in ids if i in self.bar_token_ids)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / CONFIG_FILE, json.dumps(self.config.to_dict(), indent=2) + "\n")
        self.core.save(directory / CORE_DIR)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> DrumPatternTokenizer:
        """Rebuild a saved tokenizer and check the vocabulary is the one it was saved with."""
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise TokenizerError(f"no {CONFIG_FILE} in {directory}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise TokenizerError(f"{path} is not valid JSON: {err}") from err
        tokenizer = cls(DrumPatternTokenizerConfig.from_dict(data))
        core_dir = Path(directory) / CORE_DIR
        if core_dir.is_dir():
            saved = DrumTokenizer.load(core_dir)
            if saved.vocab != tokenizer.core.vocab:
                raise TokenizerError(
                    f"{core_dir}: saved vocabulary differs from the one this drum-gen builds"
                )
        return tokenizer


__all__ = [
    "PREFIX_LENGTH",
    "DrumPatternTokenizer",
    "DrumPatternTokenizerConfig",
    "InvalidTokenError",
    "TokenizerError",
    "style_slug",
]
