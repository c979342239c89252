"""Evaluation of onsets and of the rudiment pipeline on a tiny generated dataset.

The metric helpers are checked against scikit-learn; the report's bookkeeping against a stub pipeline
whose answers are known, and against a random-weights pipeline for internal consistency.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from shared_audio_core.synth import default_soundfont
from sklearn.metrics import f1_score, top_k_accuracy_score
from sousa_rudiments.dataset import GenerateConfig, generate
from sousa_rudiments.presets import get_preset
from sousa_rudiments.recognition.cache import RUDIMENT_SLUGS
from sousa_rudiments.recognition.evaluate import (
    EvaluationError,
    EvaluationReport,
    confusion_matrix,
    evaluate_onsets,
    evaluate_pipeline,
    limit_clips,
    macro_f1,
    most_confused_pairs,
    top_k_accuracy,
)
from sousa_rudiments.recognition.features import STROKE_FEATURES, stroke_targets
from sousa_rudiments.recognition.models import DirectAudioModel, FeatureInferenceModel, OnsetTransformer
from sousa_rudiments.recognition.pipeline import (
    NoOnsetsError,
    RudimentGuess,
    RudimentPipeline,
    RudimentPrediction,
    StrokeEstimate,
)
from sousa_rudiments.rudiments import get_rudiment

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAND = STROKE_FEATURES.index("is_right_hand")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` preset with audio: 4 players (one per tier) x 3 rudiments x 2 augmentations = 24 clips."""
    out = tmp_path_factory.mktemp("sousa") / "tiny"
    generate(
        GenerateConfig(
            out,
            get_preset("tiny"),
            seed=0,
            with_audio=True,
            soundfonts=(default_soundfont(),),
            progress=False,
        )
    )
    return out


@pytest.fixture(scope="module")
def samples(dataset: Path) -> pd.DataFrame:
    return pd.read_parquet(dataset / "labels" / "samples.parquet").set_index("sample_id")


def _split_ids(dataset: Path, split: str) -> list[str]:
    profiles = json.loads((dataset / "splits.json").read_text())["splits"][split]["profiles"]
    table = pd.read_parquet(dataset / "labels" / "samples.parquet")
    return sorted(table.loc[table["profile_id"].isin(profiles), "sample_id"])


# ------------------------------------------------------------------------------------------ metric helpers
@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_and_top_k_match_sklearn_on_random_rankings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, classes = 200, 40
    y_true = rng.integers(0, classes, n)
    scores = rng.random((n, classes))
    scores[np.arange(n), y_true] += rng.random(n)  # better than chance, so the metrics are not all ~0
    rankings = np.argsort(-scores, axis=1)[:, :5]
    for k in (1, 3, 5):
        expected = top_k_accuracy_score(y_true, scores, k=k, labels=np.arange(classes))
        assert top_k_accuracy(y_true, rankings, k) == pytest.approx(expected)
    y_pred = rankings[:, 0]
    assert macro_f1(y_true, y_pred) == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    # abstentions (-1) and an explicit label set, as the report uses them
    abstain = y_pred.copy()
    abstain[rng.random(n) < 0.2] = -1
    labels = sorted((set(y_true) | set(abstain)) - {-1})
    expected = f1_score(y_true, abstain, labels=labels, average="macro", zero_division=0)
    assert macro_f1(y_true, abstain, labels=labels) == pytest.approx(expected)
    # a label set wider than the data: absent classes score 0, as zero_division=0
    wide = range(classes + 3)
    expected = f1_score(y_true, y_pred, labels=list(wide), average="macro", zero_division=0)
    assert macro_f1(y_true, y_pred, labels=wide) == pytest.approx(expected)


def test_top_k_counts_short_and_empty_rankings_as_misses() -> None:
    assert top_k_accuracy([0, 1, 2], [[0], [2, 1], []], 1) == pytest.approx(1 / 3)
    assert top_k_accuracy([0, 1, 2], [[0], [2, 1], []], 5) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="k must be"):
        top_k_accuracy([0], [[0]], 0)


