"""Parser for the NVIDIA lines of the kernel log: the driver's known complaints, each with its layer.

NVRM messages wrap over several lines (``NVRM: installed in this system is not supported by open`` /
``NVRM: nvidia.ko because ...``), each prefixed with a timestamp, a syslog header or ``NVRM:``; syslog may
also escape the newline as ``#012``. ``normalise`` joins them into one line of text, and every pattern here
runs on that text in linear time.
Sources (verbatim messages): https://github.com/NVIDIA/open-gpu-kernel-modules/issues/696,
https://github.com/stackhpc/ansible-slurm-appliance/issues/287, https://github.com/ublue-os/bazzite/issues/2668,
doctor-anchors F03/F04/F35; Xid meanings: https://docs.nvidia.com/deploy/xid-errors/index.html.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREFIX = re.compile(r"^\s*(?:\[\s*[\d.]+\]\s*)?(?:\S+ \d+ [\d:]+ \S+ kernel: )?(?:kernel: )?(?:NVRM: )?")
_XID = re.compile(r"Xid \(PCI:([0-9A-Fa-f:.]{4,16})\): (\d{1,3})")
_API = re.compile(
    r"API mismatch: the client (?:'[^']{0,64}' \(pid \d+\) )?has the version (\S+), "
    r"but this kernel module has the version (\S+?)\.?\s"
)
_PCI_ID = re.compile(r"PCI ID: (10de:[0-9a-fA-F]{4})")
_RELEASE = re.compile(r"is not supported by the (?:NVIDIA )?(\d{3}\.\d{1,3}(?:\.\d{1,3})?) ")
_LEGACY = re.compile(r"supported through the NVIDIA (\d{3})\.xx Legacy drivers")
_INSERT = re.compile(r"could not insert '(nvidia[a-z_]*)': ([A-Za-z ]{3,60})")

XID_MEANINGS: dict[int, tuple[str, str]] = {
    13: ("graphics engine exception", "app"),
    31: ("GPU memory page fault", "app"),
    43: ("GPU stopped processing", "app"),
    45: ("preemptive cleanup after an earlier error", "app"),
    48: ("double-bit ECC error", "hw"),
    61: ("internal micro-controller breakpoint", "hw"),
    62: ("internal micro-controller halt", "hw"),
    63: ("ECC page retirement or row remapping event", "hw"),
    64: ("ECC page retirement or row remapping failure", "hw"),
    74: ("NVLink error", "hw"),
    79: ("GPU has fallen off the bus", "lost"),
    92: ("high single-bit ECC error rate", "hw"),
    94: ("contained ECC error", "hw"),
    95: ("uncontained ECC error", "hw"),
    109: ("context switch timeout", "app"),
    119: ("GSP RPC timeout", "hw"),
    120: ("GSP error", "hw"),
}
"""Xid → (meaning, kind): ``app`` usually a program's bug, ``hw`` the GPU or its memory, ``lost`` the GPU is
gone until a reset (NVIDIA's Xid catalogue)."""


@dataclass(frozen=True, slots=True)
class KernelEvent:
    """One recognised complaint of the driver in the kernel log."""

    kind: str
    """``open_unsupported``, ``api_mismatch``, ``probe_not_called``, ``fallen_off_bus``, ``xid``,
    ``init_failed``, ``firmware_missing``, ``power_cables``, ``unsigned_module``, ``branch_too_old`` (this
    release does not know the GPU), ``legacy_gpu`` (the GPU needs an older legacy branch), ``insert_failed``
    (modprobe could not load a module, and why)."""
    detail: str
    """What the message names: a PCI id, ``client 535.54.03 / module 530.30.02``, an Xid number."""
    line: str
    """The message text it was recognised in (normalised, shortened)."""


def normalise(lines: list[str]) -> str:
    """The lines joined into one text, without timestamps, syslog headers and ``NVRM:`` prefixes."""
    parts = []
    for line in lines:
        for piece in line.replace("#012", "\n").splitlines():
            parts.append(_PREFIX.sub("", piece, count=1).strip())
    return re.sub(r"\s+", " ", " ".join(parts)) + " "


_FIXED: tuple[tuple[str, str], ...] = (
    ("is not supported by open", "open_unsupported"),
    ("probe routine was not called", "probe_not_called"),
    ("fallen off the bus", "fallen_off_bus"),
    ("rminitadapter failed", "init_failed"),
    ("gsp_", "firmware_missing"),
    ("does not have the necessary power cables connected", "power_cables"),
    ("loading of unsigned module is rejected", "unsigned_module"),
    ("unsigned module loading is restricted", "unsigned_module"),
    ("key was rejected by service", "unsigned_module"),
)


def _around(text: str, index: int) -> str:
    return text[max(0, index - 40) : index + 120].strip()


def kernel_events(lines: list[str]) -> list[KernelEvent]:
    """Every recognised event, one per kind (and per Xid number), in the order first seen."""
    text = normalise(lines)
    lowered = text.lower()
    events: dict[tuple[str, str], KernelEvent] = {}
    for needle, kind in _FIXED:
        at = lowered.find(needle)
        if at < 0:
            continue
        if kind == "firmware_missing" and "direct firmware load for nvidia/" not in lowered:
            continue
        detail = ""
        if kind == "open_unsupported":
            ids = _PCI_ID.findall(text)
            detail = ", ".join(dict.fromkeys(ids))
        events.setdefault((kind, ""), KernelEvent(kind, detail, _around(text, at)))
    one_line = (_INSERT.search(line) for line in lines)  # NOTE: modprobe's reason ends with its line
    inserted = next((m for m in one_line if m is not None), None)
    for pattern, kind in ((_RELEASE, "branch_too_old"), (_LEGACY, "legacy_gpu"), (_INSERT, "insert_failed")):
        found = inserted if kind == "insert_failed" else pattern.search(text)
        if found:
            detail = ": ".join(g.strip() for g in found.groups())
            if kind == "branch_too_old":
                ids = _PCI_ID.findall(text)
                detail += f" ({', '.join(dict.fromkeys(ids))})" if ids else ""
            where = found.string if kind == "insert_failed" else _around(text, found.start())
            events.setdefault((kind, ""), KernelEvent(kind, detail, where.strip()[-160:]))
    match = _API.search(text)
    if match:
        detail = f"client {match.group(1).rstrip(',')} / kernel module {match.group(2)}"
        events.setdefault(
            ("api_mismatch", ""), KernelEvent("api_mismatch", detail, _around(text, match.start()))
        )
    for match in _XID.finditer(text):
        code = match.group(2)
        events.setdefault(("xid", code), KernelEvent("xid", code, _around(text, match.start())))
    return list(events.values())
