"""Latency probes: the fixed costs that decide whether a tiny RL workload belongs on the GPU.

Measured on the chosen device in well under a second:

- ``launch_us``: enqueueing one tiny kernel (``x.add_(1)``), amortised over a burst with one sync at the end;
  on the CPU the same op's dispatch cost;
- ``sync_us``: a tiny kernel followed by ``torch.cuda.synchronize()``, the round trip every ``.cpu()`` /
  ``.item()`` / boolean mask pays (None on the CPU: nothing to wait for);
- host→device and device→host copies of one step's observations (``num_envs × 4`` float32, what the ``gpu``
  placement moves every step) and of one rollout's (``num_steps × num_envs × 4``), from pageable and from
  pinned host memory (None where there is no host-device boundary or pinning needs CUDA).

Every figure is the median of ``repeats`` timed bursts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from gpucheck.bench.envs import OBS_DIM


@dataclass(frozen=True, slots=True)
class CopyProbe:
    """Copies of one observation tensor between host and device, µs per copy."""

    what: str
    """``step`` (one step's observations) or ``rollout`` (one rollout's)."""
    num_envs: int
    nbytes: int
    h2d_pageable_us: float | None = None
    h2d_pinned_us: float | None = None
    d2h_pageable_us: float | None = None
    d2h_pinned_us: float | None = None


@dataclass(frozen=True, slots=True)
class LatencyProbes:
    """What the probes measured on ``device`` (``status`` ``skip`` with ``reason`` when they did not run)."""

    status: str
    device: str | None = None
    launch_us: float | None = None
    sync_us: float | None = None
    copies: tuple[CopyProbe, ...] = field(default_factory=tuple)
    reason: str | None = None

    def copy_for(self, num_envs: int, what: str = "step") -> CopyProbe | None:
        """The copy probe for ``num_envs`` environments, if measured."""
        return next((c for c in self.copies if c.num_envs == num_envs and c.what == what), None)


def _median_us(fn: Callable[[], None], sync: Callable[[], None], repeats: int, per_burst: int) -> float:
    fn()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_burst):
            fn()
        sync()
        samples.append((time.perf_counter() - t0) / per_burst * 1e6)
    return statistics.median(samples)


def probe_latency(
    device: str, env_counts: tuple[int, ...], num_steps: int = 32, repeats: int = 5, per_burst: int = 50
) -> LatencyProbes:
    """Run every probe on ``device`` for each of ``env_counts``."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    x = torch.zeros(16, device=dev)
    launch = _median_us(lambda: x.add_(1), sync, repeats, per_burst)

    def launch_and_wait() -> None:
        x.add_(1)
        sync()

    sync_us = _median_us(launch_and_wait, sync, repeats, per_burst) if cuda else None
    copies = []
    for num_envs in env_counts:
        for what, shape in (("step", (num_envs, OBS_DIM)), ("rollout", (num_steps, num_envs, OBS_DIM))):
            copies.append(_copy_probe(what, num_envs, shape, dev, sync, repeats, max(1, per_burst // 5)))
    return LatencyProbes("ok", device, launch, sync_us, tuple(copies))


def _copy_probe(
    what: str,
    num_envs: int,
    shape: tuple[int, ...],
    dev: torch.device,
    sync: Callable[[], None],
    repeats: int,
    per_burst: int,
) -> CopyProbe:
    host = torch.ones(shape)
    nbytes = host.numel() * host.element_size()
    if dev.type == "cpu":
        return CopyProbe(what, num_envs, nbytes)
    on_device = host.to(dev)
    pinned = host.pin_memory() if dev.type == "cuda" else None
    h2d = _median_us(lambda: on_device.copy_(host), sync, repeats, per_burst)
    d2h = _median_us(lambda: host.copy_(on_device), sync, repeats, per_burst)
    h2d_pin = d2h_pin = None
    if pinned is not None:
        h2d_pin = _median_us(lambda: on_device.copy_(pinned, non_blocking=True), sync, repeats, per_burst)
        d2h_pin = _median_us(lambda: pinned.copy_(on_device, non_blocking=True), sync, repeats, per_burst)
    return CopyProbe(what, num_envs, nbytes, h2d, h2d_pin, d2h, d2h_pin)


def skipped(reason: str) -> LatencyProbes:
    """Probes that did not run."""
    return LatencyProbes("skip", reason=reason)
