"""Evidence source: the live Docker daemon through the Docker SDK, and the opt-in GPU container smoke run.

Command line equivalent: ``docker --version``; ``docker version``; ``docker info --format '{{json .}}'``;
with ``--container-smoke``: ``docker run --rm --gpus all <cuda image> nvidia-smi``. The SDK (PyPI ``docker``)
is imported lazily, so gpucheck works without it; DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH come
from the probed environment. Errors are kept as the SDK words them; the diagnose stage interprets them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

INFO_KEYS: tuple[str, ...] = (
    "ServerVersion",
    "Runtimes",
    "DefaultRuntime",
    "CDISpecDirs",
    "SecurityOptions",
    "OperatingSystem",
    "OSType",
    "Name",
    "DockerRootDir",
    "Driver",
    "CgroupDriver",
    "Warnings",
)
"""The parts of ``docker info`` kept as evidence (the rest lists containers, images and the host)."""

SMOKE_LABEL = "io.gpucheck.smoke"
"""Label on every container the smoke run creates; its value is the run's id, so cleanup finds just those."""

SMOKE_WAIT_S = 60
"""How long the smoke container may run ``nvidia-smi`` before it is removed by force."""


def connect(ctx: CollectContext, *, timeout_s: int = 10) -> Any:
    """A Docker SDK client for the daemon this environment points at; raises what the SDK raises."""
    import docker  # NOTE: optional dependency (gpucheck[docker]); imported here so doctor runs without it

    kwargs = docker.utils.kwargs_from_env(environment=dict(ctx.env))
    return docker.DockerClient(**kwargs, timeout=timeout_s)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _daemon_data(ctx: CollectContext) -> tuple[dict[str, Any], str | None]:
    data: dict[str, Any] = {"docker_host": ctx.env.get("DOCKER_HOST"), "sdk_version": None}
    data["reachable"] = False
    try:
        import docker
    except ImportError as exc:
        return {**data, "sdk_installed": False}, _error(exc)
    data.update(sdk_installed=True, sdk_version=getattr(docker, "__version__", None))
    try:
        client = connect(ctx)
    except Exception as exc:  # noqa: BLE001 - docker.errors.DockerException and its URL/TLS cousins
        return data, _error(exc)
    try:
        data["base_url"] = client.api.base_url
        version = client.version()
        info = client.info()
    except Exception as exc:  # noqa: BLE001 - the daemon went away or refused between the calls
        return data, _error(exc)
    finally:
        client.close()
    data.update(
        reachable=True,
        version={k: version.get(k) for k in ("Version", "ApiVersion", "MinAPIVersion", "Os", "Arch")},
        info={k: info.get(k) for k in INFO_KEYS if k in info},
    )
    return data, None


@collector("docker_daemon", timeout_s=20.0)
def collect_docker_daemon(ctx: CollectContext) -> Iterable[Item]:
    """The docker CLI and dockerd binaries, and the live daemon: version, runtimes, default, CDI dirs."""
    yield ctx.run("docker", "--version", timeout_s=5.0)
    yield ctx.run("dockerd", "--version", timeout_s=5.0)
    data, error = _daemon_data(ctx)
    yield Value(name="docker_daemon", data=data, error=error)


def default_smoke_image(nvidia_smi_stdout: str) -> str:
    """The oldest CUDA base image of the driver's CUDA major version, so its ``cuda>=`` requirement holds."""
    match = re.search(r"CUDA Version: (\d+)\.(\d+)", nvidia_smi_stdout)
    major, minor = (int(match.group(1)), int(match.group(2))) if match else (12, 0)
    if major >= 13:
        return "nvidia/cuda:13.0.0-base-ubuntu24.04"
    if major == 11:
        return "nvidia/cuda:11.8.0-base-ubuntu22.04" if minor >= 8 else "nvidia/cuda:11.0.3-base-ubuntu20.04"
    return "nvidia/cuda:12.0.1-base-ubuntu22.04"


@collector("container_smoke", timeout_s=300.0)
def collect_container_smoke(ctx: CollectContext) -> Iterable[Item]:
    """Opt-in: ``nvidia-smi`` in a CUDA image with a GPU device request; its containers are always removed."""
    wanted = ctx.options.get("container_smoke")
    if not wanted:
        yield Value(name="container_smoke", data={"requested": False})
        return
    if isinstance(wanted, str):
        image = wanted
    else:
        smi = ctx.run("nvidia-smi", timeout_s=15.0)
        yield smi
        image = default_smoke_image(smi.stdout)
    yield run_smoke(ctx, image)


def run_smoke(ctx: CollectContext, image: str) -> Value:
    """Run the smoke container and return what happened, after removing every container it created."""
    run_id = uuid.uuid4().hex[:12]
    data: dict[str, Any] = {"requested": True, "image": image, "run_id": run_id, "stage": "connect"}
    try:
        client = connect(ctx, timeout_s=SMOKE_WAIT_S + 10)
    except Exception as exc:  # noqa: BLE001 - SDK missing or daemon unreachable
        return Value(name="container_smoke", data=data, error=_error(exc))
    try:
        _smoke_steps(client, image, run_id, data)
        error = None
    except Exception as exc:  # noqa: BLE001 - kept verbatim for the diagnose stage
        data["explanation"] = getattr(exc, "explanation", None)
        error = _error(exc)
    finally:
        data["cleanup"] = remove_labelled(client, run_id)
        client.close()
    return Value(name="container_smoke", data=data, error=error)


def _smoke_steps(client: Any, image: str, run_id: str, data: dict[str, Any]) -> None:
    import docker

    data["stage"] = "image"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        data["stage"] = "pull"
        client.images.pull(image)
    data["stage"] = "create"
    container = client.containers.create(
        image,
        command=["nvidia-smi"],
        device_requests=[docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])],  # = `--gpus all`
        labels={SMOKE_LABEL: run_id},
        network_disabled=True,
    )
    data.update(stage="start", container=container.id)
    container.start()
    data["stage"] = "wait"
    result = container.wait(timeout=SMOKE_WAIT_S)
    data["exit_code"] = result.get("StatusCode")
    data["stdout"] = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    data["stderr"] = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    data["stage"] = "done"


def remove_labelled(client: Any, run_id: str) -> dict[str, Any]:
    """Force-remove every container labelled with this run's id, including those that never started."""
    removed: list[str] = []
    errors: list[str] = []
    try:
        found = client.containers.list(all=True, filters={"label": f"{SMOKE_LABEL}={run_id}"})
    except Exception as exc:  # noqa: BLE001 - reported, so a leftover container is never silent
        return {"removed": removed, "errors": [_error(exc)]}
    for container in found:
        try:
            container.remove(force=True)
            removed.append(container.id)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{container.id}: {_error(exc)}")
    return {"removed": removed, "errors": errors}
