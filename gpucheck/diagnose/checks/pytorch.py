"""Checks: pytorch layer (being built)."""
