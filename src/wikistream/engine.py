"""The Daft engine: native runner by default, Ray when configured. Chosen once per process.

Transforms build Daft DataFrames and never know which runner executes them.
"""

from __future__ import annotations

import contextlib
import os
import threading

import pyarrow as pa

from wikistream.exceptions import ConfigError
from wikistream.settings import EngineSettings

# Daft reports usage to a third party unless told not to; a local pipeline should not.
os.environ.setdefault("DAFT_ANALYTICS_ENABLED", "0")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Per-operator progress bars (printed by every Ray worker) would drown the pipeline's output.
os.environ.setdefault("DAFT_PROGRESS_BAR", "0")
# An engine panic becomes a one-line QueryError; a 60-frame Rust backtrace helps nobody here.
os.environ.setdefault("RUST_BACKTRACE", "0")

import daft

_lock = threading.Lock()
_configured: str | None = None


def _release_freed_memory() -> None:
    """Freed Arrow memory handed back to the system at once (jemalloc, the pool the package
    chooses before Arrow loads: `wikistream/__init__.py`).

    Arrow's default pool keeps freed memory for reuse, so a process that works through a
    rebuild chunk after chunk grew by tens of MB per chunk (a 1 M-event full refresh peaked
    at 1.22 GB; with this, 0.81 GB, at the same speed). Kept as is where jemalloc is absent.
    """
    with contextlib.suppress(NotImplementedError, pa.ArrowNotImplementedError):
        pa.jemalloc_set_decay_ms(0)


def configure_engine(settings: EngineSettings) -> str:
    """Select the runner the first time; later calls must ask for the same one."""
    global _configured
    wanted = f"{settings.runner}:{settings.ray_address or ''}"
    with _lock:
        if _configured is not None:
            if _configured != wanted:
                raise ConfigError(f"the engine already runs as {_configured}, not {wanted}")
            return _configured
        if settings.runner == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "engine.runner = 'ray' needs Ray: pip install 'wikistream[ray]'"
                ) from None
        try:
            if settings.runner == "ray":
                daft.set_runner_ray(address=settings.ray_address)
            else:
                daft.set_runner_native()
        except Exception as exc:  # Daft already picked a runner when it first ran a query
            if daft.get_or_infer_runner_type() != settings.runner:
                raise ConfigError(f"Daft already runs on another runner: {exc}") from None
        _release_freed_memory()
        _configured = wanted
        return wanted


def frame(table: pa.Table) -> daft.DataFrame:
    """An Arrow table as a Daft DataFrame."""
    return daft.from_arrow(table)


def sql(query: str, **frames: daft.DataFrame) -> daft.DataFrame:
    """Daft SQL over named DataFrames."""
    result = daft.sql(query, register_globals=False, **frames)
    if result is None:  # pragma: no cover - only for statements that return nothing
        raise ValueError("the query returned no frame")
    return result
