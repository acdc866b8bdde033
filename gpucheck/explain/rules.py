"""Ranking rules: facts found in the same text move the causes the signatures proposed.

Each rule is a pure function ``(facts, hits) -> Iterable[Vote]``: a cause, a score change and the reason,
citing the lines. Version knowledge comes from doctor's tables (``gpucheck.diagnose.cuda_compat``,
``gpucheck.diagnose.wheels``), never from literals here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from gpucheck.diagnose.cuda_compat import cuda_release, max_cuda_for_driver
from gpucheck.diagnose.wheels import arch_capability, arch_list_supports, newer_than_build
from gpucheck.explain.facts import Fact, cite, first
from gpucheck.explain.scan import Hit
from gpucheck.knowledge import load


@dataclass(frozen=True, slots=True)
class Vote:
    """One rule's verdict on one cause."""

    cause: str
    delta: float
    reason: str


Rule = Callable[[Sequence[Fact], Sequence[Hit]], Iterable[Vote]]


def _release(value: str | None) -> Version | None:
    release = cuda_release(value) if value else None
    try:
        return Version(release) if release else None
    except InvalidVersion:
        return None


def _driver_cuda(facts: Sequence[Fact]) -> tuple[str, str] | None:
    """(CUDA release the driver supports, how we know), from the text."""
    cuda = first(facts, "driver.cuda")
    if cuda is not None and _release(cuda.value):
        return cuda.value, f"the driver supports CUDA ≤ {cite(cuda)}"
    driver = first(facts, "driver.version")
    if driver is not None and (derived := max_cuda_for_driver(driver.value)):
        return derived, f"driver {cite(driver)} supports CUDA ≤ {derived}"
    return None


