"""Checks: the environment layer (CUDA_* and NVIDIA_* variables, containers)."""

from __future__ import annotations

from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import container_runtime
from gpucheck.diagnose.inventory import gpu_inventory
from gpucheck.diagnose.registry import check


@check(
    "environ.container", title="whether gpucheck runs inside a container", needs=("env", "container_markers")
)
def check_container(facts: Facts) -> Finding:
    """Report whether we run inside a container, since GPU access then depends on the container runtime."""
    runtime = facts.of(container_runtime)
    evidence = ("container_markers", "file:/proc/1/cgroup")
    if runtime is None:
        return passed("not running inside a container", evidence=evidence, data={"container": None})
    return passed(
        f"running inside a {runtime} container: GPUs are visible only if the runtime passed them in "
        "(`--gpus`, `nvidia.com/gpu` resource, or CDI)",
        evidence=evidence,
        data={"container": runtime},
    )


PERFORMANCE_LIMITING = (
    "NSIGHT_CUDA_DEBUGGER",
    "CUDA_INJECTION32_PATH",
    "CUDA_INJECTION64_PATH",
    "CUDA_AUTO_BOOST",
    "CUDA_ENABLE_COREDUMP_ON_EXCEPTION",
    "CUDA_COREDUMP_FILE",
    "CUDA_DEVICE_WAITS_ON_EXCEPTION",
    "CUDA_PROFILE",
    "COMPUTE_PROFILE",
    "OPENCL_PROFILE",
)
"""The variables DCGM's software test flags as performance-limiting (nvvs/src/Software.cpp)."""

SERIALISING = {"CUDA_LAUNCH_BLOCKING": "1"}
"""Debug switches that serialise every kernel launch when set to this value."""

NVIDIA_VISIBLE_VALUES = {"all", "none", "void", ""}


def _visible_tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",")]


def _bad_visible_token(token: str, gpus: tuple) -> str | None:
    """Why one CUDA_VISIBLE_DEVICES entry selects nothing; None when it selects a GPU (or we cannot tell)."""
    if token.lstrip("-").isdigit():
        index = int(token)
        if index < 0:
            return f"`{token}` is negative: CUDA stops reading the list there"
        if gpus and index >= len(gpus):
            verb = "is" if len(gpus) == 1 else "are"
            return f"`{token}` names no GPU (there {verb} {len(gpus)}: 0..{len(gpus) - 1})"
        return None
    if token.startswith(("GPU-", "MIG-")):
        if token.startswith("GPU-") and gpus and not any(g.uuid.startswith(token) for g in gpus if g.uuid):
            return f"`{token}` matches no GPU UUID"
        return None
    return f"`{token}` is neither an index nor a GPU-/MIG- UUID"


@check(
    "environ.cuda_visible_devices",
    title="CUDA_VISIBLE_DEVICES selects existing GPUs",
    needs=("env", "nvml", "nvidia_smi"),
)
def check_cuda_visible_devices(facts: Facts) -> Finding:
    """Empty, malformed, or naming GPUs that do not exist."""
    value = facts.env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return passed("CUDA_VISIBLE_DEVICES is not set: every GPU is visible", evidence=("env",))
    if value.strip() in ("", "NoDevFiles"):
        return warned(
            f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU: CUDA programs see no device",
            "`unset CUDA_VISIBLE_DEVICES` (or set it to the GPU indices wanted, e.g. `0,1`).",
            evidence=("env",),
        )
    gpus = facts.of(gpu_inventory)
    problems = [p for p in (_bad_visible_token(t, gpus) for t in _visible_tokens(value)) if p]
    if problems:
        valid = ",".join(str(g.index) for g in gpus) or "0"
        return failed(
            f"CUDA_VISIBLE_DEVICES={value!r}: {'; '.join(problems)}",
            f"`export CUDA_VISIBLE_DEVICES={valid}` (indices from `nvidia-smi -L`).",
            evidence=("env",),
        )
    return passed(f"CUDA_VISIBLE_DEVICES={value!r} selects existing GPUs", evidence=("env",))


