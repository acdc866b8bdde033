"""A memoising view of the evidence shared by all checks.

Parsing happens once per run: a check asks ``facts.of(builder)`` for a typed fact
(``facts.of(gpu_inventory)``), and the builder — a pure function of ``Evidence`` defined beside the parser it
uses — runs the first time only.
Layers add their own builders in their own modules; nothing here needs editing when a layer grows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gpucheck.collect.evidence import Evidence

T = TypeVar("T")


class Facts:
    """Evidence plus a cache of facts built from it."""

    def __init__(self, evidence: Evidence, options: Mapping[str, Any] | None = None) -> None:
        self.evidence = evidence
        self.options: Mapping[str, Any] = options or {}
        """Run options checks may read (expectations such as ``expect_gpus``), empty by default."""
        self._cache: dict[Callable[[Evidence], Any], Any] = {}

    def of(self, builder: Callable[[Evidence], T]) -> T:
        """The fact ``builder(evidence)``, built at most once."""
        if builder not in self._cache:
            self._cache[builder] = builder(self.evidence)
        return self._cache[builder]

    @property
    def env(self) -> dict[str, str]:
        """The environment the probes saw (redacted)."""
        return dict(self.evidence.env)
