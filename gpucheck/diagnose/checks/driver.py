"""Checks: driver layer (being built)."""
