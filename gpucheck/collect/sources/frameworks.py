"""Evidence source: PyTorch and TensorFlow, each probed by a standalone worker in a fresh interpreter.

Command line equivalent: ``<python> gpucheck/collect/workers/torch_probe.py`` and
``<python> gpucheck/collect/workers/tf_probe.py [--logical-gpus N --memory-limit-mb MB] [--precision P]``,
where ``<python>`` is ``--python`` (or the interpreter running gpucheck). Each run is kept verbatim as a
``CommandRun``: the worker's JSON line on stdout and the framework's own log lines on stderr. The two
collectors run in parallel threads like every collector, so the workers run concurrently.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from gpucheck.collect.evidence import Item
from gpucheck.collect.registry import CollectContext, collector

WORKERS_DIR = Path(__file__).resolve().parent.parent / "workers"
"""Where the worker scripts live (shipped as package data: ``collect/workers/*.py``)."""
TORCH_WORKER = "torch_probe.py"
TF_WORKER = "tf_probe.py"
WORKER_TIMEOUT_S = 150.0
"""A cold import from a slow disk plus CUDA initialisation on several GPUs can take a minute or more."""
PRECISIONS = ("auto", "fp16", "bf16", "fp32")


def parse_logical_gpus(text: str) -> dict[str, int]:
    """``--tf-logical-gpus`` value ``N`` or ``NxMB`` → run options; raises ValueError on anything else."""
    count, _, limit = text.strip().lower().partition("x")
    if not count.isdigit() or int(count) < 1 or (limit and (not limit.isdigit() or int(limit) < 1)):
        raise ValueError(f"--tf-logical-gpus {text!r}: expected N or NxMB, e.g. 2 or 2x4096")
    return {"tf_logical_gpus": int(count), "tf_memory_limit_mb": int(limit or 1024)}


def worker_path(name: str) -> str:
    """The absolute path of a worker script."""
    return str(WORKERS_DIR / name)


def interpreter(ctx: CollectContext) -> str:
    """The interpreter whose frameworks are probed."""
    return ctx.python or sys.executable


def worker_timeout(ctx: CollectContext) -> float:
    """The worker's time limit: the ``worker_timeout_s`` option, else ``WORKER_TIMEOUT_S``."""
    value = ctx.options.get("worker_timeout_s")
    return float(value) if isinstance(value, (int, float)) and value > 0 else WORKER_TIMEOUT_S


def tf_worker_args(options: dict) -> list[str]:
    """Worker arguments from the run options ``tf_logical_gpus``, ``tf_memory_limit_mb`` and ``precision``."""
    args: list[str] = []
    logical = options.get("tf_logical_gpus")
    if isinstance(logical, int) and not isinstance(logical, bool) and logical > 0:
        args += ["--logical-gpus", str(logical)]
        limit = options.get("tf_memory_limit_mb")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            args += ["--memory-limit-mb", str(limit)]
    precision = options.get("precision")
    if precision in PRECISIONS and precision != "auto":
        args += ["--precision", str(precision)]
    return args


@collector("torch_worker", timeout_s=WORKER_TIMEOUT_S + 10)
def collect_torch(ctx: CollectContext) -> Iterable[Item]:
    """PyTorch build, devices, a matmul, an AMP training step, TF32 and memory fraction, from a worker."""
    yield ctx.run(interpreter(ctx), worker_path(TORCH_WORKER), timeout_s=worker_timeout(ctx))


@collector("tf_worker", timeout_s=WORKER_TIMEOUT_S + 10)
def collect_tensorflow(ctx: CollectContext) -> Iterable[Item]:
    """TensorFlow build, devices, memory growth, logical devices and a Keras step, from a worker."""
    args = tf_worker_args(dict(ctx.options))
    yield ctx.run(interpreter(ctx), worker_path(TF_WORKER), *args, timeout_s=worker_timeout(ctx))
