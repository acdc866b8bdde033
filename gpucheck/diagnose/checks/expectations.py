"""Checks: expectations layer (being built)."""
