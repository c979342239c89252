"""Style registry: built-ins, aliases, user style files and entry points."""

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from drum_gen import gm, styles
from drum_gen.styles import (
    BUILTIN_STYLES,
    StyleRegistry,
    StyleRegistryError,
    StyleSpec,
    UnknownStyleError,
    get_style,
    list_styles,
    load_style_file,
)


def test_builtin_table_values() -> None:
    table = {s.name: s for s in list_styles()}
    expected = {
        "J Dilla": (62, 20, 0.40, 0.15, (85, 95)),
        "Metro Boomin": (52, 5, 0.10, 0.08, (130, 150)),
        "Questlove": (58, 12, 0.50, 0.20, (90, 110)),
        "Timbaland": (54, 10, 0.35, 0.12, (95, 115)),
    }
    for name, (swing, micro, ghost, vel, tempo) in expected.items():
        spec = table[name]
        assert (spec.swing_percent, spec.microtiming_ms, spec.ghost_note_prob) == (swing, micro, ghost)
        assert spec.velocity_variation == vel
        assert spec.tempo_range == tempo
    assert table["J Dilla"].per_instrument_offsets_ms[gm.SNARE] > 0  # laid-back snare
    assert len({s.template for s in BUILTIN_STYLES}) == 4


@pytest.mark.parametrize(
    ("query", "name"),
    [("dilla", "J Dilla"), ("J DILLA", "J Dilla"), ("j_dilla", "J Dilla"), ("  jdilla ", "J Dilla"),
     ("metro", "Metro Boomin"), ("metro-boomin", "Metro Boomin"), ("quest", "Questlove"),
     ("timbo", "Timbaland")],
)  # fmt: skip
def test_lookup_by_alias_is_case_and_space_insensitive(query: str, name: str) -> None:
    assert get_style(query).name == name


def test_unknown_style_lists_valid_names() -> None:
    with pytest.raises(UnknownStyleError) as info:
        get_style("kenny")
    message = str(info.value)
    for name in ("J Dilla", "Metro Boomin", "Questlove", "Timbaland", "timbo"):
        assert name in message
    assert isinstance(info.value, ValueError)


def test_spec_validation_and_dict_round_trip() -> None:
    spec = get_style("dilla")
    assert StyleSpec.from_dict(spec.to_dict()) == spec
    assert spec.slug == "j_dilla"
    with pytest.raises(StyleRegistryError, match="swing_resolution"):
        StyleSpec(name="x", swing_resolution=12)
    with pytest.raises(StyleRegistryError, match="tempo_range"):
        StyleSpec(name="x", tempo_range=(120, 100))
    with pytest.raises(StyleRegistryError, match="unknown style fields"):
        StyleSpec.from_dict({"name": "x", "swagger": 1})


def test_registry_rejects_alias_clash() -> None:
    registry = StyleRegistry(BUILTIN_STYLES)
    with pytest.raises(StyleRegistryError, match="already belongs to 'J Dilla'"):
        registry.register(StyleSpec(name="Other", aliases=("dilla",)))
    with pytest.raises(StyleRegistryError, match="already registered"):
        registry.register(StyleSpec(name="J Dilla"))
    registry.register(StyleSpec(name="J Dilla", aliases=("dilla",), swing_percent=60), replace=True)
    assert registry.get("dilla").swing_percent == 60
    assert registry.names()[0] == "J Dilla"
    assert get_style("dilla").swing_percent == 62  # default registry untouched


def test_yaml_and_toml_style_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text(
        "styles:\n"
        "  - name: Pete Rock\n"
        "    aliases: [soul brother]\n"
        "    swing_percent: 60\n"
        "    tempo_range: [88, 96]\n"
        "    per_instrument_offsets_ms: {38: 10}\n"
        "    template: boom_bap\n"
    )
    toml_file = tmp_path / "more.toml"
    toml_file.write_text(
        '[styles."Zaytoven"]\nswing_percent = 51\ntempo_range = [135, 145]\ntemplate = "trap"\n'
    )
    registry = StyleRegistry(BUILTIN_STYLES)
    [pete] = load_style_file(yaml_file, registry=registry)
    [zay] = load_style_file(toml_file, registry=registry)
    assert registry.get("soul brother") is pete
    assert pete.per_instrument_offsets_ms == {38: 10.0}
    assert registry.get("zaytoven").template == "trap"
    assert [s.name for s in registry.styles()][-2:] == ["Pete Rock", zay.name]
    with pytest.raises(UnknownStyleError):
        get_style("pete rock")  # only the given registry changed


def test_bad_style_files(tmp_path: Path) -> None:
    bad_template = tmp_path / "t.yaml"
    bad_template.write_text("styles:\n  - name: X\n    template: polka\n")
    with pytest.raises(StyleRegistryError, match="unknown template 'polka'; valid templates: boom_bap"):
        load_style_file(bad_template, registry=StyleRegistry())
    wrong_suffix = tmp_path / "s.json"
    wrong_suffix.write_text("{}")
    with pytest.raises(StyleRegistryError, match=r"\.yaml, \.yml or \.toml"):
        load_style_file(wrong_suffix, registry=StyleRegistry())
    broken = tmp_path / "b.toml"
    broken.write_text("styles = [")
    with pytest.raises(StyleRegistryError, match="cannot parse"):
        load_style_file(broken, registry=StyleRegistry())


def test_entry_point_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = tmp_path / "drum_style_plugin_for_test.py"
    plugin.write_text(
        "from drum_gen.styles import StyleSpec\n"
        "def styles():\n"
        "    return [StyleSpec(name='Entry Point Style', aliases=('eps',), template='funk')]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint(name="eps", value="drum_style_plugin_for_test:styles", group=styles.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        styles, "entry_points", lambda group: [ep] if group == styles.ENTRY_POINT_GROUP else []
    )
    registry = StyleRegistry(BUILTIN_STYLES, load_entry_points=True)
    assert registry.get("EPS").name == "Entry Point Style"
    assert registry.names()[-1] == "Entry Point Style"


def test_specs_are_hashable_for_caches() -> None:
    from drum_gen.humanize import HumanizeConfig

    spec = get_style("dilla")
    assert {spec: 1}[get_style("J Dilla")] == 1
    assert hash(HumanizeConfig.from_style(spec)) == hash(HumanizeConfig.from_style("dilla"))
