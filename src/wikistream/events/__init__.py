"""The recentchange event at the decode edge: typed model, validation, Arrow columns."""
