"""Evidence source: toolkit (being built)."""
