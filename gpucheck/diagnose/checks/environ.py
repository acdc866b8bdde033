"""Checks: the environment layer (CUDA_* and NVIDIA_* variables, containers)."""

from __future__ import annotations

from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, passed
from gpucheck.diagnose.registry import check


def container_runtime(evidence: Evidence) -> str | None:
    """The container runtime we run inside (``docker``, ``podman``, ``kubernetes``, ``containerd``), or None."""
    markers = evidence.value("container_markers")
    found = markers.data if markers is not None and isinstance(markers.data, dict) else {}
    if found.get("/run/.containerenv"):
        return "podman"
    cgroup = evidence.file("/proc/1/cgroup")
    text = cgroup.content if cgroup is not None and cgroup.content else ""
    if "kubepods" in text or evidence.env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if found.get("/.dockerenv") or "docker" in text:
        return "docker"
    if "containerd" in text:
        return "containerd"
    return None


@check("environ.container", title="whether gpucheck runs inside a container", needs=("env", "container_markers"))
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
