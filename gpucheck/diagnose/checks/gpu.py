"""Checks: each GPU — present, healthy (ECC, retired/remapped memory, temperature), PCIe link, and modes."""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, failed, passed, skipped, warned
from gpucheck.diagnose.inventory import GpuInfo, driver_info, gpu_inventory, nvidia_smi_runs
from gpucheck.diagnose.parse.nvidia_smi import SmiFailure
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import is_wsl2, smi_state

NEEDS = ("nvml", "nvidia_smi", "procfs")
EVIDENCE = ("nvml", "cmd:nvidia-smi")
HOT_C = 85
"""Above this, most data-centre and consumer GPUs start to throttle clocks."""


def _label(gpu: GpuInfo) -> str:
    return f"GPU {gpu.index} ({gpu.name}, {gpu.bus_id or 'bus id unknown'})"


def _no_gpus_reason(facts: Facts) -> str | None:
    """Why per-GPU checks cannot run, or None when there are GPUs."""
    if facts.of(gpu_inventory):
        return None
    if not facts.of(driver_info).loaded:
        return "no NVIDIA driver is loaded (see driver.loaded)"
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
    """The worst health problem of one GPU, or None when it looks healthy."""
    label = _label(gpu)
    if gpu.remapped_rows_failure:
        return failed(
            f"{label}: row remapping failed (memory cannot be repaired)",
            f"Drain the node and replace the GPU {gpu.uuid or gpu.bus_id}.",
            evidence=EVIDENCE,
        )
    if gpu.ecc_uncorrected:
        return failed(
            f"{label}: {gpu.ecc_uncorrected} uncorrected ECC errors since the driver loaded",
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
    if gpu.temperature_c is not None and gpu.temperature_c >= HOT_C:
        return warned(
            f"{label}: {gpu.temperature_c} °C (throttles at about {HOT_C} °C)",
            "Check fans and airflow: `nvidia-smi --query-gpu=temperature.gpu,fan.speed,"
            "clocks_throttle_reasons.active --format=csv`.",
            evidence=EVIDENCE,
        )
    return None


@check("gpu.health", title="GPUs report no memory errors and no overheating", needs=NEEDS)
def check_health(facts: Facts) -> Iterable[Finding]:
    """Uncorrected ECC errors, pending page retirement / row remapping, and temperature, per GPU."""
    reason = _no_gpus_reason(facts)
    if reason:
        return [skipped(reason)]
    problems = [f for f in (_health(g) for g in facts.of(gpu_inventory)) if f is not None]
    return problems or [
        passed(
            "no uncorrected ECC errors, no pending retirement or remapping, temperatures normal",
            evidence=EVIDENCE,
        )
    ]


def _link(gpu: GpuInfo) -> Finding | None:
    label = _label(gpu)
    if gpu.pcie_width_current and gpu.pcie_width_max and gpu.pcie_width_current < gpu.pcie_width_max:
        return warned(
            f"{label}: PCIe link runs at x{gpu.pcie_width_current}, the GPU supports "
            f"x{gpu.pcie_width_max}: host↔GPU copies are slower",
            "Reseat the card in a full-width slot and check riser cables and BIOS lane settings "
            "(`sudo lspci -vv -s <bus id> | grep LnkSta`).",
            evidence=EVIDENCE,
        )
    if gpu.pcie_gen_current and gpu.pcie_gen_max and gpu.pcie_gen_current < gpu.pcie_gen_max:
        return warned(
            f"{label}: PCIe link at generation {gpu.pcie_gen_current} of {gpu.pcie_gen_max}",
            "Idle GPUs lower the link generation to save power: re-check under load with "
            f"`nvidia-smi -i {gpu.index} --query-gpu=pcie.link.gen.current,pcie.link.gen.max "
            "--format=csv`; if it stays low, set the slot to its maximum generation in the BIOS.",
            evidence=EVIDENCE,
        )
    return None


@check("gpu.pcie_link", title="PCIe links run at full width and generation", needs=NEEDS)
def check_pcie_link(facts: Facts) -> Iterable[Finding]:
    """Current PCIe generation and width against the maximum, per GPU."""
    reason = _no_gpus_reason(facts)
    if reason:
        return [skipped(reason)]
    gpus = facts.of(gpu_inventory)
    if is_wsl2(facts.evidence) or all(g.pcie_width_max is None and g.pcie_gen_max is None for g in gpus):
        return [skipped("the driver does not report PCIe link state here")]
    problems = [f for f in (_link(g) for g in gpus) if f is not None]
    return problems or [passed("every PCIe link runs at its maximum generation and width", evidence=EVIDENCE)]


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
    return findings or [passed("persistence on, compute mode Default, MIG off", evidence=EVIDENCE)]
