"""``piano-labeler``: serve the labelling page for a dataset folder (and the Gradio wiring of that page).

Every user change of a slider, an "uncertain" box or the comment saves the segment at once: the
handlers are ``.input`` events, which fire on user edits only, not when navigation fills the controls in
(a comment pasted without keystrokes is saved when its box loses focus). Each change carries the key of
the segment it was made on (a hidden textbox, read by the browser when the event fires) and a running
number per page load: Gradio's queue may run a page's events out of order, and the server drops a change
older than one already saved for that segment. A save's response updates only the progress and status
lines, never the segment shown, since it may arrive after the page has moved on.

Exit codes: 0 after a clean shutdown (Ctrl-C); 2 for bad input (DATA, the labels file, options, a taken
port), with one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared_audio_core.cliargs import port, port_unavailable, positive_int, positive_seconds

from piano_labeler.calibration import CalibrationError, report_markdown
from piano_labeler.config import (
    DEFAULT_ANCHORS,
    DEFAULT_SEGMENT_SECONDS,
    SCALE_MAX,
    SCALE_MIN,
    TECHNICAL_DIMENSIONS,
    DimensionError,
    LabelerConfig,
    default_labeller,
    parse_dimensions,
)
from piano_labeler.labeler import Labeler, SaveError, default_calibration_path
from piano_labeler.media import (
    MediaError,
    message_figure,
    midi_window,
    piano_roll_figure,
    read_slice,
    to_int16,
    waveform_figure,
)
from piano_labeler.segments import SegmentError, load_segments
from piano_labeler.store import LabelFileError

if TYPE_CHECKING:
    import gradio as gr

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_OUT = "labels.jsonl"
EXIT_BAD_INPUT = 2
QUEUE_SLOT = "labels"  # one handler at a time touches the labels file, in the order events arrive

# Buttons the shortcuts press; the ids are also what the browser test clicks.
PREVIOUS_ID, NEXT_ID, NEXT_UNLABELLED_ID = "pl-prev", "pl-next", "pl-next-unlabelled"

SHORTCUTS_HELP = """\
**Keyboard:** `Alt+→` / `Alt+←` next / previous segment (anywhere, also while typing a comment);
`n` / `p` next / previous and `u` next unlabelled when the cursor is not in a text or number field.
Every change is saved at once."""

# Run once when the page loads (``launch(js=...)``): keydown listeners that press the navigation buttons.
SHORTCUTS_JS = f"""
() => {{
  if (window.__pianoLabelerKeys) return;
  window.__pianoLabelerKeys = true;
  const typing = (el) => !!el && (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT"
    || (el.tagName === "INPUT" && !["range", "checkbox", "radio", "button"].includes(el.type)));
  document.addEventListener("keydown", (event) => {{
    if (event.ctrlKey || event.metaKey || event.repeat) return;
    let id = null;
    if (event.altKey && event.key === "ArrowRight") id = "{NEXT_ID}";
    else if (event.altKey && event.key === "ArrowLeft") id = "{PREVIOUS_ID}";
    else if (!event.altKey && !typing(event.target)) {{
      id = {{n: "{NEXT_ID}", p: "{PREVIOUS_ID}", u: "{NEXT_UNLABELLED_ID}"}}[event.key] ?? null;
    }}
    const button = id && document.getElementById(id);
    if (!button) return;
    event.preventDefault();  // Alt+← would otherwise also go back in the browser's history
    button.click();
  }}, true);
}}
"""


def _change_js(count: int) -> str:
    """Runs in the browser as each change fires: stamps it with the page's id and a running number, so
    the server can drop a change that reaches it after a newer one (see :meth:`Labeler.save`)."""
    return f"""(...values) => {{
  window.__pianoLabelerPage ??= Date.now().toString(36) + Math.random().toString(36).slice(2);
  window.__pianoLabelerChange = (window.__pianoLabelerChange ?? 0) + 1;
  return [window.__pianoLabelerPage, window.__pianoLabelerChange, ...values.slice(2, {count})];
}}"""


def _pretty(dimension: str) -> str:
    return dimension.replace("_", " ").replace("-", " ")


def _groups(dimensions: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Slider columns: seed 001's technical dimensions and the rest, or two halves of a custom list."""
    technical = [d for d in dimensions if d in TECHNICAL_DIMENSIONS]
    others = [d for d in dimensions if d not in TECHNICAL_DIMENSIONS]
    if technical and others:
        return [("Technical", technical), ("Interpretive", others)]
    half = (len(dimensions) + 1) // 2
    return [("Dimensions", list(dimensions[:half])), ("", list(dimensions[half:]))]


