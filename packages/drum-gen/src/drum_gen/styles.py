"""Producer styles: humanization parameters, tempo ranges and corpus templates, looked up by name or alias.

The four built-in styles follow the original project's table. Users add styles from a YAML/TOML file
(:func:`load_style_file`) or from installed packages through the ``drum_gen.styles`` entry-point group,
whose entries resolve to a :class:`StyleSpec`, a list of them, a mapping (style-file schema) or a
zero-argument callable returning any of these.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

from drum_gen.gm import ACOUSTIC_BASS_DRUM, ELECTRIC_SNARE, HAND_CLAP, KICK, SNARE

ENTRY_POINT_GROUP = "drum_gen.styles"


class UnknownStyleError(ValueError):
    """A style name or alias that is not registered; the message lists the valid names."""


class StyleRegistryError(ValueError):
    """A style definition that is invalid or clashes with a registered name/alias."""


def normalize_style_key(name: str) -> str:
    """Case/space/punctuation-insensitive lookup key: ``"J Dilla"``, ``"j_dilla"``, ``"JDilla"`` -> ``"jdilla"``."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def slugify(name: str) -> str:
    """Lower-case, runs of other characters as one ``_`` (``"J Dilla"`` -> ``"j_dilla"``).

    The one rule for style slugs: tokens (:func:`drum_gen.tokenizer.style_slug`), corpus file names and
    :attr:`StyleSpec.slug` must agree, or a corpus written with one would not load with the other.
    """
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


BACKBEAT_PITCHES: tuple[int, ...] = (SNARE, HAND_CLAP, ELECTRIC_SNARE)
KICK_PITCHES: tuple[int, ...] = (ACOUSTIC_BASS_DRUM, KICK)


