"""Checks: toolkit layer (being built)."""
