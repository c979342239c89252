"""Expert labeling app for piano performances (Gradio): rate segments on 0–100 sliders, autosaved to JSONL.

The server must not phone home: a labelling session on a closed network has no use for Gradio's usage
analytics or version check, and without a network they only stall. The variables are set here, before
any module of the package imports gradio; an explicit setting wins.
"""

import os

for _variable, _value in (
    ("GRADIO_ANALYTICS_ENABLED", "False"),  # usage analytics and the PyPI version check
    ("MPLBACKEND", "Agg"),  # figures are rendered to images on a server without a display
):
    os.environ.setdefault(_variable, _value)
