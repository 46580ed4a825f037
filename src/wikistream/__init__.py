"""WikiStream: the Wikimedia edit firehose as an exactly-once Iceberg lakehouse."""

__version__ = "0.1.0"
