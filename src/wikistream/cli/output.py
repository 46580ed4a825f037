"""Printing results: aligned text for people, JSON/CSV for machines, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from wikistream.cli import logs
from wikistream.redaction import redact

if TYPE_CHECKING:
    import pyarrow as pa

OUTPUT_OPTION = click.option(
    "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text for people, json for machines.",
)  # fmt: skip


def _default(value: object) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Decimal):  # DuckDB sums integers as HUGEINT: a number, not a string
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def to_json(value: object) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, indent=2)


def emit_json(value: object) -> None:
    click.echo(to_json(value))


def emit_table(table: pa.Table, fmt: str) -> None:
    """Print query results as an aligned table, a JSON array of objects, or CSV."""
    rows = table.to_pylist()
    if fmt == "json":
        emit_json(rows)
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows(
            [_default(v) if v is not None else "" for v in row.values()] for row in rows
        )
        click.echo(buffer.getvalue(), nl=False)
    else:
        click.echo(format_grid(table.column_names, [list(r.values()) for r in rows]))


def format_grid(header: list[str], rows: list[list[Any]], max_width: int = 60) -> str:
    """Columns padded to their widest cell; long cells are cut with an ellipsis."""

    def cell(value: object) -> str:
        text = "" if value is None else (_default(value) if not isinstance(value, str) else value)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def fail(message: str, code: int) -> None:
    """Print one error line to stderr and exit (secrets blanked out): a JSON object when the
    logs are JSON (`--log-format json`), so every line a machine reads parses."""
    text = redact(message)
    if logs.json_lines():
        click.echo(json.dumps({"level": "error", "message": text, "exit_code": code}), err=True)
    else:
        click.echo(f"error: {text}", err=True)
    sys.exit(code)


def quiet_closed_pipe() -> None:
    """The reader of our output went away (`wikistream status | head -1`): say nothing more
    and exit as `git log | head` does (128 + SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail too
    sys.exit(141)
