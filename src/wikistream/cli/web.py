"""`wikistream serve`: the live dashboard, the JSON API and /metrics over a warehouse."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from wikistream.cli.app import Context, cli
from wikistream.exceptions import ConfigError
from wikistream.settings import Settings

if TYPE_CHECKING:
    from wikistream.web.server import WebServer

HOST_OPTION = click.option(
    "--host", metavar="ADDRESS",
    help="Address to listen on [default: web.host, 127.0.0.1]. 0.0.0.0 exposes the "
         "dashboard to the network: put it behind TLS and access control.",
)  # fmt: skip
PORT_OPTION = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port [default: web.port, 8765; 0: any free port].",
)


@cli.command()
@HOST_OPTION
@PORT_OPTION
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Serve the dashboard (/), the JSON API (/api/…), /healthz and /metrics until Ctrl-C.

    Read-only: it never changes the warehouse (releasing a held batch needs web.admin_token).
    Serves any warehouse, local or on object storage; run it beside `wikistream run`, or
    use `wikistream run --serve`.
    """
    server = web_server(obj.settings(), host, port)
    click.echo(
        f"serving {obj.settings().warehouse_shown} at {server.url}  (Ctrl-C to stop)", err=True
    )
    server.run()


def web_server(settings: Settings, host: str | None, port: int | None) -> WebServer:
    """The server, bound: a port in use or a missing `web` extra fails here, with advice."""
    try:
        from wikistream.web.server import WebServer  # the web extra
    except ImportError as exc:
        raise ConfigError(
            f"the dashboard needs the web extra ({exc.name} is missing): "
            "pip install 'wikistream[web]'"
        ) from None
    web = settings.web
    return WebServer(settings, host or web.host, web.port if port is None else port)
