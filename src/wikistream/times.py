"""Instants as users type them: ISO-8601 (UTC unless it says otherwise) or a duration ago."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wikistream.exceptions import ConfigError

_UNITS = {"m": 60, "h": 3600, "d": 86400}


def iso_instant(text: str) -> datetime | None:
    """`text` as an aware datetime if it is ISO-8601 (a trailing Z means UTC), else None."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def instant(text: str, option: str) -> datetime:
    """An ISO-8601 time or a duration ago (`30m`, `6h`, `7d`).

    Raises:
        ConfigError: neither, naming the option it was given for.
    """
    if text and text[-1] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        try:
            return datetime.now(UTC) - timedelta(seconds=float(text[:-1]) * _UNITS[text[-1]])
        except (OverflowError, ValueError):
            raise ConfigError(
                f"{option} {text!r} reaches before the year 1: give a shorter duration or a time"
            ) from None
    parsed = iso_instant(text)
    if parsed is None:
        raise ConfigError(
            f"{option} must be ISO-8601 or a duration ago (30m, 6h, 7d), not {text!r}"
        )
    return parsed
