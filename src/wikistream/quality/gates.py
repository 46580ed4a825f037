"""The gate between two layers: evaluate, decide, record, alert.

`QualityGates.judge` runs a layer's checks on the batch about to be promoted. A failed
`error` check holds the batch (the caller does not commit it and its consumer position does
not move) unless an operator released exactly that batch; failed checks of either level
alert once per de-duplication window.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pyarrow as pa

from wikistream import metrics
from wikistream.alerts.channels import Alert
from wikistream.alerts.router import AlertRouter, Delivery
from wikistream.lakehouse.store import Lakehouse
from wikistream.quality.audit import AuditLog, GateRun, alert_key, new_run_id, release_at
from wikistream.quality.checks import CheckSet, load_checks
from wikistream.quality.evaluate import CheckResult, GateOutcome, evaluate

log = logging.getLogger(__name__)

PROMOTED, HELD, RELEASED, CHECKED = "promoted", "held", "released", "checked"
_CONSEQUENCES = {
    HELD: "the batch is held back",
    RELEASED: "released by an operator",
    PROMOTED: "the batch went on",
    CHECKED: "checked on demand",
}


class QualityGates:
    """Every gate of one processor: checks, audit log and alert router."""

    def __init__(self, lakehouse: Lakehouse) -> None:
        settings = lakehouse.settings
        self.checks: CheckSet = load_checks(settings.dq.checks_file)
        self.enabled = settings.dq.enabled
        self._lakehouse = lakehouse
        self.audit = AuditLog(lakehouse, lakehouse.documents)
        self.alerts = AlertRouter(settings.alerts, already_sent=self.audit.sent_alerts())

    def judge(
        self,
        layer: str,
        table: str,
        batch: pa.Table,
        input_range: tuple[str | None, str | None],
        *,
        snapshot_id: int | None = None,
        reference_rows: int | None = None,
        released: bool = False,
        exclude: tuple[str, ...] = (),
        on_demand: bool = False,
    ) -> tuple[GateRun, GateOutcome]:
        """Evaluate `layer`'s checks for `table` on `batch` and record the run.

        Args:
            input_range: (from exclusive, to inclusive) positions of the batch in the layer
                below; a release names this range.
            snapshot_id: the input snapshot the batch was read up to (audit).
            reference_rows: input rows the batch summarises (gold reconcile checks).
            released: an operator released this batch: promote even if an error check fails.
            exclude: check types not to run (e.g. timeliness on a deliberate rebuild).
            on_demand: `wikistream dq run`: recorded, but promotes nothing and alerts nobody.
        """
        now = datetime.now(UTC)
        checks = [
            c
            for c in self.checks.of(layer, table if layer == "gold" else None)
            if c.type not in exclude
        ]
        outcome = evaluate(batch, checks, self.audit.history(layer, table), reference_rows)
        gate = PROMOTED
        if on_demand:
            gate = CHECKED
        elif outcome.holds:
            gate = RELEASED if released else HELD
        run_id = new_run_id(layer, now)
        deliveries = (
            {}
            if on_demand
            else {
                r.check.name: delivery
                for r in outcome.failures
                if (delivery := self._alert(layer, table, run_id, r, gate)) is not None
            }
        )
        run = GateRun(
            run_id,
            layer,
            table,
            now,
            outcome.results,
            gate,
            input_range[0],
            input_range[1],
            snapshot_id,
            frozenset(),
        )
        self.audit.add(run, deliveries)  # `alerted` is what a channel delivered, at flush
        if not on_demand:
            for result in outcome.results:
                metrics.GATE_CHECKS.labels(
                    table=table, check=result.check.name, verdict=result.verdict
                ).inc()
            metrics.GATE_RUNS.labels(table=table, gate=gate).inc()
        if gate == HELD:
            log.warning(
                "quality gate held a batch",
                extra={
                    "run_id": run_id,
                    "layer": layer,
                    "table": table,
                    "failed": [r.check.name for r in outcome.failures],
                },
            )
        return run, outcome

    def release_end(self, table: str, input_from: str | None) -> str | None:
        """Where a released batch of `table`'s input that starts at `input_from` ends."""
        return release_at(self._lakehouse, table, input_from)

    def flush(self) -> None:
        self.audit.flush()

    def close(self) -> None:
        self.audit.flush()
        self.alerts.close()

    def _alert(
        self, layer: str, table: str, run_id: str, result: CheckResult, gate: str
    ) -> Delivery | None:
        check = result.check
        severity = "critical" if check.level == "error" else "warning"
        consequence = _CONSEQUENCES[gate]
        value = "-" if result.metric_value is None else f"{result.metric_value:.4g}"
        text = (
            f"{layer} gate, {table}: check {check.name} ({check.type}, {check.level}) failed: "
            f"value {value}, expected {result.threshold or '-'}; {result.rows_failed:,} of "
            f"{result.rows_checked:,} rows failed; {consequence}. {result.detail}".strip()
        )
        if gate == HELD:
            text += f"\nRelease after review: wikistream dq release {run_id}"
        alert = Alert(
            severity=severity,
            title=f"{table}: {check.name} failed",
            text=text,
            key=alert_key(layer, table, check.name),
            fields={
                "run_id": run_id,
                "layer": layer,
                "table": table,
                "check": check.name,
                "level": check.level,
                "gate": gate,
                "metric_value": result.metric_value,
            },
        )
        return self.alerts.submit(alert)
