"""gpucheck worker: probe TensorFlow in this interpreter and print one JSON object on stdout.

Run as ``<python> tf_probe.py [--logical-gpus N] [--memory-limit-mb MB] [--precision auto|fp16|bf16|fp32]
[--cpu-split N]``. Standard library plus TensorFlow only, so it runs where gpucheck is not installed. The
JSON object is the last line of stdout; TensorFlow's own log lines and the progress markers
``[gpucheck-worker] step <name>`` go to stderr, where gpucheck keeps them verbatim as evidence. Each step's
wall time is kept under ``timings`` (``import`` first), shown by ``gpucheck doctor -v``; everything runs in
this one process start.

Order matters: memory growth and logical devices can only be configured before TensorFlow initialises its
devices, so they are applied right after listing the physical devices and before anything else runs.

Python 3.8 compatible on purpose: the probed interpreter may be older than gpucheck's own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

SCHEMA = 1
MARKER = "[gpucheck-worker] step "
POLICIES = {"fp16": "mixed_float16", "bf16": "mixed_bfloat16", "fp32": "float32"}


def _error(exc: BaseException) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=4)}


def _step(result: dict, name: str, func, *args) -> object:
    """Run one step, storing its value (or the exception as data) under ``name``."""
    sys.stderr.write(MARKER + name + "\n")
    sys.stderr.flush()
    start = time.perf_counter()
    try:
        result[name] = func(*args)
    except Exception as exc:  # noqa: BLE001 - every failure is data for the diagnosis
        result[name] = _error(exc)
    result.setdefault("timings", {})[name] = round(time.perf_counter() - start, 4)
    return result[name]


def probe_build(tf) -> dict:
    """Version, whether the build has CUDA, and ``tf.sysconfig.get_build_info()``."""
    info = dict(tf.sysconfig.get_build_info())
    return {
        "version": tf.__version__,
        "keras_version": getattr(tf.keras, "__version__", None)
        or getattr(tf.keras, "version", lambda: None)(),
        "built_with_cuda": bool(tf.test.is_built_with_cuda()),
        "build_info": {
            str(k): v if isinstance(v, (bool, int, float, str)) or v is None else str(v)
            for k, v in info.items()
        },
    }


def probe_packages() -> dict:
    """Which TensorFlow distributions are installed (tensorflow vs tensorflow-cpu), by pip metadata."""
    from importlib import metadata

    found = {}
    for name in ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly", "tf-keras", "keras"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def probe_physical(tf) -> dict:
    """Physical devices and, for GPUs, ``get_device_details`` (name and compute capability)."""
    devices = []
    for dev in tf.config.list_physical_devices():
        entry = {"name": dev.name, "device_type": dev.device_type}
        if dev.device_type == "GPU":
            details = tf.config.experimental.get_device_details(dev)
            cc = details.get("compute_capability")
            entry["device_name"] = details.get("device_name")
            entry["compute_capability"] = f"{cc[0]}.{cc[1]}" if cc else None
        devices.append(entry)
    return {"devices": devices}


def configure(tf, args) -> dict:
    """Before initialisation: logical GPUs on GPU 0 when asked, else memory growth on every GPU; CPU split."""
    gpus = tf.config.list_physical_devices("GPU")
    done = {"gpus": len(gpus), "memory_growth": None, "logical_gpus": None, "cpu_split": None}
    if gpus and args.logical_gpus:
        conf = [tf.config.LogicalDeviceConfiguration(memory_limit=args.memory_limit_mb)] * args.logical_gpus
        tf.config.set_logical_device_configuration(gpus[0], conf)
        done["logical_gpus"] = {
            "requested": args.logical_gpus,
            "memory_limit_mb": args.memory_limit_mb,
            "on": gpus[0].name,
        }
    elif gpus:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        done["memory_growth"] = {g.name: bool(tf.config.experimental.get_memory_growth(g)) for g in gpus}
    if not gpus:
        # NOTE: without a GPU the same mechanism is exercised on the CPU (memory_limit is GPU-only in TF).
        cpu = tf.config.list_physical_devices("CPU")[0]
        split = args.logical_gpus or args.cpu_split
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * split)
        done["cpu_split"] = {"requested": split, "on": cpu.name}
    return done


def probe_logical(tf, config: dict) -> dict:
    """Initialise, list the logical devices, read memory growth back, and place a matmul on the last one."""
    logical = tf.config.list_logical_devices()
    names = [d.name for d in logical]
    growth = {
        g.name: bool(tf.config.experimental.get_memory_growth(g))
        for g in tf.config.list_physical_devices("GPU")
    }
    kind = "GPU" if config.get("gpus") else "CPU"
    last = [d.name for d in logical if d.device_type == kind][-1]
    with tf.device(last):
        product = tf.matmul(tf.ones((64, 64)), tf.ones((64, 64)))
    return {
        "devices": [{"name": d.name, "device_type": d.device_type} for d in logical],
        "gpu_count": sum(1 for d in logical if d.device_type == "GPU"),
        "cpu_count": sum(1 for d in logical if d.device_type == "CPU"),
        "memory_growth_after_init": growth,
        "placed_on": product.device,
        "placed_value": float(product[0, 0]),
        "names": names,
    }


def choose_policy(physical: dict, precision: str) -> tuple:
    """The mixed-precision policy that fits the hardware (or the one asked for), with the reason."""
    if precision in POLICIES:
        return POLICIES[precision], f"requested with --precision {precision}"
    ccs = [d.get("compute_capability") for d in physical.get("devices", []) if d["device_type"] == "GPU"]
    if not ccs:
        return "mixed_bfloat16", "no GPU: bfloat16 is the mixed precision the CPU supports"
    known = [tuple(int(p) for p in cc.split(".")) for cc in ccs if cc]
    if known and min(known) >= (8, 0):
        return "mixed_bfloat16", "every GPU has compute capability >= 8.0"
    if known and min(known) >= (7, 0):
        return "mixed_float16", "every GPU has compute capability >= 7.0"
    return "float32", "a GPU has compute capability below 7.0 (no fast float16)"


def _device_of(variable) -> str:
    """The device a Keras variable lives on (Keras 3 wraps the tf.Variable in ``.value``)."""
    inner = getattr(variable, "value", variable)
    return str(getattr(inner, "device", None) or getattr(variable, "device", ""))


def keras_step(tf, physical: dict, precision: str) -> dict:
    """One Keras training step (compiled, run eagerly: no tracing) under the chosen global policy."""
    keras = tf.keras
    policy, reason = choose_policy(physical, precision)
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = keras.Sequential(
            [
                keras.Input((16,)),
                keras.layers.Dense(32, activation="tanh"),
                keras.layers.Dense(2),
                keras.layers.Activation("linear", dtype="float32"),
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", run_eagerly=True)
        x = tf.random.stateless_normal((64, 16), seed=(1, 2))
        y = tf.random.stateless_normal((64, 2), seed=(3, 4))
        loss = float(model.train_on_batch(x, y))
        layer = model.layers[0]
        return {
            "policy": policy,
            "reason": reason,
            "ok": loss == loss,
            "loss": loss,
            "compute_dtype": str(layer.compute_dtype),
            "variable_dtype": str(layer.variable_dtype),
            "optimizer": type(model.optimizer).__name__,
            "kernel_device": _device_of(layer.kernel),
        }
    finally:
        keras.mixed_precision.set_global_policy("float32")


def probe(result: dict, args) -> None:
    """Import, then each step in order; a failed import ends the probe early."""
    start = time.perf_counter()
    try:
        sys.stderr.write(MARKER + "import\n")
        import tensorflow as tf
    except BaseException as exc:  # noqa: BLE001 - ImportError, OSError from a bad .so, even SystemExit
        result["import"] = dict(
            _error(exc),
            ok=False,
            not_installed=isinstance(exc, ModuleNotFoundError) and getattr(exc, "name", "") == "tensorflow",
        )
        return
    result["import"] = {
        "ok": True,
        "seconds": round(time.perf_counter() - start, 3),
        "path": os.path.dirname(getattr(tf, "__file__", "") or ""),
    }
    result["timings"] = {"import": round(time.perf_counter() - start, 4)}
    _step(result, "build", probe_build, tf)
    _step(result, "packages", probe_packages)
    physical = _step(result, "physical", probe_physical, tf)
    config = _step(result, "configure", configure, tf, args)
    _step(result, "logical", probe_logical, tf, config if "error" not in config else {})
    _step(
        result, "mixed_precision", keras_step, tf, physical if "error" not in physical else {}, args.precision
    )


def parse_args(argv: list) -> argparse.Namespace:
    """The worker's options (all optional)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logical-gpus", type=int, default=0, help="split GPU 0 into this many logical GPUs")
    parser.add_argument("--memory-limit-mb", type=int, default=1024, help="memory limit of each logical GPU")
    parser.add_argument(
        "--cpu-split", type=int, default=2, help="logical CPUs to create on a host without GPU"
    )
    parser.add_argument(
        "--precision", default="auto", choices=["auto", *POLICIES], help="mixed precision policy"
    )
    return parser.parse_args(argv)


def main() -> None:
    """Probe, then print the JSON object on the real stdout and exit without interpreter teardown."""
    args = parse_args(sys.argv[1:])
    result = {
        "worker": "tensorflow",
        "schema": SCHEMA,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "args": vars(args),
        "tf_cpp_min_log_level_was": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
    }
    # NOTE: level 0 keeps INFO lines ("Could not find cuda drivers", cuda_diagnostics); level 1 would keep
    # only the warnings ("Could not load dynamic library ...") and errors (cuDNN mismatch).
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    # NOTE: C libraries may print to fd 1; point it at stderr so stdout carries only the JSON line.
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    started = time.perf_counter()
    try:
        probe(result, args)
    finally:
        result["seconds"] = round(time.perf_counter() - started, 3)
        sys.stderr.write(MARKER + "done\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(real_stdout, (json.dumps(result, default=str) + "\n").encode())
        # NOTE: TensorFlow's interpreter teardown takes about a second; everything is written already.
        os._exit(0)


if __name__ == "__main__":
    main()
