"""The work of one rebuild chunk: read its partitions, transform, write its data files.

Native: chunk after chunk in this process. Ray (`engine.runner = "ray"`): chunks run as Ray
tasks, a few ahead of the driver, each reading its partitions straight from the warehouse
(the same catalog settings and credentials chain) and writing its table's data files; the
driver gates and commits them in order. A task whose node dies is run again elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from wikistream.lakehouse import commits
from wikistream.lakehouse.commits import DataFile
from wikistream.lakehouse.reads import rows_matching
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS, SILVER_EVENTS
from wikistream.layers.silver import BRONZE_COLUMNS, to_silver
from wikistream.pipeline.chunks import Chunk
from wikistream.pipeline.gold_specs import GOLD_SPECS
from wikistream.settings import Settings

IN_FLIGHT = 4  # Ray tasks submitted ahead of the commits: enough to keep a few nodes busy
RETRIES = 3  # a task whose worker or node dies runs again, up to this many times


@dataclass(frozen=True)
class ChunkTask:
    """Build `table`'s rows of `chunk` (silver from bronze at snapshot `upto`; a gold table
    from silver's current state)."""

    table: str
    chunk: Chunk
    upto: int | None = None


@dataclass
class ChunkDone:
    """A computed chunk: its input row count, its rows, and (Ray) their data files."""

    task: ChunkTask
    input_rows: int
    rows: pa.Table
    files: list[DataFile] | None
    worker: str


def compute_chunk(lakehouse: Lakehouse, task: ChunkTask) -> tuple[int, pa.Table]:
    """Read the chunk's input rows and transform them into the target table's rows."""
    if task.table == SILVER_EVENTS.identifier:
        bronze = lakehouse.table(BRONZE_EVENTS)
        rows = rows_matching(bronze, task.chunk.condition(), BRONZE_COLUMNS, task.upto)
        return rows.num_rows, to_silver(rows, lakehouse.settings.silver, datetime.now(UTC))
    spec = next(s for s in GOLD_SPECS if s.name == task.table)
    silver = lakehouse.table(SILVER_EVENTS)
    rows = rows_matching(silver, task.chunk.condition(), spec.inputs)
    return rows.num_rows, spec.compute(rows, lakehouse)


def run_chunks(lakehouse: Lakehouse, tasks: list[ChunkTask]) -> Iterator[ChunkDone]:
    """The tasks' results, in order. Stop iterating to drop the rest (Ray: cancelled)."""
    settings = lakehouse.settings
    if settings.engine.runner != "ray":
        for task in tasks:
            count, rows = compute_chunk(lakehouse, task)
            yield ChunkDone(task, count, rows, None, _worker_name())
        return
    import ray

    if not ray.is_initialized():
        ray.init(address=settings.engine.ray_address, logging_level=logging.WARNING)
    remote = ray.remote(max_retries=RETRIES)(_remote_chunk)
    waiting = iter(tasks)
    pending: deque[Any] = deque()
    try:
        for task in waiting:
            pending.append(remote.remote(settings, task))
            if len(pending) >= IN_FLIGHT:
                break
        while pending:
            done: ChunkDone = ray.get(pending.popleft())
            following = next(waiting, None)
            if following is not None:
                pending.append(remote.remote(settings, following))
            yield done
    finally:
        for ref in pending:
            ray.cancel(ref)


_lakehouses: dict[str, Lakehouse] = {}  # per Ray worker process: the catalog opened once


def _remote_chunk(settings: Settings, task: ChunkTask) -> ChunkDone:
    """A Ray task: compute the chunk and write its data files into the warehouse."""
    import daft

    key = settings.model_dump_json()
    if key not in _lakehouses:
        # This worker's transforms run here, not as Ray jobs of their own (if Daft has not
        # chosen already: native is its default in a worker).
        with contextlib.suppress(Exception):
            daft.set_runner_native()
        _lakehouses[key] = Lakehouse(settings)
    lakehouse = _lakehouses[key]
    count, rows = compute_chunk(lakehouse, task)
    files = commits.data_files(lakehouse.table(task.table), rows)
    return ChunkDone(task, count, rows, files, _worker_name())


def _worker_name() -> str:
    try:
        import ray

        if ray.is_initialized():
            return str(ray.get_runtime_context().get_node_id())
    except ImportError:
        pass
    return f"{socket.gethostname()}:{os.getpid()}"
