"""Evidence source: wsl (being built)."""
