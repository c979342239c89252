"""Figures: what they draw (read back from the artists) and that the PNG files are valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.image import imread
from sousa_rudiments.recognition import plots
from sousa_rudiments.recognition.cache import RUDIMENT_SLUGS
from sousa_rudiments.recognition.features import STROKE_FEATURES
from sousa_rudiments.recognition.models import DirectAudioModel, FeatureInferenceModel, OnsetTransformer
from sousa_rudiments.recognition.pipeline import RudimentPipeline, RudimentPrediction
from sousa_rudiments.rudiments import get_rudiment

SR = 22_050
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, RudimentPrediction]:
    """Two seconds of decaying noise bursts every 150 ms and a random-weights pipeline's prediction of it."""
    rng = np.random.default_rng(0)
    audio = np.zeros(2 * SR, dtype=np.float32)
    burst = (rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300.0)).astype(np.float32)
    for k, start in enumerate(range(2000, len(audio) - 2000, int(0.15 * SR))):
        audio[start : start + 2000] += burst * (0.9 if k % 4 == 0 else 0.4)
    torch.manual_seed(0)
    pipeline = RudimentPipeline(FeatureInferenceModel(), OnsetTransformer(), DirectAudioModel())
    prediction = pipeline.predict(audio, SR)
    assert len(prediction.strokes) >= 8
    return audio, prediction


def _texts(ax, gid: str) -> list[str]:
    """Text of the artists with ``gid``, left to right."""
    items = sorted((t for t in ax.texts if t.get_gid() == gid), key=lambda t: t.get_position()[0])
    return [t.get_text() for t in items]


def _sticking(slug: str) -> str:
    """The diagram's hand and grace letters in time order."""
    ax = plots.sticking_diagram(slug).axes[0]
    items = sorted(
        (t for t in ax.texts if t.get_gid() in ("hand", "grace")), key=lambda t: t.get_position()[0]
    )
    return " ".join(t.get_text() for t in items)


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_SIGNATURE and imread(path).ndim == 3


# --------------------------------------------------------------------------------------------- sticking
def test_sticking_diagrams_read_in_pas_order() -> None:
    assert _sticking("flam-tap") == "l R R r L L"  # lR R rL L; the cycle repeats as written
    assert _sticking("single-paradiddle") == "R L R R L R L L"  # the R-lead cycle, then the mirrored one
    assert _sticking("drag") == "l l R r r L"
    assert _sticking("single-stroke-roll") == "R L R L"


def test_sticking_diagram_marks_accents_graces_diddles_and_buzz() -> None:
    figure = plots.sticking_diagram("single-paradiddle")
    ax = figure.axes[0]
    assert "PAS #16" in ax.get_title() and "Single Paradiddle" in ax.get_title()
    hands = sorted((t for t in ax.texts if t.get_gid() == "hand"), key=lambda t: t.get_position()[0])
    accents = [t.get_position()[0] for t in ax.texts if t.get_gid() == "accent"]
    assert [t.get_text() for t in ax.texts if t.get_gid() == "accent"] == [">", ">"]
    assert sorted(accents) == [hands[0].get_position()[0], hands[4].get_position()[0]]  # on each cycle's lead
    diddles = [line for line in ax.lines if line.get_gid() == "diddle"]
    assert len(diddles) == 2  # RR, then LL
    assert set(np.asarray(diddles[0].get_xdata())) == {hands[2].get_position()[0], hands[3].get_position()[0]}

    buzz = plots.sticking_diagram("multiple-bounce-roll").axes[0]
    assert _texts(buzz, "buzz") == ["z"] * 4 and _texts(buzz, "hand") == ["R", "L", "R", "L"]
    flam = plots.sticking_diagram("flam-tap").axes[0]
    graces = sorted((t for t in flam.texts if t.get_gid() == "grace"), key=lambda t: t.get_position()[0])
    primaries = sorted((t for t in flam.texts if t.get_gid() == "hand"), key=lambda t: t.get_position()[0])
    assert primaries[0].get_position()[0] - 0.5 < graces[0].get_position()[0] < primaries[0].get_position()[0]
    assert graces[0].get_fontsize() < primaries[0].get_fontsize()


@pytest.mark.parametrize("slug", RUDIMENT_SLUGS)
def test_sticking_diagram_draws_every_rudiment_from_the_library(slug: str) -> None:
    rudiment = get_rudiment(slug)
    cycles = [rudiment.cycle("R")] + ([rudiment.cycle("L")] if rudiment.alternates_lead else [])
    ax = plots.sticking_diagram(slug).axes[0]
    assert _texts(ax, "hand") == [s.hand for c in cycles for s in c]
    assert len(_texts(ax, "grace")) == rudiment.num_grace_notes * len(cycles)
    assert len(_texts(ax, "accent")) == sum(s.accent for s in rudiment.strokes) * len(cycles)
    assert len(_texts(ax, "buzz")) == sum(s.kind == "buzz" for s in rudiment.strokes) * len(cycles)
    assert f"PAS #{rudiment.number}: {rudiment.name}" in ax.get_title()


