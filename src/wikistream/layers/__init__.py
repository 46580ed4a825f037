"""The medallion layers: bronze (raw, exactly once), then silver and gold."""
