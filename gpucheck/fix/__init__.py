"""Fixers: changes to the machine, each planned as a diff first and applied only when the CLI says so."""
