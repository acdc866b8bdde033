"""Checks: each GPU — present, healthy (ECC, retired/remapped memory, temperature), PCIe link, and modes."""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.diagnose import advice
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, failed, passed, skipped, warned
from gpucheck.diagnose.gpu_errors import gpu_errors
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import GpuInfo, driver_info, gpu_inventory, nvidia_smi_runs
from gpucheck.diagnose.parse.nvidia_smi import SmiFailure
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import is_wsl2, smi_state

NEEDS = ("nvml", "nvidia_smi", "procfs")
EVIDENCE = ("nvml", "cmd:nvidia-smi")
NEAR_SLOWDOWN_C = 5
"""Within this many degrees of its own slowdown threshold a GPU is about to throttle."""


def _label(gpu: GpuInfo) -> str:
    return f"GPU {gpu.index} ({gpu.name}, {gpu.bus_id or 'bus id unknown'})"


def _no_gpus_reason(facts: Facts) -> str | None:
    """Why per-GPU checks cannot run, or None when there are GPUs."""
    if facts.of(gpu_inventory):
        return None
    if facts.of(gpu_errors):
        return "the driver cannot reach its GPUs (see gpu.errors)"
    if not facts.of(driver_info).loaded:
        return "no NVIDIA driver is loaded (see driver.loaded)"
    if facts.of(smi_state).failure in (SmiFailure.OTHER, SmiFailure.NVML_UNKNOWN_ERROR):
        return "the driver's GPU list could not be read (see gpu.present)"
    return "the driver reports no GPU (see gpu.present)"


@check("gpu.present", title="the driver sees at least one GPU", needs=NEEDS)
def check_present(facts: Facts) -> Finding:
    """How many GPUs the driver reports, with name, memory and compute capability."""
    gpus, info = facts.of(gpu_inventory), facts.of(driver_info)
    if gpus:
        listing = "; ".join(
            f"{g.index}: {g.name}"
            + (f", CC {g.compute_capability}" if g.compute_capability else "")
            + (f", {g.memory_total_mib} MiB" if g.memory_total_mib is not None else "")
            for g in gpus
        )
        return passed(
            f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}: {listing}",
            evidence=EVIDENCE,
            data={"count": len(gpus), "names": [g.name for g in gpus]},
        )
    unreachable = facts.of(gpu_errors)
    if unreachable:
        # NOTE: "GPU is lost" / "Unknown Error" come from a driver that answered: not "no driver loaded"
        return skipped(f"no GPU the driver lists can be reached ({unreachable[0].error}; see gpu.errors)")
    if not info.loaded:
        return skipped("no NVIDIA driver is loaded, so no GPU can be listed (see driver.loaded)")
    smi = facts.of(smi_state)
    query = nvidia_smi_runs(facts.evidence).get("query")
    if query is not None and (query.timed_out or query.error):
        # NOTE: a hung or unrunnable nvidia-smi says nothing about how many GPUs there are
        return errored(
            f"the GPUs could not be listed: {smi.message}",
            "See driver.nvidia_smi for why nvidia-smi did not answer.",
            evidence=EVIDENCE,
        )
    if smi.failure is SmiFailure.OTHER or smi.failure is SmiFailure.NVML_UNKNOWN_ERROR:
        side = advice.host_side(facts.of(detect_host))
        return errored(
            f"driver {info.version} answers, but its GPU list could not be read ({smi.message})",
            "Run `nvidia-smi -q` by hand; look for Xid errors with "
            f"`{advice.sudo(side, 'dmesg')} | grep -i -E 'NVRM|Xid'`.",
            evidence=EVIDENCE,
        )
    if smi.failure not in (None, SmiFailure.NO_DEVICES) and info.source != "nvml":
        # NOTE: nvidia-smi failing (permissions, a version mismatch) is not the driver saying "no GPU"
        return skipped(
            f"the GPUs cannot be listed because nvidia-smi failed: {smi.message} (see driver.nvidia_smi "
            "and driver.device_nodes)"
        )
    said = f" (nvidia-smi: {smi.message})" if smi.failure is SmiFailure.NO_DEVICES else ""
    return failed(
        f"driver {info.version} is loaded but reports no GPU{said}",
        "Check the card is on the PCI bus: `lspci -nn | grep -i nvidia`; in a container, start it with "
        "`--gpus all` (Docker) or request `nvidia.com/gpu` (Kubernetes); on bare metal reseat the card and "
        "check `sudo dmesg | grep -i NVRM`.",
        evidence=EVIDENCE,
        data={"count": 0},
    )


