"""Evidence source: container_toolkit (being built)."""
