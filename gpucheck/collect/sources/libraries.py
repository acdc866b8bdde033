"""Evidence source: libraries (being built)."""
