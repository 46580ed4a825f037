"""`python -m wikistream` is the same as the `wikistream` command."""

from wikistream.cli.main import main

main()
