"""Evidence source: procfs (being built)."""
