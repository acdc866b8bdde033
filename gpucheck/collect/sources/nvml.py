"""Evidence source: nvml (being built)."""
