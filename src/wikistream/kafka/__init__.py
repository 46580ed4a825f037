"""Kafka clients' common ground: the `kafka://` spec, client configuration, offsets.

`sources/kafka.py` (bronze workers) and `sinks/kafka.py` (`wikistream produce`) build on it.
Only this package, those two modules and nothing else import `confluent_kafka`, lazily, so
the `kafka` extra is needed only when a Kafka spec is used.
"""