@dataclass(frozen=True)
class BarRule:
    """A hit the style has in every bar: one of ``pitches`` at each slot of ``beats``.

    ``beats`` holds one entry per required hit; an entry is the beat positions that satisfy it (1-based,
    in units of the meter's denominator: ``2`` is beat 2, ``4.25`` the 16th after beat 4 in 4/4), so a
    style whose snare is sometimes displaced can say ``[4, 4.25]``. A bare number is a one-position slot.
    The rule applies to bars in ``meter`` only: it is written from the 4/4 corpus templates, and guessing
    where a backbeat falls in 7/8 would be inventing style.
    """

    name: str
    pitches: tuple[int, ...]
    beats: tuple[tuple[float, ...], ...]
    meter: tuple[int, int] = (4, 4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pitches", tuple(int(p) for p in self.pitches))
        slots = tuple(
            tuple(float(b) for b in (slot if isinstance(slot, list | tuple) else (slot,)))
            for slot in self.beats
        )
        object.__setattr__(self, "beats", slots)
        object.__setattr__(self, "meter", (int(self.meter[0]), int(self.meter[1])))
        numerator, _ = self.meter
        if not self.name or not self.pitches or not slots or not all(slots):
            raise StyleRegistryError(f"rule {self.name!r} needs a name, pitches and non-empty beat slots")
        if any(not 1.0 <= b < numerator + 1 for slot in slots for b in slot):
            raise StyleRegistryError(f"rule {self.name!r}: beats must lie in 1..{numerator} of {self.meter}")

    def slot_ticks(self, time_signature: tuple[int, int], ticks_per_beat: int) -> tuple[tuple[int, ...], ...]:
        """Tick offsets within a bar of each slot's positions; empty when the bar's meter is not ``meter``."""
        if tuple(time_signature) != self.meter:
            return ()
        unit = ticks_per_beat * 4 / self.meter[1]
        return tuple(tuple(round((b - 1.0) * unit) for b in slot) for slot in self.beats)

    @classmethod
    def from_value(cls, value: BarRule | Mapping[str, Any]) -> BarRule:
        if isinstance(value, BarRule):
            return value
        if not isinstance(value, Mapping):
            raise StyleRegistryError(f"a style rule must be a mapping, got {value!r}")
        unknown = sorted(set(value) - {"name", "pitches", "beats", "meter"})
        if unknown:
            raise StyleRegistryError(f"unknown rule fields {unknown}; valid: name, pitches, beats, meter")
        return cls(**dict(value))


def backbeat(*beats: float | tuple[float, ...]) -> BarRule:
    """A snare/clap (GM 38/39/40) on each of ``beats`` of every 4/4 bar."""
    return BarRule("backbeat", BACKBEAT_PITCHES, tuple(beats))  # type: ignore[arg-type]


DOWNBEAT_KICK = BarRule("downbeat_kick", KICK_PITCHES, ((1.0,),))
"""A kick (GM 35/36) on beat 1 of every 4/4 bar."""


@dataclass(frozen=True)
class StyleSpec:
    """A producer style.

    ``swing_percent`` follows the MPC definition (50 straight, 66.7 triplet) at ``swing_resolution``
    (8 or 16); ``microtiming_ms`` is the Gaussian sigma of timing jitter; ``per_instrument_offsets_ms``
    adds a fixed push (<0) or drag (>0) per GM pitch (e.g. a laid-back snare); ``template`` names the
    procedural corpus template that writes this style's quantized patterns. ``rules`` are the
    :class:`BarRule` hits every bar of the style has (its corpus never lacks them); validation reports
    bars without them and generation enforces them by constrained decoding.
    """

    name: str
    aliases: tuple[str, ...] = ()
    swing_percent: float = 50.0
    swing_resolution: int = 16
    microtiming_ms: float = 0.0
    ghost_note_prob: float = 0.0
    velocity_variation: float = 0.0
    tempo_range: tuple[float, float] = (90.0, 120.0)
    per_instrument_offsets_ms: Mapping[int, float] = field(default_factory=dict)
    template: str = "boom_bap"
    description: str = ""
    accent_strength: float = 0.15
    rules: tuple[BarRule, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(BarRule.from_value(r) for r in self.rules))
        if len({r.name for r in self.rules}) != len(self.rules):
            raise StyleRegistryError(f"style {self.name!r}: rule names must be unique")
        if not isinstance(self.name, str) or not normalize_style_key(self.name):
            raise StyleRegistryError(f"style name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "aliases", tuple(str(a) for a in self.aliases))
        object.__setattr__(self, "tempo_range", tuple(float(t) for t in self.tempo_range))
        object.__setattr__(
            self,
            "per_instrument_offsets_ms",
            {int(k): float(v) for k, v in dict(self.per_instrument_offsets_ms).items()},
        )
        problems = []
        if not 0.0 < self.swing_percent < 100.0:
            problems.append(f"swing_percent must be in (0, 100), got {self.swing_percent}")
        if self.swing_resolution not in (8, 16):
            problems.append(f"swing_resolution must be 8 or 16, got {self.swing_resolution}")
        if self.microtiming_ms < 0:
            problems.append(f"microtiming_ms must be >= 0, got {self.microtiming_ms}")
        for name in ("ghost_note_prob", "velocity_variation", "accent_strength"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        lo, hi = self.tempo_range if len(self.tempo_range) == 2 else (0.0, -1.0)
        if not 0 < lo <= hi:
            problems.append(f"tempo_range must be (lo, hi) with 0 < lo <= hi, got {self.tempo_range}")
        if problems:
            raise StyleRegistryError(f"invalid style {self.name!r}: " + "; ".join(problems))

    def __hash__(self) -> int:  # the offsets dict is not hashable; everything else identifies a style
        return hash((self.name, self.aliases, self.swing_percent, self.template, self.tempo_range))

    @property
    def slug(self) -> str:
        """Stable identifier for tokens, file names and labels (``"J Dilla"`` -> ``"j_dilla"``)."""
        return slugify(self.name)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_style_key(n) for n in (self.name, self.slug, *self.aliases)))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["aliases"] = list(self.aliases)
        data["tempo_range"] = list(self.tempo_range)
        data["per_instrument_offsets_ms"] = {str(k): v for k, v in self.per_instrument_offsets_ms.items()}
        data["rules"] = [
            {
                "name": r.name,
                "pitches": list(r.pitches),
                "beats": [list(b) for b in r.beats],
                "meter": list(r.meter),
            }
            for r in self.rules
        ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StyleSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StyleRegistryError(f"unknown style fields {unknown}; valid fields: {sorted(known)}")
        if "name" not in data:
            raise StyleRegistryError(f"style definition without a name: {dict(data)!r}")
        return cls(**dict(data))


BUILTIN_STYLES: tuple[StyleSpec, ...] = (
    StyleSpec(
        name="J Dilla",
        aliases=("dilla", "jay dee"),
        swing_percent=62.0,
        swing_resolution=16,
        microtiming_ms=20.0,
        ghost_note_prob=0.40,
        velocity_variation=0.15,
        tempo_range=(85.0, 95.0),
        per_instrument_offsets_ms={SNARE: 18.0, KICK: -6.0},
        template="boom_bap",
        description="Boom-bap: sparse, pushed kicks, a late and loose snare, drunken 16th swing.",
        accent_strength=0.2,
        rules=(backbeat(2, 4), DOWNBEAT_KICK),  # boom_bap: snare on 2 and 4, kick on 1
    ),
    StyleSpec(
        name="Metro Boomin",
        aliases=("metro",),
        swing_percent=52.0,
        swing_resolution=16,
        microtiming_ms=5.0,
        ghost_note_prob=0.10,
        velocity_variation=0.08,
        tempo_range=(130.0, 150.0),
        template="trap",
        description="Trap: half-time snare, 808 kick patterns, 16th/32nd hi-hat rolls, tight grid.",
        accent_strength=0.1,
        rules=(backbeat(3), DOWNBEAT_KICK),  # trap: half-time, one snare per bar on beat 3
    ),
    StyleSpec(
        name="Questlove",
        aliases=("quest", "?uestlove", "questo"),
        swing_percent=58.0,
        swing_resolution=16,
        microtiming_ms=12.0,
        ghost_note_prob=0.50,
        velocity_variation=0.20,
        tempo_range=(90.0, 110.0),
        per_instrument_offsets_ms={SNARE: 8.0},
        template="funk",
        description="Live funk/neo-soul: busy 16th hats, snare ghost notes, laid-back backbeat.",
        accent_strength=0.25,
        rules=(backbeat(2, 4), DOWNBEAT_KICK),
    ),
    StyleSpec(
        name="Timbaland",
        aliases=("timbo",),
        swing_percent=54.0,
        swing_resolution=16,
        microtiming_ms=10.0,
        ghost_note_prob=0.35,
        velocity_variation=0.12,
        tempo_range=(95.0, 115.0),
        template="syncopated",
        description="Syncopated kicks and percussion, triplet-ish hats, tom and perc stabs.",
        accent_strength=0.15,
        rules=(backbeat(2, (4, 4.25)), DOWNBEAT_KICK),  # syncopated: beat 4's snare is displaced a 16th
    ),
)


class StyleRegistry:
    """Name/alias -> :class:`StyleSpec` map; the module functions use :data:`DEFAULT_REGISTRY`."""

    def __init__(self, styles: Iterable[StyleSpec] = (), *, load_entry_points: bool = False) -> None:
        self._styles: dict[str, StyleSpec] = {}
        self._keys: dict[str, str] = {}
        self._entry_points_pending = load_entry_points
        for style in styles:
            self.register(style)

    def register(self, style: StyleSpec, *, replace: bool = False) -> StyleSpec:
        """Add ``style``; its name and aliases must not clash with another style unless ``replace``."""
        if not isinstance(style, StyleSpec):
            raise StyleRegistryError(f"expected a StyleSpec, got {type(style).__name__}")
        own_key = normalize_style_key(style.name)
        order = list(self._styles)
        if replace and own_key in self._styles:
            self.unregister(style.name)
        for key in style.keys:
            owner = self._keys.get(key)
            if owner is not None and owner != own_key:
                raise StyleRegistryError(
                    f"style {style.name!r}: name/alias {key!r} already belongs to {self._styles[owner].name!r}"
                )
        if own_key in self._styles:
            raise StyleRegistryError(f"style {style.name!r} is already registered (pass replace=True)")
        self._styles[own_key] = style
        if own_key in order:  # a replaced style keeps its place in the listing
            self._styles = {k: self._styles[k] for k in order}
        for key in style.keys:
            self._keys[key] = own_key
        return style

    def unregister(self, name: str) -> StyleSpec:
        style = self.get(name)
        own_key = normalize_style_key(style.name)
        del self._styles[own_key]
        self._keys = {k: v for k, v in self._keys.items() if v != own_key}
        return style

    def _load_pending_entry_points(self) -> None:
        if self._entry_points_pending:
            self._entry_points_pending = False
            load_entry_point_styles(self)

    def get(self, name_or_alias: str | StyleSpec) -> StyleSpec:
        if isinstance(name_or_alias, StyleSpec):
            return name_or_alias
        self._load_pending_entry_points()
        own_key = self._keys.get(normalize_style_key(str(name_or_alias)))
        if own_key is None:
            raise UnknownStyleError(
                f"unknown style {name_or_alias!r}; valid styles: {', '.join(self.names())} "
                f"(aliases: {', '.join(a for s in self._styles.values() for a in s.aliases)})"
            )
        return self._styles[own_key]

    def names(self) -> list[str]:
        self._load_pending_entry_points()
        return [s.name for s in self._styles.values()]

    def styles(self) -> list[StyleSpec]:
        self._load_pending_entry_points()
        return list(self._styles.values())

    def __contains__(self, name: object) -> bool:
        self._load_pending_entry_points()
        return isinstance(name, str) and normalize_style_key(name) in self._keys


DEFAULT_REGISTRY = StyleRegistry(BUILTIN_STYLES, load_entry_points=True)


def get_style(name_or_alias: str | StyleSpec, registry: StyleRegistry | None = None) -> StyleSpec:
    """Look a style up by name, slug or alias (case/space-insensitive); raises :class:`UnknownStyleError`."""
    return (registry or DEFAULT_REGISTRY).get(name_or_alias)


def list_styles(registry: StyleRegistry | None = None) -> list[StyleSpec]:
    """All registered styles, built-ins first, in registration order."""
    return (registry or DEFAULT_REGISTRY).styles()


def style_names(registry: StyleRegistry | None = None) -> list[str]:
    return (registry or DEFAULT_REGISTRY).names()


def register_style(
    style: StyleSpec, *, replace: bool = False, registry: StyleRegistry | None = None
) -> StyleSpec:
    return (registry or DEFAULT_REGISTRY).register(style, replace=replace)


def _styles_from_data(data: Any, source: str) -> list[StyleSpec]:
    """Accept ``{"styles": [...]}``, ``{"styles": {name: {...}}}``, a list, or ``{name: {...}}``."""
    if isinstance(data, Mapping) and "styles" in data:
        data = data["styles"]
    if isinstance(data, Mapping):
        items = [{"name": name, **dict(body or {})} for name, body in data.items()]
    elif isinstance(data, list):
        items = data
    else:
        raise StyleRegistryError(f"{source}: expected a list or mapping of styles, got {type(data).__name__}")
    styles = []
    for item in items:
        if not isinstance(item, Mapping):
            raise StyleRegistryError(f"{source}: each style must be a mapping, got {item!r}")
        try:
            styles.append(StyleSpec.from_dict(item))
        except (TypeError, StyleRegistryError) as exc:
            raise StyleRegistryError(f"{source}: {exc}") from exc
    return styles


def _check_templates(styles: Iterable[StyleSpec], source: str) -> None:
    from drum_gen.corpus import TEMPLATES  # late import: corpus depends on styles

    for style in styles:
        if style.template not in TEMPLATES:
            raise StyleRegistryError(
                f"{source}: style {style.name!r} uses unknown template {style.template!r}; "
                f"valid templates: {', '.join(TEMPLATES)}"
            )


def load_style_file(
    path: str | Path, *, registry: StyleRegistry | None = None, replace: bool = False
) -> list[StyleSpec]:
    """Register the styles of a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file and return them.

    Schema: ``styles:`` holding a list of style mappings (``name`` plus :class:`StyleSpec` fields) or a
    mapping ``name -> fields``. ``per_instrument_offsets_ms`` keys are GM pitches.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"style file not found: {path}")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise StyleRegistryError(f"{path}: style files must be .yaml, .yml or .toml, got {suffix!r}")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise StyleRegistryError(f"{path}: cannot parse style file: {exc}") from exc
    styles = _styles_from_data(data, str(path))
    _check_templates(styles, str(path))
    target = registry or DEFAULT_REGISTRY
    return [target.register(style, replace=replace) for style in styles]


def load_entry_point_styles(registry: StyleRegistry | None = None) -> list[StyleSpec]:
    """Register styles advertised by installed packages in the ``drum_gen.styles`` entry-point group."""
    target = registry or DEFAULT_REGISTRY
    registered = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if callable(obj) and not isinstance(obj, StyleSpec):
            obj = obj()
        if isinstance(obj, StyleSpec):
            styles = [obj]
        elif isinstance(obj, list | tuple) and all(isinstance(s, StyleSpec) for s in obj):
            styles = list(obj)
        else:
            styles = _styles_from_data(obj, f"entry point {ep.name!r}")
        _check_templates(styles, f"entry point {ep.name!r}")
        registered.extend(target.register(s, replace=True) for s in styles)
    return registered
