"""Checks: gpu layer (being built)."""
