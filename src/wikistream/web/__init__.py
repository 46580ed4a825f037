"""The web dashboard, its JSON API and /metrics (FastAPI, the `web` extra)."""
