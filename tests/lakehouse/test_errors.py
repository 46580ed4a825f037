"""Which failures are retried as they are, and which make a writer look at its data."""

from __future__ import annotations

import sqlite3

import pytest
from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException

from wikistream.exceptions import CommitConflict, ConcurrentWriter, PositionLost
from wikistream.lakehouse.errors import is_transient, may_be_data


@pytest.mark.parametrize(
    "error",
    [CommitFailedException("lost a race"), CommitStateUnknownException("timeout"),
     CommitConflict("again"), ConnectionRefusedError("down"), TimeoutError("slow"),
     sqlite3.OperationalError("database is locked")],
)  # fmt: skip
def test_races_and_outages_are_transient_never_the_data(error: Exception) -> None:
    assert is_transient(error) and not may_be_data(error)


@pytest.mark.parametrize(
    "error", [OverflowError("date value out of range"), ValueError("bad"), TypeError("x")]
)
def test_value_errors_may_be_the_data(error: Exception) -> None:
    assert not is_transient(error) and may_be_data(error)


@pytest.mark.parametrize("error", [ConcurrentWriter("moved"), PositionLost("expired")])
def test_our_terminal_errors_are_neither(error: Exception) -> None:
    assert not is_transient(error) and not may_be_data(error)
