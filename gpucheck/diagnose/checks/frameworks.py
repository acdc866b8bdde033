"""Checks: frameworks layer (being built)."""