def _progress_text(labeler: Labeler) -> str:
    done, total = labeler.labelled_count(), labeler.total
    if labeler.second is not None:
        return f"**{done} / {total} anchors re-rated** (calibration pass)"
    return f"**{done} / {total} labelled**"


def _segment_text(labeler: Labeler, index: int) -> str:
    segment = labeler.items[index]
    where = f"piece `{segment.piece_id}` · " if segment.piece_id else ""
    return (
        f"**Segment {index + 1} / {labeler.total}** · {where}`{segment.key}` · "
        f"{segment.start_time:.1f}–{segment.end_time:.1f} s ({segment.duration:.1f} s)"
    )


def _state_text(labeler: Labeler, index: int) -> str:
    record = labeler.store.get(labeler.items[index].key)
    if record is None:
        return "Not labelled yet: any change labels this segment."
    return f"✓ Labelled (last saved {record.updated_at})"


def _report_text(labeler: Labeler) -> str:
    report = labeler.consistency()
    return "" if report is None else report_markdown(report)


def build_app(labeler: Labeler) -> gr.Blocks:
    """The labelling page for ``labeler``'s session (serve it with ``.queue().launch(js=SHORTCUTS_JS)``)."""
    import gradio as gr

    config = labeler.config
    dims = config.dimensions
    calibrating = labeler.second is not None

    def show(index: int) -> tuple[Any, ...]:
        """Values of the navigation outputs for presented segment ``index``."""
        view = labeler.view(index)
        segment = view.segment
        problems = []
        audio, waveform = None, None
        try:
            rate, samples = read_slice(segment)
            audio = (rate, to_int16(samples))
            waveform = waveform_figure(rate, samples, segment.start_time)
        except MediaError as error:
            problems.append(str(error))
            waveform = message_figure(str(error))
        if segment.midi_path is None:
            roll = message_figure("no MIDI for this segment")
        else:
            try:
                roll = piano_roll_figure(
                    midi_window(segment.midi_path, segment.start_time, segment.end_time),
                    segment.start_time,
                    segment.end_time,
                )
            except MediaError as error:
                problems.append(str(error))
                roll = message_figure(str(error))
        status = "\n\n".join([_state_text(labeler, index), *(f"⚠ {p}" for p in problems)])
        values = (
            segment.key,
            _segment_text(labeler, index),
            _progress_text(labeler),
            audio,
            waveform,
            roll,
            *view.labels,
            *view.uncertain,
            view.comment,
            status,
        )
        return (*values, _report_text(labeler)) if calibrating else values

    def current(key: str) -> int:
        if not key:
            raise gr.Error("the page is still loading a segment; try again", print_exception=False)
        try:
            return labeler.index_of(key)
        except SaveError as error:
            raise gr.Error(str(error), print_exception=False) from None

    def on_load() -> tuple[Any, ...]:
        try:
            labeler.refresh()
        except LabelFileError as error:  # damaged while the server ran: say so, save nothing over it
            raise gr.Error(str(error), title="Cannot read the labels file", print_exception=False) from None
        return show(labeler.first_unlabelled())

    def on_previous(key: str) -> tuple[Any, ...]:
        return show(labeler.step(current(key), -1))

    def on_next(key: str) -> tuple[Any, ...]:
        return show(labeler.step(current(key), +1))

    def on_next_unlabelled(key: str) -> tuple[Any, ...]:
        return show(labeler.next_unlabelled(current(key)))

    unchanged = tuple(gr.skip() for _ in range(3 if calibrating else 2))

    def on_change(page: str, number: float, key: str, *values: Any) -> tuple[Any, ...]:
        """Save the segment ``key`` with the values the page held when the change was made.

        The outputs are progress and status only, never the segment's header or controls: this
        response may arrive after the page has moved on to another segment.
        """
        index = current(key)
        labels, uncertain, comment = values[: len(dims)], values[len(dims) : 2 * len(dims)], values[-1]
        order = (page, int(number)) if page and number is not None else None
        try:
            annotation = labeler.save(key, labels, uncertain, comment, order=order)
        except (SaveError, LabelFileError, OSError) as error:
            raise gr.Error(f"not saved: {error}", title="Not saved", print_exception=False) from None
        if annotation is None:  # overtaken by a newer change to the same segment
            return unchanged
        saved = (
            _progress_text(labeler),
            f"✓ Saved segment {index + 1} at {annotation.updated_at} → `{labeler.store.path}`",
        )
        return (*saved, _report_text(labeler)) if calibrating else saved

    def on_comment_blur(page: str, number: float, key: str, *values: Any) -> tuple[Any, ...]:
        """Save a comment that changed without a keystroke (pasted with the mouse, dropped); leaving the
        box unchanged saves nothing, so clicking into an unlabelled segment's comment labels nothing."""
        if not key:
            return unchanged
        record = labeler.store.get(key)
        if (values[-1] or "") == (record.comment if record else ""):
            return unchanged
        return on_change(page, number, key, *values)

    title = "Calibration: re-rate the anchors" if calibrating else "Piano performance labelling"
    with gr.Blocks(title="piano-labeler", analytics_enabled=False, delete_cache=(1800, 3600)) as app:
        gr.Markdown(
            f"## {title}\n"
            f"Labeller **{config.labeller}** · {labeler.segments.kind} `{labeler.segments.source}` · "
            f"saving to `{labeler.store.path}`"
            + ("\n\nThe sliders start at their defaults, not at your first ratings." if calibrating else "")
        )
        key = gr.Textbox(visible=False, elem_id="segment-key")
        page_id = gr.Textbox(visible=False)  # filled in by CHANGE_JS, per page load
        change_number = gr.Number(visible=False, precision=0)  # counted up by CHANGE_JS, per change
        with gr.Row(equal_height=True):
            progress = gr.Markdown(elem_id="progress")
            previous = gr.Button("← Previous", elem_id=PREVIOUS_ID, scale=0, min_width=120)
            following = gr.Button("Next →", variant="primary", elem_id=NEXT_ID, scale=0, min_width=120)
            unlabelled = gr.Button("Next unlabelled", elem_id=NEXT_UNLABELLED_ID, scale=0, min_width=150)
        info = gr.Markdown(elem_id="segment-info")
        audio = gr.Audio(type="numpy", interactive=False, label="Segment audio", elem_id="segment-audio")
        with gr.Row():
            waveform = gr.Plot(label="Waveform", format="png", elem_id="waveform")
            roll = gr.Plot(label="Piano roll (MIDI)", format="png", elem_id="piano-roll")
        sliders: dict[str, gr.Slider] = {}
        boxes: dict[str, gr.Checkbox] = {}
        with gr.Row():
            for heading, group in _groups(dims):
                with gr.Column():
                    if heading:
                        gr.Markdown(f"### {heading}")
                    for dim in group:
                        with gr.Row(equal_height=True):
                            sliders[dim] = gr.Slider(
                                SCALE_MIN,
                                SCALE_MAX,
                                value=config.slider_default,
                                step=1,
                                label=_pretty(dim),
                                elem_id=f"slider-{dim}",
                                scale=5,
                            )
                            boxes[dim] = gr.Checkbox(
                                label="uncertain", elem_id=f"uncertain-{dim}", scale=1, min_width=110
                            )
        comment = gr.Textbox(label="Comment (optional)", lines=2, elem_id="comment")
        status = gr.Markdown(elem_id="save-status")
        report = gr.Markdown(elem_id="consistency") if calibrating else None
        gr.Markdown(SHORTCUTS_HELP)

        controls = [*(sliders[d] for d in dims), *(boxes[d] for d in dims), comment]
        navigation = [key, info, progress, audio, waveform, roll, *controls, status]
        saved = [progress, status]
        if report is not None:
            navigation.append(report)
            saved.append(report)
        slot = {"concurrency_limit": 1, "concurrency_id": QUEUE_SLOT}
        app.load(on_load, outputs=navigation, **slot)
        previous.click(on_previous, inputs=[key], outputs=navigation, **slot)
        following.click(on_next, inputs=[key], outputs=navigation, **slot)
        unlabelled.click(on_next_unlabelled, inputs=[key], outputs=navigation, **slot)
        change_inputs = [page_id, change_number, key, *controls]
        stamp = _change_js(len(change_inputs))
        for control in controls:
            # "multiple", not "always_last": each edit is sent at once with the values of its moment
            # (a deferred one would be sent later with whatever segment the page shows by then)
            control.input(
                on_change,
                inputs=change_inputs,
                outputs=saved,
                js=stamp,
                trigger_mode="multiple",
                show_progress="hidden",
                **slot,
            )
        # Gradio's textbox fires "input" on keystrokes only: a comment pasted with the mouse is saved
        # when the box loses focus (clicking "Next" does that first).
        comment.blur(
            on_comment_blur, inputs=change_inputs, outputs=saved, js=stamp, show_progress="hidden", **slot
        )
    return app


