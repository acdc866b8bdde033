"""Fixes for the host they will run on, rendered by doctor's one place for commands (diagnose/advice.py).

A cause listed in ``ADVICE`` gets its command from ``advice``; the catalogue's generic ``fix`` is the
fallback. Offline, the host is what the text shows (a WSL2 kernel) and otherwise unknown, so ``advice``
prints each distribution family's command; live, it is this machine as doctor's ``detect_host`` sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gpucheck.diagnose import advice
from gpucheck.diagnose.host import Host
from gpucheck.diagnose.wheels import arch_list_supports
from gpucheck.explain.facts import Fact, first
from gpucheck.knowledge import load


def _runtime_configure(host: Host) -> str:
    configure = advice.sudo(advice.host_side(host), "nvidia-ctk runtime configure --runtime=docker")
    return advice.on_host(host, f"`{configure}`, then {advice.restart_docker(host)}")


def _toolkit(host: Host) -> str:
    return f"{advice.container_toolkit_install(host)}; then {_runtime_configure(host)}"


def _reboot(host: Host) -> str:
    return advice.on_host(
        host,
        f"Reboot so the kernel module matches the userspace driver: "
        f"`{advice.sudo(advice.host_side(host), 'reboot')}`",
    )


def _uvm(host: Host) -> str:
    reload = advice.sudo(host, "modprobe -r nvidia_uvm") + " && " + advice.sudo(host, "modprobe nvidia_uvm")
    return advice.on_host(
        host,
        f"`{reload}` (or reboot); `{advice.sudo(host, 'nvidia-modprobe -u -c0')}` creates /dev/nvidia-uvm",
    )


ADVICE: dict[str, Callable[[Host], str]] = {
    "driver_not_loaded": advice.kernel_module_rebuild,
    "nouveau_owns_gpu": advice.blacklist_nouveau,
    "driver_library_mismatch": _reboot,
    "uvm_module_broken": _uvm,
    "container_toolkit_missing": _toolkit,
    "nvidia_runtime_not_configured": _runtime_configure,
    "docker_daemon_unreachable": lambda host: advice.join_group(host, "docker"),
}
"""Cause id → the advice renderer of its fix."""


def host_from_text(facts: Sequence[Fact]) -> Host:
    """What the text says about the machine it came from (WSL2 or not); everything else unknown."""
    flavour = first(facts, "kernel.flavour")
    return Host(wsl2=flavour is not None and flavour.value == "wsl2")


def fix_for(cause_id: str, host: Host) -> str:
    """The host-rendered fix for a cause, or '' when the catalogue's generic fix stands."""
    render = ADVICE.get(cause_id)
    return render(host) if render is not None else ""


def torch_wheel_fix(facts: Sequence[Fact]) -> str:
    """The newest torch wheel with kernels for the GPU the text names (knowledge: torch_wheels.toml).

    Among that series' variants, the lowest CUDA is chosen: it needs the oldest driver.
    """
    capability = first(facts, "gpu.capability")
    if capability is None:
        return ""
    fitting = [w for w in load.torch_wheels() if arch_list_supports(w.archs(), capability.value)]
    if not fitting:
        return ""
    newest = fitting[0].series
    wheel = min((w for w in fitting if w.series == newest), key=lambda w: tuple(map(int, w.cuda.split("."))))
    return (
        f"Install a torch build with kernels for compute capability {capability.value}: "
        f"`python -m pip install --force-reinstall 'torch=={newest}.*' --index-url {load.torch_index()}/"
        f"{wheel.variant}` (torch {newest} {wheel.variant} is built for {' '.join(wheel.archs())}; "
        f"it needs a driver for CUDA {wheel.cuda}). Rebuild custom CUDA extensions with "
        f"TORCH_CUDA_ARCH_LIST={capability.value}."
    )
