"""Risk scores for editors: components, totals, levels and human-readable reasons."""
