"""Where a trained model comes from: a local folder, or a Hugging Face Hub repo id downloaded on first use.

Every library's ``--model DIR_OR_HUB_ID`` resolves through :func:`resolve_model_dir`, so a folder always wins
over a repo id of the same spelling and every library words a failed download the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelSourceError(ValueError):
    """``--model`` names neither a local folder nor a Hub repo that could be downloaded."""


def is_hub_repo_id(text: str) -> bool:
    """``owner/name`` as the Hub spells repo ids (a relative or absolute path is never one)."""
    return bool(HUB_REPO_ID.match(text)) and not text.startswith((".", "/", "~"))


def resolve_model_dir(path_or_repo: str | Path, *, hint: str = "") -> Path:
    """The local folder ``path_or_repo``, or the snapshot of that Hub repo (``huggingface_hub``'s cache).

    ``hint`` ends every error message (what to do instead: which command trains a model, which default
    ships). Raises :class:`ModelSourceError` for a file, a missing folder or a failed download.
    """
    suffix = f" {hint}" if hint else ""
    path = Path(path_or_repo).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelSourceError(f"{path} is a file; expected a model directory.{suffix}")
    text = str(path_or_repo)
    if is_hub_repo_id(text):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo_id=text))
        except Exception as err:  # offline, unknown repo, gated, no huggingface_hub: all end here
            raise ModelSourceError(
                f"{text!r} is not a local directory and could not be downloaded from the Hugging Face Hub "
                f"({type(err).__name__}: {err}).{suffix}"
            ) from err
    raise ModelSourceError(f"model directory not found: {path}.{suffix}")
