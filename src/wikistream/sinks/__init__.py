"""Where the ingest edge can send validated events instead of bronze: a Kafka topic."""
