"""The `wikistream` group: global options, settings, and errors as one line with an exit code."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wikistream import __version__
from wikistream.cli.logs import configure_logging
from wikistream.cli.output import fail, quiet_closed_pipe
from wikistream.exceptions import (
    CatalogUnavailable,
    ConfigError,
    InputBroken,
    QueryError,
    SourceRejected,
    SourceUnavailable,
    WarehouseMissing,
    WikiStreamError,
)
from wikistream.settings import Settings, load_settings

if TYPE_CHECKING:
    from wikistream.lakehouse.store import Lakehouse

log = logging.getLogger(__name__)

EXIT_ERROR, EXIT_CONFIG, EXIT_SOURCE, EXIT_UNHEALTHY = 1, 2, 3, 4


@dataclass
class Context:
    config: Path | None
    warehouse: str | None
    debug: bool

    def settings(self, **overrides: Any) -> Settings:
        if self.warehouse is not None:
            overrides["warehouse"] = self.warehouse
        return load_settings(self.config, **overrides)


def writable(settings: Settings) -> Lakehouse:
    """The lakehouse of a command that writes: its tables created or upgraded first (the
    one place that does; idempotent, and a no-op for tables that are current)."""
    from wikistream.lakehouse.store import Lakehouse  # PyIceberg: when needed

    lakehouse = Lakehouse(settings)
    lakehouse.init()
    return lakehouse


def readable(settings: Settings) -> Lakehouse:
    """The lakehouse of a command that only reads; no warehouse there is an error (exit 3)
    that says where it looked, not an empty answer."""
    from wikistream.lakehouse.store import Lakehouse  # PyIceberg: when needed

    lakehouse = Lakehouse.reader(settings)
    if not lakehouse.initialized():
        raise WarehouseMissing(
            f"no warehouse at {settings.warehouse_shown} ({lakehouse.describe()}): nothing "
            "was ingested there yet. Point --warehouse (or WIKISTREAM_WAREHOUSE, or the config "
            "file) at yours, or create one with: wikistream demo"
        )
    return lakehouse


# Command -> (the cli module that defines it, its one line of help). A command's module,
# with everything it imports (PyIceberg, Daft, Arrow…), is loaded only when that command
# runs or shows its own help: `wikistream --help` and every start stay fast.
# tests/cli/test_cli.py checks this table against the commands the modules define.
COMMANDS: dict[str, tuple[str, str]] = {
    "alerts": ("alerts", "Alert channels: send a test alert through every configured channel."),
    "backfill": ("backfill", "Load historical data into bronze, recorded in a run manifest; "
                             "re-run to resume."),
    "describe": ("inspect", "TABLE's columns (type, required, meaning), partitioning and current "
                             "snapshot."),
    "demo": ("ingest", "Run the pipeline on the deterministic synthetic stream and print a "
                       "summary."),
    "dq": ("quality", "Quality gates: reports, on-demand runs, releasing a held batch."),
    "history": ("ops", "Snapshots of TABLE, newest first: id, time, operation, rows, stored "
                       "positions."),
    "init": ("ops", "Create the namespaces and tables (or bring older ones up to date); "
                    "idempotent."),
    "maintain": ("ops", "Compact small files, expire old snapshots, delete orphan files; "
                        "report what changed."),
    "migrate": ("ops", "Move this warehouse to another catalog and storage (e.g. a local "
                       "folder to S3)."),
    "process": ("ingest", "Run one silver/gold cycle now (e.g. after a backfill); idempotent."),
    "produce": ("produce", "Validate a source's events and produce them to a Kafka topic."),
    "quarantine": ("quality", "Rows that failed decoding (bronze) or row-level checks "
                              "(silver)."),
    "query": ("inspect", "Run one read-only SQL query (DuckDB's SQL) over the warehouse's "
                         "tables."),
    "replay": ("replay", "Re-read a source into bronze, or recompute silver or gold from the "
                         "layer below."),
    "rollback": ("ops", "Restore TABLE to an earlier snapshot; the layers above are rebuilt "
                        "to match."),
    "run": ("ingest", "Ingest a source into bronze until it ends, a limit is hit, or Ctrl-C."),
    "serve": ("web", "Serve the dashboard (/), the JSON API (/api/…), /healthz and /metrics "
                     "until Ctrl-C."),
    "tables": ("inspect", "The tables a query can read: what each holds, rows, last commit."),
    "status": ("inspect", "Tables, files, snapshots, positions, freshness, running "
                          "components, gate verdicts."),
}  # fmt: skip


class _Group(click.Group):
    """Loads commands when they are used (COMMANDS); turns WikiStream errors into one line
    on stderr and a meaningful exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"wikistream.cli.{COMMANDS[cmd_name][0]}")
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, COMMANDS[name][1])
            if name in COMMANDS
            else (name, self.commands[name].get_short_help_str())
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            quiet_closed_pipe()
        except (ConfigError, QueryError, InputBroken) as exc:  # bad configuration or input
            fail(str(exc), EXIT_CONFIG)
        except (SourceUnavailable, SourceRejected, CatalogUnavailable, WarehouseMissing) as exc:
            fail(str(exc), EXIT_SOURCE)
        except WikiStreamError as exc:
            fail(str(exc), EXIT_ERROR)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:
            log.debug("unexpected error", exc_info=True)
            hint = "" if ctx.obj is None or ctx.obj.debug else " (rerun with --debug for details)"
            fail(f"{type(exc).__name__}: {exc}{hint}", EXIT_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wikistream")
@click.option(
    "--config", type=click.Path(path_type=Path), envvar="WIKISTREAM_CONFIG",
    help="TOML settings file (see docs/configuration.md).",
)  # fmt: skip
@click.option(
    "--warehouse", metavar="PATH|URI",
    help="Warehouse: a folder, or s3://bucket/prefix on object storage [default: ./warehouse].",
)  # fmt: skip
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="json: one object per line.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.pass_context
def cli(
    ctx: click.Context,
    config: Path | None,
    warehouse: str | None,
    log_level: str,
    log_format: str,
    debug: bool,
) -> None:
    """WikiStream: the Wikimedia edit stream as an exactly-once Iceberg lakehouse.

    \b
    Quick start:
      wikistream demo                 synthetic stream -> bronze, then a summary
      wikistream run                  the live Wikimedia stream until Ctrl-C
      wikistream status               tables, rows, positions, freshness
      wikistream query "SELECT …"     read-only SQL over bronze.events, …
    """
    configure_logging("debug" if debug else log_level, log_format)
    ctx.obj = Context(config=config, warehouse=warehouse, debug=debug)
