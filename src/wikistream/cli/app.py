"""The `wikistream` group: global options, settings, and errors as one line with an exit code."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from wikistream import __version__
from wikistream.cli.logs import configure_logging
from wikistream.cli.output import fail
from wikistream.exceptions import (
    CatalogUnavailable,
    ConfigError,
    SourceRejected,
    SourceUnavailable,
    WikiStreamError,
)
from wikistream.lakehouse.store import Lakehouse
from wikistream.settings import Settings, load_settings

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
    lakehouse = Lakehouse(settings)
    lakehouse.init()
    return lakehouse


class _Group(click.Group):
    """Turns WikiStream errors into one line on stderr and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            fail(str(exc), EXIT_CONFIG)
        except (SourceUnavailable, SourceRejected, CatalogUnavailable) as exc:
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
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))  # fmt: skip
@click.option("--log-format", default="text", show_default=True,
              type=click.Choice(["text", "json"]), help="json: one object per line.")  # fmt: skip
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
