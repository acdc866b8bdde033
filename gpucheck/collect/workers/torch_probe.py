"""gpucheck worker: probe PyTorch in this interpreter and print one JSON object on stdout.

Run as ``<python> torch_probe.py``. It needs only the standard library and torch, so it runs in a virtual
environment where gpucheck itself is not installed. The JSON object is the last line of stdout; everything
else (torch's warnings, library logs, progress markers ``[gpucheck-worker] step <name>``) goes to stderr, so
a crash or hang still shows which step it was in. Each step records either its result or the exception it
raised, and its wall time under ``timings`` (seconds, in step order, ``import`` first) so that
``gpucheck doctor -v`` shows where the time went; nothing here interprets the results (that happens in
``gpucheck.diagnose``). Everything runs in this one process start: torch is imported once.

Python 3.8 compatible on purpose: the probed interpreter may be older than gpucheck's own.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings

SCHEMA = 1
MARKER = "[gpucheck-worker] step "
MATMUL_N = 256
MEMORY_FRACTION = 0.05
"""The fraction of device memory the allocator is limited to when probing the memory fraction."""


def _error(exc: BaseException) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=4)}


def _call(result: dict, name: str, func, *args) -> object:
    """Run one probe step and return its value (or the exception as data); warnings go to ``result``."""
    sys.stderr.write(MARKER + name + "\n")
    sys.stderr.flush()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = func(*args)
        except Exception as exc:  # noqa: BLE001 - every failure is data for the diagnosis
            value = _error(exc)
    result.setdefault("timings", {})[name] = round(time.perf_counter() - start, 4)
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        result.setdefault("warnings", []).append(text)
        # NOTE: re-emitted so the verbatim stderr evidence holds torch's own warning text too.
        sys.stderr.write(f"{w.filename}:{w.lineno}: {text}\n")
    return value


def _step(result: dict, name: str, func, *args) -> object:
    """Run one probe step and store its value (or the exception) under ``name``."""
    result[name] = _call(result, name, func, *args)
    return result[name]


def probe_build(torch) -> dict:
    """Version, CUDA/HIP of the build, cuDNN and the compiled architecture list."""
    cudnn = torch.backends.cudnn
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "debug": bool(getattr(torch.version, "debug", False)),
        "cuda_built": bool(torch.backends.cuda.is_built()),
        "arch_list": list(torch.cuda.get_arch_list()),
        "cudnn_available": bool(cudnn.is_available()),
        "cudnn_version": cudnn.version() if cudnn.is_available() else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def probe_devices(torch) -> dict:
    """``is_available``, the device count and each device's name, capability and memory."""
    available = bool(torch.cuda.is_available())
    count = int(torch.cuda.device_count()) if available else 0
    devices = []
    for index in range(count):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "index": index,
                "name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "total_memory_bytes": int(props.total_memory),
                "multi_processor_count": int(props.multi_processor_count),
                "uuid": str(getattr(props, "uuid", "") or ""),
            }
        )
    return {
        "available": available,
        "device_count": count,
        "devices": devices,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def probe_matmul(torch, index: int) -> dict:
    """A real matmul on one device, synchronised, compared with the same product on the CPU."""
    gen = torch.Generator().manual_seed(index)
    a = torch.randn(MATMUL_N, MATMUL_N, generator=gen)
    b = torch.randn(MATMUL_N, MATMUL_N, generator=gen)
    reference = a @ b
    device = torch.device("cuda", index)
    start = time.perf_counter()
    product = a.to(device) @ b.to(device)
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    diff = (product.cpu() - reference).abs().max().item()
    return {
        "index": index,
        "n": MATMUL_N,
        "max_abs_diff": diff,
        "max_abs_ref": reference.abs().max().item(),
        "seconds": seconds,
    }


class PlainSGD:
    """Plain SGD with the two members ``torch.amp.GradScaler`` drives: ``param_groups`` and ``step()``.

    NOTE: any ``torch.optim.Optimizer`` imports ``torch._dynamo`` on construction (``add_param_group`` is
    wrapped in ``torch._disable_dynamo``): one to several seconds that say nothing about mixed precision.
    The scaler's own work (scale, unscale with its inf/NaN check, skip-or-step, update) is unchanged.
    """

    def __init__(self, params, lr: float) -> None:
        self.param_groups = [{"params": list(params), "lr": lr}]

    def step(self) -> None:
        """``p -= lr * p.grad`` for every parameter with a gradient."""
        import torch

        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])


