"""Evidence source: docker_config (being built)."""
