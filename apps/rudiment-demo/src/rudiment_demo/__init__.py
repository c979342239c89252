"""Gradio web demo: hear a drum rudiment from a recording (sousa-rudiments recognition).

The demo must not phone home: a Space or a closed network has no use for Gradio's usage analytics or
its version check, and on a machine without a network they only stall. The variables are set here,
before any module of the package imports gradio or huggingface_hub; an explicit setting wins.
"""

import os

for _variable, _value in (
    ("GRADIO_ANALYTICS_ENABLED", "False"),  # usage analytics and the PyPI version check
    ("HF_HUB_DISABLE_TELEMETRY", "1"),  # huggingface_hub's telemetry (a Hub id passed as --model)
    ("MPLBACKEND", "Agg"),  # figures are rendered to images on a server without a display
):
    os.environ.setdefault(_variable, _value)
