"""`wikistream alerts`: check the alert channels before an incident does."""

from __future__ import annotations

import sys

import click

from wikistream.cli.app import EXIT_ERROR, Context, cli
from wikistream.cli.output import OUTPUT_OPTION, emit_json, format_grid


@cli.group()
def alerts() -> None:
    """Alert channels: send a test alert through every configured channel."""


@alerts.command("test")
@OUTPUT_OPTION
@click.pass_obj
def test_alert(obj: Context, output: str) -> None:
    """Send one test alert (severity warning) through every configured channel: log,
    webhook, email, SNS. Exit 1 if any channel fails; a channel configured but routed no
    severity is shown too (no real alert would reach it)."""
    from wikistream.alerts.router import test_channels

    results = test_channels(obj.settings().alerts)
    if output == "json":
        emit_json(results)
    else:
        rows = [
            [
                name,
                "delivered" if r["delivered"] else "FAILED",
                ", ".join(r["routed"]) or "not routed",
                r["error"] or "",
            ]
            for name, r in results.items()
        ]
        click.echo(format_grid(["channel", "test alert", "routes", "error"], rows))
    if not all(r["delivered"] for r in results.values()):
        sys.exit(EXIT_ERROR)
