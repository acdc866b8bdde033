"""Evidence source: cdi (being built)."""
