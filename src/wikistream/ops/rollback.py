"""Roll a table back to an earlier snapshot and bring the layers above in line with it.

bronze rolled back: its own source position goes back too (ingestion re-reads from there),
silver is rebuilt from bronze and gold from silver. silver rolled back: silver resumes from
the bronze position it had then; gold is rebuilt from silver. A gold table rolled back resumes
from the silver position it had then, so its next cycles recompute what changed since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wikistream.exceptions import ConfigError
from wikistream.lakehouse.snapshots import current_id, resolve, rollback, row_count
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS, SILVER_EVENTS, TABLES
from wikistream.ops.health import active_run


@dataclass
class RollbackReport:
    table: str
    from_snapshot: int | None
    to_snapshot: int
    rows_before: int
    rows_after: int
    rebuilt: dict[str, int] = field(default_factory=dict)  # layer table -> rows written

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rollback_table(lakehouse: Lakehouse, identifier: str, ref: str) -> RollbackReport:
    """Roll `identifier` back to `ref` (snapshot id or ISO time) and rebuild what depends on it.

    Holds the processing lease throughout (refused while a `run` keeps the layers current);
    bronze is refused too while a `run` ingests into it.

    Raises:
        ConfigError: unknown table, unknown snapshot, not an ancestor, or a running writer.
    """
    if identifier not in TABLES:
        raise ConfigError(f"unknown table {identifier!r}; tables: {', '.join(TABLES)}")
    run = active_run(lakehouse)
    if identifier == BRONZE_EVENTS.identifier and run is not None:
        raise ConfigError(
            f"wikistream run (pid {run.get('pid')}) keeps bronze current: stop it before "
            f"rolling back {identifier}"
        )
    from wikistream.pipeline.exclusive import exclusive_processor  # Daft: when needed

    with exclusive_processor(lakehouse, f"rolling back {identifier}") as processor:
        table = lakehouse.table(TABLES[identifier])
        target = resolve(table, ref)
        current = current_id(table)
        before = row_count(table)
        rollback(table, target)
        report = RollbackReport(identifier, current, target, before, row_count(table))
        layer = {BRONZE_EVENTS.identifier: "all", SILVER_EVENTS.identifier: "gold"}.get(identifier)
        if layer is not None:
            report.rebuilt = processor.run(layer, full_refresh=True).rows
    return report
