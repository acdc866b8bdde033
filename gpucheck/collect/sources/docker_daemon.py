"""Evidence source: docker_daemon (being built)."""