def _health(gpu: GpuInfo) -> Finding | None:
    """The worst health problem of one GPU, or None when nothing read is wrong."""
    label = _label(gpu)
    if gpu.remapped_rows_failure:
        return failed(
            f"{label}: row remapping failed (memory cannot be repaired)",
            f"Drain the node and replace the GPU {gpu.uuid or gpu.bus_id}.",
            evidence=EVIDENCE,
        )
    if gpu.ecc_uncorrected is not None and gpu.ecc_uncorrected > 0:
        return failed(
            f"{label}: {gpu.ecc_uncorrected} uncorrected ECC errors since the driver loaded"
            + (", a row remapping is pending" if gpu.remapped_rows_pending else "")
            + (", a page retirement is pending" if gpu.retired_pages_pending else ""),
            f"Drain jobs, then reset it: `sudo nvidia-smi -r -i {gpu.index}`; if errors return, "
            "replace the GPU.",
            evidence=EVIDENCE,
        )
    if gpu.retired_pages_pending or gpu.remapped_rows_pending:
        kind = "page retirement" if gpu.retired_pages_pending else "row remapping"
        return warned(
            f"{label}: a {kind} is pending until the GPU is reset",
            f"Reset it when idle: `sudo nvidia-smi -r -i {gpu.index}` (or reboot).",
            evidence=EVIDENCE,
        )
    if gpu.fan_error:
        return warned(
            f"{label}: the driver cannot read the fan (nvidia-smi prints ERR!): a failed fan or fan sensor",
            "Check the fan and its cable; look for Xid errors (`sudo dmesg | grep -i -E 'NVRM|Xid'`) and "
            f"watch the temperature under load (`nvidia-smi -i {gpu.index} -q -d TEMPERATURE`).",
            evidence=EVIDENCE,
        )
    hot = gpu.temperature_c is not None and gpu.slowdown_temp_c is not None
    if hot and gpu.temperature_c >= gpu.slowdown_temp_c - NEAR_SLOWDOWN_C:
        state = "is slowing down" if gpu.temperature_c >= gpu.slowdown_temp_c else "is about to slow down"
        return warned(
            f"{label}: {gpu.temperature_c} °C {state} (its slowdown threshold is {gpu.slowdown_temp_c} °C)",
            "Check fans and airflow: `nvidia-smi --query-gpu=temperature.gpu,fan.speed,"
            "clocks_event_reasons.active --format=csv`.",
            evidence=EVIDENCE,
        )
    return None


def _on(gpus: tuple[GpuInfo, ...], read: list[GpuInfo]) -> str:
    """`` on GPU 0, 1`` naming which GPUs a statement covers, empty when it covers all of them."""
    return "" if len(read) == len(gpus) else " on GPU " + ", ".join(str(g.index) for g in read)


def _count(value: int | None) -> int | None:
    """A count as evidence: negative counts are contradictions (see gpu.consistency), not readings."""
    return value if value is not None and value >= 0 else None


def _health_read(gpus: tuple[GpuInfo, ...]) -> str:
    """What the health readings say, naming only what was read (a pass must not claim an unread value)."""
    parts = []
    ecc = [g for g in gpus if _count(g.ecc_uncorrected) is not None]
    parts.append(
        f"no uncorrected ECC errors since the driver loaded{_on(gpus, ecc)}"
        if ecc
        else "ECC error counts not reported"
    )
    pending = [g for g in gpus if g.retired_pages_pending is not None or g.remapped_rows_pending is not None]
    parts.append(
        f"no pending page retirement or row remapping{_on(gpus, pending)}"
        if pending
        else "page retirement and row remapping not reported"
    )
    temps = [g.temperature_c for g in gpus if g.temperature_c is not None]
    if temps:
        span = f"{min(temps)} °C" if min(temps) == max(temps) else f"{min(temps)}–{max(temps)} °C"
        parts.append(f"temperature {span}")
    else:
        parts.append("temperature not reported")
    return "; ".join(parts)


def _history(gpu: GpuInfo) -> str | None:
    """Lifetime memory-repair history of one GPU (information: already handled by the GPU itself)."""
    notes = []
    if _count(gpu.ecc_uncorrected_aggregate):
        notes.append(f"{gpu.ecc_uncorrected_aggregate} uncorrected ECC errors over its lifetime")
    retired = (_count(gpu.retired_pages_single_bit) or 0) + (_count(gpu.retired_pages_double_bit) or 0)
    if retired:
        notes.append(f"{retired} retired memory pages")
    if _count(gpu.remapped_rows_uncorrectable):
        notes.append(f"{gpu.remapped_rows_uncorrectable} rows remapped for uncorrectable errors")
    return f"GPU {gpu.index}: " + ", ".join(notes) if notes else None


