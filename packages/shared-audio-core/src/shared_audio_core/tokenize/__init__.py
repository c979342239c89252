"""MIDI tokenization (miditok REMI/Octuple wrappers for piano and drums) and continuous MIDI features.

``PianoTokenizer`` and ``DrumTokenizer`` share one API: ``encode(midi) -> [BOS, …, EOS]`` ids,
``decode(ids) -> symusic.Score``, ``decode_to_file``, ``pad_id``/``bos_id``/``eos_id``/``mask_id``,
``vocab_size``, ``token_to_id``/``id_to_token`` and ``save(dir)``/``load(dir)``. See
``docs/tokenize-and-metrics.md`` in the package for examples.
"""

from ._base import SPECIAL_TOKENS, MidiTokenizerBase, TokenIds
from ._midi import MidiSource, load_score
from .drums import DrumTokenizer, DrumTokenizerConfig
from .errors import (
    InvalidTokenError,
    MidiContentError,
    MidiError,
    MidiLoadError,
    TokenizerConfigError,
    TooManyBarsError,
)
from .features import CONTINUOUS_FEATURE_NAMES, extract_continuous_features
from .piano import PianoTokenizer, PianoTokenizerConfig

__all__ = [
    "CONTINUOUS_FEATURE_NAMES",
    "SPECIAL_TOKENS",
    "DrumTokenizer",
    "DrumTokenizerConfig",
    "InvalidTokenError",
    "MidiContentError",
    "MidiError",
    "MidiLoadError",
    "MidiSource",
    "MidiTokenizerBase",
    "PianoTokenizer",
    "PianoTokenizerConfig",
    "TokenIds",
    "TokenizerConfigError",
    "TooManyBarsError",
    "extract_continuous_features",
    "load_score",
]