# ---------------------------------------------------------------------------------------- prediction plots
def test_onset_timeline_marks_every_stroke_by_kind_and_hand(clip) -> None:
    audio, prediction = clip
    figure = plots.onset_timeline(audio, SR, prediction)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    vertical = [line for line in ax.lines if np.ptp(np.asarray(line.get_xdata(), dtype=float)) == 0]
    assert len(vertical) == len(prediction.strokes)
    assert sorted(float(line.get_xdata()[0]) for line in vertical) == pytest.approx(
        sorted(s.time_s for s in prediction.strokes)
    )
    by_time = {round(float(line.get_xdata()[0]), 6): to_hex(line.get_color()) for line in vertical}
    for stroke in prediction.strokes:
        assert by_time[round(stroke.time_s, 6)] == to_hex(plots.KIND_COLOURS[stroke.kind])
    assert _texts(ax, "hand") == [s.hand for s in sorted(prediction.strokes, key=lambda s: s.time_s)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["grace", "tap", "accent", "diddle", "buzz"]


def test_stroke_feature_heatmap_shows_the_features(clip) -> None:
    _, prediction = clip
    ax = plots.stroke_feature_heatmap(prediction).axes[0]
    image = ax.get_images()[0].get_array()
    assert image.shape == (len(STROKE_FEATURES), len(prediction.strokes))
    np.testing.assert_allclose(image, np.clip(prediction.stroke_features.T, 0, 1), rtol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(STROKE_FEATURES)

    empty = RudimentPrediction([], False, "no strokes", 0.0, 1.0, np.zeros(0), np.zeros((0, 12)), [])
    assert "no onsets detected" in _texts(plots.stroke_feature_heatmap(empty).axes[0], None)


def test_prediction_figure_combines_timeline_heatmap_and_predicted_sticking(clip) -> None:
    audio, prediction = clip
    figure = plots.prediction_figure(audio, SR, prediction)
    titles = [ax.get_title() for ax in figure.axes]
    best = get_rudiment(prediction.best.slug)
    assert any("onsets detected" in t for t in titles)
    assert any("stroke features" in t for t in titles)
    assert any(f"PAS #{best.number}: {best.name}" in t for t in titles)
    headline = figure.get_suptitle()
    assert best.name in headline
    if not prediction.found:  # random weights: nothing is likely enough
        assert headline.startswith("no rudiment found") and "best guess" in headline


def test_confusion_matrix_figure_annotates_counts() -> None:
    matrix = np.zeros((40, 40), dtype=int)
    matrix[0, 0], matrix[15, 21], matrix[15, 15] = 3, 2, 1
    ax = plots.confusion_matrix_figure(matrix, RUDIMENT_SLUGS).axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "3"]
    assert "6 clips" in ax.get_title()
    shares = ax.get_images()[0].get_array()
    assert shares[15, 21] == pytest.approx(2 / 3) and shares[1].sum() == 0
    assert ax.get_yticklabels()[15].get_text() == "single-paradiddle (#16)"
    with pytest.raises(ValueError, match="do not match"):
        plots.confusion_matrix_figure(matrix, RUDIMENT_SLUGS[:3])


def test_save_helpers_write_valid_png(clip, tmp_path: Path) -> None:
    audio, prediction = clip
    written = [
        plots.save_onset_timeline(audio, SR, prediction, tmp_path / "timeline.png"),
        plots.save_stroke_feature_heatmap(prediction, tmp_path / "heatmap.png"),
        plots.save_sticking_diagram("flam-tap", tmp_path / "sticking.png"),
        plots.save_confusion_matrix(np.eye(40, dtype=int), RUDIMENT_SLUGS, tmp_path / "confusion.png"),
        plots.save_prediction_figure(audio, SR, prediction, tmp_path / "nested" / "prediction.png"),
    ]
    for path in written:
        assert path.is_file() and _is_png(path), path
    height, width = imread(written[-1]).shape[:2]
    assert width > height > 500  # one tall figure of three panels at 100 dpi


def test_save_figure_follows_the_suffix_and_refuses_unknown_ones(tmp_path: Path) -> None:
    svg = plots.save_sticking_diagram("flam", tmp_path / "flam.svg")
    assert b"<svg" in svg.read_bytes()[:2000]
    assert _is_png(plots.save_sticking_diagram("flam", tmp_path / "no_suffix"))
    with pytest.raises(ValueError, match=r"cannot write a \.xyz figure"):
        plots.save_sticking_diagram("flam", tmp_path / "flam.xyz")
    assert not (tmp_path / "flam.xyz").exists()
