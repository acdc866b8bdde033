"""Checks: TensorFlow as the probed interpreter sees it (import, GPU libraries, memory, precision).

Import, CUDA libraries, memory growth, logical devices, and mixed precision with one Keras training step.

Everything here comes from the TensorFlow worker (``gpucheck/collect/workers/tf_probe.py``): its JSON report
and TensorFlow's own log lines (kept at ``TF_CPP_MIN_LOG_LEVEL=0``, so the ``dso_loader`` warnings and the
``cudart_stub`` notes are there). Comparisons with the driver and NVML live in ``frameworks.py``.
"""

from __future__ import annotations

from gpucheck.diagnose.checks.worker_status import install_finding, not_ok, tf_install_for_host
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.parse.framework_logs import dlerror_library, events_of
from gpucheck.diagnose.parse.framework_workers import WorkerReport, tf_worker
from gpucheck.diagnose.registry import check

NEEDS = ("tf_worker",)


def _gpus(report: WorkerReport) -> list[dict]:
    return [d for d in report.get("physical", "devices") or [] if d.get("device_type") == "GPU"]


@check("tensorflow.install", title="TensorFlow imports in the probed interpreter", needs=NEEDS)
def check_install(facts: Facts) -> Finding:
    """Did ``import tensorflow`` work in a fresh interpreter (not installed, import error, crash, hang)?"""
    report = facts.of(tf_worker)
    return install_finding(report, tf_install_for_host(facts, report.python or "python"))


def _library_failure(report: WorkerReport, facts: Facts) -> Finding | None:
    missing = events_of(report.events, "dlopen_failed")
    if missing:
        libs = sorted({dlerror_library(e) for e in missing})
        requested = sorted({e.fields.get("library", "") for e in missing})
        cuda = report.get("build", "build_info", "cuda_version")
        return failed(
            f"TensorFlow could not load {', '.join(libs)} (asked for {', '.join(requested)}), "
            "so it skips the "
            "GPU"
            + (
                f"; it is built for CUDA {cuda}, cuDNN {report.get('build', 'build_info', 'cudnn_version')}"
                if cuda
                else ""
            ),
            f"Install the CUDA libraries this TensorFlow expects as wheels: "
            f"{tf_install_for_host(facts, report.python, report.get('build', 'version'))}; or add the "
            "directory holding them to `/etc/ld.so.conf.d/cuda.conf` and run `sudo ldconfig`.",
            evidence=report.evidence,
            data={"missing": libs, "requested": requested},
        )
    no_driver = events_of(report.events, "no_cuda_driver", "cuinit_failed", "kernel_driver_not_running")
    if no_driver:
        return failed(
            f"TensorFlow cannot reach the NVIDIA driver: {no_driver[0].line}",
            "Check the driver layer above (`nvidia-smi`); in a container start it with `--gpus all`; "
            "make sure CUDA_VISIBLE_DEVICES does not hide every GPU (`unset CUDA_VISIBLE_DEVICES`).",
            evidence=report.evidence,
            data={"lines": [e.line for e in no_driver]},
        )
    return None


@check(
    "tensorflow.gpu_libraries", title="TensorFlow loads the CUDA libraries and registers GPUs", needs=NEEDS
)
def check_gpu_libraries(facts: Facts) -> Finding:
    """Parses "Could not load dynamic library ...; dlerror: ..." and names the library really missing."""
    report = facts.of(tf_worker)
    if (skip := not_ok(report)) is not None:
        return skip
    if not report.get("build", "built_with_cuda"):
        return skipped(
            f"TensorFlow {report.get('build', 'version')} is a CPU-only build; framework.cpu_build "
            "compares it with the host's GPUs",
            evidence=report.evidence,
        )
    failure = _library_failure(report, facts)
    if failure is not None:
        return failure
    gpus = _gpus(report)
    if not gpus:
        return skipped(
            "TensorFlow lists no GPU and logged no library error; framework.gpu_count compares "
            "with the driver",
            evidence=report.evidence,
        )
    names = ", ".join(f"{g['name']} ({g.get('device_name')}, cc {g.get('compute_capability')})" for g in gpus)
    return passed(
        f"CUDA {report.get('build', 'build_info', 'cuda_version')} / cuDNN "
        f"{report.get('build', 'build_info', 'cudnn_version')} libraries loaded; GPUs: {names}",
        evidence=report.evidence,
        data={"gpu_count": len(gpus)},
    )


