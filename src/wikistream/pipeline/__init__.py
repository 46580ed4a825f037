"""Running the layers: the ingest loop, its reader thread, signals and progress."""
