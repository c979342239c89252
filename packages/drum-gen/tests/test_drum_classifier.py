"""Style classifier: features, fitting on the corpus, held-out accuracy, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest
from drum_gen.classifier import ClassifierError, StyleClassifier, style_features
from drum_gen.corpus import generate_corpus
from drum_gen.gm import CLOSED_HIHAT, KICK, NUM_DRUM_CLASSES, pitch_to_class
from drum_gen.pattern import DrumNote, Pattern

STYLES = ["J Dilla", "Metro Boomin", "Questlove", "Timbaland"]


@pytest.fixture(scope="module")
def fitted() -> StyleClassifier:
    items = generate_corpus(12, seed=1, bars=2)
    return StyleClassifier(STYLES).fit([i.pattern for i in items], [i.style for i in items])


def test_features_are_bar_averaged_onset_frequencies() -> None:
    one_bar = Pattern(
        (DrumNote(0, KICK, 100, 60), DrumNote(60, CLOSED_HIHAT, 80, 30)), tempo_bpm=100.0, bars=1
    )
    two_bars = Pattern(
        (*one_bar.notes, DrumNote(1920, KICK, 100, 60), DrumNote(1980, CLOSED_HIHAT, 80, 30)),
        tempo_bpm=100.0,
        bars=2,
    )
    features = style_features(one_bar)
    steps = 96  # 24 positions per beat x 4 beats
    assert features.shape == (NUM_DRUM_CLASSES * steps + NUM_DRUM_CLASSES,)
    grid = features[: NUM_DRUM_CLASSES * steps].reshape(NUM_DRUM_CLASSES, steps)
    assert grid[pitch_to_class(KICK), 0] == 1.0
    assert grid[pitch_to_class(CLOSED_HIHAT), 3] == 1.0  # a 32nd note = 3 positions of 1/24 beat
    assert grid.sum() == 2.0
    np.testing.assert_allclose(style_features(two_bars), features)


def test_classifier_separates_corpus_styles_on_unseen_patterns(fitted: StyleClassifier) -> None:
    test_items = generate_corpus(5, seed=99, bars=2)
    report = fitted.score([i.pattern for i in test_items], [i.style for i in test_items])
    assert report.accuracy >= 0.9
    assert set(report.per_style_accuracy) == set(STYLES)
    assert sum(map(sum, report.confusion)) == len(test_items)
    probs = fitted.predict_proba([test_items[0].pattern])
    assert probs.shape == (1, 4) and abs(probs.sum() - 1.0) < 1e-5


def test_save_and_load_give_identical_predictions(tmp_path, fitted: StyleClassifier) -> None:
    path = fitted.save(tmp_path / "clf.json")
    loaded = StyleClassifier.load(path)
    patterns = [i.pattern for i in generate_corpus(2, seed=5, bars=2)]
    np.testing.assert_allclose(loaded.predict_proba(patterns), fitted.predict_proba(patterns), rtol=1e-5)
    path.write_text("{not json")
    with pytest.raises(ClassifierError, match="cannot read"):
        StyleClassifier.load(path)


def test_errors_are_clear() -> None:
    with pytest.raises(ClassifierError, match="at least two"):
        StyleClassifier(["only"])
    pattern = Pattern((DrumNote(0, KICK, 100, 60),), tempo_bpm=100.0, bars=1)
    with pytest.raises(ClassifierError, match="not fitted"):
        StyleClassifier(STYLES).predict([pattern])
    with pytest.raises(ClassifierError, match="not among"):
        StyleClassifier(STYLES).fit([pattern], ["Skrillex"])
    with pytest.raises(ClassifierError, match="unfitted"):
        StyleClassifier(STYLES).save("/tmp/never.json")