@check("tensorflow.memory_growth", title="Memory growth set before initialisation and read back", needs=NEEDS)
def check_memory_growth(facts: Facts) -> Finding:
    """Applies ``set_memory_growth(gpu, True)`` to every GPU before initialisation and reads it back after."""
    report = facts.of(tf_worker)
    if (skip := not_ok(report)) is not None:
        return skip
    config = report.get("configure") or {}
    if "error" in config:
        return failed(
            f"configuring the GPUs before initialisation failed: {config['error']}",
            "Call gpucheck.tf.configure_gpus(memory_growth=True) right after `import tensorflow`, "
            "or set `export TF_FORCE_GPU_ALLOW_GROWTH=true`.",
            evidence=report.evidence,
        )
    if not config.get("gpus"):
        return skipped("no GPU: memory growth applies to GPUs only", evidence=report.evidence)
    if config.get("logical_gpus"):
        return skipped(
            "logical GPUs were requested: TensorFlow ignores memory growth on a split GPU",
            evidence=report.evidence,
        )
    before = config.get("memory_growth") or {}
    after = report.get("logical", "memory_growth_after_init") or {}
    off = sorted(name for name in before if not (before.get(name) and after.get(name)))
    if off:
        return failed(
            f"memory growth did not stay enabled on {', '.join(off)}",
            "Set `export TF_FORCE_GPU_ALLOW_GROWTH=true` before starting the program.",
            evidence=report.evidence,
            data={"before": before, "after": after},
        )
    return passed(
        f"memory growth enabled before initialisation and still on after it for {len(before)} GPU(s)",
        evidence=report.evidence,
        data={"gpus": sorted(before)},
    )


@check(
    "tensorflow.logical_devices", title="Logical device split verified with list_logical_devices", needs=NEEDS
)
def check_logical_devices(facts: Facts) -> Finding:
    """Splits GPU 0 (or, without a GPU, the CPU) into logical devices and counts what TensorFlow created."""
    report = facts.of(tf_worker)
    if (skip := not_ok(report)) is not None:
        return skip
    config, logical = report.get("configure") or {}, report.get("logical") or {}
    if "error" in logical:
        return failed(
            f"initialising TensorFlow's devices failed: {logical['error']}",
            f"Reproduce with `{report.python} -c 'import tensorflow as tf; "
            "print(tf.config.list_logical_devices())'`.",
            evidence=report.evidence,
        )
    split = config.get("logical_gpus") or config.get("cpu_split")
    if not split:
        return skipped(
            "no logical split requested (doctor --tf-logical-gpus N[xMB] splits GPU 0)",
            evidence=report.evidence,
            data={"logical": logical.get("names")},
        )
    kind = "GPU" if config.get("logical_gpus") else "CPU"
    got = logical.get("gpu_count" if kind == "GPU" else "cpu_count", 0)
    limit = f" of {split['memory_limit_mb']} MB each" if kind == "GPU" else ""
    if got != split["requested"]:
        return failed(
            f"asked for {split['requested']} logical {kind}s{limit} on {split['on']}, TensorFlow "
            f"created {got}",
            f"Lower the count or the memory limit (`--tf-logical-gpus "
            f"{split['requested']}x{max(256, int(split.get('memory_limit_mb') or 1024) // 2)}`).",
            evidence=report.evidence,
            data={"requested": split["requested"], "created": got},
        )
    return passed(
        f"{got} logical {kind}s{limit} from {split['on']}; a matmul ran on {logical.get('placed_on')}",
        evidence=report.evidence,
        data={"requested": split["requested"], "created": got},
    )


@check("tensorflow.mixed_precision", title="Mixed precision policy and one Keras training step", needs=NEEDS)
def check_mixed_precision(facts: Facts) -> Finding:
    """Picks mixed_bfloat16 (cc >= 8.0 or CPU), mixed_float16 (cc >= 7.0) or float32, and trains one step."""
    report = facts.of(tf_worker)
    if (skip := not_ok(report)) is not None:
        return skip
    step = report.get("mixed_precision") or {}
    if "error" in step or not step.get("ok"):
        return failed(
            f"one Keras training step under mixed precision failed: {step.get('error', 'loss is NaN')}",
            "Train with `keras.mixed_precision.set_global_policy('float32')` until this passes.",
            evidence=report.evidence,
            data={"error": step.get("error")},
        )
    warning = events_of(report.events, "mixed_precision_warning")
    summary = (
        f"policy {step['policy']} ({step['reason']}): one Keras step trained with compute dtype "
        f"{step['compute_dtype']}, variables {step['variable_dtype']}, optimizer {step['optimizer']}"
    )
    if warning:
        return warned(
            summary + f"; TensorFlow warned: {warning[0].line}",
            "Use `keras.mixed_precision.set_global_policy('float32')` on this hardware.",
            evidence=report.evidence,
            data=dict(step),
        )
    return passed(summary, evidence=report.evidence, data={k: v for k, v in step.items() if k != "traceback"})
