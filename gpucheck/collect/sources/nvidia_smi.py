"""Evidence source: nvidia_smi (being built)."""
