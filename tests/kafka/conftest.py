"""One Tansu broker (Kafka protocol, in memory) for the Kafka tests; each test its own topic."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import Tansu

_topics = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    server = Tansu(tmp_path_factory.mktemp("tansu"))
    yield server
    server.stop()


@pytest.fixture
def topic(broker: Tansu) -> str:
    """A fresh 4-partition topic."""
    name = f"rc{next(_topics)}"
    broker.create_topic(name, 4)
    return name


def kafka_config(folder: Path, broker: Tansu, **sections: str) -> Path:
    """A config file: a warehouse in `folder`, small commits, a quick consumer group."""
    config = folder / "wikistream.toml"
    text = (
        f'warehouse = "{folder / "wh"}"\n'
        '[filters]\ndomains = ["*"]\n'
        "[commit]\nmax_events = 200\nmax_seconds = 0.2\n"
        "[source]\nchunk_events = 100\nbackoff_initial_s = 0.05\nbackoff_max_s = 0.2\n"
        "[supervisor]\nbackoff_initial_s = 0.2\nbackoff_max_s = 1.0\n"
        f'[kafka]\nbootstrap_servers = "{broker.bootstrap}"\n'
        '[kafka.properties]\n"session.timeout.ms" = "6000"\n'
    )
    for name, body in sections.items():
        text += f"[{name}]\n{body}\n"
    config.write_text(text)
    return config
