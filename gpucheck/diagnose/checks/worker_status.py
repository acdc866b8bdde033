"""Shared by the torch and tensorflow layers: the finding for a framework worker that did not report.

A worker that crashed (signal), hung (timeout), could not start, or printed no JSON becomes an ``error``
finding quoting the signal, the step it was in and its last stderr lines; a framework that is not installed
is a ``skip`` with the install command; an import that raised is a ``fail`` with the import error.
"""

from __future__ import annotations

import shlex

from gpucheck.diagnose.driver_choice import cannot_judge, choose_driver, describe, render_driver_install
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, failed, passed, skipped
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.parse.framework_workers import WorkerReport
from gpucheck.diagnose.wheels import (
    Support,
    TorchPick,
    driver_runs,
    newer_wheels_lost,
    tf_build_for_driver,
    tf_gpu_install_command,
    torch_index_url,
    torch_install_command,
    torch_wheel_after_upgrade,
    torch_wheel_for,
)
from gpucheck.knowledge import load
from gpucheck.knowledge.load import TfBuild

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
            f"{name} is not installed for {report.python}; to install it: {install}",
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


def _torch_spec(pick: TorchPick, version: str | None) -> str:
    """Keep the installed version when it is of the picked series, else the series (``torch==2.14.*``)."""
    installed = version.split("+")[0] if version else None
    return (
        f"torch=={installed}" if installed and load.release_of(installed) == pick.wheel.series else pick.spec
    )


def _torch_caveats(facts: Facts, pick: TorchPick, capabilities: list[str]) -> str:
    """What this driver gives up with the picked wheel: minor-version-compat limits and newer wheels."""
    driver = facts.of(driver_info).version
    notes = []
    if pick.support is Support.MINOR_COMPAT:
        notes.append(
            f"driver {driver} runs this CUDA {pick.wheel.cuda} wheel through CUDA minor-version "
            "compatibility: "
            "kernels compiled at run time to PTX (NVRTC, some torch.compile paths) need a driver ≥ "
            f"{pick.full_driver}"
        )
    for wheel in newer_wheels_lost(pick, capabilities):
        floor = load.major_floors().get(int(wheel.cuda.split(".")[0]))
        notes.append(f"torch {wheel.series} ({wheel.variant}) needs a driver ≥ {floor}")
    return f" ({'; '.join(notes)})" if notes else ""


def torch_install_for_host(facts: Facts, python: str, version: str | None = None) -> str:
    """The exact torch install for this host: the newest CUDA wheel the driver runs, or the CPU build."""
    driver, gpus = facts.of(driver_info), facts.of(gpu_inventory)
    if not gpus or not driver.version:
        spec = f"torch=={version.split('+')[0]}" if version else "torch"
        return f"`{python} -m pip install {shlex.quote(spec)} --index-url {torch_index_url('cpu')}`"
    capabilities = host_capabilities(facts)
    known = load.torch_series(version) if version else None
    if isinstance(known, load.NewerThanTable):
        return (
            f"{cannot_judge(known, 'which CUDA wheel of it fits this driver and these GPUs')}; PyTorch's own "
            "selector lists its wheels: https://pytorch.org/get-started/locally/"
        )
    series = load.release_of(version.split("+")[0]) if version else None
    pick = torch_wheel_for(driver.version, capabilities, prefer_series=series)
    if pick is not None:
        command = torch_install_command(python, pick.wheel.variant, _torch_spec(pick, version))
        return f"`{command}`{_torch_caveats(facts, pick, capabilities)}"
    after = torch_wheel_after_upgrade(capabilities)
    if after is None:
        return (
            "no PyTorch wheel in gpucheck's table is compiled for compute capability "
            f"{', '.join(capabilities)}"
            f" (newest series {load.torch_wheels()[0].series}): build torch from source with "
            f"TORCH_CUDA_ARCH_LIST={', '.join(capabilities)}, or use an older release that still supports it"
        )
    choice = choose_driver(after.floor_driver, [(g.name, g.compute_capability) for g in gpus])
    command = torch_install_command(python, after.wheel.variant, _torch_spec(after, version))
    return (
        f"no PyTorch CUDA wheel for these GPUs runs on driver {driver.version} "
        f"(CUDA {driver.cuda_version}): "
        f"{render_driver_install(choice, facts.of(detect_host))} Then `{command}`"
    )


def tf_install_for_host(
    facts: Facts, python: str, version: str | None = None, cpu_package: bool = False
) -> str:
    """The exact TensorFlow install: the CUDA build the driver runs; tensorflow-cpu without a GPU."""
    gpus, driver = facts.of(gpu_inventory), facts.of(driver_info)
    if not gpus:
        return f"`{python} -m pip install tensorflow-cpu`"
    build = tf_build_for_driver(driver.version)
    if build is None:
        choice = choose_driver(load.tf_min_driver(), [(g.name, g.compute_capability) for g in gpus])
        return (
            f"no TensorFlow with pip CUDA libraries runs on driver {driver.version}: upgrade to "
            f"{describe(choice)}. {render_driver_install(choice, facts.of(detect_host))} Then "
            f"`{tf_gpu_install_command(python, None, None, cpu_package)}`"
        )
    newest = load.tf_builds()[0]
    installed = load.tf_build(version) if version else None
    if isinstance(installed, load.NewerThanTable):
        prefix = f"{python} -m pip uninstall -y tensorflow-cpu && " if cpu_package else ""
        return (
            f"`{prefix}{python} -m pip install 'tensorflow[and-cuda]=={version}'` "
            f"({cannot_judge(installed, 'which CUDA and driver it needs')})"
        )
    if (
        isinstance(installed, TfBuild)
        and installed.and_cuda
        and driver_runs(driver.version or "", installed.cuda)
    ):
        build = installed
    command = tf_gpu_install_command(
        python, None if build == newest and not version else build, version, cpu_package
    )
    note = (
        f" (TensorFlow {build.series} is built for CUDA {build.cuda}; newer releases need CUDA "
        f"{newest.cuda}, "
        f"a driver ≥ {load.tf_min_driver()})"
        if build != newest
        else ""
    )
    return f"`{command}`{note}"
