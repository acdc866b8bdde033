"""From text to an explanation: recognise, read, rank; then (live) confirm on this machine.

``explain_text`` is pure (text in, ``Explanation`` out) and is what ``--offline`` runs; ``confirm`` (in
``confirm.py``) adds doctor's verdicts for the causes when the command runs where the error happened.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from gpucheck.diagnose.parse.framework_logs import (
    cuda_from_found_version,
    dlerror_library,
    parse_log_events,
    tuple_version,
)
from gpucheck.explain.catalogue import Catalogue, Cause, load_catalogue
from gpucheck.explain.facts import Fact
from gpucheck.explain.fixes import fix_for, host_from_text, torch_wheel_fix
from gpucheck.explain.pasted import Pasted, read_pasted
from gpucheck.explain.rules import votes
from gpucheck.explain.scan import Hit, scan
from gpucheck.explain.text import InputText, quote

THRESHOLD = 0.3
"""A cause scoring at least this much counts as identified."""
MAX_CAUSES = 6
"""Causes listed (the rest are dropped as noise)."""
FAILURE_NEEDLES = (
    "traceback (most recent call last)",
    "error",
    "failed",
    "fatal",
    "exception",
    "segmentation fault",
    "core dumped",
    "cuda initialization:",
)
"""Generic failure words, found by needle first (linear), then confirmed on the line by ``FAILURE_LINE``."""
FAILURE_LINE = re.compile(
    r"Traceback \(most recent call last\)|\b[A-Z]\w{0,60}(?:Error|Exception)\b|\bERROR\b|\bFATAL\b|"
    r"\b[Ee]rror:|\bError\b|\bfatal\b|\b[Ff]ailed\b|\bFAILED\b|Segmentation fault|core dumped|"
    r"CUDA initialization:"
)
"""A failure line: ``RuntimeError``, ``ERROR``, ``error:``, ``failed``, ``core dumped`` (not ``0 errors``)."""


class Verdict(str, Enum):
    """What running doctor's checks on this machine said about a cause."""

    CONFIRMED = "confirmed"
    RULED_OUT = "ruled_out"
    UNDECIDED = "undecided"
    NOT_CHECKED = "not_checked"


class Status(str, Enum):
    """The outcome of an explanation."""

    EXPLAINED = "explained"
    UNEXPLAINED = "unexplained"
    NO_FAILURE = "no_failure"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One doctor finding that bears on a cause."""

    check: str
    status: str
    summary: str
    remediation: str


@dataclass(slots=True)
class RankedCause:
    """A candidate root cause with its score and the reasons for it."""

    cause: Cause
    score: float
    reasons: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    verdict: Verdict = Verdict.NOT_CHECKED
    findings: list[CheckResult] = field(default_factory=list)
    host_fix: str = ""
    """The fix rendered for the host by diagnose/advice.py (see fixes.py), when the cause has one."""
    confirming: list[CheckResult] = field(default_factory=list)
    """The doctor findings that confirmed this cause on this machine (live)."""

    @property
    def fix(self) -> str:
        """The confirming finding's remediation (doctor's, for this host), else the host-rendered fix.

        Without either, the catalogue's generic fix.
        """
        fixes = [f.remediation for f in self.confirming if f.remediation]
        return " ".join(dict.fromkeys(fixes)) if fixes else (self.host_fix or self.cause.fix)


@dataclass(slots=True)
class Explanation:
    """Everything explain found and concluded."""

    text: InputText
    hits: list[Hit]
    pasted: list[Pasted]
    facts: list[Fact]
    causes: list[RankedCause]
    unrecognised: list[tuple[int, str]]
    """Failure-looking lines (1-based number, quoted) that no signature covers."""
    mode: str = "offline"
    doctor_error: str | None = None
    """Why the live checks could not run, when they could not."""
    host_note: str = ""
    """Set live when this machine's driver differs from the one the text shows."""
    other_findings: list[CheckResult] = field(default_factory=list)
    """Live: failing doctor findings of the deciding checks that confirm no candidate cause."""

    @property
    def identified(self) -> list[RankedCause]:
        """Causes above the threshold that were not ruled out on this machine."""
        return [c for c in self.causes if c.score >= THRESHOLD and c.verdict is not Verdict.RULED_OUT]

    @property
    def failure_seen(self) -> bool:
        """Whether the text shows a failure (a failing signature or a generic error line)."""
        return any(h.signature.failure for h in self.hits) or bool(self.unrecognised)

    @property
    def status(self) -> Status:
        """``explained`` when a cause stands, ``unexplained`` when a failure shows but none does."""
        if self.identified:
            return Status.EXPLAINED
        return Status.UNEXPLAINED if self.failure_seen else Status.NO_FAILURE

    def checks_to_decide(self) -> list[str]:
        """Doctor checks that decide between the identified causes (all candidates when none stands)."""
        pool = self.identified or self.causes
        return list(dict.fromkeys(c for rc in pool for c in rc.cause.checks))


