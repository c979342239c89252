"""The one error type the commands turn into a one-line message (exit 2) instead of a traceback."""

from __future__ import annotations

__all__ = ["PublishError", "VerificationError"]


class PublishError(Exception):
    """Bad input or a missing precondition (no token, not a dataset, ...); the message says what to do."""


class VerificationError(PublishError):
    """A check after staging or uploading found a mismatch (exit 1): the published artefact is wrong."""
