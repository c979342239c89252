"""Errors of score alignment."""

from __future__ import annotations


class AlignmentError(ValueError):
    """A performance and a score do not align (probably not the same piece): labels would be garbage."""