# ----------------------------------------------------------------------------------------------------- CLI
_EPILOG = """\
DATA is one of (checked in this order):
  a *.jsonl file or a folder with segments.jsonl   one segment per line: audio_path, start_time,
                                                   end_time, optional midi_path (paths relative to
                                                   the file's folder or absolute)
  a folder with ratings.csv                        performances (audio, midi columns) cut into segments
  a folder of audio files                          .wav .flac .ogg .mp3 .aif(f), with same-stem .mid,
                                                   cut into segments

Every change is saved at once to OUT (one JSON object per labelled segment, rewritten atomically); a
restart resumes at the first unlabelled segment. --calibration re-presents anchors already labelled
in OUT, saves the second ratings to CALIBRATION_OUT and shows Pearson r per dimension.

Keyboard: Alt+Right / Alt+Left next / previous; n / p / u next / previous / next unlabelled when not
typing in a field.

environment:
  GRADIO_ANALYTICS_ENABLED  set to False unless it is set: no usage analytics, no version check

Exit codes: 0 stopped with Ctrl-C; 2 bad DATA, labels file or option, or the port is in use.
"""


def _dimensions(text: str) -> tuple[str, ...]:
    try:
        return parse_dimensions(text)
    except DimensionError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="piano-labeler",
        description=textwrap.fill(
            "Serve a web page for rating piano performance segments: listen to each segment, see its "
            "waveform and piano roll, rate every dimension on a 0–100 slider (with an 'uncertain' box "
            "each) and add a comment; everything is saved as you go.",
            width=100,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", type=Path, help="dataset folder or segments .jsonl file")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(DEFAULT_OUT),
        help=f"labels file, created if missing and resumed if present (default: ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--labeller",
        default=default_labeller(),
        metavar="NAME",
        help="name written into every record (default: your login name)",
    )
    parser.add_argument(
        "--dimensions",
        type=_dimensions,
        default=None,
        metavar="A,B,...",
        help="comma-separated dimensions to rate (default: note_accuracy, rhythmic_precision, "
        "dynamics_control, articulation_quality, pedaling_technique, tone_quality, phrasing, "
        "musicality, overall_quality, expressiveness)",
    )
    parser.add_argument(
        "--segment-seconds",
        type=positive_seconds,
        default=DEFAULT_SEGMENT_SECONDS,
        metavar="S",
        help=f"length of the pieces recordings are cut into, for ratings.csv and audio folders "
        f"(default: {DEFAULT_SEGMENT_SECONDS:g}; a remainder under S/2 joins the last piece)",
    )
    calibration = parser.add_argument_group("calibration")
    calibration.add_argument(
        "--calibration",
        action="store_true",
        help="re-rate anchor segments already labelled in OUT and report self-consistency",
    )
    calibration.add_argument(
        "--anchors",
        type=positive_int,
        default=DEFAULT_ANCHORS,
        metavar="N",
        help=f"number of anchors, spread evenly over the labelled segments (default: {DEFAULT_ANCHORS})",
    )
    calibration.add_argument(
        "--anchor-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="text file with one segment key per line to use as the anchors instead",
    )
    calibration.add_argument(
        "--calibration-out",
        type=Path,
        default=None,
        metavar="CALIBRATION_OUT",
        help="file for the second ratings (default: OUT with .calibration before the suffix, "
        "e.g. labels.calibration.jsonl)",
    )
    server = parser.add_argument_group("server")
    server.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})"
    )
    server.add_argument("--port", type=port, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT})")
    return parser


