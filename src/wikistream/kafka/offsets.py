"""End offsets of a topic's partitions, for lag.

The end offset comes from two answers, the larger wins: ListOffsets (what Kafka itself
reports, right on a real broker) and the high watermark a fetch response carries (right on
Tansu too, whose ListOffsets is wrong after batched produces). Lag is then the end offset
less the offset bronze stored; exactly-once never depends on it.
"""

from __future__ import annotations

import time
from typing import Any

from wikistream.kafka.config import client_config, kafka_module
from wikistream.settings import KafkaSettings

_WAIT_S = 5.0


def end_offsets(settings: KafkaSettings, bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset to be written, per partition of `topic` ({} if it cannot be read)."""
    kafka = kafka_module()
    consumer = kafka.Consumer(
        client_config(
            settings,
            bootstrap,
            **{
                "group.id": "wikistream-status",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "max.partition.fetch.bytes": 1024,
            },
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=_WAIT_S)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return {}
        partitions = sorted(found.partitions)
        ends = {p: _listed_end(consumer, kafka, topic, p) for p in partitions}
        consumer.assign([kafka.TopicPartition(topic, p, kafka.OFFSET_END) for p in partitions])
        answered: set[int] = set()
        deadline = time.monotonic() + _WAIT_S
        while len(answered) < len(partitions) and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None:
                answered.add(message.partition())
        for p in partitions:
            _, high = consumer.get_watermark_offsets(kafka.TopicPartition(topic, p), cached=True)
            ends[p] = max(ends[p], high)
        return ends
    except kafka.KafkaException:
        return {}
    finally:
        consumer.close()


def _listed_end(consumer: Any, kafka: Any, topic: str, partition: int) -> int:
    _, high = consumer.get_watermark_offsets(
        kafka.TopicPartition(topic, partition), timeout=_WAIT_S
    )
    return int(high)
