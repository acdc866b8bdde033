"""Checks: container layer (being built)."""
