"""Checks: the container layer — NVIDIA Container Toolkit, daemon.json and the nvidia runtime.

Each check answers why ``docker run --gpus all <cuda image> nvidia-smi`` would fail here. Hosts without Docker
get ``skip`` findings, never failures. Error texts and dockerd's refusals are the recorded ones (docker.md,
doctor-anchors.md); remediation texts live in ``container_advice``.
"""

from __future__ import annotations

from collections.abc import Iterator

from gpucheck.diagnose.checks.container_advice import (
    CONFIGURE,
    PERSISTENCE,
    RESTART,
    install_toolkit,
    nvml_library,
    reinstall_toolkit,
)
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, failed, passed, skipped, warned
from gpucheck.diagnose.host import Host, detect_host
from gpucheck.diagnose.parse.container_toolkit import ParseError, parse_cli_info, toolkit_facts
from gpucheck.diagnose.parse.daemon_json import (
    ConfigFile,
    DockerConfigFacts,
    RuntimeEntry,
    docker_config_facts,
)
from gpucheck.diagnose.parse.docker_daemon import (
    ConnectError,
    SmokeFailure,
    classify_smoke_error,
    live_daemon,
)
from gpucheck.diagnose.registry import check
from gpucheck.knowledge import load

DOCKER = ("docker_daemon", "docker_config")


def docker_absent(facts: Facts) -> str | None:
    """Why Docker does not apply here (no CLI, dockerd, daemon.json or socket), or None when it does."""
    live = facts.of(live_daemon)
    files = facts.of(docker_config_facts).files
    if (
        live.cli_found
        or live.dockerd_found
        or live.reachable
        or live.docker_host
        or any(f.exists for f in files)
    ):
        return None
    if live.error_kind not in (None, ConnectError.SOCKET_MISSING, ConnectError.SDK_MISSING):
        return None
    return "Docker is not installed here (no docker or dockerd on PATH, no daemon.json, no daemon socket)"


def active_config(facts: Facts) -> ConfigFile | None:
    """The daemon.json the daemon reads: the rootless one for a rootless daemon, else the system one."""
    config = facts.of(docker_config_facts)
    return config.file("rootless") if facts.of(live_daemon).rootless else config.file("system")


def gpus_via_cdi(facts: Facts, found: dict[str, str | None]) -> bool:
    """Whether this Docker serves ``--gpus`` through CDI (Docker >= 29.2 and nvidia-cdi-hook on PATH)."""
    fact = load.container_facts()["docker_gpus_via_cdi"]
    return bool(found.get(fact.value)) and bool(fact.holds_for(facts.of(live_daemon).server_version))


@check("container.toolkit", title="NVIDIA Container Toolkit installed", needs=("container_toolkit", *DOCKER))
def check_toolkit(facts: Facts) -> Finding:
    """Fail when Docker and an NVIDIA driver are here but the toolkit (or its hook) is not."""
    tk = facts.of(toolkit_facts)
    wanted = [
        "nvidia-ctk",
        "nvidia-container-runtime",
        "nvidia-container-cli",
        "nvidia-container-runtime-hook",
    ]
    missing = [n for n in wanted if not tk.found.get(n) and n not in tk.installed]
    versions = ", ".join(f"{n} {v}" for n, v in tk.versions.items() if v)
    data = {"versions": tk.versions, "found": tk.found}
    if missing == ["nvidia-container-runtime-hook"] and gpus_via_cdi(facts, tk.found):
        fact = load.container_facts()["docker_gpus_via_cdi"]
        return passed(
            f"NVIDIA Container Toolkit present: {versions}; Docker {facts.of(live_daemon).server_version} "
            f"serves --gpus through CDI with nvidia-cdi-hook (Docker >= {fact.since}), so "
            "nvidia-container-runtime-hook is not needed",
            evidence=tuple(r.key for r in tk.runs.values() if r) + ("container_toolkit_paths",),
            data=data,
        )
    keys = tuple(r.key for r in tk.runs.values() if r) + ("container_toolkit_paths",)
    if not missing:
        return passed(f"NVIDIA Container Toolkit present: {versions}", evidence=keys, data=data)
    reason = docker_absent(facts)
    if len(missing) == len(wanted):
        if reason:
            return skipped(reason, evidence=keys, data=data)
        if not tk.driver_loaded:
            return skipped(
                "no NVIDIA driver is loaded on this host; the container toolkit only matters with one",
                evidence=keys,
                data=data,
            )
        return failed(
            "Docker is installed but the NVIDIA Container Toolkit is not: `docker run --gpus all` fails with "
            "'could not select device driver \"\" with capabilities: [[gpu]]'",
            install_toolkit(facts.of(detect_host)),
            evidence=keys,
            data=data,
        )
    return warned(
        f"the NVIDIA Container Toolkit is incomplete: {', '.join(missing)} not found "
        f"({versions or 'no versions'})",
        reinstall_toolkit(facts.of(detect_host)),
        evidence=keys,
        data=data,
    )


