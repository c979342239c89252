"""The Gradio page: ``build_app(pipeline)`` wires :func:`rudiment_demo.analysis.analyse` to components.

Bad audio (silence, under 1 s, an unsupported sample rate, an unreadable file) makes :func:`classify`
raise ``gr.Error`` with the library's one-line message; the page shows that message where the answer
would be (:func:`respond`), never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from sousa_rudiments.recognition.pipeline import RudimentPipeline

from rudiment_demo.analysis import BAD_AUDIO_ERRORS, DemoResult, analyse, user_message
from rudiment_demo.examples import DemoExample, load_examples

log = logging.getLogger(__name__)

TITLE = "Drum rudiment recognizer"
DESCRIPTION = """\
# 🥁 Drum rudiment recognizer

Upload or record a **snare drum playing one rudiment** (at least 1 s; 16–192 kHz; WAV, FLAC, OGG or
MP3) and the model names which of the 40 PAS International Drum Rudiments it is. It finds every stroke
(onset detection), estimates what each stroke is (hand, accent, grace note, diddle, buzz) and decides
on the rudiment from that sequence. Trained on synthetic performances only (the SOUSA dataset): real
drums and rooms sound different, and rudiments that differ only in which hand plays sound alike.
"""
TABLE_HEADERS = ["rank", "rudiment", "PAS #", "probability (%)"]
NO_AUDIO = "upload or record a recording first"
ERROR_TITLE = "Cannot analyse this recording"


def classify(pipeline: RudimentPipeline, audio_path: str | None) -> DemoResult:
    """:func:`analyse` with every bad-audio error turned into a ``gr.Error`` carrying its message."""
    if not audio_path:
        raise gr.Error(NO_AUDIO, print_exception=False)
    try:
        return analyse(pipeline, audio_path)
    except BAD_AUDIO_ERRORS as error:
        message = user_message(error, audio_path)
        log.info("cannot analyse %s: %s", Path(audio_path).name, message)
        raise gr.Error(message, title=ERROR_TITLE, print_exception=False) from error


def page_outputs(result: DemoResult) -> tuple[Any, ...]:
    """Values for the page's outputs, in ``build_app``'s order; the ranking is relabelled when nothing was found."""
    found = result.prediction.found
    return (
        result.summary,
        gr.Label(value=result.label, label="Top 5" if found else "Closest guesses (no rudiment found)"),
        result.table,
        result.sticking,
        result.sticking_figure,
        result.timeline_figure,
        result.features_figure,
    )


def error_outputs(message: str) -> tuple[Any, ...]:
    """The page for audio that cannot be analysed: the message where the answer would be, the rest cleared.

    Cleared, not left alone: results of the previous recording next to this message would read as its
    answer.
    """
    return (
        f"### {ERROR_TITLE}\n\n{message[:1].upper()}{message[1:].rstrip('.')}.",
        gr.Label(value=None, label="Top 5"),
        None,
        "",
        None,
        None,
        None,
    )


def respond(pipeline: RudimentPipeline, audio_path: str | None) -> tuple[Any, ...]:
    """The Classify handler: :func:`classify`, with its ``gr.Error`` shown as the page's message."""
    try:
        return page_outputs(classify(pipeline, audio_path))
    except gr.Error as error:
        return error_outputs(str(error.message))


def build_app(pipeline: RudimentPipeline, examples: Sequence[DemoExample] | None = None) -> gr.Blocks:
    """The demo page for ``pipeline``; ``examples`` default to the rendered clips in ``examples/``."""
    examples = load_examples() if examples is None else list(examples)

    def run(audio_path: str | None) -> tuple[Any, ...]:
        return respond(pipeline, audio_path)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        # Outputs are built first and placed below: the examples under the input need them already.
        summary = gr.Markdown(
            "Upload a recording or pick an example, then press **Classify**.", elem_id="summary", render=False
        )
        label = gr.Label(num_top_classes=5, label="Top 5", elem_id="top5", render=False)
        table = gr.Dataframe(
            headers=TABLE_HEADERS,
            datatype=["number", "str", "number", "number"],
            interactive=False,
            label="Top 5 as a table",
            elem_id="top5-table",
            render=False,
        )
        sticking = gr.Markdown(elem_id="sticking", render=False)
        sticking_plot = gr.Plot(
            label="Sticking of the predicted rudiment", format="png", elem_id="sticking-plot", render=False
        )
        timeline_plot = gr.Plot(
            label="Onset timeline (colour: stroke kind, letter: hand)",
            format="png",
            elem_id="onset-timeline",
            render=False,
        )
        features_plot = gr.Plot(
            label="Stroke features per onset", format="png", elem_id="stroke-features", render=False
        )
        outputs = [summary, label, table, sticking, sticking_plot, timeline_plot, features_plot]

        gr.Markdown(DESCRIPTION)
        with gr.Row():
            with gr.Column(scale=1):
                audio = gr.Audio(
                    sources=["upload", "microphone"],
                    type="filepath",
                    label="Recording (upload or record)",
                    elem_id="recording",
                )
                button = gr.Button("Classify", variant="primary", elem_id="classify")
                if examples:
                    gr.Examples(
                        examples=[[str(example.path)] for example in examples],
                        example_labels=[example.caption for example in examples],
                        inputs=[audio],
                        outputs=outputs,
                        fn=run,
                        run_on_click=True,
                        cache_examples=False,
                        label="Examples rendered by the SOUSA generator (click one to classify it)",
                    )
            with gr.Column(scale=1):
                summary.render()
                label.render()
                table.render()
        for component in (sticking, sticking_plot, timeline_plot, features_plot):
            component.render()
        button.click(run, inputs=[audio], outputs=outputs, api_name="classify")
    return app
