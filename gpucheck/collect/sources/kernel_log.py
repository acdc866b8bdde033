"""Evidence source: what the kernel logged about NVIDIA GPUs (NVRM messages, Xid errors, nouveau, lockdown).

Command line equivalent: ``dmesg | grep -i -E 'nvrm|nvidia|xid|nouveau'``, else ``journalctl -k -b``, else
``/var/log/kern.log``. Reading the kernel log needs privileges on most distributions
(``kernel.dmesg_restrict``): "Operation not permitted" is recorded, and the check that reads it skips. Only
matching lines are kept (the rest of the log is none of gpucheck's business). Under ``--sysroot`` only the
tree's /var/log/kern.log is read: the live kernel's log does not describe the tree.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.collect.evidence import CommandRun, Item, Value
from gpucheck.collect.registry import CollectContext, collector

NEEDLES = ("nvrm", "nvidia", "xid", "nouveau", "lockdown", "gsp", "10de:")
"""Lower-case substrings that make a kernel log line NVIDIA's business."""
KERN_LOG = "/var/log/kern.log"
MAX_LINES = 400
"""The newest lines kept: a flapping GPU can log thousands of identical Xids."""


def nvidia_lines(text: str) -> list[str]:
    """The log lines about NVIDIA GPUs, newest ``MAX_LINES`` kept."""
    lines = [line for line in text.splitlines() if any(n in line.lower() for n in NEEDLES)]
    return lines[-MAX_LINES:]


def _denied(run: CommandRun) -> bool:
    text = (run.stdout + run.stderr).lower()
    return "not permitted" in text or "permission denied" in text or "not seeing messages" in text


@collector("kernel_log", timeout_s=10.0)
def collect_kernel_log(ctx: CollectContext) -> Iterable[Item]:
    """The NVIDIA-related lines of the kernel log (dmesg, journalctl -k, or /var/log/kern.log)."""
    live = ctx.sysroot.root in ("", "/")
    attempts: list[str] = []
    if live:
        for argv in (("dmesg",), ("journalctl", "-k", "-b", "--no-pager", "-q")):
            run = ctx.run(*argv, timeout_s=5.0)
            if run.succeeded and run.stdout.strip() and not _denied(run):
                yield Value(
                    name="kernel_log", data={"source": " ".join(argv), "lines": nvidia_lines(run.stdout)}
                )
                return
            why = (
                "permission denied"
                if _denied(run)
                else run.describe_failure()
                if not run.succeeded
                else "empty"
            )
            attempts.append(f"{argv[0]}: {why}")
    read = ctx.read(KERN_LOG)
    if read.content is not None:
        yield Value(name="kernel_log", data={"source": KERN_LOG, "lines": nvidia_lines(read.content)})
        return
    attempts.append(f"{KERN_LOG}: {read.error}")
    denied = any("permission denied" in a for a in attempts)
    yield Value(
        name="kernel_log",
        error=("permission denied: " if denied else "unreadable: ") + "; ".join(attempts),
    )
