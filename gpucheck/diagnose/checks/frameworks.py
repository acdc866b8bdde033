"""Checks: frameworks against the system (driver, GPUs) — the cross-layer diagnosis.

CPU builds on GPU hosts, CUDA newer than the driver, compiled architectures vs. the GPUs, GPUs hidden from a
framework, cuDNN mismatches, mixed precision vs. hardware.

Each check reads both a framework worker's report and what the driver says (NVML, else nvidia-smi, through
``gpucheck.diagnose.inventory``), so each declares both kinds of collector in ``needs``.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpucheck.diagnose.checks.worker_status import (
    tf_install_for_host,
    torch_install_for_host,
)
from gpucheck.diagnose.cuda_compat import (
    NewerThanTable,
    Support,
    judge,
    min_driver_for_cuda,
    min_driver_for_major,
)
from gpucheck.diagnose.driver_choice import cannot_judge, choose_driver, render_driver_install
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.parse.framework_logs import cuda_from_found_version, events_of, tuple_version
from gpucheck.diagnose.parse.framework_workers import WorkerReport, tf_worker, torch_worker
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.wheels import arch_list_supports, cudnn_pin, newer_than_build, sm_name
from gpucheck.knowledge import load
from gpucheck.knowledge.load import TfBuild

SYSTEM = ("nvml", "nvidia_smi")
BOTH = ("torch_worker", "tf_worker", *SYSTEM)


def _reports(facts: Facts) -> list[WorkerReport]:
    return [r for r in (facts.of(torch_worker), facts.of(tf_worker)) if r.state == "ok"]


def _evidence(facts: Facts, *reports: WorkerReport) -> tuple[str, ...]:
    keys = [k for r in reports for k in r.evidence]
    return (*keys, *(k for k in ("nvml",) if facts.evidence.get(k) is not None))


def _cpu_build(facts: Facts, report: WorkerReport, gpus: str) -> Finding | None:
    version = report.get("build", "version")
    if report.framework == "torch" and report.get("build", "cuda") is None:
        fix = torch_install_for_host(facts, report.python, version)
        return failed(
            f"torch {version} is a CPU-only build (torch.version.cuda is None) on a host with {gpus}",
            f"Install the CUDA build the driver runs: {fix}",
            evidence=report.evidence,
            data={"framework": "torch", "version": version},
        )
    if report.framework == "tensorflow" and not report.get("build", "built_with_cuda"):
        cpu_package = "tensorflow-cpu" in (report.get("packages") or {})
        fix = tf_install_for_host(facts, report.python, version, cpu_package)
        return failed(
            f"TensorFlow {version} is built without CUDA (tf.test.is_built_with_cuda() is False"
            f"{', package tensorflow-cpu' if cpu_package else ''}) on a host with {gpus}",
            f"Install the CUDA build: {fix} (Linux or WSL2 only; native Windows has no GPU "
            "TensorFlow after 2.10).",
            evidence=report.evidence,
            data={"framework": "tensorflow", "version": version},
        )
    return None


@check("framework.cpu_build", title="Framework builds have CUDA where the host has a GPU", needs=BOTH)
def check_cpu_build(facts: Facts) -> Iterator[Finding]:
    """A CPU-only torch wheel or TensorFlow build on a host whose driver reports NVIDIA GPUs."""
    reports, inventory = _reports(facts), facts.of(gpu_inventory)
    if not reports:
        yield skipped("neither PyTorch nor TensorFlow reported (see torch.install, tensorflow.install)")
        return
    if not inventory:
        yield passed(
            "no NVIDIA GPU reported by the driver: CPU builds are the right choice here",
            evidence=_evidence(facts, *reports),
        )
        return
    gpus = f"{len(inventory)} NVIDIA GPU(s) ({', '.join(sorted({g.name for g in inventory}))})"
    for report in reports:
        finding = _cpu_build(facts, report, gpus)
        yield finding or passed(
            f"{report.framework} is a CUDA build on a host with {gpus}", evidence=report.evidence
        )


def _build_cuda(report: WorkerReport) -> str | None:
    if report.framework == "torch":
        return report.get("build", "cuda")
    return report.get("build", "build_info", "cuda_version")


def _driver_fix(facts: Facts, needed: str | None) -> str:
    gpus = [(g.name, g.compute_capability) for g in facts.of(gpu_inventory)]
    choice = choose_driver(needed, gpus)
    floor = f" (≥ {choice.minimum})" if choice.minimum else ""
    return render_driver_install(choice, facts.of(detect_host), why=floor)


def _cuda_vs_driver(facts: Facts, report: WorkerReport) -> Finding:
    driver, cuda = facts.of(driver_info), _build_cuda(report)
    too_old = events_of(report.events, "driver_too_old", "driver_insufficient")
    if cuda is None:
        return skipped(f"{report.framework} has no CUDA build to compare", evidence=report.evidence)
    if driver.version is None:
        found = cuda_from_found_version(too_old[0].fields.get("found", "")) if too_old else None
        if found:
            return failed(
                f"{report.framework} is built for CUDA {cuda}; it reports the driver supports only "
                f"CUDA {found}",
                _driver_fix(facts, min_driver_for_major(cuda)),
                evidence=report.evidence,
            )
        return skipped("no driver version to compare with", evidence=report.evidence)
    support, item = judge(driver.version, cuda), min_driver_for_cuda(cuda)
    if isinstance(item, NewerThanTable):
        return warned(
            cannot_judge(
                item, f"whether driver {driver.version} runs {report.framework}'s CUDA {cuda} build"
            ),
            f"Upgrade gpucheck: `{load.UPGRADE_GPUCHECK}`",
            evidence=_evidence(facts, report),
            data={"build_cuda": cuda, "driver": driver.version},
        )
    if support in (Support.FULL, Support.MINOR_COMPAT):
        how = "" if support is Support.FULL else " (through CUDA minor-version compatibility)"
        return passed(
            f"{report.framework} built for CUDA {cuda}; driver {driver.version} supports up to CUDA "
            f"{driver.cuda_version}{how}",
            evidence=_evidence(facts, report),
        )
    needed = min_driver_for_major(cuda) or min_driver_for_cuda(cuda)
    alternative = (
        torch_install_for_host(facts, report.python)
        if report.framework == "torch"
        else tf_install_for_host(facts, report.python)
    )
    return failed(
        f"{report.framework} {report.get('build', 'version')} is built for CUDA {cuda}, but driver "
        f"{driver.version} supports only CUDA {driver.cuda_version}"
        + (f' (torch: "{too_old[0].line[:120]}")' if too_old else ""),
        f"{_driver_fix(facts, needed if isinstance(needed, str) else None)} Or install a build for the "
        f"driver's CUDA: {alternative}",
        evidence=_evidence(facts, report),
        data={"build_cuda": cuda, "driver": driver.version},
    )


@check("framework.cuda_driver", title="Framework CUDA is not newer than the driver supports", needs=BOTH)
def check_cuda_driver(facts: Facts) -> Iterator[Finding]:
    """torch.version.cuda / TensorFlow's build CUDA against the driver's newest supported CUDA."""
    reports = _reports(facts)
    if not reports:
        yield skipped("neither PyTorch nor TensorFlow reported")
    for report in reports:
        yield _cuda_vs_driver(facts, report)


def _capabilities(facts: Facts, report: WorkerReport) -> list[tuple[str, str]]:
    """(GPU name, capability) from the driver, else from torch's own device list."""
    inventory = [(g.name, g.compute_capability) for g in facts.of(gpu_inventory) if g.compute_capability]
    return inventory or [(d["name"], d["capability"]) for d in report.get("devices", "devices") or []]


