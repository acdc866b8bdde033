"""Checks: wsl layer (being built)."""
