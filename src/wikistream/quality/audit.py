"""The quality audit trail: `dq.results` rows, one JSON report per run, and releases.

`dq.results` doubles as the metric history of the drift and volume checks and as the memory
of which alerts were sent (so a restart does not send them again).
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.alerts.router import Delivery
from wikistream.exceptions import ConfigError
from wikistream.lakehouse import commits
from wikistream.lakehouse.documents import Documents
from wikistream.lakehouse.reads import rows_of
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import DQ_RELEASES, DQ_RESULTS
from wikistream.quality.checks import Check

if TYPE_CHECKING:
    from wikistream.quality.evaluate import CheckResult  # Daft: only for the type

HISTORY_DAYS = 7
ALERT_WAIT_S = 10.0  # how long recording a gate run waits for its alerts to be delivered


def new_run_id(layer: str, now: datetime) -> str:
    return f"{layer}-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class GateRun:
    """One gate run: which batch, what every check said, and what happened to the batch."""

    run_id: str
    layer: str
    table: str
    run_at: datetime
    results: list[CheckResult]
    gate: str  # promoted | held | released
    input_from: str | None
    input_to: str | None
    snapshot_id: int | None
    alerted: frozenset[str]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "run_id": self.run_id,
                "run_at": self.run_at,
                "run_date": self.run_at.date(),
                "layer": self.layer,
                "table_name": self.table,
                "check_name": r.check.name,
                "check_type": r.check.type,
                "level": r.check.level,
                "metric_value": r.metric_value,
                "threshold": r.threshold,
                "rows_checked": r.rows_checked,
                "rows_failed": r.rows_failed,
                "snapshot_id": self.snapshot_id,
                "input_from": self.input_from,
                "input_to": self.input_to,
                "verdict": r.verdict,
                "gate": self.gate,
                "alerted": r.check.name in self.alerted,
                "detail": r.detail or None,
                "duration_ms": r.duration_ms,
            }
            for r in self.results
        ]

    def report(self) -> dict[str, Any]:
        """The JSON document of this run."""
        return {
            "run_id": self.run_id,
            "layer": self.layer,
            "table": self.table,
            "run_at": self.run_at.isoformat(),
            "gate": self.gate,
            "input": {"from": self.input_from, "to": self.input_to},
            "snapshot_id": self.snapshot_id,
            "checks": [
                {
                    k: v
                    for k, v in row.items()
                    if k not in ("run_id", "run_at", "run_date", "layer", "table_name")
                }
                for row in self.rows()
            ],
        }


class AuditLog:
    """Writes gate runs; remembers metric history and sent alerts across restarts."""

    def __init__(self, lakehouse: Lakehouse, documents: Documents) -> None:
        self._lakehouse = lakehouse
        self._documents = documents
        self._pending: list[tuple[GateRun, dict[str, Delivery]]] = []
        self._history: dict[tuple[str, str, str], deque[float]] = defaultdict(
            lambda: deque(maxlen=500)
        )
        since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
        self._recent = _recent_results(lakehouse, since)
        for row in self._recent:
            if row["metric_value"] is not None:  # also values seen while still learning
                key = (row["layer"], row["table_name"], row["check_name"])
                self._history[key].append(row["metric_value"])

    def history(self, layer: str, table: str) -> Any:
        def values(check: Check) -> Sequence[float]:
            return list(self._history[(layer, table, check.name)])

        return values

    def sent_alerts(self) -> Iterable[tuple[str, float]]:
        for row in self._recent:
            if row["alerted"]:
                key = alert_key(row["layer"], row["table_name"], row["check_name"])
                yield key, row["run_at"].timestamp()

    def add(self, run: GateRun, deliveries: Mapping[str, Delivery] | None = None) -> None:
        """Keep a run (and the alerts it raised, by check) for the next `flush`."""
        for result in run.results:
            if result.metric_value is not None:
                self._history[(run.layer, run.table, result.check.name)].append(result.metric_value)
        self._pending.append((run, dict(deliveries or {})))

    def flush(self, wait_for_alerts_s: float = ALERT_WAIT_S) -> list[GateRun]:
        """Record every pending run: its JSON report, and its rows in `dq.results` (one
        commit). `alerted` says which checks' alerts a channel delivered: the alerts get up
        to `wait_for_alerts_s` to go out; one still on its way counts as not sent (a
        restart may then send it again, which beats suppressing it)."""
        if not self._pending:
            return []
        deadline = time.monotonic() + wait_for_alerts_s
        runs = []
        for run, deliveries in self._pending:
            for delivery in deliveries.values():
                delivery.wait(max(0.0, deadline - time.monotonic()))
            alerted = frozenset(name for name, d in deliveries.items() if d.delivered)
            runs.append(replace(run, alerted=alerted))
        for run in runs:
            self._documents.write(f"dq/{run.layer}/{run.run_id}.json", run.report())
        rows = [row for run in runs for row in run.rows()]
        table = self._lakehouse.table(DQ_RESULTS)
        commits.append(table, pa.Table.from_pylist(rows, DQ_RESULTS.schema), {})
        self._pending.clear()
        return runs


def alert_key(layer: str, table: str, check: str) -> str:
    return f"dq/{layer}/{table}/{check}"


def _recent_results(lakehouse: Lakehouse, since: datetime) -> list[dict[str, Any]]:
    days = [since.date() + timedelta(days=d) for d in range((datetime.now(UTC) - since).days + 2)]
    rows = rows_of(
        lakehouse,
        DQ_RESULTS,
        "run_date",
        list(days),
        ("layer", "table_name", "check_name", "metric_value", "verdict", "alerted", "run_at"),
    )
    if rows.num_rows == 0:
        return []
    since_scalar = pa.scalar(since, rows.schema.field("run_at").type)
    rows = rows.filter(pc.greater_equal(rows.column("run_at"), since_scalar))
    recent: list[dict[str, Any]] = rows.sort_by("run_at").to_pylist()
    return recent


def run_rows(lakehouse: Lakehouse, run_id: str) -> list[dict[str, Any]]:
    """Every `dq.results` row of one run."""
    rows: list[dict[str, Any]] = rows_of(lakehouse, DQ_RESULTS, "run_id", [run_id]).to_pylist()
    return rows


def add_release(lakehouse: Lakehouse, run: dict[str, Any], reason: str | None) -> None:
    """Let a held batch through: the next cycle promotes exactly its input range."""
    row = {
        "run_id": run["run_id"],
        "layer": run["layer"],
        "table_name": run["table_name"],
        "input_from": run["input_from"],
        "input_to": run["input_to"],
        "released_at": datetime.now(UTC),
        "reason": reason,
    }
    table = lakehouse.table(DQ_RELEASES)
    commits.append(table, pa.Table.from_pylist([row], DQ_RELEASES.schema), {})


def release_held(lakehouse: Lakehouse, run_id: str, reason: str | None) -> str:
    """Let the batch that gate run `run_id` held through at the next cycle; returns its
    table.

    Raises:
        ConfigError: no such run, or it did not hold its batch.
    """
    rows = run_rows(lakehouse, run_id)
    if not rows:
        raise ConfigError(f"no gate run {run_id!r} in dq.results (see: wikistream dq report)")
    if rows[0]["gate"] != "held":
        raise ConfigError(f"run {run_id} did not hold its batch (gate: {rows[0]['gate']})")
    add_release(lakehouse, rows[0], reason)
    table: str = rows[0]["table_name"]
    return table


def release_at(lakehouse: Lakehouse, table_name: str, input_from: str | None) -> str | None:
    """The end of a released batch that starts where `table_name`'s consumer stands."""
    releases = rows_of(lakehouse, DQ_RELEASES, "table_name", [table_name])
    for row in reversed(releases.to_pylist()):
        if row["input_from"] == input_from:
            end: str = row["input_to"]
            return end
    return None