@check("framework.arch", title="The torch wheel has kernels for every GPU", needs=("torch_worker", *SYSTEM))
def check_arch(facts: Facts) -> Iterator[Finding]:
    """Compute capability vs. ``torch.cuda.get_arch_list()``: too old or too new (sm_120 on cu126)."""
    report = facts.of(torch_worker)
    archs = report.get("build", "arch_list") or []
    if report.state != "ok" or not archs:
        yield skipped(
            "no CUDA torch build to compare (see torch.install / framework.cpu_build)",
            evidence=report.evidence,
        )
        return
    gpus = _capabilities(facts, report)
    if not gpus:
        yield skipped("no GPU compute capability known", evidence=report.evidence)
    for name, cc in gpus:
        if arch_list_supports(archs, cc):
            yield passed(
                f"{name} (cc {cc}) runs torch {report.get('build', 'version')} kernels ({' '.join(archs)})",
                evidence=_evidence(facts, report),
                data={"capability": cc},
            )
            continue
        side = "newer" if newer_than_build(archs, cc) else "older"
        fix = torch_install_for_host(facts, report.python, report.get("build", "version"))
        yield failed(
            f"{name} has compute capability {cc} ({sm_name(cc)}), {side} than every architecture torch "
            f"{report.get('build', 'version')} was compiled for: {' '.join(archs)} — kernels fail with "
            '"no kernel image is available for execution on the device"',
            f"Install a build compiled for {sm_name(cc)}: {fix}",
            evidence=_evidence(facts, report),
            data={"capability": cc, "arch_list": archs},
        )


