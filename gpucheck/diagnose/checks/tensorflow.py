"""Checks: tensorflow layer (being built)."""
