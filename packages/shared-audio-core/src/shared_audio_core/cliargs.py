"""Argument types and checks the workspace's command lines share, so every CLI words a bad number alike.

Each type is an ``argparse`` ``type=`` callable: a bad value becomes argparse's one-line usage error.
"""

from __future__ import annotations

import argparse
import socket


def positive_int(text: str) -> int:
    """An integer ≥ 1 (counts, epochs, threads, workers)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds, > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def port(text: str) -> int:
    """A TCP port, 1–65535."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def port_unavailable(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served, or None: checked before a model or app loads, so a taken port
    fails in a second, not after a minute of loading (the server's own check at launch stays the last word)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as error:
        return error.strerror or str(error)
    return None


__all__ = ["port", "port_unavailable", "positive_int", "positive_seconds"]