def _framework_count(report: WorkerReport) -> int | None:
    if report.framework == "torch":
        return (
            None if report.get("build", "cuda") is None else int(report.get("devices", "device_count") or 0)
        )
    if not report.get("build", "built_with_cuda"):
        return None
    return sum(1 for d in report.get("physical", "devices") or [] if d.get("device_type") == "GPU")


@check("framework.gpu_count", title="Frameworks see every GPU the driver reports", needs=BOTH)
def check_gpu_count(facts: Facts) -> Iterator[Finding]:
    """Fewer GPUs in torch/TensorFlow than NVML: CUDA_VISIBLE_DEVICES, a container's --gpus."""
    total = len(facts.of(gpu_inventory))
    visible = facts.env.get("CUDA_VISIBLE_DEVICES")
    if not _reports(facts):
        yield skipped("neither PyTorch nor TensorFlow reported")
    for report in _reports(facts):
        seen = _framework_count(report)
        if seen is None or total == 0:
            yield skipped(
                f"{report.framework}: nothing to compare (CPU build or no GPU reported by the driver)",
                evidence=report.evidence,
            )
        elif seen >= total:
            yield passed(
                f"{report.framework} sees {seen} of the {total} GPU(s) the driver reports",
                evidence=_evidence(facts, report),
            )
        else:
            why = (
                f"CUDA_VISIBLE_DEVICES={visible!r} limits the process"
                if visible is not None
                else "nothing in the environment limits it (a container started with fewer --gpus, or a "
                "GPU the framework cannot initialise)"
            )
            fix = (
                "`unset CUDA_VISIBLE_DEVICES` (or list every index: `export CUDA_VISIBLE_DEVICES="
                f"{','.join(str(i) for i in range(total))}`)"
                if visible is not None
                else "start the container with `--gpus all`; else see torch.cuda / tensorflow.gpu_libraries"
            )
            yield warned(
                f"{report.framework} sees {seen} GPU(s) but the driver reports {total}: {why}",
                fix,
                evidence=_evidence(facts, report),
                data={"framework": seen, "driver": total},
            )


def _cudnn_spec(report: WorkerReport, compiled: str) -> str:
    """The cuDNN wheel within the major the framework was built against (never a jump from 8 to 9)."""
    build = load.tf_build(report.get("build", "version") or "") if report.framework == "tensorflow" else None
    if isinstance(build, TfBuild):
        return cudnn_pin(build)
    major = compiled.split(".")[0]
    suffix = "cu11" if str(_build_cuda(report) or "").startswith("11.") else "cu12"
    if str(_build_cuda(report) or "").startswith("13."):
        suffix = "cu13"
    return (
        f"nvidia-cudnn-{suffix}>={compiled},<{int(major) + 1}"
        if major.isdigit()
        else f"nvidia-cudnn-{suffix}"
    )


@check(
    "framework.cudnn",
    title="The cuDNN loaded is not older than the one built against",
    needs=("torch_worker", "tf_worker"),
)
def check_cudnn(facts: Facts) -> Iterator[Finding]:
    """TensorFlow's "Loaded runtime CuDNN library: X but source was compiled with: Y" (and torch's)."""
    reports = _reports(facts)
    mismatches = [(r, e) for r in reports for e in events_of(r.events, "cudnn_mismatch")]
    for report, event in mismatches:
        loaded, compiled = tuple_version(event.fields["loaded"]), tuple_version(event.fields["compiled"])
        yield failed(
            f"{report.framework} loaded cuDNN {loaded} but was built against {compiled}: "
            f'"{event.line[:160]}"',
            f"An older libcudnn is found first: find it with `ldconfig -p | grep libcudnn` and "
            f"`echo $LD_LIBRARY_PATH`; remove it from LD_LIBRARY_PATH or upgrade it: "
            f"`{report.python} -m pip install '{_cudnn_spec(report, compiled)}'`",
            evidence=report.evidence,
            data={"loaded": loaded, "compiled": compiled},
        )
    if not mismatches:
        versions = [
            f"torch cuDNN {r.get('build', 'cudnn_version')}"
            for r in reports
            if r.framework == "torch" and r.get("build", "cudnn_version")
        ]
        versions += [
            f"TensorFlow built with cuDNN {r.get('build', 'build_info', 'cudnn_version')}"
            for r in reports
            if r.framework == "tensorflow" and r.get("build", "build_info", "cudnn_version")
        ]
        if not versions:
            yield skipped(
                "no framework with cuDNN reported", evidence=tuple(k for r in reports for k in r.evidence)
            )
        else:
            yield passed(
                "no cuDNN version mismatch logged (" + "; ".join(versions) + ")",
                evidence=tuple(k for r in reports for k in r.evidence),
            )


