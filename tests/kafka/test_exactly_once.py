"""The Kafka path for real: a producer reading a misbehaving SSE server into Tansu, bronze
workers in a consumer group, SIGKILLs of both and rebalances in between. Afterwards bronze
holds every valid event exactly once and the dead-letter topic every invalid record once
(by key: a resend after a producer crash carries the same key)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from tests.kafka.conftest import kafka_config
from tests.support.processes import spawn
from tests.support.servers import Tansu
from tests.support.sse_server import EventStreamsServer, Script
from tests.support.warehouse import make_settings, read_table
from wikistream.events.decode import EventDecoder
from wikistream.settings import EVENT_TYPES
from wikistream.sources.synthetic import SyntheticGenerator

pytestmark = pytest.mark.integration


class Stack:
    """The processes of one test, their output in one log; `close` kills what is left."""

    def __init__(self, config: Path, bootstrap: str, topic: str) -> None:
        self.config, self.log = config, config.parent / "processes.log"
        self.source = f"kafka://{bootstrap}/{topic}?group=bronze-{topic}"  # one group per test
        self.workers: list[subprocess.Popen[bytes]] = []
        self.spawned: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        process = spawn(self.log, "--config", str(self.config), "--log-level", "info", *args)
        self.spawned.append(process)
        return process

    def close(self) -> None:
        for process in self.spawned:
            if process.poll() is None:
                process.kill()
                process.wait()

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        process = self.spawn("run", "--no-process", "--source", self.source, *args)
        self.workers.append(process)
        return process

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, marker: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(marker) < count:
            assert time.monotonic() < deadline, self.text()[-4000:]
            time.sleep(0.05)


def _dead_letter_keys(bootstrap: str, topic: str) -> Counter[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "dlq-check", "enable.partition.eof": True}
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    keys: Counter[bytes] = Counter()
    try:
        while True:
            message = consumer.poll(15)
            assert message is not None, "the dead-letter topic did not answer"
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF
                return keys
            reasons = [v for k, v in message.headers() or [] if k == "wikistream.reason"]
            assert reasons and reasons[0], message.headers()
            keys[message.key()] += 1
    finally:
        consumer.close()


@pytest.mark.long
def test_producer_and_workers_killed_and_rebalanced_lose_and_duplicate_nothing(
    tmp_path: Path, broker: Tansu, topic: str, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(20261202)
    generator = SyntheticGenerator(seed=14, start="2026-01-01T00:00:00Z")
    lines = [generator.record(i) for i in range(5000)]
    script = Script(
        drop_every=173,
        errors=[(429, "0"), (503, None), (503, "0")],
        resend_on_reconnect=5,
        garbage_every=400,
        event_delay_s=0.004,
        hold_open_at_end_s=600,
    )
    config = kafka_config(tmp_path, broker)
    stack = Stack(config, broker.bootstrap, topic)
    request.addfinalizer(stack.close)
    target = f"kafka://{broker.bootstrap}/{topic}"
    with EventStreamsServer(lines, script) as server:
        produce = ["produce", "--source", f"sse:{server.url}", "--to", target]
        stack.worker()
        stack.worker()
        stack.wait_for("partitions assigned", 2)
        for round_ in range(4):  # the producer SIGKILLed mid-stream; workers killed and added
            assigned = stack.text().count("partitions assigned")
            producer = stack.spawn(*produce)
            stack.wait_for("produce starting", round_ + 1)
            if round_ == 0:
                time.sleep(rng.uniform(0.5, 1.5))
                stack.workers[0].send_signal(signal.SIGKILL)  # mid-commit, perhaps
                stack.worker()  # gets a share once the group notices the dead one
            elif round_ == 1:
                stack.worker()  # one more: every member gives its partitions back
            elif round_ == 2:
                stack.workers[1].send_signal(signal.SIGTERM)  # leaves gracefully
            else:
                stack.workers[2].send_signal(signal.SIGKILL)
            stack.wait_for("partitions assigned", assigned + 1, timeout=90)
            time.sleep(rng.uniform(0.5, 2.0))
            producer.send_signal(signal.SIGKILL)
            producer.wait()
        for process in stack.workers:  # the last kill: what is produced now is a backlog
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + 180
        while not server.observed.completed.is_set():
            assert time.monotonic() < deadline, stack.text()[-4000:]
            assert stack.spawn(*produce, "--max-seconds", "10").wait(timeout=120) == 0
        assert stack.spawn(*produce, "--max-seconds", "3").wait(timeout=60) == 0
    finishers = [stack.worker("--idle-exit", "5", "--output", "json") for _ in range(2)]
    for process in finishers:
        assert process.wait(timeout=240) == 0, stack.text()[-4000:]

    decoded = EventDecoder(["*"], EVENT_TYPES).decode(lines)
    settings = make_settings(tmp_path / "wh", init=False)
    events = read_table(settings, "bronze.events").column("event_id").to_pylist()
    assert [i for i, n in Counter(events).items() if n > 1] == [], "duplicated events"
    assert set(decoded.ids) - set(events) == set(), "lost events"
    assert set(events) == set(decoded.ids)
    dead = _dead_letter_keys(broker.bootstrap, f"{topic}.dlq")
    garbage = len(range(0, len(lines), script.garbage_every or 1))
    assert len(dead) == len(decoded.rejections) + garbage, dead
    assert stack.text().count("partitions revoked") >= 2, stack.text()[-4000:]


def test_status_shows_partitions_and_replay_reads_the_topic_again(
    tmp_path: Path, broker: Tansu, topic: str, request: pytest.FixtureRequest
) -> None:
    config = kafka_config(tmp_path, broker)
    stack = Stack(config, broker.bootstrap, topic)
    request.addfinalizer(stack.close)
    target = f"kafka://{broker.bootstrap}/{topic}"
    assert (
        stack.spawn(
            "produce", "--source", "synthetic", "--to", target, "--max-events", "2000"
        ).wait(timeout=120)
        == 0
    )
    assert stack.worker("--idle-exit", "3").wait(timeout=120) == 0, stack.text()[-3000:]

    status = subprocess.run(
        [*_cli(config), "status", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = json.loads(status.stdout)["kafka"]
    assert [r["partition"] for r in rows] == ["0", "1", "2", "3"]
    assert all(r["lag"] == 0 and r["end_offset"] == r["stored_offset"] > 0 for r in rows), rows
    assert all(r["writer"] for r in rows)
    bronze = read_table(make_settings(tmp_path / "wh", init=False), "bronze.events").num_rows

    replay = subprocess.run(
        [
            *_cli(config),
            "replay",
            "--layer",
            "bronze",
            "--source",
            target,
            "--from",
            "earliest",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    summary = json.loads(replay.stdout)
    assert summary["events_read"] == sum(r["end_offset"] for r in rows)
    assert summary["accepted"] == 0  # all already in bronze
    offsets = ",".join(f"{r['partition']}:{r['end_offset'] - 10}" for r in rows)
    partial = subprocess.run(
        [
            *_cli(config),
            "replay",
            "--layer",
            "bronze",
            "--source",
            target,
            "--from",
            offsets,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert partial.returncode == 0, partial.stderr[-3000:]
    assert json.loads(partial.stdout)["events_read"] == 40
    beyond = f"0:{rows[0]['end_offset'] + 100}"  # past the end: a clear error, not a hang
    past = subprocess.run(
        [*_cli(config), "replay", "--layer", "bronze", "--source", target, "--from", beyond],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert past.returncode == 2 and "past the end" in past.stderr, past.stderr
    settings = make_settings(tmp_path / "wh", init=False)
    assert read_table(settings, "bronze.events").num_rows == bronze


def _cli(config: Path) -> list[str]:
    return [sys.executable, "-m", "wikistream", "--config", str(config)]


@pytest.mark.long
def test_copies_of_events_in_other_partitions_land_once_with_four_workers(
    tmp_path: Path, broker: Tansu, topic: str, request: pytest.FixtureRequest
) -> None:
    """Copies of one event in two partitions are normal (another producer's key scheme, a
    resend): whichever worker commits first wins, the other drops its copy, whatever the
    kills and rebalances; silver is then promoted without anyone releasing a batch."""
    rng = random.Random(20261207)
    recent = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    generator = SyntheticGenerator(seed=22, start=recent)  # live: silver judges freshness
    lines = [generator.record(i) for i in range(6000)]
    copied = sorted(rng.sample(range(len(lines)), 400))
    config = kafka_config(tmp_path, broker)
    stack = Stack(config, broker.bootstrap, topic)
    request.addfinalizer(stack.close)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})

    def produce(indices: range) -> None:
        for i in indices:
            producer.produce(topic, lines[i], partition=i % 4)
            if i in copied_set and i % 2:  # a copy right away: the first is uncommitted
                producer.produce(topic, lines[i], partition=(i + 1) % 4)
        producer.flush(30)

    copied_set = set(copied)
    late = [i for i in copied if i % 2 == 0]  # copies produced long after their first
    for _ in range(4):
        stack.worker()
    stack.wait_for("partitions assigned", 4, timeout=90)
    waves = [range(1500), range(1500, 3000), range(3000, 4500), range(4500, 6000)]
    for number, wave in enumerate(waves):
        assigned = stack.text().count("partitions assigned")
        produce(wave)
        for i in late:
            if i < wave.start:  # the copy lands in the partition after the first's
                producer.produce(topic, lines[i], partition=(i + 1) % 4)
        producer.flush(30)
        late = [i for i in late if i >= wave.start]
        time.sleep(rng.uniform(0.2, 1.0))
        if number == 0:
            stack.workers[0].send_signal(signal.SIGKILL)
            stack.worker()
        elif number == 1:
            stack.workers[1].send_signal(signal.SIGKILL)
        elif number == 2:
            stack.worker()
        if number < 3:
            stack.wait_for("partitions assigned", assigned + 1, timeout=90)
    for i in late:
        producer.produce(topic, lines[i], partition=(i + 1) % 4)
    producer.flush(30)
    for process in stack.workers:  # the last kill: what is still in flight is a backlog
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
    finishers = [stack.worker("--idle-exit", "5", "--output", "json") for _ in range(2)]
    for process in finishers:
        assert process.wait(timeout=240) == 0, stack.text()[-4000:]

    decoded = EventDecoder(["*"], EVENT_TYPES).decode(lines)
    settings = make_settings(tmp_path / "wh", init=False)
    events = read_table(settings, "bronze.events").column("event_id").to_pylist()
    assert [i for i, n in Counter(events).items() if n > 1] == [], "duplicated events"
    assert set(events) == set(decoded.ids)
    assert "another writer committed some of these events meanwhile" in stack.text()

    process = subprocess.run(
        [*_cli(config), "process", "--output", "json"], capture_output=True, text=True, check=False
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert json.loads(process.stdout)["held"] == {}
    silver = read_table(settings, "silver.events").column("event_id").to_pylist()
    assert len(silver) == len(set(silver)) > 0
