"""``rudiment-demo``: serve the Gradio page for a rudiment pipeline (the shipped default unless told).

Exit codes: 0 after a clean shutdown (Ctrl-C), 2 when the model cannot be loaded or the port is taken
(one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from shared_audio_core.cliargs import port, port_unavailable, positive_int

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MODEL_ENV = "RUDIMENT_DEMO_MODEL"
EXIT_BAD_INPUT = 2

_EPILOG = f"""\
environment:
  {MODEL_ENV}     default for --model (a pipeline directory or Hub repo id)
  GRADIO_SERVER_NAME      default for --host (on a Space, SYSTEM=spaces, the default is 0.0.0.0)
  GRADIO_SERVER_PORT      default for --port
  GRADIO_ANALYTICS_ENABLED  the demo sets it to False unless it is set: no usage analytics,
                          no version check, nothing else leaves the machine

Exit codes: 0 stopped with Ctrl-C; 2 the model cannot be loaded or the port is in use.
"""


def _default_host() -> str:
    """``$GRADIO_SERVER_NAME``; on a Hugging Face Space (``SYSTEM=spaces``, as Gradio detects it) all
    interfaces, because the Space's proxy must reach the app; else this machine only."""
    if os.environ.get("GRADIO_SERVER_NAME"):
        return os.environ["GRADIO_SERVER_NAME"]
    return "0.0.0.0" if os.environ.get("SYSTEM") == "spaces" else DEFAULT_HOST


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rudiment-demo",
        description=textwrap.fill(
            "Serve a web page that names the drum rudiment in an uploaded or recorded snare take: "
            "top-5 rudiments with probabilities, the sticking of the predicted rudiment and of the "
            "strokes heard, an onset timeline and the stroke features.",
            width=100,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        default=os.environ.get(MODEL_ENV) or None,
        metavar="DIR_OR_HUB_ID",
        help="a pipeline directory (what `sousa train` writes in OUT/pipeline) or a Hugging Face Hub "
        f"repo id (user/name); default: ${MODEL_ENV} if set, else the model shipped inside sousa-rudiments",
    )
    parser.add_argument(
        "--host",
        default=_default_host(),
        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only; 0.0.0.0 serves the "
        "network; $GRADIO_SERVER_NAME overrides the default, and on a Hugging Face Space it is 0.0.0.0)",
    )
    parser.add_argument(
        "--port",
        type=port,
        default=os.environ.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT),
        help=f"TCP port (default: {DEFAULT_PORT}; $GRADIO_SERVER_PORT overrides the default)",
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="also open a temporary public *.gradio.live link through Gradio's tunnel (off by default; "
        "needs internet access)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        metavar="N",
        help="torch CPU threads (default: 1; the small models run fastest single-threaded, and one "
        "request at a time is served)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reason = port_unavailable(args.host, args.port)
    if reason is not None:
        print(f"rudiment-demo: cannot serve on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT

    import torch
    from sousa_rudiments.recognition.pipeline import PipelineLoadError, RudimentPipeline

    torch.set_num_threads(args.threads)
    try:
        pipeline = RudimentPipeline.from_pretrained(args.model)
    except (PipelineLoadError, ValueError, OSError) as error:
        print(f"rudiment-demo: cannot load the model: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from rudiment_demo.analysis import warm_up
    from rudiment_demo.examples import EXAMPLES_DIR
    from rudiment_demo.ui import build_app

    print(f"* Model: {pipeline.source} ({pipeline.config.mode})", flush=True)
    print(f"* Warmed up in {warm_up(pipeline):.1f} s", flush=True)
    app = build_app(pipeline)
    app.queue(default_concurrency_limit=1)  # one CPU-bound request at a time; others wait their turn
    try:
        app.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            allowed_paths=[str(EXAMPLES_DIR)],
            show_error=False,
        )
    except OSError as error:  # e.g. "Cannot find empty port in range: 7860-7860"
        print(f"rudiment-demo: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
