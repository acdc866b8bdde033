"""Configure TensorFlow's devices at program start, with a clear error when the call comes too late.

Usage, first thing after ``import tensorflow``::

    import tensorflow as tf
    import gpucheck.tf

    gpucheck.tf.configure_gpus(memory_growth=True)            # every GPU grows its memory on demand
    gpucheck.tf.configure_gpus(logical_gpus=2, memory_limit_mb=4096)   # GPU 0 as two 4 GiB logical GPUs

TensorFlow only accepts these settings before it initialises its devices (the first op, model, dataset or
``tf.function`` does that); afterwards it raises ``RuntimeError: Physical devices cannot be modified after
being initialized``. ``configure_gpus`` turns that into ``ConfigureTooLateError`` naming the call site that
has to move. TensorFlow is imported only when the function is called.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

TOO_LATE_MARKERS = ("cannot be modified after being initialized",)
"""The end of TensorFlow's messages for settings changed after device initialisation (context.py)."""


class ConfigureTooLateError(RuntimeError):
    """``configure_gpus`` ran after TensorFlow had already initialised its devices."""


@dataclass(frozen=True, slots=True)
class GpuConfiguration:
    """What ``configure_gpus`` did."""

    gpus: tuple[str, ...]
    """The physical GPUs TensorFlow lists."""
    memory_growth: tuple[str, ...] = ()
    """The GPUs memory growth was enabled on."""
    logical_gpus: tuple[str, ...] = ()
    """The logical GPUs the split produced (names from ``list_logical_devices``)."""
    logical_cpus: tuple[str, ...] = ()
    """The logical CPUs the split produced."""
    notes: tuple[str, ...] = field(default=())
    """Why something asked for was not applied (no GPU, memory growth on a split GPU)."""


def _call_site() -> str:
    """``file:line`` of the code that called ``configure_gpus``."""
    frame = inspect.stack()[2]
    return f"{frame.filename}:{frame.lineno}"


def _too_late(exc: RuntimeError, site: str) -> ConfigureTooLateError:
    return ConfigureTooLateError(
        f"gpucheck.tf.configure_gpus() at {site} ran after TensorFlow had initialised its devices "
        f"(TensorFlow: {exc}). Move the call to the start of the program: right after `import tensorflow`, "
        "before anything creates a tensor, model, dataset or tf.function, and before importing modules "
        "that do. Alternatively set `TF_FORCE_GPU_ALLOW_GROWTH=true` in the environment for memory growth."
    )


def _split(tf, device, count: int, memory_limit_mb: int | None) -> None:
    conf = tf.config.LogicalDeviceConfiguration(memory_limit=memory_limit_mb)
    tf.config.set_logical_device_configuration(device, [conf] * count)


def configure_gpus(
    memory_growth: bool = True,
    logical_gpus: int | None = None,
    memory_limit_mb: int | None = None,
    logical_cpus: int | None = None,
) -> GpuConfiguration:
    """Apply memory growth to every GPU, or split GPU 0 into logical GPUs; optionally split the CPU.

    Args:
        memory_growth: Enable memory growth on every GPU (TensorFlow requires the same on all GPUs). Not
            applied when ``logical_gpus`` is given: TensorFlow ignores growth on a split GPU.
        logical_gpus: Split GPU 0 into this many logical GPUs (for multi-GPU code on one GPU).
        memory_limit_mb: Memory of each logical GPU in MB (required by TensorFlow with ``logical_gpus``).
        logical_cpus: Split the CPU into this many logical CPUs (multi-device code on a CPU-only host).

    Returns:
        What was applied, with the logical devices TensorFlow created.

    Raises:
        ConfigureTooLateError: TensorFlow had already initialised its devices.
        ValueError: ``logical_gpus`` without ``memory_limit_mb``, or counts below 1.
    """
    if logical_gpus is not None and (logical_gpus < 1 or not memory_limit_mb or memory_limit_mb < 1):
        raise ValueError("logical_gpus needs a count >= 1 and a memory_limit_mb >= 1 (TensorFlow rule)")
    if logical_cpus is not None and logical_cpus < 1:
        raise ValueError("logical_cpus must be >= 1")
    site = _call_site()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    notes: list[str] = [] if gpus else ["no GPU: memory growth and logical GPUs were not applied"]
    grown: list[str] = []
    try:
        if gpus and logical_gpus:
            _split(tf, gpus[0], logical_gpus, memory_limit_mb)
            if memory_growth:
                notes.append("memory growth not applied: TensorFlow ignores it when a GPU is split")
        elif gpus and memory_growth:
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
                grown.append(gpu.name)
        if logical_cpus:
            _split(tf, tf.config.list_physical_devices("CPU")[0], logical_cpus, None)
    except RuntimeError as exc:
        if any(marker in str(exc) for marker in TOO_LATE_MARKERS):
            raise _too_late(exc, site) from exc
        raise
    logical = tf.config.list_logical_devices()
    return GpuConfiguration(
        gpus=tuple(g.name for g in gpus),
        memory_growth=tuple(grown),
        logical_gpus=tuple(d.name for d in logical if d.device_type == "GPU") if logical_gpus else (),
        logical_cpus=tuple(d.name for d in logical if d.device_type == "CPU") if logical_cpus else (),
        notes=tuple(notes),
    )