FP16_MIN, BF16_MIN = (7, 0), (8, 0)
"""Fast float16 needs tensor cores (cc >= 7.0, TensorFlow's own check); bfloat16 needs cc >= 8.0."""
REQUESTS = {"fp16": "float16", "bf16": "bfloat16"}


def _requested(facts: Facts) -> str | None:
    """The precision asked for: ``--precision`` (options) or TF_ENABLE_AUTO_MIXED_PRECISION=1 (fp16)."""
    option = facts.options.get("precision")
    if option in REQUESTS:
        return str(option)
    return "fp16" if facts.env.get("TF_ENABLE_AUTO_MIXED_PRECISION", "").lower() in ("1", "true") else None


def _cc_tuple(cc: str) -> tuple[int, int]:
    major, _, minor = cc.partition(".")
    return (int(major), int(minor or 0)) if major.isdigit() and (minor or "0").isdigit() else (0, 0)


@check("framework.mixed_precision", title="Mixed precision fits the GPUs", needs=BOTH)
def check_mixed_precision(facts: Facts) -> Iterator[Finding]:
    """fp16 requested on GPUs below cc 7.0, or bf16 below cc 8.0 (or on a CPU without native bf16)."""
    wanted, torch_report = _requested(facts), facts.of(torch_worker)
    gpus = [(g.name, g.compute_capability) for g in facts.of(gpu_inventory) if g.compute_capability]
    if not gpus:
        yield from _cpu_precision(torch_report, wanted)
        return
    for name, cc in gpus:
        fast = [label for label, floor in (("fp16", FP16_MIN), ("bf16", BF16_MIN)) if _cc_tuple(cc) >= floor]
        if wanted is None or wanted in fast:
            yield passed(
                f"{name} (cc {cc}): fast {' and '.join(fast) or 'float32 only'}"
                + (f"; {wanted} requested" if wanted else ""),
                data={"capability": cc, "fast": fast},
                evidence=_evidence(facts),
            )
            continue
        better = (
            "float16 (`mixed_float16`, torch.autocast dtype=torch.float16 with GradScaler)"
            if "fp16" in fast
            else "float32 (no mixed precision)"
        )
        yield warned(
            f"{wanted} mixed precision requested, but {name} has compute capability {cc} "
            f"(fast {wanted} needs >= {'.'.join(map(str, BF16_MIN if wanted == 'bf16' else FP16_MIN))}): "
            "it runs slower than float32 or is emulated",
            f"Use {better} on this GPU.",
            evidence=_evidence(facts),
            data={"capability": cc, "requested": wanted},
        )


def _cpu_precision(report: WorkerReport, wanted: str | None) -> Iterator[Finding]:
    capability = report.get("build", "cpu_capability") if report.state == "ok" else None
    if wanted is None:
        yield skipped("no NVIDIA GPU and no mixed precision requested (doctor --precision fp16|bf16)")
    elif capability and "BF16" not in str(capability).upper() and "AMX" not in str(capability).upper():
        yield warned(
            f"{wanted} requested on a CPU whose best torch kernel set is {capability} (no native "
            "bf16/fp16 arithmetic): autocast runs, but slower than float32",
            "Train in float32 on this CPU (leave autocast off).",
            evidence=report.evidence,
            data={"cpu_capability": capability, "requested": wanted},
        )
    else:
        yield passed(
            f"{wanted} requested on a CPU with {capability or 'unknown'} kernels", evidence=report.evidence
        )


@check(
    "framework.known_versions",
    title="torch and TensorFlow are within gpucheck's version tables",
    needs=("torch_worker", "tf_worker"),
)
def check_known_versions(facts: Facts) -> Iterator[Finding]:
    """A torch or TensorFlow release newer than the newest row of its table is said out loud."""
    reports = [r for r in _reports(facts) if r.get("build", "version")]
    if not reports:
        yield skipped("neither PyTorch nor TensorFlow reported a version")
        return
    for report in reports:
        version = str(report.get("build", "version"))
        row = load.torch_series(version) if report.framework == "torch" else load.tf_build(version)
        if isinstance(row, NewerThanTable):
            what = (
                "which CUDA builds and GPU architectures it has"
                if report.framework == "torch"
                else ("which CUDA and cuDNN it is built for")
            )
            yield warned(
                cannot_judge(row, what),
                f"Upgrade gpucheck: `{load.UPGRADE_GPUCHECK}`",
                evidence=report.evidence,
                data={"subject": row.subject, "table": row.table, "newest": row.newest},
            )
        else:
            yield passed(
                f"{report.framework} {version} is within gpucheck's "
                f"{'torch_wheels' if report.framework == 'torch' else 'tf_builds'} table",
                evidence=report.evidence,
            )
