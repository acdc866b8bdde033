"""Checks: PyTorch as the probed interpreter sees it — import, CUDA devices, a real kernel, AMP, TF32, memory.

Everything here comes from the torch worker (``gpucheck/collect/workers/torch_probe.py``): its JSON report
and torch's own warnings and log lines on its stderr. Checks that compare torch with the driver and the GPUs
NVML reports live in ``frameworks.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpucheck.diagnose.checks.worker_status import install_finding, not_ok, torch_install_for_host
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.parse.framework_logs import cuda_from_found_version, events_of
from gpucheck.diagnose.parse.framework_workers import WorkerReport, torch_worker
from gpucheck.diagnose.registry import check

NEEDS = ("torch_worker",)
MATMUL_RTOL = 1e-2
"""Relative tolerance of the device matmul against the CPU (TF32 matmuls are accurate to about 1e-3)."""


@check("torch.install", title="PyTorch imports in the probed interpreter", needs=NEEDS)
def check_install(facts: Facts) -> Finding:
    """Did ``import torch`` work in a fresh interpreter (not installed, import error, crash, hang)?"""
    report = facts.of(torch_worker)
    return install_finding(report, torch_install_for_host(facts, report.python or "python"))


def _why_unavailable(report: WorkerReport) -> str:
    reasons = []
    for event in events_of(
        report.events,
        "driver_too_old",
        "driver_insufficient",
        "forward_compat_unsupported",
        "cuda_unknown_error",
        "devices_busy",
        "no_kernel_image",
    ):
        found = cuda_from_found_version(event.fields.get("found", ""))
        reasons.append(f"the driver supports only CUDA {found}" if found else event.line)
    visible = report.get("devices", "cuda_visible_devices")
    if visible is not None and visible.strip() in ("", "-1", "NoDevFiles"):
        reasons.append(f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU")
    return "; ".join(reasons) or "torch logged no reason (no driver or no GPU visible to this process)"


@check("torch.cuda", title="PyTorch sees CUDA devices", needs=NEEDS)
def check_cuda(facts: Facts) -> Finding:
    """A CUDA build whose ``torch.cuda.is_available()`` is False fails, naming torch's own reason."""
    report = facts.of(torch_worker)
    if (skip := not_ok(report)) is not None:
        return skip
    cuda, devices = report.get("build", "cuda"), report.get("devices", "devices") or []
    if cuda is None:
        return skipped(
            "CPU-only torch build (torch.version.cuda is None); framework.cpu_build compares it "
            "with the host's GPUs",
            evidence=report.evidence,
        )
    if not report.get("devices", "available"):
        return failed(
            f"torch {report.get('build', 'version')} is built for CUDA {cuda} but torch.cuda.is_available() "
            f"is False: {_why_unavailable(report)}",
            "See framework.cuda_driver and framework.gpu_count for the driver and visibility comparison; "
            f"reproduce with `{report.python} -c 'import torch; print(torch.cuda.is_available())'`.",
            evidence=report.evidence,
            data={"cuda": cuda},
        )
    listing = ", ".join(
        f"{d['index']}: {d['name']} (cc {d['capability']}, {d['total_memory_bytes'] / 2**30:.1f} GiB)"
        for d in devices
    )
    return passed(
        f"{len(devices)} CUDA device(s) with CUDA {cuda}, cuDNN {report.get('build', 'cudnn_version')}"
        f": {listing}",
        evidence=report.evidence,
        data={"device_count": len(devices)},
    )


def _matmul_finding(report: WorkerReport, result: dict) -> Finding:
    if "error" in result:
        image = "no kernel image" in result["error"]
        return failed(
            f"a matmul on the GPU failed: {result['error']}",
            "The wheel has no kernels for this GPU: see framework.arch for the build to install."
            if image
            else f'Reproduce with `{report.python} -c "import torch; '
            "print(torch.ones(2, 2, device='cuda') @ torch.ones(2, 2, device='cuda'))\"`.",
            evidence=report.evidence,
            data={"error": result["error"]},
        )
    diff, ref = float(result["max_abs_diff"]), float(result["max_abs_ref"]) or 1.0
    index = result["index"]
    if diff > MATMUL_RTOL * ref:
        return failed(
            f"cuda:{index}: a {result['n']}x{result['n']} matmul differs from the CPU by {diff:.3g} "
            f"(largest value {ref:.3g}): wrong results on this GPU",
            f"Check the GPU's health: `nvidia-smi -q -d ECC,PAGE_RETIREMENT -i {index}` and "
            f"`dcgmi diag -r 2 -i {index}`; reset it (`sudo nvidia-smi -r -i {index}`) if errors show.",
            evidence=report.evidence,
            data={"index": index, "max_abs_diff": diff},
        )
    return passed(
        f"cuda:{index}: a {result['n']}x{result['n']} matmul matches the CPU (max diff {diff:.2g}) "
        f"in {result['seconds'] * 1000:.1f} ms",
        evidence=report.evidence,
        data={"index": index},
    )


