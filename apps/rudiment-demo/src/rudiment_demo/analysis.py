"""One recording → everything the page shows: top-k, sticking notation, figures (no Gradio here).

The pipeline and the figures come from ``sousa_rudiments``; this module only arranges them for the
page: a ranking for ``gr.Label`` and a table, a written sticking of the predicted rudiment and of the
strokes heard, and the library's figures. Keeping Gradio out makes it testable without a server.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from shared_audio_core.audio import AudioError, audio_info, load_audio
from sousa_rudiments.recognition.pipeline import (
    RudimentPipeline,
    RudimentPrediction,
    StrokeEstimate,
    default_model_dir,
)
from sousa_rudiments.recognition.plots import onset_timeline, sticking_diagram, stroke_feature_heatmap
from sousa_rudiments.rudiments import Rudiment, RudimentStroke, get_rudiment

log = logging.getLogger(__name__)

#: Errors that mean "this recording cannot be analysed" (the library's typed errors, missing or
#: undecodable files); anything else is a bug and must not be dressed up as a user mistake.
BAD_AUDIO_ERRORS: tuple[type[BaseException], ...] = (AudioError, ValueError, OSError)

#: Strokes written out in the "heard" line; a long take would otherwise fill the page.
MAX_HEARD_STROKES = 64

NOTATION_KEY = (
    "`R`/`L` hand · `>` accent · lowercase letters = grace notes before the stroke (one: flam, two: drag) · "
    "two letters together (`RR`) = diddle · `z` after a stroke = buzz"
)


@dataclass
class DemoResult:
    """What the page shows for one recording."""

    prediction: RudimentPrediction
    label: dict[str, float]  # rudiment name → probability, best first (``gr.Label``)
    table: list[list[object]]  # rank, rudiment, PAS #, probability in %
    summary: str  # Markdown headline: the answer, or why there is none
    sticking: str  # Markdown: written sticking of the predicted rudiment and of the strokes heard
    sticking_figure: Figure
    timeline_figure: Figure
    features_figure: Figure


# ------------------------------------------------------------------------------------------- notation
def _rudiment_tokens(strokes: Sequence[RudimentStroke]) -> list[str]:
    tokens: list[str] = []
    for stroke in strokes:
        if stroke.diddle_position == 2 and tokens:
            tokens[-1] += stroke.hand  # second stroke of a diddle joins the first: RR
            continue
        grace = (stroke.grace_hand or stroke.hand).lower() * stroke.grace_notes
        buzz = "z" if stroke.kind == "buzz" else ""
        tokens.append((">" if stroke.accent else "") + grace + stroke.hand + buzz)
    return tokens


def rudiment_sticking(rudiment: Rudiment) -> str:
    """The rudiment's sticking as text: one cycle, plus the mirrored one when the lead alternates."""
    cycles = [rudiment.cycle("R")] + ([rudiment.cycle("L")] if rudiment.alternates_lead else [])
    return " | ".join(" ".join(_rudiment_tokens(cycle)) for cycle in cycles)


def heard_sticking(strokes: Sequence[StrokeEstimate], limit: int = MAX_HEARD_STROKES) -> str:
    """The strokes the feature model heard, in the same notation as :func:`rudiment_sticking`.

    A grace note is attached to the stroke after it; two diddle strokes in a row by one hand are
    written together. Only the first ``limit`` strokes are written.
    """
    tokens: list[str] = []
    graces = ""
    open_diddle = False  # the last token is a diddle's first stroke, waiting for its second
    for stroke in strokes[:limit]:
        if stroke.kind == "grace":
            graces += stroke.hand.lower()
            open_diddle = False
            continue
        accent = stroke.p_accent >= 0.5
        is_diddle = stroke.p_diddle >= 0.5
        if is_diddle and open_diddle and not graces and not accent and tokens[-1].endswith(stroke.hand):
            tokens[-1] += stroke.hand
            open_diddle = False
            continue
        buzz = "z" if stroke.p_buzz >= 0.5 else ""
        tokens.append((">" if accent else "") + graces + stroke.hand + buzz)
        graces = ""
        open_diddle = is_diddle
    if graces:
        tokens.append(graces)  # grace notes at the very end, before a stroke that was cut off
    text = " ".join(tokens)
    if len(strokes) > limit:
        text += f" … (+{len(strokes) - limit} more strokes)"
    return text


# -------------------------------------------------------------------------------------------- result
def _model_description(pipeline: RudimentPipeline) -> str:
    if Path(pipeline.source).resolve() == default_model_dir().resolve():
        return "the default model shipped in sousa-rudiments"
    return f"the model in `{pipeline.source}`"


