"""Parsers: text → typed value or a ``ParseError``; pure, and fuzzed with hypothesis."""
