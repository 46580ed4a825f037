"""`wikistream`: one entry point for running, inspecting and querying the lakehouse."""

from wikistream.cli import (  # noqa: F401 - each module adds its commands
    backfill,
    ingest,
    inspect,
    ops,
    produce,
    quality,
    replay,
    web,
)
from wikistream.cli.app import cli


def main() -> None:
    cli(prog_name="wikistream")
