"""Parsers for a toolkit's own version files: ``version.json`` (CUDA 11.1+) and ``version.txt`` (older)."""

from __future__ import annotations

import json
import re

from gpucheck.diagnose.parse.errors import ParseError

_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)*$")


def parse_version_json(text: str) -> str:
    """The toolkit version (``cuda.version``, e.g. ``12.4.1``) from ``version.json``."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"version.json is not JSON: {exc}") from None
    cuda = doc.get("cuda") if isinstance(doc, dict) else None
    version = cuda.get("version") if isinstance(cuda, dict) else None
    if not isinstance(version, str) or not _VERSION.match(version.strip()):
        raise ParseError("version.json has no 'cuda': {'version': 'X.Y.Z'} entry")
    return version.strip()


def parse_version_txt(text: str) -> str:
    """The toolkit version from ``version.txt`` (``CUDA Version 10.2.89``)."""
    match = re.search(r"CUDA Version (\d+\.\d+(?:\.\d+)*)", text)
    if match is None:
        raise ParseError("version.txt has no 'CUDA Version X.Y.Z' line")
    return match.group(1)
