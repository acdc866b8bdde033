"""What a text establishes: one fact per value read, with the line it comes from.

Fact names are a small closed vocabulary shared by the pasted-output readers, the signature fields and the
ranking rules (``FACT_NAMES``); a fact may occur several times (one ``gpu.name`` per GPU).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FACT_NAMES: dict[str, str] = {
    "driver.version": "NVIDIA driver version",
    "driver.cuda": "newest CUDA the driver supports",
    "driver.cuda_raw": "the driver's CUDA field as printed",
    "gpu.name": "GPU model",
    "gpu.capability": "GPU compute capability",
    "gpu.compute_mode": "GPU compute mode",
    "gpu.mig": "MIG mode",
    "gpu.driver_model": "Windows driver model (WDDM or TCC)",
    "gpu.xid": "Xid error number",
    "torch.version": "PyTorch version",
    "torch.cuda": "CUDA release PyTorch was built with",
    "torch.cuda_available": "torch.cuda.is_available()",
    "torch.archs": "architectures the PyTorch build has kernels for",
    "tf.version": "TensorFlow version",
    "tf.cuda": "CUDA release TensorFlow was built with",
    "tf.cudnn": "cuDNN TensorFlow was built with",
    "jax.version": "jaxlib version",
    "cudnn.loaded": "cuDNN version loaded at run time",
    "cudnn.compiled": "cuDNN version the framework was compiled with",
    "toolkit.nvcc": "CUDA toolkit release of nvcc",
    "container.requires_cuda": "CUDA release the container image requires",
    "docker.runtimes": "runtimes dockerd knows",
    "docker.default_runtime": "dockerd's default runtime",
    "docker.cdi_devices": "CDI devices dockerd lists",
    "daemon_json.runtimes": "runtimes defined in daemon.json",
    "daemon_json.problem": "what dockerd would refuse in daemon.json",
    "kernel.flavour": "kernel kind (linux, wsl1, wsl2)",
    "os": "operating system",
    "library.missing": "library the loader could not open",
    "ldconfig.library": "library in the loader cache",
    "env.cuda_visible_devices": "CUDA_VISIBLE_DEVICES",
    "container_cli.nvrm": "driver libnvidia-container sees",
}


@dataclass(frozen=True, slots=True)
class Fact:
    """One value the text establishes."""

    name: str
    """A key of ``FACT_NAMES``."""
    value: str
    line: int
    """1-based line number."""
    text: str
    """The line, quoted."""
    source: str
    """What it was read from: ``nvidia-smi table``, ``collect_env``, ``signature torch_driver_too_old`` ..."""


def first(facts: Iterable[Fact], name: str) -> Fact | None:
    """The first fact of that name, or None."""
    return next((f for f in facts if f.name == name), None)


def values(facts: Iterable[Fact], name: str) -> list[str]:
    """Every distinct value of that name, in order."""
    return list(dict.fromkeys(f.value for f in facts if f.name == name))


def cite(fact: Fact) -> str:
    """``torch 2.5.1+cu124 (line 3)`` style reference used in reasons."""
    return f"{fact.value} (line {fact.line})"