def summarize(lakehouse: Lakehouse, layer: str | None, since: datetime) -> dict[str, Any]:
    """Pass rates per check, the latest failures, and batches still held (dq report)."""
    days = [since.date() + timedelta(days=d) for d in range((datetime.now(UTC) - since).days + 2)]
    rows = [
        r
        for r in rows_of(lakehouse, DQ_RESULTS, "run_date", list(days)).to_pylist()
        if r["run_at"] >= since and (layer is None or r["layer"] == layer)
    ]
    rows.sort(key=lambda r: r["run_at"])
    checks: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        entry = checks.setdefault(
            (r["layer"], r["table_name"], r["check_name"]),
            {
                "layer": r["layer"],
                "table": r["table_name"],
                "check": r["check_name"],
                "type": r["check_type"],
                "level": r["level"],
                "runs": 0,
                "passed": 0,
                "failed": 0,
                "skipped": 0,
                "rows_failed": 0,
            },
        )
        entry["runs"] += 1
        entry[{"pass": "passed", "fail": "failed"}.get(r["verdict"], "skipped")] += 1
        entry["rows_failed"] += r["rows_failed"]
        entry.update(
            last_verdict=r["verdict"],
            last_value=r["metric_value"],
            last_run_at=r["run_at"].isoformat(),
        )
    for entry in checks.values():
        judged = entry["passed"] + entry["failed"]
        entry["pass_rate"] = entry["passed"] / judged if judged else None
    failures = [r for r in rows if r["verdict"] == "fail"][-20:]
    released = set(
        rows_of(lakehouse, DQ_RELEASES, "run_id", None, ("run_id",)).column("run_id").to_pylist()
    )
    latest_gate: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["gate"] != "checked":
            latest_gate[r["table_name"]] = r
    held = [
        {
            "run_id": r["run_id"],
            "layer": r["layer"],
            "table": r["table_name"],
            "run_at": r["run_at"].isoformat(),
            "input_from": r["input_from"],
            "input_to": r["input_to"],
        }
        for r in latest_gate.values()
        if r["gate"] == "held" and r["run_id"] not in released
    ]
    return {
        "since": since.isoformat(),
        "runs": len({r["run_id"] for r in rows}),
        "checks": sorted(checks.values(), key=lambda e: (e["layer"], e["table"], e["check"])),
        "recent_failures": [
            {
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in r.items()
                if k not in ("run_date",)
            }
            for r in reversed(failures)
        ],
        "held": held,
    }