@check("gpu.health", title="GPUs report no memory errors and no overheating", needs=NEEDS)
def check_health(facts: Facts) -> Iterable[Finding]:
    """Uncorrected ECC errors, pending page retirement / row remapping, and temperature, per GPU.

    Temperature is judged against each GPU's own slowdown threshold where the driver reports it (NVML, the
    XML, ``-q``); without one it is reported, not judged.
    """
    reason = _no_gpus_reason(facts)
    if reason:
        return [skipped(reason)]
    gpus = facts.of(gpu_inventory)
    problems = [f for f in (_health(g) for g in gpus) if f is not None]
    if problems:
        return problems
    history = [h for h in (_history(g) for g in gpus) if h]
    summary = _health_read(gpus) + (" (history: " + "; ".join(history) + ")" if history else "")
    return [passed(summary, evidence=EVIDENCE, data={"history": history})]


IDLE_PSTATE = 2
"""P-states above this are the GPU's power-saving states: the link is allowed to slow down there."""


def _link_state(gpu: GpuInfo) -> str:
    gen = f"gen {gpu.pcie_gen_current} of {gpu.pcie_gen_max}" if gpu.pcie_gen_max else "gen not reported"
    width = (
        f"x{gpu.pcie_width_current} of x{gpu.pcie_width_max}" if gpu.pcie_width_max else "width not reported"
    )
    return f"{gen}, {width}"


def _below_max(gpu: GpuInfo) -> bool:
    width = gpu.pcie_width_current and gpu.pcie_width_max and gpu.pcie_width_current < gpu.pcie_width_max
    gen = gpu.pcie_gen_current and gpu.pcie_gen_max and gpu.pcie_gen_current < gpu.pcie_gen_max
    return bool(width or gen)


def _judgeable(gpu: GpuInfo) -> str | None:
    """Why a link below its maximum cannot be judged now, or None when it can (a performance state, busy)."""
    if gpu.pstate is None:
        return "performance state not reported"
    if gpu.pstate > IDLE_PSTATE:
        return f"in P{gpu.pstate}, a power-saving state"
    if gpu.utilization_pct == 0:
        return f"in P{gpu.pstate} at 0 % load"
    return None


def _link(gpu: GpuInfo) -> Finding | None:
    label = _label(gpu)
    state = f"P{gpu.pstate}" + (f", {gpu.utilization_pct} % load" if gpu.utilization_pct is not None else "")
    if gpu.pcie_width_current and gpu.pcie_width_max and gpu.pcie_width_current < gpu.pcie_width_max:
        return warned(
            f"{label}: PCIe link runs at x{gpu.pcie_width_current}, the GPU supports "
            f"x{gpu.pcie_width_max} ({state}): host↔GPU copies are slower",
            "Reseat the card in a full-width slot and check riser cables and BIOS lane settings "
            f"(`sudo lspci -vv -s {gpu.bus_id or '<bus id>'} | grep LnkSta`).",
            evidence=EVIDENCE,
        )
    if gpu.pcie_gen_current and gpu.pcie_gen_max and gpu.pcie_gen_current < gpu.pcie_gen_max:
        return warned(
            f"{label}: PCIe link at generation {gpu.pcie_gen_current} of {gpu.pcie_gen_max} ({state})",
            "Set the slot to its maximum generation in the BIOS and check the riser; re-check under load "
            f"with `nvidia-smi -i {gpu.index} --query-gpu=pstate,pcie.link.gen.current,pcie.link.gen.max "
            "--format=csv`.",
            evidence=EVIDENCE,
        )
    return None


@check("gpu.pcie_link", title="PCIe links run at full width and generation", needs=NEEDS)
def check_pcie_link(facts: Facts) -> Iterable[Finding]:
    """Current PCIe generation and width against the maximum, judged only in a performance state under load.

    An idle GPU lowers its link generation (and width) to save power by design, so a link read in a
    power-saving P-state, at 0 % load, or without its P-state is reported as information, never as a fault.
    """
    reason = _no_gpus_reason(facts)
    if reason:
        return [skipped(reason)]
    gpus = facts.of(gpu_inventory)
    if is_wsl2(facts.evidence):
        return [skipped("WSL2: the Windows driver does not report PCIe link state to Linux")]
    if all(g.pcie_width_max is None and g.pcie_gen_max is None for g in gpus):
        return [skipped("no PCIe link reading: the driver, or the nvidia-smi form it answered, reports none")]
    reported = [g for g in gpus if g.pcie_width_max is not None or g.pcie_gen_max is not None]
    unjudged = [g for g in reported if _below_max(g) and _judgeable(g) is not None]
    problems = [f for f in (_link(g) for g in reported if g not in unjudged) if f is not None]
    if problems:
        return problems
    notes = "; ".join(f"GPU {g.index}: {_link_state(g)}, {_judgeable(g)}" for g in unjudged)
    rule = "a link below its maximum is judged only in P0–P2 under load: an idle GPU slows its link by design"
    at_max = [g for g in reported if g not in unjudged]
    if not at_max:
        return [skipped(f"not judged ({notes}); {rule}", evidence=EVIDENCE)]
    read = "; ".join(f"GPU {g.index}: {_link_state(g)}" for g in at_max)
    info = f"; not judged ({notes}): {rule}" if notes else ""
    return [passed(f"PCIe links at their maximum ({read}){info}", evidence=EVIDENCE)]


