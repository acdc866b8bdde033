"""Shared by the torch and tensorflow layers: the finding for a framework worker that did not report.

A worker that crashed (signal), hung (timeout), could not start, or printed no JSON becomes an ``error``
finding quoting the signal, the step it was in and its last stderr lines; a framework that is not installed
is a ``skip`` with the install command; an import that raised is a ``fail`` with the import error.
"""

from __future__ import annotations

from gpucheck.diagnose.cuda_compat import min_driver_for_cuda
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, failed, passed, skipped
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.parse.framework_workers import WorkerReport
from gpucheck.diagnose.wheels import (
    TORCH_INDEX,
    oldest_torch_build_for,
    tf_gpu_install_command,
    torch_cuda_build_for,
    torch_install_command,
)

TABLE_VERSION = "2.13."
"""The torch release whose CUDA builds ``gpucheck.diagnose.wheels.TORCH_CUDA_BUILDS`` lists."""
PACKAGES = {"torch": "torch", "tensorflow": "tensorflow"}
NAMES = {"torch": "PyTorch", "tensorflow": "TensorFlow"}
IMPORTS = {"torch": "import torch", "tensorflow": "import tensorflow"}


def reproduce(report: WorkerReport) -> str:
    """The command that reproduces the import outside gpucheck."""
    return f"{report.python or 'python'} -c '{IMPORTS[report.framework]}'"


def install_finding(report: WorkerReport, install: str) -> Finding:
    """The finding of a framework's ``.install`` check: imported, not installed, failed, crashed or hung."""
    name, data = NAMES[report.framework], {"state": report.state, "python": report.python}
    if report.state == "ok":
        version = report.get("build", "version") or "?"
        seconds = report.get("import", "seconds")
        timings = report.get("timings") if isinstance(report.get("timings"), dict) else {}
        steps = {k: v for k, v in timings.items() if isinstance(v, (int, float))}
        return passed(
            f"{name} {version} imports in {seconds} s with {report.python}",
            evidence=report.evidence,
            data={**data, "version": version, **({"timings": steps} if steps else {})},
        )
    if report.state == "not_installed":
        return skipped(
            f"{name} is not installed for {report.python}; to install it: `{install}`",
            evidence=report.evidence,
            data=data,
        )
    if report.state == "import_failed":
        return failed(
            f"`{IMPORTS[report.framework]}` fails in {report.python}: {report.detail}",
            f"Reproduce with `{reproduce(report)}`; reinstall it in that environment: "
            f"`{report.python} -m pip install --force-reinstall {PACKAGES[report.framework]}` "
            f"(or the build for this host: {install}).",
            evidence=report.evidence,
            data={**data, "error": report.detail},
        )
    return worker_failure(report)


def worker_failure(report: WorkerReport) -> Finding:
    """An ``error`` finding for a worker that crashed, hung, could not start or printed no report."""
    tail = report.stderr_tail[-5:]
    last = " | ".join(tail) if tail else "(no stderr)"
    data = {
        "state": report.state,
        "python": report.python,
        "last_step": report.last_step,
        "stderr_tail": list(report.stderr_tail),
    }
    if report.state == "not_collected":
        return skipped(report.detail, data=data)
    return errored(
        f"the {NAMES[report.framework]} probe failed: {report.detail}; last stderr lines: {last}",
        f"Reproduce with `{reproduce(report)}` and look at its last output; a crash inside the framework's "
        "import usually means mismatched native libraries in that environment "
        f"(`{report.python} -m pip install --force-reinstall {PACKAGES[report.framework]}`).",
        evidence=report.evidence,
        data=data,
    )


def not_ok(report: WorkerReport) -> Finding | None:
    """A skip for checks that need a working worker, or None when the worker reported."""
    if report.state == "ok":
        return None
    return skipped(
        f"{NAMES[report.framework]} did not report ({report.state}: see "
        f"{'torch' if report.framework == 'torch' else 'tensorflow'}.install)",
        evidence=report.evidence,
        data={"state": report.state},
    )


def host_capabilities(facts: Facts) -> list[str]:
    """The compute capabilities of the host's GPUs, as the driver reports them."""
    return [g.compute_capability for g in facts.of(gpu_inventory) if g.compute_capability]


def torch_install_for_host(facts: Facts, python: str, version: str | None = None) -> str:
    """The exact torch install for this host: the CUDA build the driver runs, or the CPU build."""
    driver, gpus = facts.of(driver_info), facts.of(gpu_inventory)
    # NOTE: the build table is torch 2.13's; another installed version is replaced by the newest release.
    version = version if version and version.startswith(TABLE_VERSION) else None
    if not gpus or not driver.cuda_version:
        spec = f"torch=={version.split('+')[0]}" if version else "torch"
        return f"`{python} -m pip install {spec} --index-url {TORCH_INDEX}/cpu`"
    capabilities = host_capabilities(facts)
    release = torch_cuda_build_for(driver.cuda_version, capabilities)
    if release is not None:
        return f"`{torch_install_command(python, release, version)}`"
    wanted = oldest_torch_build_for(capabilities)
    if wanted is None:
        return (
            f"no PyTorch 2.13 CUDA build is compiled for compute capability {', '.join(capabilities)}: "
            f"install an older torch release that still supports it (`{python} -m pip install "
            f"'torch<2.8' --index-url {TORCH_INDEX}/cu118`)"
        )
    needed = min_driver_for_cuda(wanted) or "?"
    return (
        f"no PyTorch CUDA build for these GPUs runs on driver {driver.version} (CUDA {driver.cuda_version}): "
        f"upgrade the driver to >= {needed} (`sudo apt-get install nvidia-driver-{needed.split('.')[0]}`), "
        f"then `{torch_install_command(python, wanted, version)}`"
    )


def tf_install_for_host(
    facts: Facts, python: str, version: str | None = None, cpu_package: bool = False
) -> str:
    """The exact TensorFlow install for this host: the CUDA build with a GPU, tensorflow-cpu without."""
    if not facts.of(gpu_inventory):
        return f"`{python} -m pip install tensorflow-cpu`"
    return f"`{tf_gpu_install_command(python, version, cpu_package)}`"
