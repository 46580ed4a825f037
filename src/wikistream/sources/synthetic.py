"""A deterministic, realistic recentchange generator for the demo, tests and benchmarks.

Event `i` depends only on (seed, i, start), so the stream can resume from any position and
re-create exactly the same bytes. It covers every event type, many wikis (some outside the
default allow-list), bots, IPv4/IPv6 and temporary-account editors, log events with every
`log_params` shape, revert summaries, canaries, resent duplicates and a few malformed records.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from wikistream.exceptions import ConfigError
from wikistream.sources.base import SourceBatch

# (domain, wiki, weight). The last rows are outside the default allow-list on purpose.
WIKIS: list[tuple[str, str, int]] = [
    ("www.wikidata.org", "wikidatawiki", 30),
    ("en.wikipedia.org", "enwiki", 20),
    ("commons.wikimedia.org", "commonswiki", 10),
    ("de.wikipedia.org", "dewiki", 6),
    ("fr.wikipedia.org", "frwiki", 5),
    ("es.wikipedia.org", "eswiki", 4),
    ("ja.wikipedia.org", "jawiki", 3),
    ("ru.wikipedia.org", "ruwiki", 3),
    ("it.wikipedia.org", "itwiki", 3),
    ("zh.wikipedia.org", "zhwiki", 2),
    ("pt.wikipedia.org", "ptwiki", 2),
    ("ar.wikipedia.org", "arwiki", 2),
    ("fa.wikipedia.org", "fawiki", 1),
    ("pl.wikipedia.org", "plwiki", 1),
    ("uk.wikipedia.org", "ukwiki", 1),
    ("ko.wikipedia.org", "kowiki", 1),
    ("id.wikipedia.org", "idwiki", 1),
    ("vi.wikipedia.org", "viwiki", 1),
    ("ceb.wikipedia.org", "cebwiki", 1),
    ("en.wiktionary.org", "enwiktionary", 1),
    ("sw.wikipedia.org", "swwiki", 1),
]
_DOMAINS = [w[:2] for w in WIKIS]
_DOMAIN_WEIGHTS = [w[2] for w in WIKIS]

_TYPES = ["edit", "new", "log", "categorize", "external"]
_TYPE_WEIGHTS = [70, 8, 10, 10, 2]

_LOG_ACTIONS = [
    ("delete", "delete"), ("block", "block"), ("move", "move"), ("upload", "upload"),
    ("patrol", "patrol"), ("newusers", "create"), ("protect", "protect"), ("thanks", "thank"),
]  # fmt: skip

_SUMMARIES = [
    "/* wbsetclaim-update:2||1 */ [[Property:P31]]: [[Q5]]",
    "copyedit",
    "typo",
    "Added citation",
    "/* History */ expanded",
    "",
    "rv",
    "update infobox",
]
_REVERT_SUMMARIES = [
    "Undid revision {rev} by [[Special:Contributions/{who}|{who}]] ([[User talk:{who}|talk]])",
    "Undid revision [[Special:Diff/{rev}|{rev}]] by [[Special:Contributions/{who}|{who}]]",
    "Reverted edits by [[Special:Contributions/{who}|{who}]] ([[User talk:{who}|talk]]) "
    "to last revision by Example",
    "Reverted edits by {who} (talk) to last revision by Example (HG) (3.4.10)",
    "Reverted 1 edit by {who} identified as vandalism (TW)",
    "Reverting possible vandalism by {who} to version by Example. Report False Positive?",
    "Änderungen von [[Special:Contributions/{who}|{who}]] ([[User talk:{who}|Diskussion]]) "
    "rückgängig gemacht und letzte Version von Example wiederhergestellt",
]

_MALFORMED: list[Callable[[dict[str, Any]], bytes]] = [
    lambda e: msgspec.json.encode(e)[:-7],  # truncated
    lambda e: b"[1, 2, 3]",  # not an object
    lambda e: msgspec.json.encode({k: v for k, v in e.items() if k != "meta"}),
    lambda e: msgspec.json.encode({**e, "namespace": "zero"}),
    lambda e: msgspec.json.encode({**e, "meta": {**e["meta"], "dt": "yesterday"}}),
    lambda e: msgspec.json.encode({**e, "type": "flow"}),
    lambda e: b"\xff\xfe garbage \x00",
]

DUPLICATE_RATE = 0.005
MALFORMED_RATE = 0.002
CANARY_RATE = 0.001
_SPACING = timedelta(milliseconds=20)


def _parse_start(start: str) -> datetime | None:
    if start == "now":
        return None
    try:
        parsed = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"synthetic.start must be ISO-8601 or 'now', got {start!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class SyntheticGenerator:
    """Builds event number `i` from scratch: same inputs, same bytes."""

    def __init__(
        self, seed: int = 42, start: str = "2026-01-01T00:00:00Z", spacing: timedelta = _SPACING
    ) -> None:
        """`spacing`: event time between two events (history benchmarks spread it out)."""
        self.seed = seed
        self.start = _parse_start(start)
        self.spacing = spacing

    def event_time(self, index: int) -> datetime:
        if self.start is None:
            return datetime.now(UTC)
        return self.start + index * self.spacing

    def record(self, index: int) -> bytes:
        rng = random.Random(self.seed * 1_000_003 + index)
        roll = rng.random()
        if roll < DUPLICATE_RATE and index > 0:
            return self.record(max(0, index - 1 - rng.randrange(50)))
        if roll < DUPLICATE_RATE + MALFORMED_RATE:
            return rng.choice(_MALFORMED)(self.event(index, rng))
        return msgspec.json.encode(self.event(index, rng))

    def event(self, index: int, rng: random.Random) -> dict[str, Any]:
        dt = self.event_time(index)
        domain, wiki = rng.choices(_DOMAINS, _DOMAIN_WEIGHTS)[0]
        if rng.random() < CANARY_RATE:
            domain, wiki = "canary", "canarywiki"
        kind = rng.choices(_TYPES, _TYPE_WEIGHTS)[0]
        user, is_bot = _user(rng, domain)
        title = f"Q{rng.randrange(1, 120_000_000)}" if wiki == "wikidatawiki" else _title(rng)
        event: dict[str, Any] = {
            "$schema": "/mediawiki/recentchange/1.0.0",
            "meta": {
                "uri": f"https://{domain}/wiki/{title}",
                "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "dt": dt.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "domain": domain,
                "stream": "mediawiki.recentchange",
                "topic": "eqiad.mediawiki.recentchange",
                "partition": 0,
                "offset": 5_000_000_000 + index,
            },
            "type": kind,
            "namespace": rng.choice([0, 0, 0, 0, 1, 2, 4, 6, 14, 120]),
            "title": title,
            "title_url": f"https://{domain}/wiki/{title}",
            "comment": _summary(rng),
            "timestamp": int(dt.timestamp()),
            "user": user,
            "bot": is_bot,
            "server_url": f"https://{domain}",
            "server_name": domain,
            "server_script_path": "/w",
            "wiki": wiki,
        }
        if user is None:
            del event["user"]  # redacted: the producer drops the field
        event["parsedcomment"] = event["comment"]
        if kind in ("edit", "new"):
            event["id"] = 1_000_000_000 + index
            event["minor"] = rng.random() < 0.2
            if domain in ("en.wikipedia.org", "commons.wikimedia.org", "www.wikidata.org"):
                event["patrolled"] = rng.random() < 0.6
            new_len = rng.randrange(0, 120_000)
            new_rev = 2_000_000_000 + index
            if kind == "edit":
                delta = (
                    int(rng.gauss(0, 800))
                    if rng.random() > 0.02
                    else rng.choice([-60_000, -8_000, 70_000])
                )
                event["length"] = {"old": max(0, new_len - delta), "new": new_len}
                event["revision"] = {"old": new_rev - rng.randrange(1, 10_000), "new": new_rev}
            else:
                event["length"] = {"new": new_len}
                event["revision"] = {"new": new_rev}
        elif kind == "log":
            log_type, action = rng.choice(_LOG_ACTIONS)
            event["log_id"] = 300_000_000 + index
            event["log_type"] = log_type
            event["log_action"] = action
            event["log_params"] = rng.choice(
                [[], ["Target page", "2"], {"target": "Moved page", "noredir": "0"}, "infinity"]
            )
            event["log_action_comment"] = f"{action} {title}"
            if log_type == "move":
                event["namespace"] = -1
        else:
            event["id"] = 1_000_000_000 + index
        return event


def _user(rng: random.Random, domain: str) -> tuple[str | None, bool]:
    roll = rng.random()
    if roll < 0.22:
        return f"{rng.choice(['Pywiki', 'Quick', 'Reference', 'Cleanup', 'Link'])}Bot", True
    if roll < 0.32:
        return ".".join(str(rng.randrange(1, 255)) for _ in range(4)), False
    if roll < 0.36:
        return ":".join(f"{rng.randrange(0, 65536):x}" for _ in range(8)), False
    if roll < 0.42:
        return f"~2026-{rng.randrange(10_000, 99_999)}-{rng.randrange(1, 99)}", False
    if roll < 0.4205:
        return None, False
    return f"Editor{rng.randrange(0, 3000)}", False


def _title(rng: random.Random) -> str:
    words = ["History", "Of", "The", "River", "Battle", "List", "Station", "Album", "Island"]
    return "_".join(rng.choice(words) for _ in range(rng.randrange(1, 4)))


REVERT_RATE = 0.04


def _summary(rng: random.Random) -> str:
    pool = _REVERT_SUMMARIES if rng.random() < REVERT_RATE else _SUMMARIES
    template = rng.choice(pool)
    who = f"Editor{rng.randrange(0, 3000)}"
    return template.format(rev=rng.randrange(10**8, 10**9), who=who)


class SyntheticSource:
    """`synthetic[:RATE]`: the generator as a source; position = index of the next event."""

    def __init__(
        self,
        rate: float | None = None,
        seed: int = 42,
        start: str = "2026-01-01T00:00:00Z",
        chunk_events: int = 4096,
        limit: int | None = None,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ConfigError(f"synthetic rate must be positive, got {rate}")
        self._generator = SyntheticGenerator(seed, start)
        self._rate = rate
        self._chunk = chunk_events
        self._limit = limit
        self._closed = threading.Event()

    @property
    def name(self) -> str:
        """`synthetic:seed=S` for a live-like stream; `…@START` for a replay of a fixed past
        (a different stream, and one the freshness check must not judge as late)."""
        start = self._generator.start
        suffix = "" if start is None else f"@{start.isoformat().replace('+00:00', 'Z')}"
        return f"synthetic:seed={self._generator.seed}{suffix}"

    def batches(self, start: str | None) -> Iterator[SourceBatch]:
        index = int(start) if start else 0
        began, first = time.monotonic(), index
        while not self._closed.is_set():
            if self._limit is not None and index >= self._limit:
                return
            count = self._chunk
            if self._rate is not None:
                due = int((time.monotonic() - began) * self._rate) + first + 1
                count = min(count, due - index)
                if count <= 0:
                    self._closed.wait(min(0.05, 1 / self._rate))
                    continue
            if self._limit is not None:
                count = min(count, self._limit - index)
            indexes = range(index, index + count)
            records = [self._generator.record(i) for i in indexes]
            index += count
            yield SourceBatch(records, [str(i + 1) for i in indexes])

    def close(self) -> None:
        self._closed.set()
