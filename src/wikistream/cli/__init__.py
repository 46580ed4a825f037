"""The `wikistream` command line."""