@check("container.cli_info", title="nvidia-container-cli sees the driver", needs=("container_toolkit",))
def check_cli_info(facts: Facts) -> Finding:
    """Fail when ``nvidia-container-cli info`` cannot initialise (no libnvidia-ml F30, driver timeout F31)."""
    tk = facts.of(toolkit_facts)
    run = tk.info
    if run is None or run.not_found:
        return skipped("nvidia-container-cli is not installed")
    if not tk.driver_loaded:
        return skipped("no NVIDIA driver is loaded on this host", evidence=(run.key,))
    if run.succeeded:
        try:
            info = parse_cli_info(run.stdout)
        except ParseError as exc:
            return errored(f"cannot read `nvidia-container-cli info`: {exc}", evidence=(run.key,))
        gpus = "; ".join(f"{d.index}: {d.model} ({d.uuid})" for d in info.devices) or "no GPUs"
        return passed(
            f"nvidia-container-cli sees driver {info.nvrm_version} (CUDA {info.cuda_version}): {gpus}",
            evidence=(run.key,),
            data={"nvrm_version": info.nvrm_version, "cuda": info.cuda_version},
        )
    text = f"{run.stderr}\n{run.stdout}".strip()
    kind, _ = classify_smoke_error(text)
    host = facts.of(detect_host)
    known = {SmokeFailure.NVML_NOT_LOADABLE: nvml_library(host), SmokeFailure.DRIVER_TIMEOUT: PERSISTENCE}
    remedy = known.get(
        kind, "Run `sudo nvidia-container-cli -k -d /dev/tty info` for libnvidia-container's full log"
    )
    if run.timed_out:
        remedy = PERSISTENCE
    return failed(
        f"nvidia-container-cli cannot reach the driver: {run.describe_failure()}",
        remedy,
        evidence=(run.key,),
        data={"failure": kind.value},
    )


def _file_findings(file: ConfigFile) -> Iterator[Finding]:
    keys = (f"file:{file.path}",)
    if file.read_error:
        yield errored(
            f"{file.path} exists but could not be read: {file.read_error}",
            "Re-run as root: sudo gpucheck doctor --only container",
            evidence=keys,
        )
    elif file.parse_error is not None:
        err = file.parse_error
        yield failed(
            f"{file.path} does not parse: {err}; dockerd refuses to start with it",
            f"Fix the JSON at line {err.line}, column {err.column} of {file.path} (check with "
            f"`sudo dockerd --validate --config-file {file.path}`), then {RESTART}"
            if err.line is not None
            else f"Fix {file.path} by hand, then {RESTART}",
            evidence=keys,
            data={"line": err.line, "column": err.column, "reason": err.reason},
        )
    elif file.config is not None and file.config.problems:
        for problem in file.config.problems:
            yield failed(
                f'{file.path}: dockerd refuses this: "{problem}"',
                f"Edit {file.path}: {_problem_fix(problem)}, then {RESTART}",
                evidence=keys,
            )
    elif file.config is not None:
        names = ", ".join(r.name for r in file.config.runtimes) or "none"
        yield passed(
            f"{file.path} parses; runtimes: {names}; default-runtime: "
            f"{file.config.default_runtime or 'runc (dockerd default)'}",
            evidence=keys,
        )


def _problem_fix(problem: str) -> str:
    if "default runtime" in problem:
        return (
            'define that runtime under "runtimes" (for nvidia: gpucheck setup docker --apply) or remove '
            '"default-runtime"'
        )
    if "is reserved" in problem:
        return 'remove that entry from "runtimes" (dockerd defines it itself)'
    if "path must be configured" in problem:
        return 'give the runtime a "path" (for nvidia: gpucheck setup docker --apply sets it)'
    return "make the value the type dockerd expects"


