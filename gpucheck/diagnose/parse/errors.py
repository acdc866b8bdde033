"""The one error type of the parsers: text that does not have the shape a parser expects."""

from __future__ import annotations


class ParseError(ValueError):
    """Raised by a parser for input it cannot read; parsers never raise anything else."""
