"""`wikistream`: one entry point for running, inspecting and querying the lakehouse."""

from wikistream.cli import backfill, ingest, inspect, ops, produce, quality, replay  # noqa: F401
from wikistream.cli.app import cli


def main() -> None:
    cli(prog_name="wikistream")