def latest_gates(lakehouse: Lakehouse, since: datetime) -> list[dict[str, Any]]:
    """The latest gate run per table since `since` (on-demand checks excluded), with the
    names of the checks that failed; a held batch that was released counts as released."""
    summary = summarize(lakehouse, None, since)
    held = {h["run_id"] for h in summary["held"]}
    days = [since.date() + timedelta(days=d) for d in range((datetime.now(UTC) - since).days + 2)]
    rows = [
        r
        for r in rows_of(
            lakehouse,
            DQ_RESULTS,
            "run_date",
            list(days),
            ("run_id", "run_at", "layer", "table_name", "check_name", "verdict", "gate"),
        ).to_pylist()
        if r["run_at"] >= since and r["gate"] != "checked"
    ]
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["run_at"]):
        entry = latest.get(r["table_name"])
        if entry is None or entry["run_id"] != r["run_id"]:
            entry = {
                "table": r["table_name"],
                "layer": r["layer"],
                "run_id": r["run_id"],
                "run_at": r["run_at"].isoformat(),
                "failed": [],
            }
            latest[r["table_name"]] = entry
        entry["gate"] = (
            "held" if r["run_id"] in held else ("released" if r["gate"] == "held" else r["gate"])
        )
        if r["verdict"] == "fail":
            entry["failed"].append(r["check_name"])
    return sorted(latest.values(), key=lambda e: e["table"])
