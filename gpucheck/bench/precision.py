"""Which float32 matmul precision a device really uses, read without raising, and the tolerance it implies.

Three things decide whether a CUDA float32 matmul runs in TF32 (10-bit mantissa):

- the setting, through either API: the legacy ``torch.backends.cuda.matmul.allow_tf32`` /
  ``torch.set_float32_matmul_precision`` or, since torch 2.9, ``torch.backends.cuda.matmul.fp32_precision``
  (``"ieee"``, ``"tf32"`` or ``"none"`` = inherit ``torch.backends.fp32_precision``). Once the new API has
  been used, reading the legacy one raises ``RuntimeError`` ("you have used mix of the legacy and new
  APIs"), so the new one is read first and every read is guarded;
- ``TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1`` in the environment, which makes cuBLAS use TF32 whatever the setting
  says (``set_float32_matmul_precision("highest")`` cannot turn it off);
- the GPU: TF32 exists from compute capability 8.0 (Ampere); older GPUs compute in IEEE float32 anyway.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

UNIT_ROUNDOFF = {"ieee": 2.0**-24, "tf32": 2.0**-11, "bf16": 2.0**-8}
"""Unit roundoff u of each matmul input precision: 2^-(mantissa bits + 1)."""

SAFETY = 8.0
"""The constant c in the tolerance c·√K·u (see :func:`relative_tolerance`)."""


@dataclass(frozen=True, slots=True)
class MatmulPrecision:
    """The precision float32 matmuls use on one device, and how we know."""

    device: str
    mode: str
    """``ieee`` (float32), ``tf32`` or ``bf16``."""
    source: str
    """What decided it, in words (the setting read, the environment override, the GPU's capability)."""

    @property
    def unit_roundoff(self) -> float:
        """The unit roundoff of :attr:`mode`."""
        return UNIT_ROUNDOFF[self.mode]


def _read(getter: str) -> str | None:
    """A dotted attribute of ``torch.backends`` as text, or None when it is absent or reading it raises."""
    node: object = torch.backends
    try:
        for part in getter.split("."):
            node = getattr(node, part)
    except (AttributeError, RuntimeError):
        return None
    return str(node)


def cuda_matmul_setting() -> tuple[str, str]:
    """``(mode, how it was read)`` from the torch settings alone (no environment, no device)."""
    new = _read("cuda.matmul.fp32_precision")
    if new in ("ieee", "tf32"):
        return new, f"torch.backends.cuda.matmul.fp32_precision = {new!r}"
    parent = _read("fp32_precision")
    if new == "none" and parent in ("ieee", "tf32"):
        return parent, f"torch.backends.fp32_precision = {parent!r} (cuda.matmul inherits it)"
    legacy = _read("cuda.matmul.allow_tf32")
    if legacy in ("True", "False"):
        mode = "tf32" if legacy == "True" else "ieee"
        return mode, f"torch.backends.cuda.matmul.allow_tf32 = {legacy}"
    return "ieee", "no readable TF32 setting (assumed off)"


def active_matmul_precision(device: str, environ: dict[str, str] | None = None) -> MatmulPrecision:
    """The precision float32 matmuls on ``device`` use right now."""
    env = os.environ if environ is None else environ
    kind = torch.device(device).type
    if kind != "cuda":
        mkldnn = _read("mkldnn.matmul.fp32_precision")
        if mkldnn == "bf16":
            return MatmulPrecision(device, "bf16", "torch.backends.mkldnn.matmul.fp32_precision = 'bf16'")
        return MatmulPrecision(device, "ieee", f"{kind} float32 matmul")
    mode, source = cuda_matmul_setting()
    if env.get("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE") == "1":
        mode, source = "tf32", f"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 forces TF32 in cuBLAS (setting: {source})"
    if mode == "tf32":
        try:
            major, minor = torch.cuda.get_device_capability(torch.device(device))
        except (RuntimeError, AssertionError, ValueError):
            return MatmulPrecision(device, mode, source)
        if major < 8:
            return MatmulPrecision(
                device, "ieee", f"{source}, but compute capability {major}.{minor} < 8.0 has no TF32"
            )
    return MatmulPrecision(device, mode, source)


def describe(precision: MatmulPrecision) -> str:
    """``"TF32 on (TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 …)"`` and the like."""
    label = {"ieee": "float32 (TF32 off)", "tf32": "TF32 on", "bf16": "bfloat16"}[precision.mode]
    return f"{label}: {precision.source}"


def relative_tolerance(k: int, *precisions: MatmulPrecision) -> float:
    """How far two devices may disagree, relative to the magnitude of what they compute.

    A length-K float dot product carries a rounding error of about √K·u relative to Σ|a·b| (random-walk
    accumulation of per-product errors; the worst case is K·u). Each side contributes its own u; the constant
    :data:`SAFETY` covers the forward and backward passes through several layers and the loss's reductions.
    """
    return SAFETY * math.sqrt(max(k, 1)) * sum(p.unit_roundoff for p in precisions)