def cuda_against_driver(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """A framework or image CUDA newer than the driver's supports 'driver too old'; older rules it out."""
    driver = _driver_cuda(facts)
    if driver is None:
        return
    have = _release(driver[0])
    runtimes = [
        ("torch.cuda", "PyTorch is built for CUDA", "driver_too_old_for_cuda"),
        ("tf.cuda", "TensorFlow is built for CUDA", "driver_too_old_for_cuda"),
        ("container.requires_cuda", "the image requires CUDA", "container_image_needs_newer_driver"),
    ]
    for name, what, cause in runtimes:
        fact = first(facts, name)
        need = _release(fact.value) if fact is not None else None
        if fact is None or need is None or have is None:
            continue
        if need > have:
            yield Vote(cause, 0.5, f"{what} {cite(fact)} but {driver[1]}")
        else:
            yield Vote(cause, -0.4, f"{what} {cite(fact)} and {driver[1]}: the driver is new enough")


def cpu_builds(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """A ``+cpu`` torch or 'CUDA used to build: Could not collect' is a CPU-only build."""
    cuda = first(facts, "torch.cuda")
    if cuda is not None and cuda.value == "none":
        version = first(facts, "torch.version")
        shown = cite(version) if version else f"(line {cuda.line})"
        yield Vote("torch_cpu_build", 0.6, f"torch {shown} is a CPU-only build")
    elif cuda is not None and _release(cuda.value):
        yield Vote("torch_cpu_build", -0.5, f"torch is a CUDA {cite(cuda)} build")


def tensorflow_on_windows(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """TensorFlow ≥ 2.11 on native Windows has no GPU support."""
    os_fact, tf = first(facts, "os"), first(facts, "tf.version")
    if os_fact is None or tf is None or os_fact.value != "windows":
        return
    try:
        newer = Version(tf.value.split("+")[0]) >= Version("2.11")
    except InvalidVersion:
        return
    if newer:
        yield Vote(
            "tf_cpu_build",
            0.6,
            f"TensorFlow {cite(tf)} on native Windows (line {os_fact.line}): "
            "2.10 was the last release with GPU support there",
        )


def _wheel_archs(facts: Sequence[Fact]) -> tuple[list[str], str] | None:
    """The torch build's architectures: as the text prints them, else from the knowledge table.

    The table (gpucheck/knowledge/torch_wheels.toml) is looked up for the ``+cuXYZ`` wheel the text names.
    """
    archs = first(facts, "torch.archs")
    if archs is not None:
        return archs.value.split(), cite(archs)
    version = first(facts, "torch.version")
    variant = version.value.split("+", 1)[1] if version is not None and "+" in version.value else ""
    rows = load.torch_series(version.value) if variant else None
    if not isinstance(rows, tuple):
        return None
    wheel = next((w for w in rows if w.variant == variant), None)
    if wheel is None:
        return None
    return list(wheel.archs()), f"{' '.join(wheel.archs())} (torch {cite(version)}, per {wheel.source})"


def architectures(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """The GPU's capability against the architectures the torch build has kernels for."""
    capability, found = first(facts, "gpu.capability"), _wheel_archs(facts)
    if capability is None or found is None:
        return
    arch_list, shown = found
    if arch_list_supports(arch_list, capability.value):
        yield Vote(
            "torch_arch_missing",
            -0.3,
            f"the build's architectures {shown} include compute capability {capability.value}",
        )
        return
    caps = [c for c in (arch_capability(a) for a in arch_list) if c]
    if newer_than_build(arch_list, capability.value) or not caps:
        yield Vote(
            "torch_arch_missing",
            0.3,
            f"compute capability {cite(capability)} is newer than every architecture in {shown}",
        )
    else:
        yield Vote(
            "gpu_too_old",
            0.4,
            f"compute capability {cite(capability)} is older than every architecture in {shown}",
        )


def wsl(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """WSL kernels and the ``CUDA Version: ERR!`` header."""
    flavour, raw = first(facts, "kernel.flavour"), first(facts, "driver.cuda_raw")
    if flavour is not None and flavour.value == "wsl1":
        yield Vote("wsl1_no_gpu", 0.7, f"the kernel {cite(flavour)} is WSL1, which has no GPU support")
    if raw is not None and raw.value.upper() == "ERR!":
        yield Vote(
            "wsl_linux_driver_in_distro",
            0.5,
            f"nvidia-smi prints `CUDA Version: ERR!` (line {raw.line}): a Linux driver shadows WSL's",
        )
    if flavour is not None and flavour.value == "wsl2" and any(h.signature.failure for h in hits):
        yield Vote("wsl_linux_driver_in_distro", 0.1, f"the kernel {cite(flavour)} is WSL2")


def tcc_mode(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """A TCC-mode GPU explains WSL's 'GPU access blocked' better than an in-distro driver does."""
    model = next((f for f in facts if f.name == "gpu.driver_model" and f.value == "TCC"), None)
    said = next((h for h in hits if h.signature.id == "windows_tcc_mode"), None)
    if model is None and said is None:
        return
    where = cite(model) if model is not None else f"(line {said.line})"
    yield Vote("wsl_gpu_tcc_mode", 0.6, f"the GPU runs in TCC mode {where}; WSL2 needs WDDM")
    yield Vote("wsl_linux_driver_in_distro", -0.3, f"the GPU runs in TCC mode {where}")


def docker_runtime(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """``docker info`` runtimes and daemon.json problems."""
    runtimes = first(facts, "docker.runtimes")
    if runtimes is not None:
        if "nvidia" in runtimes.value.split():
            yield Vote(
                "nvidia_runtime_not_configured",
                -0.3,
                f"docker info lists the nvidia runtime {cite(runtimes)}",
            )
        else:
            yield Vote(
                "container_toolkit_missing", 0.2, f"docker info lists no nvidia runtime: {cite(runtimes)}"
            )
            yield Vote(
                "nvidia_runtime_not_configured", 0.2, f"docker info lists no nvidia runtime: {cite(runtimes)}"
            )
    configured = first(facts, "daemon_json.runtimes")
    if configured is not None and runtimes is not None:
        if "nvidia" in configured.value.split() and "nvidia" not in runtimes.value.split():
            reason = (
                f"daemon.json defines the nvidia runtime {cite(configured)} but the running dockerd lists "
                f"only {cite(runtimes)}: dockerd was not restarted after the change"
            )
            yield Vote("nvidia_runtime_not_configured", 0.4, reason)
            yield Vote("container_toolkit_missing", -0.2, reason)
    windows = first(facts, "os")
    container_error = any(h.signature.layer == "container" for h in hits)
    if windows is not None and windows.value == "windows" and container_error:
        reason = (
            f"the text comes from native Windows (line {windows.line}): Docker Desktop brings GPU support "
            "through its WSL2 backend, there is no Linux host to install the toolkit on"
        )
        yield Vote("container_toolkit_missing", -0.3, reason)
        yield Vote("nvidia_runtime_not_configured", 0.1, reason)
    for problem in (f for f in facts if f.name == "daemon_json.problem"):
        yield Vote("nvidia_runtime_not_configured", 0.4, f"dockerd would refuse daemon.json: {cite(problem)}")


def gpu_modes(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """Exclusive compute modes and MIG in pasted nvidia-smi output."""
    mode = next(
        (
            f
            for f in facts
            if f.name == "gpu.compute_mode" and (f.value.startswith("E.") or "Exclusive" in f.value)
        ),
        None,
    )
    if mode is not None:
        yield Vote("gpu_exclusive_or_busy", 0.3, f"the GPU's compute mode is {cite(mode)}")
    mig = first(facts, "gpu.mig")
    if mig is not None:
        yield Vote("mig_enabled", 0.3, f"MIG mode is {cite(mig)}")


def visible_devices(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """``CUDA_VISIBLE_DEVICES`` set to nothing or to -1 hides every GPU."""
    fact = first(facts, "env.cuda_visible_devices")
    if fact is not None and fact.value in ("(empty)", "-1", "NoDevFiles"):
        yield Vote(
            "cuda_visible_devices_wrong", 0.4, f"CUDA_VISIBLE_DEVICES is {cite(fact)}: no GPU is visible"
        )


_CUDNN_PREFIXES = ("libcudnn",)
_RUNTIME_PREFIXES = (
    "libcudart",
    "libcublas",
    "libcufft",
    "libcurand",
    "libcusolver",
    "libcusparse",
    "libnvrtc",
    "libnvjitlink",
    "libnvinfer",
    "libnccl",
)


def missing_libraries(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """Which library the loader could not open decides between runtime, cuDNN and driver causes."""
    for fact in (f for f in facts if f.name == "library.missing"):
        name = fact.value.lower()
        if name.startswith(_CUDNN_PREFIXES):
            yield Vote("cudnn_missing", 0.35, f"the missing library is cuDNN: {cite(fact)}")
        elif name.startswith(_RUNTIME_PREFIXES):
            yield Vote(
                "cuda_runtime_missing", 0.35, f"the missing library is part of the CUDA runtime: {cite(fact)}"
            )
        elif name.startswith("libcuda.so"):
            yield Vote("libcuda_not_found", 0.4, f"the missing library is the driver's libcuda: {cite(fact)}")


def cudnn_versions(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """A loaded cuDNN older than the compiled one."""
    loaded, compiled = first(facts, "cudnn.loaded"), first(facts, "cudnn.compiled")
    if loaded is None or compiled is None:
        return
    try:
        older = Version(loaded.value) < Version(compiled.value)
    except InvalidVersion:
        return
    if older:
        yield Vote(
            "cudnn_version_mismatch", 0.3, f"cuDNN {cite(loaded)} is older than the build's {cite(compiled)}"
        )


def working_driver(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """A pasted nvidia-smi listing GPUs shows the host driver works: driver-absent causes lose weight."""
    gpu = next((f for f in facts if f.name == "gpu.name" and f.source.startswith("nvidia-smi")), None)
    driver = first(facts, "driver.version")
    if gpu is None or driver is None:
        return
    reason = f"nvidia-smi shows driver {cite(driver)} running GPU {cite(gpu)}"
    for cause in (
        "driver_not_loaded",
        "no_driver_installed",
        "no_gpu_visible",
        "nvidia_smi_missing",
        "container_host_driver_missing",
    ):
        yield Vote(cause, -0.4, reason)


def xid_kind(facts: Sequence[Fact], hits: Sequence[Hit]) -> Iterable[Vote]:
    """Xid 13/31/43 are usually the application's own fault, not the hardware's."""
    xid = first(facts, "gpu.xid")
    if xid is None:
        return
    if xid.value in ("13", "31", "43"):
        yield Vote(
            "gpu_hardware_fault", -0.3, f"Xid {cite(xid)} is usually a fault in the application's kernels"
        )
    elif xid.value in ("48", "63", "64", "74", "79", "92", "94", "95", "119", "120"):
        yield Vote("gpu_hardware_fault", 0.2, f"Xid {cite(xid)} is a hardware-class error")


RULES: tuple[Rule, ...] = (
    cuda_against_driver,
    cpu_builds,
    tensorflow_on_windows,
    architectures,
    wsl,
    tcc_mode,
    docker_runtime,
    gpu_modes,
    visible_devices,
    missing_libraries,
    cudnn_versions,
    working_driver,
    xid_kind,
)
"""Every ranking rule, applied in this order."""


def votes(facts: Sequence[Fact], hits: Sequence[Hit]) -> list[Vote]:
    """All votes of all rules."""
    return [vote for rule in RULES for vote in rule(facts, hits)]