def _anchor_keys(path: Path | None) -> tuple[str, ...] | None:
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CalibrationError(f"{path}: cannot read the anchor file ({error})") from None
    keys = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not keys:
        raise CalibrationError(f"{path}: no segment keys")
    return keys


def make_labeler(args: argparse.Namespace) -> Labeler:
    """The session the options describe; raises the typed errors ``main`` reports in one line."""
    config = LabelerConfig(
        labeller=args.labeller,
        segment_seconds=args.segment_seconds,
        calibration=args.calibration,
        anchors=args.anchors,
        anchor_keys=_anchor_keys(args.anchor_file),
        **({"dimensions": args.dimensions} if args.dimensions else {}),
    )
    segments = load_segments(args.data, segment_seconds=config.segment_seconds)
    return Labeler(segments, config, args.out, args.calibration_out)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        labeler = make_labeler(args)
    except (SegmentError, LabelFileError, CalibrationError, DimensionError, ValueError) as error:
        print(f"piano-labeler: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    reason = port_unavailable(args.host, args.port)
    if reason is not None:
        print(f"piano-labeler: cannot serve on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT

    segments = labeler.segments
    print(f"* {len(segments)} segments from {segments.kind} {segments.source}", flush=True)
    print(f"* {len(labeler.first)} labelled in {labeler.first.path}", flush=True)
    stray = labeler.unmatched_records()
    if stray:
        print(f"* {len(stray)} records in {labeler.first.path} match no segment of DATA (kept)", flush=True)
    if labeler.second is not None:
        print(
            f"* calibration: {labeler.total} anchors, second ratings in {labeler.second.path} "
            f"({labeler.labelled_count()} done)",
            flush=True,
        )
    app = build_app(labeler)
    try:
        app.queue().launch(
            server_name=args.host,
            server_port=args.port,
            js=SHORTCUTS_JS,
            show_error=True,
            footer_links=[],
        )
    except OSError as error:  # e.g. "Cannot find empty port in range: 7860-7860"
        print(f"piano-labeler: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_OUT",
    "DEFAULT_PORT",
    "SHORTCUTS_HELP",
    "SHORTCUTS_JS",
    "build_app",
    "build_parser",
    "default_calibration_path",
    "main",
    "make_labeler",
]
