"""Is the pipeline healthy? What `wikistream status` reports and its exit code rests on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wikistream.exceptions import ConfigError
from wikistream.kafka.spec import KafkaSpec
from wikistream.lakehouse.documents import RUN_STATE
from wikistream.lakehouse.positions import partition_writers, stored_positions
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS
from wikistream.quality.audit import latest_gates
from wikistream.settings import Settings

_SILENT_AFTER_BEATS = 6  # a running pipeline that missed this many heartbeats is in trouble


def health(
    lakehouse: Lakehouse, tables: list[dict[str, Any]], max_lag: float | None
) -> dict[str, Any]:
    """Problems (empty when healthy), the latest gate verdict per table, the components."""
    problems: list[str] = []
    if not any(t["exists"] for t in tables):
        problems.append("no tables yet: run `wikistream demo` or `wikistream run` first")
    gates = latest_gates(lakehouse, datetime.now(UTC) - timedelta(days=1))
    for gate in gates:
        if gate["gate"] == "held":
            problems.append(
                f"{gate['table']}: a batch is held by its quality gate (run "
                f"{gate['run_id']}; see wikistream dq report)"
            )
    state = lakehouse.documents.read(RUN_STATE) or {}
    settings = lakehouse.settings
    components: dict[str, Any] = state.get("components", {})
    if state.get("running"):
        silent = _silent_s(state)
        if silent > _SILENT_AFTER_BEATS * float(state.get("heartbeat_s", 5)):
            problems.append(
                f"wikistream run (pid {state.get('pid')}) stopped reporting "
                f"{silent:.0f} s ago without stopping cleanly"
            )
    for name, component in components.items():
        if (
            component["state"] == "failed"
            or component["consecutive_failures"] >= settings.supervisor.alert_after_restarts
        ):
            problems.append(
                f"component {name} is {component['state']} after "
                f"{component['restarts']} restarts: {component['last_error']}"
            )
    bronze = next((t for t in tables if t["table"] == "bronze.events"), None)
    lag = bronze.get("freshness_lag_s") if bronze else None
    if max_lag is not None and lag is not None and lag > max_lag:
        problems.append(f"bronze.events is {lag:.0f} s behind the stream (max {max_lag:g} s)")
    return {
        "problems": problems,
        "gates": gates,
        "components": components,
        "run": {k: state.get(k) for k in ("pid", "running", "started_at", "updated_at")},
    }


def active_run(lakehouse: Lakehouse) -> dict[str, Any] | None:
    """The run-state of a `wikistream run` that is running now (still sending heartbeats)."""
    state: dict[str, Any] = lakehouse.documents.read(RUN_STATE) or {}
    if not state.get("running"):
        return None
    alive = _silent_s(state) <= _SILENT_AFTER_BEATS * float(state.get("heartbeat_s", 5))
    return state if alive else None


def _silent_s(state: dict[str, Any]) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(state["updated_at"])).total_seconds()


def kafka_partitions(lakehouse: Lakehouse) -> list[dict[str, Any]]:
    """Per partition of every Kafka topic bronze reads: the offset stored with the rows, the
    topic's end offset and the lag (when the broker is known and answers), and the worker
    that committed last. The broker is the one of `--source`/`source.spec` if it is a Kafka
    spec, else `kafka.bootstrap_servers`."""
    settings = lakehouse.settings
    bronze = lakehouse.find(BRONZE_EVENTS.identifier)
    if bronze is None:
        return []
    rows: list[dict[str, Any]] = []
    for source, positions in sorted(stored_positions(bronze).items()):
        if not source.startswith("kafka:"):
            continue
        topic = source.removeprefix("kafka:")
        ends = _end_offsets(settings, topic)
        writers = partition_writers(bronze, source)
        for label in sorted(positions, key=lambda x: (len(x), x)):
            stored = int(positions[label])
            end = ends.get(int(label)) if label.isdigit() else None
            rows.append(
                {
                    "topic": topic,
                    "partition": label,
                    "stored_offset": stored,
                    "end_offset": end,
                    "lag": None if end is None else max(0, end - stored),
                    "writer": writers.get(label),
                }
            )
    return rows


def _end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    bootstrap = settings.kafka.bootstrap_servers
    if settings.source.spec.startswith("kafka://"):
        bootstrap = KafkaSpec.parse(settings.source.spec, settings.kafka).bootstrap
    if not bootstrap:
        return {}
    try:
        from wikistream.kafka.offsets import end_offsets  # the kafka extra

        return end_offsets(settings.kafka, bootstrap, topic)
    except ConfigError:  # the kafka extra is not installed: stored offsets only
        return {}
