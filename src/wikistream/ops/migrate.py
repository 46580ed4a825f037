"""`wikistream migrate`: move a warehouse to another catalog and storage (e.g. local -> S3).

What cannot be recomputed is copied: bronze (events and dead letters) with every source
position, the quality audit (dq.results, dq.releases), backfill runs (ops.runs) and the
documents beside them (run manifests, quality reports). Silver and gold are then rebuilt in
the target from its bronze, so their positions refer to the target's own snapshots. The
source is only read; running the same migration again into the now non-empty target is
refused rather than doubling anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.exceptions import ConfigError
from wikistream.lakehouse.copying import copy_documents, copy_positions, copy_rows, rows_of
from wikistream.lakehouse.positions import Positions, stored_positions
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    DQ_RELEASES,
    DQ_RESULTS,
    GOLD_TABLES,
    OPS_RUNS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)

COPIED = (BRONZE_EVENTS, BRONZE_QUARANTINE, DQ_RESULTS, DQ_RELEASES, OPS_RUNS)
REBUILT = (SILVER_EVENTS, SILVER_QUARANTINE, *GOLD_TABLES)
DOCUMENTS = ("runs", "dq")


@dataclass
class MigrationReport:
    source: str
    target: str
    copied: dict[str, int] = field(default_factory=dict)  # table -> rows in the target
    positions: dict[str, dict[str, Positions]] = field(default_factory=dict)  # table -> source
    documents: int = 0
    rebuilt: dict[str, int] = field(default_factory=dict)
    verified: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def migrate(
    source: Lakehouse, target: Lakehouse, on_step: Callable[[str], None] | None = None
) -> MigrationReport:
    """Copy `source` into the empty `target`, rebuild silver and gold there, verify.

    Raises:
        ConfigError: the target already holds events, or is the source itself.
    """
    step = on_step or (lambda _: None)
    if (
        source.settings.warehouse_uri == target.settings.warehouse_uri
        and source.describe() == target.describe()
    ):
        raise ConfigError("the target is the source warehouse itself")
    target.init()
    if rows_of(target, BRONZE_EVENTS.identifier):
        raise ConfigError(
            f"the target ({target.describe()}) already holds bronze events: migrate into an "
            "empty warehouse (or finish the earlier migration by hand)"
        )
    report = MigrationReport(source.describe(), target.describe())
    old_base, new_base = source.documents, target.documents
    for definition in COPIED:
        identifier = definition.identifier
        if source.find(identifier) is None:
            continue
        step(f"copying {identifier}")
        rewrite = (
            _manifest_locations(old_base.location(""), new_base.location(""))
            if definition is OPS_RUNS
            else None
        )
        copy_rows(source, target, identifier, rewrite)
        report.positions[identifier] = copy_positions(source, target, identifier)
        report.copied[identifier] = rows_of(target, identifier)
    step("copying documents (run manifests, quality reports)")
    report.documents = copy_documents(source, target, DOCUMENTS)
    step("rebuilding silver and gold from bronze")
    from wikistream.pipeline.process import Processor  # Daft, on demand

    with Processor(target) as processor:
        report.rebuilt = processor.run("all", full_refresh=True).rows
    report.verified = _verify(source, target, report)
    return report


def _manifest_locations(old: str, new: str) -> Callable[[pa.Table], pa.Table]:
    """ops.runs rows point at their manifest document: point them at the copy."""

    def rewrite(rows: pa.Table) -> pa.Table:
        index = rows.schema.get_field_index("manifest")
        moved = pc.replace_substring(rows.column("manifest"), old, new, max_replacements=1)
        return rows.set_column(index, rows.schema.field(index), moved)

    return rewrite


def _verify(source: Lakehouse, target: Lakehouse, report: MigrationReport) -> bool:
    """Every copied table has the source's rows and positions; silver has every event."""
    for identifier, rows in report.copied.items():
        if rows != rows_of(source, identifier):
            raise ConfigError(
                f"{identifier}: {rows} rows copied, the source has {rows_of(source, identifier)}"
            )
        if stored_positions(target.table(identifier)) != report.positions[identifier]:
            raise ConfigError(f"{identifier}: the positions in the target differ")
    silver = rows_of(target, SILVER_EVENTS.identifier) + rows_of(
        target, SILVER_QUARANTINE.identifier
    )
    return silver == rows_of(target, BRONZE_EVENTS.identifier)
