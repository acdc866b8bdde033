"""gpucheck's exit codes, documented once (README "Exit codes").

- 0 ``OK``: nothing failed (warnings allowed unless ``--strict``).
- 1 ``FAILED``: at least one ``fail`` or ``error`` finding (with ``--strict``, also ``warn``).
- 2 ``USAGE``: the command line, a config file or a snapshot could not be used.
- 3 ``INTERNAL``: gpucheck itself crashed (a bug; the message says how to report it).
- 128+N: stopped by signal N (SIGINT 130, SIGTERM 143, SIGHUP 129), after every probe's process group was
  killed (``gpucheck.collect.run.install_signal_handlers``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Stable process exit codes."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INTERNAL = 3