@check("gpu.modes", title="persistence, compute and MIG modes suit ML work", needs=NEEDS)
def check_modes(facts: Facts) -> Iterable[Finding]:
    """Persistence mode off (slow start, container timeouts), exclusive/prohibited compute mode, MIG on."""
    reason = _no_gpus_reason(facts)
    if reason:
        return [skipped(reason)]
    findings = []
    for gpu in facts.of(gpu_inventory):
        label = _label(gpu)
        if gpu.compute_mode in ("Exclusive_Process", "Exclusive_Thread", "Prohibited"):
            findings.append(
                warned(
                    f"{label}: compute mode {gpu.compute_mode}: a second process gets `all CUDA-capable "
                    "devices "
                    "are busy or unavailable`",
                    f"`sudo nvidia-smi -i {gpu.index} -c DEFAULT`",
                    evidence=EVIDENCE,
                )
            )
        if gpu.mig_mode:
            findings.append(
                warned(
                    f"{label}: MIG mode is enabled: a process sees one MIG slice, not the whole GPU",
                    "Select a slice: `export CUDA_VISIBLE_DEVICES=MIG-<uuid>` (from `nvidia-smi -L`); for "
                    "the whole "
                    f"GPU: `sudo nvidia-smi -i {gpu.index} -mig 0` and reset it.",
                    evidence=EVIDENCE,
                )
            )
        if gpu.persistence_mode is False and not is_wsl2(facts.evidence):
            findings.append(
                warned(
                    f"{label}: persistence mode is off: every CUDA start re-initialises the GPU (seconds), "
                    "and "
                    "container starts can time out",
                    "`sudo systemctl enable --now nvidia-persistenced` (or "
                    f"`sudo nvidia-smi -i {gpu.index} -pm 1`)",
                    evidence=EVIDENCE,
                )
            )
    return findings or [passed(_modes_read(facts.of(gpu_inventory)), evidence=EVIDENCE)]


def _modes_read(gpus: list[GpuInfo]) -> str:
    """The pass text: only the modes the driver reported (a cut table or report lacks some)."""
    switch = {True: "on", False: "off", None: "not reported"}
    parts = []
    for what, values in (
        ("persistence", [switch[g.persistence_mode] for g in gpus]),
        ("compute mode", [g.compute_mode or "not reported" for g in gpus]),
        ("MIG", [switch[g.mig_mode] for g in gpus]),
    ):
        if len(set(values)) == 1:
            parts.append(f"{what} {values[0]}")
        else:
            each = ", ".join(f"GPU {g.index} {v}" for g, v in zip(gpus, values, strict=True))
            parts.append(f"{what}: {each}")
    return ", ".join(parts)


@check("gpu.errors", title="every GPU the driver lists answers", needs=NEEDS)
def check_errors(facts: Facts) -> Finding:
    """A GPU whose NVML handle fails (``Unknown Error``, ``GPU is lost``) while the others work."""
    errors, gpus = facts.of(gpu_errors), facts.of(gpu_inventory)
    if not errors:
        reason = _no_gpus_reason(facts)
        if reason:
            return skipped(reason)
        return passed(f"all {len(gpus)} GPU(s) answer", evidence=EVIDENCE)
    host = facts.of(detect_host)
    broken = "; ".join(f"{e.label}: {e.error}" for e in errors)
    others = f"the other {len(gpus)} GPU(s) answer" if gpus else "no other GPU answers"
    reset = advice.sudo(advice.host_side(host), "nvidia-smi -r -i <index>")
    fix = (
        "It is that GPU, not the driver: read its Xid (`sudo dmesg | grep -i xid`, see driver.kernel_log); "
        f"drain its jobs and reset it (`{reset}`) or reboot; if it fails again, reseat the card and check "
        "its power and cooling, or have it replaced. Until then hide it with CUDA_VISIBLE_DEVICES."
    )
    if host.in_container:
        fix = advice.on_host(
            host,
            "run `nvidia-smi` there: if the GPU answers on the host, the container lost access to its device "
            "(`systemctl daemon-reload` with the systemd cgroup driver): `sudo nvidia-ctk system "
            "create-dev-char-symlinks --create-all`, then recreate the container; else: " + fix,
        )
    return failed(
        f"{len(errors)} GPU(s) cannot be reached ({broken}); {others}",
        fix,
        evidence=EVIDENCE,
        data={"broken": [e.label for e in errors], "working": len(gpus)},
    )