def _summary(prediction: RudimentPrediction, pipeline: RudimentPipeline) -> str:
    facts = (
        f"tempo ≈ {prediction.tempo_bpm:.0f} BPM · {prediction.duration_s:.2f} s · "
        f"{len(prediction.strokes)} strokes detected · {_model_description(pipeline)} "
        f"({prediction.mode})"
    )
    if prediction.found:
        best = prediction.best
        number = get_rudiment(best.slug).number
        lines = [f"### {best.name} (PAS #{number}) — {best.probability:.0%}", facts]
    else:
        lines = [
            "### No rudiment found",
            f"{prediction.reason[0].upper()}{prediction.reason[1:]}."
            if prediction.reason
            else "The model gives no answer.",
            "The ranking below is the closest guesses, not an answer.",
            facts,
        ]
    if len(prediction.windows) > 1:
        lines.append("Per analysis window:")
        lines += [
            f"- {w['start_s']:.1f}–{w['end_s']:.1f} s: {get_rudiment(w['rudiment']).name} "
            f"({w['probability']:.0%})"
            for w in prediction.windows
        ]
    return "\n\n".join(lines)


def _sticking_markdown(prediction: RudimentPrediction) -> str:
    rudiment = get_rudiment(prediction.best.slug)
    which = "Predicted" if prediction.found else "Closest guess"
    return "\n\n".join(
        [
            f"**{which}: {rudiment.name}** (PAS #{rudiment.number}, {rudiment.time_feel}) — "
            f"sticking as written:\n\n```\n{rudiment_sticking(rudiment)}\n```",
            f"**Heard** ({len(prediction.strokes)} strokes; hands are inferred from the pattern, "
            f"not from the sound of each hand):\n\n```\n{heard_sticking(prediction.strokes)}\n```",
            NOTATION_KEY,
        ]
    )


def analyse(pipeline: RudimentPipeline, path: str | Path, *, top_k: int = 5) -> DemoResult:
    """Classify the audio file at ``path`` at its own sample rate and build the page's content.

    Raises the library's typed errors (see :data:`BAD_AUDIO_ERRORS`) for audio it cannot analyse.
    """
    sample_rate = audio_info(path).sample_rate
    audio = load_audio(path, sample_rate)
    prediction = pipeline.predict(audio, sample_rate, top_k=top_k)
    analysed = pipeline.prepare_audio(audio, sample_rate)  # mono at the analysis rate, what was heard
    analysis_rate = pipeline.config.onsets.sample_rate
    return DemoResult(
        prediction=prediction,
        label={guess.name: guess.probability for guess in prediction.top},
        table=[
            [rank, guess.name, get_rudiment(guess.slug).number, round(100 * guess.probability, 1)]
            for rank, guess in enumerate(prediction.top, 1)
        ],
        summary=_summary(prediction, pipeline),
        sticking=_sticking_markdown(prediction),
        sticking_figure=sticking_diagram(prediction.best.slug),
        timeline_figure=onset_timeline(analysed, analysis_rate, prediction),
        features_figure=stroke_feature_heatmap(prediction),
    )


def user_message(error: BaseException, path: str | Path | None = None) -> str:
    """The library's one-line message, with the upload's temporary folder replaced by its file name."""
    if isinstance(error, FileNotFoundError):
        return "the audio file is missing (upload it again)"
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if path is not None:
        path = Path(path)
        for full in (str(path.resolve()), str(path)):
            message = message.replace(full, path.name)
    return message


def _click_track(sample_rate: int = 44_100, seconds: float = 2.0) -> np.ndarray:
    """Decaying noise bursts every 125 ms: percussive enough for every stage of the pipeline to run."""
    rng = np.random.default_rng(0)
    audio = np.zeros(int(seconds * sample_rate), dtype=np.float32)
    burst = int(0.03 * sample_rate)
    envelope = np.exp(-np.arange(burst) / (0.005 * sample_rate))
    for start in np.arange(0.1, seconds - 0.1, 0.125):
        i = int(start * sample_rate)
        audio[i : i + burst] += (rng.standard_normal(burst) * envelope).astype(np.float32)
    return audio / (1.1 * float(np.max(np.abs(audio))))


def warm_up(pipeline: RudimentPipeline) -> float:
    """Run prediction and the figures once on a synthetic click track; returns the seconds it took.

    The first prediction in a process compiles librosa's numba kernels and the first figure loads
    matplotlib's fonts: tens of seconds on a busy CPU, which the first visitor would otherwise wait.
    A model that rejects the click track is not an error here: its first real request pays instead.
    """
    start = time.perf_counter()
    sample_rate = 44_100
    audio = _click_track(sample_rate)
    try:
        prediction = pipeline.predict(audio, sample_rate)
    except BAD_AUDIO_ERRORS as error:
        log.warning("warm-up skipped: the model rejects the click track (%s)", error)
        return time.perf_counter() - start
    analysed = pipeline.prepare_audio(audio, sample_rate)
    for figure in (
        sticking_diagram(prediction.best.slug),
        onset_timeline(analysed, pipeline.config.onsets.sample_rate, prediction),
        stroke_feature_heatmap(prediction),
    ):
        figure.savefig(io.BytesIO(), format="png")
    return time.perf_counter() - start