@check("container.daemon_json", title="daemon.json is valid for dockerd", needs=DOCKER)
def check_daemon_json(facts: Facts) -> Iterator[Finding]:
    """Fail when a daemon.json does not parse (quoting line/column) or names something dockerd refuses."""
    reason = docker_absent(facts)
    if reason:
        yield skipped(reason)
        return
    files = [f for f in facts.of(docker_config_facts).files if f.exists]
    if not files:
        yield passed("no daemon.json: dockerd runs with its defaults (no nvidia runtime defined)")
    for file in files:
        yield from _file_findings(file)


@check(
    "container.nvidia_runtime",
    title="nvidia runtime defined and resolvable",
    needs=("container_toolkit", *DOCKER),
)
def check_nvidia_runtime(facts: Facts) -> Finding:
    """Warn when daemon.json defines no ``nvidia`` runtime; fail when its ``path`` resolves to nothing."""
    reason = docker_absent(facts)
    file = active_config(facts)
    if reason or file is None:
        return skipped(reason or "no daemon.json location applies to this daemon")
    if file.exists and file.config is None:
        return skipped(f"{file.path} could not be read (see container.daemon_json)")
    keys = (f"file:{file.path}", "docker_config_paths")
    entry = file.config.runtime("nvidia") if file.config else None
    tk = facts.of(toolkit_facts)
    if entry is None and not tk.installed and not tk.driver_loaded:
        return skipped("no NVIDIA driver or container toolkit on this host", evidence=keys)
    if entry is None:
        return warned(
            f"no `nvidia` runtime in {file.path}: `docker run --runtime=nvidia` fails with 'unknown or "
            "invalid runtime name: nvidia' (`--gpus all` works without it, through the toolkit's hook)",
            CONFIGURE,
            evidence=keys,
        )
    if entry.path is None:
        if entry.runtime_type:
            return passed(f"runtimes.nvidia uses runtimeType {entry.runtime_type}", evidence=keys)
        return skipped("runtimes.nvidia has no path (see container.daemon_json)")
    return _runtime_path_finding(file, entry, facts.of(docker_config_facts), keys, facts.of(detect_host))


def _runtime_path_finding(
    file: ConfigFile, entry: RuntimeEntry, config: DockerConfigFacts, keys: tuple[str, ...], host: Host
) -> Finding:
    """A defined nvidia runtime: its path resolves, and its arguments are where dockerd reads them."""
    path = entry.path or ""
    resolved = config.runtime_executables.get(path)
    data = {"path": path, "resolved": resolved, "args_key": entry.args_key}
    if not resolved:
        where = (
            "does not exist"
            if path.startswith("/")
            else f"is not on dockerd's PATH ({':'.join(config.search_path)})"
        )
        return failed(
            f"runtimes.nvidia.path {path!r} in {file.path} {where}: containers fail with "
            f"'exec: \"{path}\": executable file not found in $PATH'",
            f"{install_toolkit(host)}; or set the absolute path: gpucheck setup docker "
            "--runtime-path /usr/bin/nvidia-container-runtime --apply",
            evidence=keys,
            data=data,
        )
    if entry.args_key == "args" and entry.args:
        # NOTE: moby's Runtime type reads only `runtimeArgs` (api/types/system/runtime.go); `args` is ignored.
        return warned(
            f"runtimes.nvidia in {file.path} has arguments under `args` ({' '.join(entry.args)}), which "
            "dockerd ignores: it reads only `runtimeArgs`",
            f'Edit {file.path}: rename "args" to "runtimeArgs" under runtimes.nvidia, then {RESTART}',
            evidence=keys,
            data=data,
        )
    spelling = {"args": "`args`, as nvidia-ctk writes it", "runtimeArgs": "legacy `runtimeArgs`"}.get(
        entry.args_key or "", "no arguments key"
    )
    default = (file.config.default_runtime if file.config else None) or "runc"
    return passed(
        f"runtimes.nvidia → {resolved} (spelling: {spelling}); default-runtime: {default}",
        evidence=keys,
        data=data,
    )
