"""Evidence source: frameworks (being built)."""