@check("torch.kernel", title="A real matmul on each GPU matches the CPU", needs=NEEDS)
def check_kernel(facts: Facts) -> Iterator[Finding]:
    """Runs a kernel for real: catches "no kernel image is available" and silently wrong results."""
    report = facts.of(torch_worker)
    if (skip := not_ok(report)) is not None:
        yield skip
        return
    results = report.get("matmul") or []
    if not results:
        yield skipped("no CUDA device to run a kernel on", evidence=report.evidence)
    for result in results:
        yield _matmul_finding(report, result)


def _amp_step(report: WorkerReport, dtype: str) -> Finding:
    step = report.get("amp", "steps", dtype) or {}
    device = report.get("amp", "device_type") or "?"
    supported = report.get("amp", "supported", dtype)
    label = {"float16": "fp16 (GradScaler)", "bfloat16": "bf16"}[dtype]
    if step.get("ok"):
        return passed(
            f"{label} autocast training step on {device}: output {step.get('output_dtype')}, grads "
            f"{step.get('grad_dtype')}, loss {step.get('loss', 0):.4f} → {step.get('loss_after', 0):.4f}",
            evidence=report.evidence,
            data={"dtype": dtype, "device_type": device},
        )
    error = step.get("error") or report.step_error("amp") or "the step did not run"
    if supported is False:
        return warned(
            f"{label} is not supported on this GPU (torch.cuda.is_bf16_supported() is False): {error}",
            "Use fp16 with a GradScaler instead: `torch.autocast('cuda', dtype=torch.float16)` with "
            "`torch.amp.GradScaler('cuda')`.",
            evidence=report.evidence,
            data={"dtype": dtype, "error": error},
        )
    return failed(
        f"the {label} autocast training step on {device} failed: {error}",
        f"Reproduce with `{report.python} -c \"import torch; m=torch.nn.Linear(4,4).to('{device}'); "
        f"x=torch.ones(2,4,device='{device}'); "
        f"print(torch.autocast('{device}',dtype=torch.{dtype})(m)(x))\"`; train in float32 until it works.",
        evidence=report.evidence,
        data={"dtype": dtype, "error": error},
    )


@check("torch.amp", title="fp16/bf16 autocast and one torch.amp training step", needs=NEEDS)
def check_amp(facts: Facts) -> Iterator[Finding]:
    """One real training step per precision with torch.amp, on the first GPU (or the CPU)."""
    report = facts.of(torch_worker)
    if (skip := not_ok(report)) is not None:
        yield skip
        return
    for dtype in ("float16", "bfloat16"):
        yield _amp_step(report, dtype)


@check("torch.tf32", title="TF32 state of matmul and cuDNN", needs=NEEDS)
def check_tf32(facts: Facts) -> Finding:
    """Reports the TF32 switches; they only matter on GPUs of compute capability 8.0 or newer."""
    report = facts.of(torch_worker)
    if (skip := not_ok(report)) is not None:
        return skip
    tf32 = report.get("tf32") or {}
    if "error" in tf32:
        return skipped(f"could not read the TF32 switches: {tf32['error']}", evidence=report.evidence)
    ampere = [d for d in report.get("devices", "devices") or [] if float(d.get("capability", "0")) >= 8.0]
    state = (
        f"matmul TF32 {'on' if tf32.get('matmul_allow_tf32') else 'off'} (float32 matmul precision "
        f"'{tf32.get('float32_matmul_precision')}'), "
        f"cuDNN TF32 {'on' if tf32.get('cudnn_allow_tf32') else 'off'}"
    )
    if not ampere:
        return skipped(
            f"no GPU with compute capability >= 8.0, TF32 does not apply ({state})",
            evidence=report.evidence,
            data=dict(tf32),
        )
    hint = (
        ""
        if tf32.get("matmul_allow_tf32")
        else (
            "; float32 matmuls run without tensor cores unless the script calls "
            "torch.set_float32_matmul_precision('high')"
        )
    )
    return passed(state + hint, evidence=report.evidence, data=dict(tf32))


@check("torch.memory_fraction", title="set_per_process_memory_fraction is enforced", needs=NEEDS)
def check_memory_fraction(facts: Facts) -> Finding:
    """Limits cuda:0 to a fraction of its memory and checks an allocation beyond it is refused."""
    report = facts.of(torch_worker)
    if (skip := not_ok(report)) is not None:
        return skip
    result = report.get("memory_fraction")
    if result is None:
        return skipped("no CUDA device: the memory fraction applies to GPUs only", evidence=report.evidence)
    if "error" in result:
        return failed(
            f"probing set_per_process_memory_fraction on cuda:0 failed: {result['error']}",
            "Check free memory with `nvidia-smi --query-gpu=memory.used,memory.total --format=csv` "
            "and stop other processes on the GPU.",
            evidence=report.evidence,
        )
    limit = f"{result['fraction']:.0%} of {result['total_bytes'] / 2**30:.1f} GiB"
    if result.get("within_limit_ok") and result.get("beyond_limit_refused"):
        return passed(
            f"cuda:0 limited to {limit}: allocations within it succeed and one past it raises "
            "OutOfMemoryError",
            evidence=report.evidence,
            data=dict(result),
        )
    return failed(
        f"cuda:0 limited to {limit}, but an allocation past the limit was not refused",
        "Do not rely on set_per_process_memory_fraction to share this GPU; run one process per GPU "
        "or use MIG (`sudo nvidia-smi -i 0 -mig 1`).",
        evidence=report.evidence,
        data=dict(result),
    )
