"""The supervisor restarts a component that raises or stalls, counts it, alerts after the
threshold, and loses or duplicates nothing doing so."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tests.conftest import make_settings, read_table, sample_lines
from tests.support.alert_sinks import WebhookSink
from tests.support.sse_server import EventStreamsServer, Script
from wikistream.alerts.router import AlertRouter
from wikistream.lakehouse.documents import Documents
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.loop import ProcessLoop
from wikistream.pipeline.process import Processor
from wikistream.pipeline.runner import StopToken
from wikistream.pipeline.supervisor import RUN_STATE, Supervisor, supervise_ingest
from wikistream.settings import Settings
from wikistream.sources.base import Source, SourceBatch
from wikistream.sources.file import FileSource
from wikistream.sources.registry import open_source


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    yield sink
    sink.close()


def _settings(folder: Path, webhook: WebhookSink, **supervisor: float) -> Settings:
    return make_settings(
        folder / "wh",
        supervisor={"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "alert_after_restarts": 2,
                    "heartbeat_s": 0.2, **supervisor},
        alerts={"routes": {"critical": ["webhook"], "warning": ["webhook"]},
                "webhook": {"url": webhook.url}},
    )  # fmt: skip


class CrashingSource(FileSource):
    """A real file source that dies after its first batch, the first `crashes` times."""

    opened = 0

    def __init__(self, path: Path, crashes: int) -> None:
        super().__init__(path, chunk_events=500)
        CrashingSource.opened += 1
        self._crash = CrashingSource.opened <= crashes

    def batches(self, start: str | None) -> Iterator[SourceBatch]:
        for index, batch in enumerate(super().batches(start)):
            if index == 1 and self._crash:
                raise RuntimeError("disk on fire")
            yield batch


def test_a_crashing_ingest_is_restarted_and_nothing_is_lost_or_doubled(
    tmp_path: Path, webhook: WebhookSink
) -> None:
    settings = _settings(tmp_path, webhook)
    path = tmp_path / "events.jsonl"
    lines = sample_lines()
    path.write_bytes(b"\n".join(lines) + b"\n")
    CrashingSource.opened = 0
    alerts = AlertRouter(settings.alerts)
    supervisor = Supervisor(settings, alerts).start()
    summary = supervise_ingest(supervisor, lambda: CrashingSource(path, crashes=3), StopToken())
    supervisor.close()
    alerts.close()
    ingest = supervisor.components["ingest"]
    assert (ingest.restarts, ingest.state) == (3, "stopped")
    assert "disk on fire" in (ingest.last_error or "")
    events = read_table(settings, "bronze.events")
    assert events.num_rows == len(lines) == len(pc.unique(events.column("event_id")))
    assert summary.stopped_by == "source ended"
    assert [b["key"] for b in webhook.received] == ["supervisor/ingest"]  # once, at 2
    state = Documents(settings).read(RUN_STATE)
    assert state["running"] is False and state["components"]["ingest"]["restarts"] == 3


def test_a_stalled_stream_is_reconnected(tmp_path: Path, webhook: WebhookSink) -> None:
    settings = _settings(tmp_path, webhook, stall_s=1.0)
    lines = sample_lines()[:300]
    script = Script(heartbeat_only_connections=2, hold_open_at_end_s=60)
    with EventStreamsServer(lines, script) as server:
        supervisor = Supervisor(settings, AlertRouter(settings.alerts)).start()
        stop = StopToken()

        def until_done() -> Source:
            return open_source(f"sse:{server.url}", settings)

        summary = supervise_ingest(supervisor, until_done, stop, max_events=300,
                                   max_seconds=60)  # fmt: skip
        supervisor.close()
        assert supervisor.alerts is not None
        supervisor.alerts.close()
    assert supervisor.components["ingest"].restarts == 2
    assert summary.stats.accepted == 300 == read_table(settings, "bronze.events").num_rows
    assert len(webhook.received) == 1 and "restarted 2 times" in webhook.received[0]["text"]


def test_failing_processing_cycles_back_off_alert_and_recover(
    tmp_path: Path, webhook: WebhookSink
) -> None:
    settings = _settings(tmp_path, webhook)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(sample_lines()[:500]) + b"\n")
    from wikistream.pipeline.runner import run_ingest

    run_ingest(settings, FileSource(path))
    processor = Processor(Lakehouse(settings), settings)
    processor.run()
    silver = Lakehouse(settings).table("silver.events")
    metadata = Path(silver.metadata_location.removeprefix("file://"))
    shutil.move(metadata, tmp_path / "aside.json")  # the catalog now points at nothing
    supervisor = Supervisor(settings, processor.gates.alerts if processor.gates else None)
    loop = ProcessLoop(processor, 0.05, supervisor).start()
    deadline = time.monotonic() + 30
    component = supervisor.component("process")
    while component.restarts < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert component.restarts >= 3 and component.state == "restarting"
    shutil.move(tmp_path / "aside.json", metadata)  # repaired
    while component.state != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert component.state == "running" and component.consecutive_failures == 0
    loop.stop()
    supervisor.close()
    assert [b["key"] for b in webhook.received] == ["supervisor/process"]
