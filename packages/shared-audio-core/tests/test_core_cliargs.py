"""The shared argparse types: the values they accept and the one-line messages for the ones they refuse."""

from __future__ import annotations

import argparse
import socket

import pytest
from shared_audio_core.cliargs import port, port_unavailable, positive_int, positive_seconds


def test_accepted_values() -> None:
    assert positive_int("3") == 3
    assert positive_seconds("0.25") == 0.25
    assert port("65535") == 65535


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (positive_int, "0", "expected a positive integer, got 0"),
        (positive_int, "two", "expected a positive integer, got 'two'"),
        (positive_seconds, "0", "expected a positive number of seconds, got 0"),
        (positive_seconds, "nan", "expected a positive number of seconds, got nan"),
        (positive_seconds, "soon", "expected a number of seconds, got 'soon'"),
        (port, "70000", "a port is at most 65535, got 70000"),
    ],
)
def test_refused_values_name_the_value(kind, text, message) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        kind(text)


def test_a_port_someone_listens_on_is_unavailable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert port_unavailable("127.0.0.1", taken)  # the OS's reason, e.g. "Address already in use"
    assert port_unavailable("127.0.0.1", taken) is None
