"""Repo id validation and the Hugging Face token check every online command runs before any work.

Staging the full SOUSA dataset takes hours; discovering only at upload time that nobody is logged in
would waste them, so the token is looked up and checked with ``whoami`` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from music_ml_publish.errors import PublishError

__all__ = ["LOGIN_HELP", "HubIdentity", "require_hub_login", "validate_repo_id"]

LOGIN_HELP = (
    "log in with `hf auth login` (or `huggingface-cli login`), or set HF_TOKEN to a token with write "
    "access from https://huggingface.co/settings/tokens; --dry-run needs no login"
)
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$")


def validate_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is ``owner/name`` as the Hub accepts it, else :class:`PublishError`."""
    problem = None
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        problem = "it must be exactly OWNER/NAME"
    elif not all(_NAME.match(part) for part in parts):
        problem = "owner and name may hold letters, digits, '-', '_' and '.', starting with a letter or digit"
    elif "--" in repo_id or ".." in repo_id:
        problem = "'--' and '..' are not allowed"
    elif len(repo_id) > 96:
        problem = "it is longer than 96 characters"
    elif repo_id.endswith(".git"):
        problem = "it must not end in .git"
    if problem:
        raise PublishError(f"bad repo id {repo_id!r}: {problem} (e.g. zkeown/sousa)")
    return repo_id


@dataclass(frozen=True)
class HubIdentity:
    """Who the token belongs to; the token itself is passed on to the upload calls."""

    token: str
    user: str


def require_hub_login() -> HubIdentity:
    """The stored/``HF_TOKEN`` token and its user, checked with the Hub; :class:`PublishError` otherwise."""
    from huggingface_hub import HfApi, get_token

    try:
        token = get_token()
    except Exception as exc:  # OIDC exchange opted into but failed
        raise PublishError(f"cannot get a Hugging Face token ({exc}); {LOGIN_HELP}") from exc
    if not token:
        raise PublishError(f"not logged in to the Hugging Face Hub: no token found; {LOGIN_HELP}")
    try:
        info = HfApi().whoami(token=token)
    except Exception as exc:  # invalid token (401) or no connection: both stop here, before any staging
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PublishError(
            f"the Hugging Face token could not be verified ({type(exc).__name__}: {first}); "
            f"check the network, or {LOGIN_HELP}"
        ) from exc
    return HubIdentity(token=token, user=str(info.get("name", "?")))
