"""Where events come from: SSE (EventStreams), files, and the synthetic generator."""
