"""The `wikistream` entry point. Commands load when used (cli/app.py: COMMANDS)."""

from wikistream.cli.app import cli


def main() -> None:
    cli(prog_name="wikistream")