def train_step(torch, device_type: str, dtype_name: str) -> dict:
    """One real mixed-precision training step with ``torch.amp`` (a GradScaler for float16)."""
    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)).to(
        device_type
    )
    optimizer = PlainSGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype_name == "float16")
    x = torch.randn(64, 16, device=device_type)
    y = torch.randn(64, 2, device=device_type)
    with torch.autocast(device_type=device_type, dtype=dtype):
        out = model(x)
        loss = torch.nn.functional.mse_loss(out.float(), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model(x).float(), y).item()
    return {
        "device_type": device_type,
        "dtype": dtype_name,
        "ok": True,
        "output_dtype": str(out.dtype).replace("torch.", ""),
        "grad_dtype": str(model[0].weight.grad.dtype).replace("torch.", ""),
        "loss": loss.item(),
        "loss_after": after,
        "scale": scaler.get_scale() if scaler.is_enabled() else None,
    }


def probe_amp(torch, result: dict) -> dict:
    """fp16/bf16 support and one training step each, on the first GPU or else on the CPU."""
    device_type = "cuda" if result.get("devices", {}).get("device_count") else "cpu"
    support = {"float16": True, "bfloat16": True}
    if device_type == "cuda":
        support["bfloat16"] = bool(torch.cuda.is_bf16_supported())
    steps = {}
    for dtype_name in ("float16", "bfloat16"):
        try:
            steps[dtype_name] = train_step(torch, device_type, dtype_name)
        except Exception as exc:  # noqa: BLE001 - a failed step is the finding
            steps[dtype_name] = dict(_error(exc), device_type=device_type, dtype=dtype_name, ok=False)
    return {"device_type": device_type, "supported": support, "steps": steps}


def probe_tf32(torch) -> dict:
    """The TF32 switches for matmul and cuDNN, and the float32 matmul precision."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    return {
        "matmul_allow_tf32": bool(matmul.allow_tf32),
        "cudnn_allow_tf32": bool(cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "matmul_fp32_precision": getattr(matmul, "fp32_precision", None),
        "cudnn_fp32_precision": getattr(cudnn, "fp32_precision", None),
    }


def probe_memory_fraction(torch) -> dict:
    """Limit device 0 to a fraction of its memory and check the allocator enforces it."""
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(MEMORY_FRACTION, 0)
    allowed = int(total * MEMORY_FRACTION)
    outcome = {"fraction": MEMORY_FRACTION, "total_bytes": int(total), "allowed_bytes": allowed}
    try:
        small = torch.empty(allowed // 4, dtype=torch.uint8, device="cuda:0")
        outcome["within_limit_ok"] = True
        del small
        try:
            big = torch.empty(allowed + 64 * 2**20, dtype=torch.uint8, device="cuda:0")
            outcome["beyond_limit_refused"] = False
            del big
        except torch.cuda.OutOfMemoryError as exc:
            outcome["beyond_limit_refused"] = True
            outcome["oom_message"] = str(exc).splitlines()[0][:300]
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()
    return outcome


def probe(result: dict) -> None:
    """Run every step in order; a failed import ends the probe early."""
    start = time.perf_counter()
    try:
        sys.stderr.write(MARKER + "import\n")
        import torch
    except BaseException as exc:  # noqa: BLE001 - ImportError, OSError from a bad .so, even SystemExit
        result["import"] = dict(
            _error(exc),
            ok=False,
            not_installed=isinstance(exc, ModuleNotFoundError) and getattr(exc, "name", "") == "torch",
        )
        return
    result["import"] = {
        "ok": True,
        "seconds": round(time.perf_counter() - start, 3),
        "path": os.path.dirname(getattr(torch, "__file__", "") or ""),
    }
    result["timings"] = {"import": round(time.perf_counter() - start, 4)}
    _step(result, "build", probe_build, torch)
    devices = _step(result, "devices", probe_devices, torch)
    count = devices.get("device_count", 0) if isinstance(devices, dict) else 0
    result["matmul"] = [_call(result, f"matmul_{i}", probe_matmul, torch, i) for i in range(count)]
    _step(result, "amp", probe_amp, torch, result)
    _step(result, "tf32", probe_tf32, torch)
    if count:
        _step(result, "memory_fraction", probe_memory_fraction, torch)


def main() -> None:
    """Probe, then print the JSON object on the real stdout and exit without interpreter teardown."""
    # NOTE: C libraries may print to fd 1; point it at stderr so stdout carries only the JSON line.
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    result = {
        "worker": "torch",
        "schema": SCHEMA,
        "python": sys.version.split()[0],
        "executable": sys.executable,
    }
    started = time.perf_counter()
    try:
        probe(result)
    finally:
        result["seconds"] = round(time.perf_counter() - started, 3)
        sys.stderr.write(MARKER + "done\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(real_stdout, (json.dumps(result, default=str) + "\n").encode())
        # NOTE: skip interpreter teardown (seconds with CUDA contexts loaded); everything is written.
        os._exit(0)


if __name__ == "__main__":
    main()
