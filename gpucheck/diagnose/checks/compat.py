"""Checks: compat layer (being built)."""
