"""The supervisor restarts a component that raises or stalls, counts it, alerts after the
threshold, and loses or duplicates nothing doing so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.support.alert_sinks import WebhookSink, alerts_to
from tests.support.sse_server import EventStreamsServer, Script
from tests.support.warehouse import make_settings, read_table, sample_lines
from wikistream.alerts.router import AlertRouter
from wikistream.exceptions import PositionLost
from wikistream.lakehouse import commits
from wikistream.lakehouse.documents import RUN_STATE, Documents
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.loop import ProcessLoop
from wikistream.pipeline.process import Processor
from wikistream.pipeline.reading import StopToken
from wikistream.pipeline.supervisor import Supervisor, supervise_ingest
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
        supervisor={
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.2,
            "alert_after_restarts": 2,
            "heartbeat_s": 0.2,
            **supervisor,
        },
        alerts=alerts_to(webhook),
    )


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
    supervisor = Supervisor(Lakehouse(settings), alerts).start()
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
        supervisor = Supervisor(Lakehouse(settings), AlertRouter(settings.alerts)).start()
        stop = StopToken()

        def until_done() -> Source:
            return open_source(f"sse:{server.url}", settings)

        summary = supervise_ingest(supervisor, until_done, stop, max_events=300, max_seconds=60)
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
    processor = Processor(Lakehouse(settings))
    processor.run()
    silver = Lakehouse(settings).table("silver.events")
    metadata = Path(silver.metadata_location.removeprefix("file://"))
    shutil.move(metadata, tmp_path / "aside.json")  # the catalog now points at nothing
    supervisor = Supervisor(
        Lakehouse(settings), processor.gates.alerts if processor.gates else None
    )
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


def _poisoned(marker: bytes) -> Callable[..., Any]:
    """PyIceberg's write of data files, failing as a broken object store would for any batch
    that holds the record with `marker`: a fault that looks transient (OSError) but is not."""
    real = commits._dataframe_to_data_files

    def write(metadata: Any, df: pa.Table, *args: Any, **kwargs: Any) -> Any:
        raws = df.column("raw").to_pylist() if "raw" in df.column_names else []
        if any(isinstance(r, str) and marker.decode() in r for r in raws):  # bronze.events
            raise OSError("simulated: the store refuses this object")
        return real(metadata, df, *args, **kwargs)

    return write


def test_ingest_failing_again_and_again_on_one_record_is_alerted_and_isolated(
    tmp_path: Path, webhook: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bronze writer isolates data it cannot commit by itself; this is the safety net
    behind it, for a failure nothing recognises as being about the data. No real fault of
    that kind is known (it would be classified), so one is injected under PyIceberg."""
    settings = _settings(tmp_path, webhook, poison_after=3, alert_after_restarts=10)
    settings = settings.model_copy(
        update={"commit": settings.commit.model_copy(update={"max_events": 100})}
    )
    lines = sample_lines()[:500]
    marker = b"POISON-7f3a"
    poisoned_line = lines[250].replace(b'"comment": "', b'"comment": "' + marker, 1)
    assert poisoned_line != lines[250]
    lines[250] = poisoned_line
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(commits, "_dataframe_to_data_files", _poisoned(marker))
    alerts = AlertRouter(settings.alerts)
    supervisor = Supervisor(Lakehouse(settings), alerts).start()
    summary = supervise_ingest(supervisor, lambda: FileSource(path, chunk_events=50), StopToken())
    supervisor.close()
    alerts.close()
    ingest = supervisor.components["ingest"]
    # The first attempt commits up to the batch before the record, then fails; three more
    # fail at that same position committing nothing; the fifth isolates it and finishes.
    assert ingest.restarts == 4
    assert summary.stopped_by == "source ended"
    events = read_table(settings, "bronze.events")
    assert events.num_rows == 499 == len(pc.unique(events.column("event_id")))
    assert marker.decode() not in "".join(events.column("raw").to_pylist())
    dead = read_table(settings, "bronze.quarantine").to_pylist()
    assert [(d["reason"], marker in d["raw"]) for d in dead] == [("unwritable", True)]
    assert "OSError" in dead[0]["detail"]
    assert [b["key"] for b in webhook.received] == ["supervisor/ingest/poison"]
    assert "same input" in webhook.received[0]["text"]


def test_the_run_state_survives_components_added_while_it_is_written(tmp_path: Path) -> None:
    """Found in review: write_state iterated the components without the lock that guards
    them; "dictionary changed size during iteration" killed the heartbeat."""
    settings = make_settings(tmp_path / "wh", supervisor={"heartbeat_s": 0.001})
    supervisor = Supervisor(Lakehouse(settings))
    errors: list[BaseException] = []
    done = threading.Event()

    def add_components() -> None:
        for i in range(20_000):
            supervisor.component(f"worker-{i}")
        done.set()

    def write_states() -> None:
        while not done.is_set():
            try:
                supervisor.write_state(running=True)
            except BaseException as exc:  # what killed the heartbeat thread
                errors.append(exc)
                return

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=f) for f in (add_components, write_states)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
    state = Documents(settings).read(RUN_STATE)
    assert state is not None and len(state["components"]) > 0


def _silver_ahead_of_a_rolled_back_bronze(tmp_path: Path, settings: Settings) -> Path:
    """A warehouse whose silver read a bronze snapshot that a bare rollback then removed
    from bronze's lineage: the next cycle cannot continue (PositionLost)."""
    from wikistream.lakehouse.snapshots import rollback
    from wikistream.pipeline.runner import run_ingest

    path = tmp_path / "events.jsonl"
    lines = sample_lines()[:600]
    path.write_bytes(b"\n".join(lines[:300]) + b"\n")
    run_ingest(settings, FileSource(path))
    first = Lakehouse(settings).table("bronze.events").current_snapshot().snapshot_id
    path.write_bytes(b"\n".join(lines) + b"\n")
    run_ingest(settings, FileSource(path))
    with Processor(Lakehouse(settings)) as processor:
        processor.run()
    rollback(Lakehouse(settings).table("bronze.events"), first)
    return path


def test_a_terminal_error_stops_the_processing_loop_instead_of_retrying_forever(
    tmp_path: Path, webhook: WebhookSink
) -> None:
    """Found in review: PositionLost and ConcurrentWriter were retried like any failure."""
    settings = _settings(tmp_path, webhook)
    _silver_ahead_of_a_rolled_back_bronze(tmp_path, settings)
    supervisor = Supervisor(Lakehouse(settings))
    ended: list[Exception] = []
    loop = ProcessLoop(
        Processor(Lakehouse(settings)), 0.05, supervisor, on_terminal=ended.append
    ).start()
    deadline = time.monotonic() + 30
    while loop.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a retrying loop would fail again meanwhile
    assert isinstance(loop.error, PositionLost) and ended == [loop.error]
    assert loop.failures == 1
    component = supervisor.component("process")
    assert (component.state, component.restarts) == ("failed", 0)
    with pytest.raises(PositionLost, match="full-refresh"):
        loop.stop()


@pytest.mark.integration
def test_run_stops_with_the_advice_when_processing_cannot_continue(
    tmp_path: Path, webhook: WebhookSink
) -> None:
    settings = _settings(tmp_path, webhook)
    path = _silver_ahead_of_a_rolled_back_bronze(tmp_path, settings)
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wikistream",
            "--warehouse",
            str(settings.warehouse),
            "run",
            "--source",
            f"file:{path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WIKISTREAM_PROCESS__INTERVAL_S": "0.2"},
    )
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "wikistream process --full-refresh" in errors[0]
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60
