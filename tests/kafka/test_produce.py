"""`wikistream produce` as a user runs it: SIGTERM delivers what was read and checkpoints it;
the next run resumes exactly there; dead letters carry their reason."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from tests.kafka.conftest import kafka_config
from tests.support.servers import Tansu

pytestmark = pytest.mark.integration


def _messages(bootstrap: str, topic: str, partitions: int) -> list[tuple[bytes | None, bytes]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "check", "enable.partition.eof": True}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    found, ended = [], set()
    try:
        while len(ended) < partitions:
            message = consumer.poll(15)
            assert message is not None
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF
                ended.add(message.partition())
                continue
            found.append((message.key(), message.value()))
    finally:
        consumer.close()
    return found


def test_sigterm_delivers_and_checkpoints_and_the_next_run_resumes_there(
    tmp_path: Path, broker: Tansu, topic: str
) -> None:
    config = kafka_config(tmp_path, broker)
    command = [
        sys.executable,
        "-m",
        "wikistream",
        "--config",
        str(config),
        "produce",
        "--source",
        "synthetic:3000",
        "--to",
        f"kafka://{broker.bootstrap}/{topic}",
        "--output",
        "json",
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    stopped = json.loads(out)
    assert stopped["stopped_by"] == "SIGTERM" and stopped["events_read"] > 1000
    second = subprocess.run(
        [*command, "--max-events", "500"], capture_output=True, text=True, timeout=120, check=False
    )
    assert second.returncode == 0, second.stderr
    resumed = json.loads(second.stdout)
    assert resumed["start_position"] == stopped["end_position"]  # the checkpoint, exactly
    assert int(resumed["end_position"]) == int(stopped["end_position"]) + 500

    events = _messages(broker.bootstrap, topic, 4)
    produced = stopped["produced"] + resumed["produced"]
    assert len(events) == produced  # nothing read was left undelivered, nothing sent twice
    keys = {key for key, _ in events}
    assert all(key and b"|" in key for key in keys)
    dead = _messages(broker.bootstrap, f"{topic}.dlq", 1)
    assert len(dead) == stopped["dead_letters"] + resumed["dead_letters"] > 0
