"""Stage 1: collect raw evidence, verbatim, each source under its own timeout, never raising."""
