"""Where the actor-critic and the environment live: four placements, and why one cannot run.

- ``cpu``: rollouts and updates on the CPU.
- ``gpu``: the agent lives on the GPU; every environment step's observations go to the device and the actions
  come back (the naive port of a CPU script).
- ``split``: rollouts on the CPU with a CPU copy of the policy, updates on the GPU, weights copied back once
  per update.
- ``gpu-env``: CartPole's dynamics as batched tensors on the GPU too, so rollout, policy and update never
  leave the device (:class:`gpucheck.bench.envs.TorchCartPole`).

The algorithm (:mod:`gpucheck.bench.ppo`) receives a :class:`Placement` and never chooses a device itself, so
tests can run the device code paths for real with ``device="cpu"`` standing in for a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

PLACEMENT_NAMES = ("cpu", "gpu", "split", "gpu-env")
"""Every placement, in report order."""


@dataclass(frozen=True, slots=True)
class Placement:
    """The devices one placement uses."""

    name: str
    """``cpu``, ``gpu``, ``split`` or ``gpu-env``."""
    rollout_device: str
    """Where the acting policy runs during rollouts and evaluation."""
    update_device: str
    """Where the learner's weights, optimizer state and minibatches live."""

    @property
    def separate_policy(self) -> bool:
        """Whether rollouts use their own copy of the policy (``split``), synced after every update."""
        return self.name == "split"

    @property
    def torch_env(self) -> bool:
        """Whether the environment is the batched torch CartPole on the rollout device (``gpu-env``)."""
        return self.name == "gpu-env"

    @property
    def uses_accelerator(self) -> bool:
        """Whether any part runs on a non-CPU device."""
        return (
            "cpu" != torch.device(self.update_device).type or "cpu" != torch.device(self.rollout_device).type
        )

    def synchronizer(self) -> Callable[[], None] | None:
        """A function that waits for queued device work (so phase timings are honest), or None on the CPU."""
        device = torch.device(self.update_device)
        if device.type != "cuda":
            return None
        return lambda: torch.cuda.synchronize(device)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A placement that could not run on this machine."""

    name: str
    reason: str
    """Why, in words a user can act on."""


def make_placement(name: str, device: str) -> Placement:
    """The placement ``name`` with ``device`` as its accelerator (``device`` is ignored for ``cpu``)."""
    if name == "cpu":
        return Placement("cpu", "cpu", "cpu")
    if name == "gpu":
        return Placement("gpu", device, device)
    if name == "split":
        return Placement("split", "cpu", device)
    if name == "gpu-env":
        return Placement("gpu-env", device, device)
    raise ValueError(f"unknown placement {name!r}; expected one of {', '.join(PLACEMENT_NAMES)}")


def device_problem(device: str) -> str | None:
    """Why ``device`` (``cuda`` or ``cuda:N``) cannot run a placement, or None when it works.

    Touching the device runs a small matmul there, so a driver or runtime that initialises but cannot compute
    is caught here instead of in the middle of training.
    """
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return (
            f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is None): install a CUDA "
            "build of torch to time the GPU placements"
        )
    if not torch.cuda.is_available():
        return (
            "torch.cuda.is_available() is False: no GPU is visible to this process, or the driver failed to "
            "initialise (run `gpucheck doctor`)"
        )
    index = torch.device(device).index or 0
    count = torch.cuda.device_count()
    if index >= count:
        return f"{device} does not exist: {count} CUDA device(s) visible"
    try:
        x = torch.ones(16, 16, device=device)
        float((x @ x).sum())
    except Exception as exc:  # noqa: BLE001 - any failure means the placement cannot run
        return f"CUDA failed on {device}: {type(exc).__name__}: {exc}"
    return None


def plan_placements(names: list[str], device: str) -> list[Placement | Skipped]:
    """Each requested placement, or the reason it is skipped; the device is probed once."""
    problem: str | None = None
    probed = False
    planned: list[Placement | Skipped] = []
    for name in names:
        placement = make_placement(name, device)
        if name != "cpu":
            if not probed:
                problem, probed = device_problem(device), True
            if problem is not None:
                planned.append(Skipped(name, problem))
                continue
        planned.append(placement)
    return planned


def sync_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy ``source``'s parameters into ``target`` in place (``split``: GPU learner → CPU policy)."""
    with torch.no_grad():
        for dst, src in zip(target.parameters(), source.parameters(), strict=True):
            dst.copy_(src)