def _sm_to_capability(sm: str) -> str | None:
    digits = sm.removeprefix("sm_").rstrip("af")
    return f"{digits[:-1]}.{digits[-1]}" if digits.isdigit() and len(digits) >= 2 else None


_FIELD_FACTS = {
    "gpu_name": "gpu.name",
    "capability": "gpu.capability",
    "archs": "torch.archs",
    "requires_cuda": "container.requires_cuda",
    "library": "library.missing",
    "xid": "gpu.xid",
    "torch_cuda": "torch.cuda",
    "toolkit_cuda": "toolkit.nvcc",
}


def _hit_facts(hit: Hit) -> list[Fact]:
    """Facts from a signature's captured fields and from doctor's framework-log parser on the same line.

    The parser sees only the hit's bounded window: its patterns are not all linear on arbitrary lines.
    """
    source = f"signature {hit.signature.id}"
    found: list[tuple[str, str]] = []
    for key, value in hit.fields.items():
        if key in _FIELD_FACTS:
            found.append((_FIELD_FACTS[key], value))
        elif key == "sm" and (capability := _sm_to_capability(value)):
            found.append(("gpu.capability", capability))
        elif key == "found_version" and (cuda := cuda_from_found_version(value)):
            found.append(("driver.cuda", cuda))
        elif key == "dlerror" and ".so" in value:
            found.append(("library.missing", value.split(":")[0].strip()))
        elif key == "requested" and "dlerror" not in hit.fields:
            found.append(("library.missing", value))  # no dlerror quoted: the requested one is missing
    for event in parse_log_events(hit.window):
        if event.kind == "dlopen_failed":
            found.append(("library.missing", dlerror_library(event)))
        elif event.kind == "cudnn_mismatch":
            found.append(("cudnn.loaded", tuple_version(event.fields.get("loaded", ""))))
            found.append(("cudnn.compiled", tuple_version(event.fields.get("compiled", ""))))
    found = [(n, v) for n, v in found if v]
    return [Fact(name, value, hit.line, hit.text, source) for name, value in dict.fromkeys(found)]


def _unrecognised(text: InputText, hits: Sequence[Hit], limit: int = 8) -> list[tuple[int, str]]:
    covered = {h.line for h in hits}
    lines: set[int] = set()
    for needle in FAILURE_NEEDLES:
        position, found = text.lowered.find(needle), 0
        while position != -1 and found < 200:
            index = text.line_of(position)
            found += 1
            if index + 1 not in covered and FAILURE_LINE.search(text.line(index)):
                lines.add(index)
            following = text.starts[index + 1] if index + 1 < len(text.starts) else len(text.lowered)
            position = text.lowered.find(needle, following)
    return [(i + 1, quote(text.lines[i])) for i in sorted(lines)[:limit]]


def rank(catalogue: Catalogue, hits: Sequence[Hit], facts: Sequence[Fact]) -> list[RankedCause]:
    """Score every cause the hits and rules name; highest first (catalogue order breaks ties)."""
    ranked: dict[str, RankedCause] = {}
    for hit in hits:
        for weight in hit.signature.causes:
            reason = f"{hit.signature.meaning} (line {hit.line}: {hit.text})"
            entry = ranked.get(weight.cause)
            if entry is None:
                ranked[weight.cause] = RankedCause(
                    catalogue.causes[weight.cause], weight.weight, [reason], [hit.signature.id]
                )
            else:
                entry.score = max(entry.score, weight.weight) + 0.05
                entry.reasons.append(reason)
                entry.signatures.append(hit.signature.id)
    for vote in votes(facts, hits):
        entry = ranked.get(vote.cause)
        if entry is None:
            if vote.delta <= 0:
                continue
            entry = ranked[vote.cause] = RankedCause(catalogue.causes[vote.cause], 0.0)
        entry.score += vote.delta
        entry.reasons.append(("supported: " if vote.delta > 0 else "against: ") + vote.reason)
    order = list(catalogue.causes)
    causes = sorted(ranked.values(), key=lambda c: (-round(c.score, 6), order.index(c.cause.id)))
    return [c for c in causes if c.score > 0][:MAX_CAUSES]


def explain_text(text: InputText, catalogue: Catalogue | None = None) -> Explanation:
    """Recognise signatures and pasted outputs, read facts, rank causes (no machine access)."""
    catalogue = catalogue or load_catalogue()
    hits = scan(catalogue, text)
    reading = read_pasted(text)
    facts = list(reading.facts)
    seen = {(f.name, f.value, f.line) for f in facts}
    for hit in hits:
        for fact in _hit_facts(hit):
            if (fact.name, fact.value, fact.line) not in seen:
                seen.add((fact.name, fact.value, fact.line))
                facts.append(fact)
    facts.sort(key=lambda f: f.line)
    causes = rank(catalogue, hits, facts)
    host = host_from_text(facts)
    for cause in causes:
        cause.host_fix = fix_for(cause.cause.id, host)
        if cause.cause.id == "torch_arch_missing":
            cause.host_fix = torch_wheel_fix(facts) or cause.host_fix
    return Explanation(text, hits, reading.pasted, facts, causes, _unrecognised(text, hits))
