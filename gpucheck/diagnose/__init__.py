"""Stage 2: pure functions from evidence to findings (parse → facts → checks)."""