@check(
    "environ.cuda_device_order",
    title="CUDA device order matches nvidia-smi on multi-GPU hosts",
    needs=("env", "nvml", "nvidia_smi"),
)
def check_cuda_device_order(facts: Facts) -> Finding:
    """On multi-GPU hosts CUDA numbers the fastest GPU first unless CUDA_DEVICE_ORDER=PCI_BUS_ID."""
    gpus = facts.of(gpu_inventory)
    order = facts.env.get("CUDA_DEVICE_ORDER")
    if len(gpus) < 2:
        return skipped(f"{len(gpus)} GPU visible: the device order does not matter")
    if order == "PCI_BUS_ID":
        return passed("CUDA_DEVICE_ORDER=PCI_BUS_ID: CUDA indices match nvidia-smi's", evidence=("env",))
    return warned(
        f"{len(gpus)} GPUs and CUDA_DEVICE_ORDER={order or 'unset (FASTEST_FIRST)'}: CUDA device "
        "numbers can differ from nvidia-smi's, so CUDA_VISIBLE_DEVICES may pick the wrong GPU",
        "`export CUDA_DEVICE_ORDER=PCI_BUS_ID`",
        evidence=("env",),
    )


@check(
    "environ.nvidia_visible_devices",
    title="NVIDIA_VISIBLE_DEVICES exposes GPUs to containers",
    needs=("env", "container_markers"),
)
def check_nvidia_visible_devices(facts: Facts) -> Finding:
    """NVIDIA_VISIBLE_DEVICES is read by the NVIDIA container runtime: void/none there means no GPU."""
    value = facts.env.get("NVIDIA_VISIBLE_DEVICES")
    inside = facts.of(container_runtime)
    if value is None:
        return passed("NVIDIA_VISIBLE_DEVICES is not set", evidence=("env",))
    if inside and value.strip().lower() in ("none", "void", ""):
        return warned(
            f"inside a {inside} container with NVIDIA_VISIBLE_DEVICES={value!r}: the runtime mounted no GPU",
            "Start the container with `--gpus all` (or `-e NVIDIA_VISIBLE_DEVICES=all` with the "
            "nvidia runtime).",
            evidence=("env",),
        )
    if not inside:
        return passed(
            f"NVIDIA_VISIBLE_DEVICES={value!r} is set but only the NVIDIA container runtime reads it; "
            "it has no effect on this host",
            evidence=("env",),
        )
    return passed(f"NVIDIA_VISIBLE_DEVICES={value!r}", evidence=("env",))


@check("environ.compat_libs", title="no CUDA forward-compat libraries on LD_LIBRARY_PATH", needs=("env",))
def check_compat_libs(facts: Facts) -> Finding:
    """cuda-compat's libcuda on LD_LIBRARY_PATH breaks GPUs without forward-compat support (Error 804)."""
    entries = [d for d in facts.env.get("LD_LIBRARY_PATH", "").split(":") if d]
    compat = [d for d in entries if d.rstrip("/").endswith("/compat") or "cuda-compat" in d]
    if not compat:
        return passed("no CUDA compat directory on LD_LIBRARY_PATH", evidence=("env",))
    kept = ":".join(d for d in entries if d not in compat)
    return warned(
        f"LD_LIBRARY_PATH contains {', '.join(compat)}: its libcuda overrides the driver's, and "
        "GPUs without forward-compat support fail with `Error 804: forward compatibility was attempted "
        "on non supported HW`",
        f"`export LD_LIBRARY_PATH={kept}`" if kept else "`unset LD_LIBRARY_PATH`",
        evidence=("env",),
    )


@check("environ.performance_variables", title="no performance-limiting CUDA variables", needs=("env",))
def check_performance_variables(facts: Facts) -> Finding:
    """The CUDA debugging/profiling variables DCGM flags, and CUDA_LAUNCH_BLOCKING=1."""
    env = facts.env
    found = [n for n in PERFORMANCE_LIMITING if n in env]
    found += [n for n, v in SERIALISING.items() if env.get(n, "").strip() == v]
    if not found:
        return passed("no performance-limiting CUDA variables are set", evidence=("env",))
    return warned(
        f"performance-limiting CUDA variables are set: {', '.join(found)} (debuggers, profilers, "
        "injection or serialised launches slow every CUDA program)",
        f"`unset {' '.join(found)}`",
        evidence=("env",),
        data={"variables": found},
    )
