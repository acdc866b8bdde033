"""Checks: the container layer's live side — the Docker daemon, file vs. daemon, CDI specs, the smoke run.

The live daemon is read through the Docker SDK; its connection errors, ``docker info`` keys and the smoke
run's errors are interpreted in ``parse/docker_daemon.py``. Layer ``container``.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpucheck.diagnose.checks.container import DOCKER, active_config, docker_absent
from gpucheck.diagnose.checks.container_advice import (
    DOCKER_GROUP,
    GENERATE_CDI,
    RESTART,
    START_DOCKER,
    reinstall_toolkit,
    smoke_remedy,
)
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, failed, passed, skipped, warned
from gpucheck.diagnose.host import Host, detect_host
from gpucheck.diagnose.parse.cdi import CdiFacts, cdi_facts
from gpucheck.diagnose.parse.container_toolkit import toolkit_facts
from gpucheck.diagnose.parse.docker_daemon import (
    ConnectError,
    LiveDaemon,
    SmokeFailure,
    live_daemon,
    smoke_result,
)
from gpucheck.diagnose.registry import check

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def _where(live: LiveDaemon) -> str:
    return live.docker_host or DEFAULT_SOCKET


@check("container.daemon", title="Docker daemon reachable", needs=DOCKER)
def check_daemon(facts: Facts) -> Finding:
    """Fail when the daemon cannot be reached, naming the exact fix for a missing socket or a denied one."""
    live = facts.of(live_daemon)
    reason = docker_absent(facts)
    keys = ("docker_daemon",)
    if reason:
        return skipped(reason, evidence=keys)
    if not live.reachable:
        return _unreachable(live, keys)
    if live.problems:
        return errored(
            f"the Docker daemon answered with values of the wrong type: {'; '.join(live.problems)}",
            "Compare with `docker info --format '{{json .}}'`; a daemon or proxy answering this way is not "
            "the Docker Engine API gpucheck knows (the values were ignored).",
            evidence=keys,
        )
    dirs = ", ".join(live.cdi_spec_dirs) if live.cdi_spec_dirs else "CDI off"
    return passed(
        f"Docker {live.server_version} at {_where(live)}{' (rootless)' if live.rootless else ''}; runtimes: "
        f"{', '.join(live.runtimes)}; default runtime: {live.default_runtime}; CDI spec dirs: {dirs}",
        evidence=keys,
        data={
            "server_version": live.server_version,
            "runtimes": list(live.runtimes),
            "default_runtime": live.default_runtime,
            "cdi_spec_dirs": live.cdi_spec_dirs,
        },
    )


def _unreachable(live: LiveDaemon, keys: tuple[str, ...]) -> Finding:
    """Why the daemon could not be reached, with the exact fix for each known reason."""
    kind, error, where = live.error_kind, live.error or "no evidence", _where(live)
    if kind is ConnectError.SDK_MISSING:
        return warned(
            "the Docker SDK for Python is not installed, so the live daemon was not checked",
            "pip install 'docker>=7.1' (or: pip install 'gpucheck[docker]')",
            evidence=keys,
        )
    summary, remedy = {
        ConnectError.SOCKET_MISSING: (
            f"no Docker daemon socket at {where}: dockerd is not running",
            START_DOCKER,
        ),
        ConnectError.PERMISSION_DENIED: (
            f"permission denied on the Docker socket {where}: this user is not in the `docker` group",
            DOCKER_GROUP,
        ),
        ConnectError.REFUSED: (
            f"the Docker socket {where} exists but nothing answers: dockerd stopped or crashed",
            f"{RESTART}; if it does not come up: sudo journalctl -u docker -n 50",
        ),
    }.get(
        kind or ConnectError.OTHER,
        (
            f"the Docker daemon at {where} did not answer",
            "Run `docker info` for the daemon's own error, and `sudo journalctl -u docker -n 50`",
        ),
    )
    data = {"error_kind": kind.value if kind else "other"}
    # NOTE: a docker CLI without a running daemon only matters for container work, so it warns; a daemon
    # that is there but refuses us (permission, crash) is broken and fails.
    verdict = warned if kind is ConnectError.SOCKET_MISSING else failed
    return verdict(f"{summary} ({error})", remedy, evidence=keys, data=data)


def _drift(facts: Facts) -> list[str]:
    """How the running daemon differs from its daemon.json (empty when it matches)."""
    live, config = facts.of(live_daemon), active_config(facts)
    if config is None or config.config is None:
        return []
    cfg, drift = config.config, []
    missing = [r.name for r in cfg.runtimes if r.name not in live.runtimes]
    if missing:
        drift.append(
            f"runtime(s) {', '.join(missing)} are in the file but not in the daemon's Runtimes "
            f"({', '.join(live.runtimes)})"
        )
    want_default = cfg.default_runtime or "runc"
    if live.default_runtime and want_default != live.default_runtime:
        drift.append(
            f"default-runtime is {want_default!r} in the file but {live.default_runtime!r} in the daemon"
        )
    if cfg.cdi_enabled and not live.cdi_spec_dirs and _major(live.server_version) >= 25:
        drift.append("features.cdi is true in the file but the daemon reports no CDI spec directories")
    if (
        cfg.cdi_spec_dirs is not None
        and live.cdi_spec_dirs is not None
        and set(cfg.cdi_spec_dirs) != set(live.cdi_spec_dirs)
    ):
        drift.append(
            f"cdi-spec-dirs is {list(cfg.cdi_spec_dirs)} in the file but {list(live.cdi_spec_dirs)} "
            "in the daemon"
        )
    return drift


def _major(version: str | None) -> int:
    head = (version or "").split(".")[0]
    return int(head) if head.isascii() and head.isdigit() else 0


@check("container.daemon_restart", title="daemon runs with its daemon.json", needs=DOCKER)
def check_daemon_restart(facts: Facts) -> Finding:
    """Fail when daemon.json was edited but dockerd not restarted (the file and ``docker info`` disagree)."""
    live, config = facts.of(live_daemon), active_config(facts)
    if docker_absent(facts) or not live.reachable:
        return skipped("the live Docker daemon could not be reached (see container.daemon)")
    host = live.docker_host or ""
    if host and not host.startswith("unix://"):
        return skipped(f"the daemon at {host} is remote; its daemon.json is not on this machine")
    if config is None or config.config is None:
        return skipped(
            "no readable daemon.json to compare (dockerd runs with its defaults)"
            if config is None or not config.exists
            else f"{config.path} could not be read (see container.daemon_json)"
        )
    keys = (f"file:{config.path}", "docker_daemon")
    drift = _drift(facts)
    if drift:
        return failed(
            f"{config.path} was edited but dockerd was not restarted: " + "; ".join(drift),
            RESTART,
            evidence=keys,
            data={"drift": drift},
        )
    if _major(live.server_version) >= 25 and config.config.cdi_enabled is False:
        return passed(f"the daemon matches {config.path} (CDI disabled there)", evidence=keys)
    return passed(
        f"the daemon matches {config.path}: runtimes {', '.join(live.runtimes)}, default "
        f"{live.default_runtime}",
        evidence=keys,
    )


@check("container.cdi", title="CDI specs for nvidia.com/gpu", needs=("cdi", "container_toolkit", *DOCKER))
def check_cdi(facts: Facts) -> Iterator[Finding]:
    """Fail on unreadable specs or missing hook executables; warn when CDI is on but no GPU spec exists."""
    cdi, live, config = facts.of(cdi_facts), facts.of(live_daemon), active_config(facts)
    keys = ("cdi_spec_dirs",) + tuple(f"file:{f.path}" for f in cdi.files)
    cdi_on = bool(live.cdi_spec_dirs) or bool(config and config.config and config.config.cdi_enabled)
    gpus = cdi.devices("nvidia.com/gpu")
    problems = list(_cdi_problems(cdi, keys, facts.of(detect_host)))
    yield from problems
    if gpus:
        yield passed(
            f"CDI devices: {', '.join(gpus)} (specs in {', '.join(cdi.existing_dirs)})",
            evidence=keys,
            data={"devices": list(gpus)},
        )
        if live.reachable and not live.cdi_spec_dirs and _major(live.server_version) >= 25:
            yield warned(
                "CDI specs exist but the daemon has CDI off: `docker run --device nvidia.com/gpu=all` "
                "will not find them",
                f"gpucheck setup docker --cdi --apply, then {RESTART}",
                evidence=keys + ("docker_daemon",),
            )
    elif cdi_on and facts.of(toolkit_facts).driver_loaded:
        yield warned(
            "CDI is enabled but no spec lists nvidia.com/gpu devices: `docker run --device "
            "nvidia.com/gpu=all` fails with 'unresolvable CDI devices'",
            GENERATE_CDI,
            evidence=keys,
        )
    elif not problems:
        kinds = sorted({f.spec.kind for f in cdi.files if f.spec})
        yield skipped(
            f"CDI specs here are for {', '.join(kinds)}, none for nvidia.com/gpu"
            if kinds
            else f"no CDI specs in {', '.join(cdi.dirs)} (CDI is optional; `--gpus` does not need it)",
            evidence=keys,
        )


def _cdi_problems(cdi: CdiFacts, keys: tuple[str, ...], host: Host) -> Iterator[Finding]:
    """Specs that do not parse, and hooks they name that are not there."""
    for spec in (f for f in cdi.files if f.error):
        yield failed(
            f"CDI spec {spec.path} cannot be read: {spec.error}",
            f"sudo rm {spec.path} && {GENERATE_CDI}",
            evidence=keys,
        )
    missing = sorted(path for path, ok in cdi.hook_executables.items() if not ok)
    if missing:
        yield failed(
            f"CDI hooks named by the specs do not exist or are not executable: {', '.join(missing)}; "
            "containers using these devices fail to start",
            f"{reinstall_toolkit(host)}, then {GENERATE_CDI}",
            evidence=keys,
            data={"missing_hooks": missing},
        )


@check("container.smoke", title="GPU container runs nvidia-smi", needs=("container_smoke", "docker_daemon"))
def check_smoke(facts: Facts) -> Iterator[Finding]:
    """Opt-in: interpret the smoke run's failure (F27 no device driver, F09 CUDA requirement, F30 NVML)."""
    result = facts.of(smoke_result)
    keys = ("container_smoke",)
    if not result.requested:
        yield skipped(
            "opt-in: run `gpucheck doctor --container-smoke` to start a GPU container", evidence=keys
        )
        return
    if result.ok:
        first = next(
            (ln.strip() for ln in result.stdout.splitlines() if "NVIDIA-SMI" in ln), "nvidia-smi ran"
        )
        yield passed(f"`nvidia-smi` ran in {result.image} with --gpus all: {first}", evidence=keys)
    elif facts.of(live_daemon).error_kind is not None and result.failure is SmokeFailure.OTHER:
        yield skipped("the Docker daemon could not be reached (see container.daemon)", evidence=keys)
    else:
        cause, remedy = smoke_remedy(
            result.failure or SmokeFailure.OTHER, result.detail, result.image, facts.of(detect_host)
        )
        yield failed(
            f"`nvidia-smi` in {result.image} with --gpus all failed: {cause}. Error: {result.message}",
            remedy,
            evidence=keys,
            data={"failure": (result.failure or SmokeFailure.OTHER).value},
        )
    if result.leftovers:
        yield warned(
            f"containers from the smoke run could not be removed: {'; '.join(result.leftovers)}",
            "docker rm -f $(docker ps -aq --filter label=io.gpucheck.smoke)",
            evidence=keys,
        )