def test_confusion_matrix_and_most_confused_pairs() -> None:
    matrix = confusion_matrix([0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 0, -1, 1, 1, 0], num_classes=3)
    assert matrix.tolist() == [[1, 2, 0], [1, 0, 0], [1, 2, 0]]  # the -1 (no answer) is left out
    pairs = most_confused_pairs(matrix, ["a", "b", "c"], n=3)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("a", "b", 2),
        ("c", "b", 2),
        ("b", "a", 1),
    ]
    assert pairs[0]["rate"] == pytest.approx(2 / 3)
    assert pairs[2]["rate"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------- pipeline, stubbed
class KnownAnswers:
    """A stand-in pipeline whose answers are fixed per rudiment; strokes and onsets are the labels.

    flam-tap: right; single-paradiddle: flam-tap first, itself second; multiple-bounce-roll: ranked
    first but "not found". Onsets are the labelled stroke times (F = 1); stroke features are the
    aligned targets with the hand flipped (hand accuracy 0, everything else 1). ``refuse`` makes
    predict_file raise for the clips of that rudiment.
    """

    def __init__(self, dataset: Path, refuse: str | None = None) -> None:
        self.samples = pd.read_parquet(dataset / "labels" / "samples.parquet").set_index("sample_id")
        strokes = pd.read_parquet(dataset / "labels" / "strokes.parquet")
        self.strokes = {
            s: g.sort_values("actual_time_ms").to_dict("records") for s, g in strokes.groupby("sample_id")
        }
        self.refuse = refuse
        self.calls: list[str] = []

    def predict_file(self, path: Path) -> RudimentPrediction:
        sample_id = Path(path).stem
        self.calls.append(sample_id)
        row = self.samples.loc[sample_id]
        truth = row["rudiment_slug"]
        if truth == self.refuse:
            raise NoOnsetsError("no drum strokes detected in the recording")
        first = {"flam-tap": "flam-tap", "single-paradiddle": "flam-tap"}.get(truth, truth)
        others = [s for s in RUDIMENT_SLUGS if s not in (first, truth)]
        ranking = [first] + ([truth] if truth != first else []) + others
        top = [
            RudimentGuess(s, get_rudiment(s).name, p)
            for s, p in zip(ranking[:5], (0.5, 0.2, 0.1, 0.1, 0.1), strict=True)
        ]
        strokes = self.strokes[sample_id]
        times = np.array([s["actual_time_ms"] / 1000.0 for s in strokes])
        features, _ = stroke_targets(times, strokes, float(row["tempo_bpm"]))
        features[:, HAND] = 1.0 - features[:, HAND]
        found = truth != "multiple-bounce-roll"
        return RudimentPrediction(
            top=top,
            found=found,
            reason=None if found else "no rudiment is likely enough",
            tempo_bpm=float(row["tempo_bpm"]),
            duration_s=float(row["duration_sec"]),
            onset_times=times,
            stroke_features=features,
            # every fourth detection is called spurious although it is a labelled stroke
            strokes=[
                StrokeEstimate(float(t), 1.0, "R", 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, p_stroke=float(i % 4 != 0))
                for i, t in enumerate(times)
            ],
        )


def test_report_bookkeeping_with_known_answers(dataset: Path, samples: pd.DataFrame, tmp_path: Path) -> None:
    stub = KnownAnswers(dataset)
    report = evaluate_pipeline(stub, dataset, "train", progress=False)
    ids = _split_ids(dataset, "train")
    assert sorted(stub.calls) == ids, "every clip of the split, each once, from its audio path"
    n = len(ids)
    per_rudiment = samples.loc[ids, "rudiment_slug"].value_counts().to_dict()
    assert set(per_rudiment) == {"flam-tap", "single-paradiddle", "multiple-bounce-roll"}
    ft, sp, mbr = (per_rudiment[s] for s in ("flam-tap", "single-paradiddle", "multiple-bounce-roll"))

    o = report.overall
    assert o["clips"] == n
    assert o["top1"] == pytest.approx(ft / n)  # only flam-tap is answered right
    assert o["top1_ranking"] == pytest.approx((ft + mbr) / n)  # not found, yet ranked first
    assert o["top3"] == o["top5"] == pytest.approx(1.0)
    assert o["not_found_rate"] == pytest.approx(mbr / n) and o["not_found"] == mbr and o["errors"] == 0
    # answers: flam-tap for ft+sp clips, none for mbr → F1(flam-tap) = 2ft/(2ft+sp), 0 for the others
    assert report.macro_f1 == pytest.approx((2 * ft / (2 * ft + sp)) / 3)
    truth = [RUDIMENT_SLUGS.index(s) for s in samples.loc[ids, "rudiment_slug"]]
    answers = [
        -1 if t == RUDIMENT_SLUGS.index("multiple-bounce-roll") else RUDIMENT_SLUGS.index("flam-tap")
        for t in truth
    ]
    assert report.macro_f1 == pytest.approx(
        f1_score(truth, answers, labels=sorted(set(truth)), average="macro")
    )

    index = RUDIMENT_SLUGS.index
    assert report.confusion.shape == (40, 40) and report.confusion.sum() == n
    assert report.confusion[index("flam-tap"), index("flam-tap")] == ft
    assert report.confusion[index("single-paradiddle"), index("flam-tap")] == sp
    assert report.confusion[index("multiple-bounce-roll"), index("multiple-bounce-roll")] == mbr
    assert report.most_confused == [
        {"true": "single-paradiddle", "predicted": "flam-tap", "count": sp, "rate": 1.0}
    ]

    assert list(report.per_rudiment) == ["multiple-bounce-roll", "single-paradiddle", "flam-tap"]  # PAS order
    assert report.per_rudiment["flam-tap"]["top1"] == 1.0
    assert report.per_rudiment["single-paradiddle"]["top1"] == 0.0
    assert report.per_rudiment["single-paradiddle"]["top3"] == 1.0
    assert report.per_rudiment["multiple-bounce-roll"]["not_found_rate"] == 1.0
    tiers = samples.loc[ids, "skill_tier"].value_counts().to_dict()
    assert {t: g["clips"] for t, g in report.by_skill_tier.items()} == tiers
    for groups in (report.by_augmentation, report.by_soundfont, report.by_kit):
        assert sum(g["clips"] for g in groups.values()) == n
        for g in groups.values():  # every group here mixes the three rudiments' answers the same way
            assert 0.0 <= g["top1"] <= g["top3"] <= g["top5"] <= 1.0

    strokes = report.stroke_accuracy
    n_strokes = int(samples.loc[ids, "num_strokes"].sum())
    assert strokes["matched_detections"] == strokes["detections"] == strokes["reference_strokes"] == n_strokes
    assert strokes["hand"]["accuracy"] == 0.0
    assert (
        strokes["accent"]["accuracy"] == strokes["grace"]["accuracy"] == strokes["diddle"]["accuracy"] == 1.0
    )
    assert 0.0 < strokes["grace"]["positive_rate"] < 0.5
    called_spurious = sum(-(-int(k) // 4) for k in samples.loc[ids, "num_strokes"])  # indices 0, 4, 8, …
    assert strokes["is_stroke"]["accuracy"] == pytest.approx(1 - called_spurious / n_strokes)
    assert strokes["is_stroke"]["positive_rate"] == 1.0 and strokes["is_stroke"]["count"] == n_strokes
    assert report.onsets["25ms"]["mean"]["f_measure"] == report.onsets["50ms"]["pooled"]["f_measure"] == 1.0

    data = json.loads(json.dumps(report.to_dict()))  # JSON-serialisable
    assert data["overall"]["top1"] == pytest.approx(ft / n)
    headline = report.headline()
    assert headline["clips"] == n and headline["top1"] == pytest.approx(ft / n)
    assert (
        headline["top3"] == headline["top5"] == pytest.approx(1.0) and headline["macro_f1"] == report.macro_f1
    )
    assert headline["not_found_rate"] == pytest.approx(mbr / n) and "onset_f_25ms" in headline
    assert data["confusion"]["labels"] == list(RUDIMENT_SLUGS)
    assert len(data["clips"]) == n
    assert data["clips"][0]["top"][0][1] == 0.5

    paths = report.write(tmp_path / "eval")
    assert set(paths) == {"report.json", "report.md", "confusion.png"}
    assert json.loads(paths["report.json"].read_text())["overall"]["clips"] == n
    assert paths["confusion.png"].read_bytes()[:8] == PNG_SIGNATURE
    markdown = paths["report.md"].read_text()
    assert "| single-paradiddle | flam-tap |" in markdown  # the most-confused table
    assert "![confusion matrix](confusion.png)" in markdown
    assert "### By skill tier" in markdown and "### By SoundFont" in markdown


def test_refused_clips_are_wrong_and_listed(dataset: Path) -> None:
    report = evaluate_pipeline(KnownAnswers(dataset, refuse="flam-tap"), dataset, "test", progress=False)
    refused = [o for o in report.outcomes if o.error is not None]
    assert refused and all(o.rudiment == "flam-tap" for o in refused)
    assert all("NoOnsetsError" in o.error for o in refused)
    n = report.n_clips
    assert report.overall["errors"] == len(refused)
    assert report.confusion.sum() == n - len(refused), "a refused clip has no ranking to put in the matrix"
    assert report.per_rudiment["flam-tap"]["top5"] == 0.0
    assert report.overall["not_found"] == len(refused) + sum(
        o.rudiment == "multiple-bounce-roll" for o in report.outcomes
    )
    assert "Clips the pipeline refused" in report.to_markdown()


def test_limit_spreads_over_rudiments(dataset: Path) -> None:
    stub = KnownAnswers(dataset)
    report = evaluate_pipeline(stub, dataset, "validation", progress=False, limit=3)
    assert report.n_clips == 3 == len(stub.calls)
    assert {o.rudiment for o in report.outcomes} == {"flam-tap", "single-paradiddle", "multiple-bounce-roll"}


# ------------------------------------------------------------------------------------- pipeline, random
def test_random_pipeline_report_is_internally_consistent(dataset: Path, samples: pd.DataFrame) -> None:
    torch.manual_seed(0)
    pipeline = RudimentPipeline(FeatureInferenceModel(), OnsetTransformer(), DirectAudioModel())
    report = evaluate_pipeline(pipeline, dataset, "train", progress=False)
    ids = _split_ids(dataset, "train")
    o = report.overall
    assert o["clips"] == len(ids) and o["errors"] == 0
    assert 0.0 <= o["top1"] <= o["top1_ranking"] <= o["top3"] <= o["top5"] <= 1.0
    assert 0.0 <= o["macro_f1"] <= 1.0 and 0.0 <= o["not_found_rate"] <= 1.0
    assert report.confusion.sum() == len(ids)
    assert report.confusion.sum(axis=1)[[RUDIMENT_SLUGS.index(s) for s in report.per_rudiment]].tolist() == [
        g["clips"] for g in report.per_rudiment.values()
    ]
    tiers = samples.loc[ids, "skill_tier"].value_counts().to_dict()
    assert {t: g["clips"] for t, g in report.by_skill_tier.items()} == tiers
    for groups in (report.by_augmentation, report.by_soundfont, report.by_kit, report.per_rudiment):
        assert sum(g["clips"] for g in groups.values()) == len(ids)
    weighted_top1 = sum(g["top1"] * g["clips"] for g in report.by_skill_tier.values()) / len(ids)
    assert weighted_top1 == pytest.approx(o["top1"])
    strokes = report.stroke_accuracy
    assert 0 < strokes["matched_detections"] <= min(strokes["detections"], strokes["reference_strokes"])
    for name in ("hand", "accent", "grace", "diddle", "is_stroke"):
        assert 0.0 <= strokes[name]["accuracy"] <= 1.0
    assert strokes["is_stroke"]["count"] == strokes["detections"]
    assert report.onsets["50ms"]["mean"]["f_measure"] >= report.onsets["25ms"]["mean"]["f_measure"] > 0.5
    assert [p["count"] for p in report.most_confused] == sorted(
        (p["count"] for p in report.most_confused), reverse=True
    )
    assert len(report.most_confused) <= 10
    for clip in report.outcomes:  # a not-found clip still reports its ranking
        assert len(clip.ranking) == 5
    json.dumps(report.to_dict())
    assert "| clips | top-1 | top-3 | top-5 |" in report.to_markdown()


# -------------------------------------------------------------------------------------------------- onsets
def test_evaluate_onsets_on_tiny_dataset(dataset: Path, samples: pd.DataFrame) -> None:
    report = evaluate_onsets(dataset, "train", progress=False)
    ids = _split_ids(dataset, "train")
    assert report.overall["clips"] == len(ids)
    assert report.overall["reference"] == int(samples.loc[ids, "num_strokes"].sum())  # graces included
    tiers = samples.loc[ids, "skill_tier"].value_counts().to_dict()
    assert {t: g["clips"] for t, g in report.by_skill_tier.items()} == tiers
    assert sum(g["clips"] for g in report.by_augmentation.values()) == len(ids)
    for summary in [report.overall, *report.by_skill_tier.values(), *report.by_augmentation.values()]:
        for how in ("mean", "pooled"):
            assert summary["50ms"][how]["f_measure"] >= summary["25ms"][how]["f_measure"]
            for metric in ("f_measure", "precision", "recall"):
                assert 0.0 <= summary["25ms"][how][metric] <= 1.0
        pooled = summary["50ms"]["pooled"]
        assert pooled["precision"] == pytest.approx(pooled["true_positives"] / summary["detected"])
        assert pooled["recall"] == pytest.approx(pooled["true_positives"] / summary["reference"])
    assert report.by_augmentation["clean_studio"]["50ms"]["mean"]["f_measure"] > 0.7
    assert report.f_measure(50) == report.overall["50ms"]["mean"]["f_measure"]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["windows_ms"] == [25.0, 50.0] and len(data["clips"]) == len(ids)
    markdown = report.to_markdown()
    assert "F ±25 ms" in markdown and "clean_studio" in markdown and "mean over clips / pooled" in markdown


def test_evaluate_onsets_window_order(dataset: Path) -> None:
    report = evaluate_onsets(dataset, "test", windows_ms=(10, 25, 100), progress=False, limit=3)
    f = [report.f_measure(w, pooled=True) for w in (10, 25, 100)]
    assert f == sorted(f)


# -------------------------------------------------------------------------------------------------- errors
def test_unknown_split_is_refused_with_the_known_ones(dataset: Path) -> None:
    with pytest.raises(EvaluationError, match=r"unknown split 'tset'.*'test'"):
        evaluate_onsets(dataset, "tset", progress=False)
    with pytest.raises(ValueError, match="unknown split"):
        evaluate_pipeline(KnownAnswers(dataset), dataset, "dev", progress=False)


def test_dataset_without_audio_and_empty_split_are_refused(dataset: Path, tmp_path: Path) -> None:
    copy = tmp_path / "labels_only"
    (copy / "labels").mkdir(parents=True)
    shutil.copy(dataset / "labels" / "strokes.parquet", copy / "labels")
    table = pd.read_parquet(dataset / "labels" / "samples.parquet")
    table.assign(audio_path=None).to_parquet(copy / "labels" / "samples.parquet")
    splits = json.loads((dataset / "splits.json").read_text())
    splits["splits"]["empty"] = {"profiles": [], "num_samples": 0}
    (copy / "splits.json").write_text(json.dumps(splits))
    with pytest.raises(EvaluationError, match=r"has no audio.*--with-audio"):
        evaluate_pipeline(KnownAnswers(dataset), copy, "test", progress=False)

    table.to_parquet(copy / "labels" / "samples.parquet")  # audio paths back, files absent
    with pytest.raises(EvaluationError, match="audio file"):
        evaluate_onsets(copy, "test", progress=False)
    with pytest.raises(EvaluationError, match=r"split 'empty' .* has no clips"):
        evaluate_onsets(copy, "empty", progress=False)
    with pytest.raises(EvaluationError, match="not a finished SOUSA dataset"):
        evaluate_onsets(tmp_path / "nowhere", "test", progress=False)


def test_report_from_outcomes_without_any_ranking() -> None:
    report = EvaluationReport([], split="test")
    assert report.overall["clips"] == 0 and report.overall["top1"] == 0.0
    assert report.confusion.sum() == 0 and report.most_confused == []
    json.dumps(report.to_dict())


def test_a_limited_evaluation_is_a_fixed_subset_over_rudiments_and_players() -> None:
    rows = [
        {"sample_id": f"p{p}_{slug}_{k}", "profile_id": f"p{p}", "rudiment_slug": slug}
        for slug in ("flam", "drag")
        for p in range(4)
        for k in range(5)
    ]
    samples = pd.DataFrame(rows).sort_values("sample_id").reset_index(drop=True)
    chosen = limit_clips(samples, 8)
    assert chosen["rudiment_slug"].value_counts().to_dict() == {"flam": 4, "drag": 4}
    assert chosen["profile_id"].nunique() > 1, "the first ids by name are all one player's"
    assert chosen["sample_id"].tolist() == limit_clips(samples, 8)["sample_id"].tolist()
    assert set(limit_clips(samples, 8)["sample_id"]) <= set(limit_clips(samples, 12)["sample_id"])
    assert limit_clips(samples, None) is samples
