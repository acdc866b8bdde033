"""Normalising the readings shared by NVML and ``nvidia-smi``: ``[N/A]``, units, ``Enabled``/``1``.

Both sources report the same facts under ``nvidia-smi --query-gpu`` field names; NVML gives numbers, the CSV
query gives strings such as ``24576 MiB``, ``[Not Supported]`` or ``Enabled``. These helpers turn either
into a plain ``int``/``str``/``None`` so the inventory does not care which source answered.
"""

from __future__ import annotations

import re
from typing import Any

UNAVAILABLE = frozenset(
    {
        "",
        "n/a",
        "[n/a]",
        "not found",
        "[not found]",
        "[not supported]",
        "not supported",
        "[unknown error]",
        "unknown error",
        "[insufficient permissions]",
        "insufficient permissions",
        "[gpu is lost]",
        "gpu is lost",
        "err!",
        "[err!]",
        "[requires root]",
        "requires root",
        "none",
        "unknown",
        "[unknown]",
        "requested functionality has been deprecated",
        "[requested functionality has been deprecated]",
        "function not found",
        "[function not found]",
    }
)
"""Placeholders nvidia-smi prints for a reading it does not have (lower-cased): unknown, never a value
(``<cuda_version>Not Found</cuda_version>``, ``[Not Supported]``, ``ERR!`` in the table)."""

_NUMBER = re.compile(r"^\s*(-?\d+)(?:\.\d+)?\s*([A-Za-z%]*)\s*$")


def text_or_none(value: Any) -> str | None:
    """A stripped string, or None for a placeholder or a non-scalar."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    text = str(value).strip()
    return None if text.lower() in UNAVAILABLE else text


def int_or_none(value: Any) -> int | None:
    """An integer from ``45``, ``"45"``, ``"45 C"``, ``"24576 MiB"``; None for placeholders or garbage."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = text_or_none(value)
    if text is None:
        return None
    match = _NUMBER.match(text)
    return int(match.group(1)) if match else None


def enabled_or_none(value: Any) -> bool | None:
    """True/False from ``Enabled``/``Disabled``/``Yes``/``No``/``1``/``0``; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = (text_or_none(value) or "").lower()
    if text in ("enabled", "yes", "on", "1", "true"):
        return True
    if text in ("disabled", "no", "off", "0", "false"):
        return False
    return None
