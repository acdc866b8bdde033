"""Checks: the NVIDIA Container Toolkit's own configuration (/etc/nvidia-container-runtime/config.toml).

Read with tomllib (never executed or templated). Two settings break every GPU container start: an ``ldconfig``
path that does not exist on this distribution (the Debian default ``@/sbin/ldconfig.real`` elsewhere:
`nvidia-container-cli: ldcache error: open failed: /sbin/ldconfig.real: no such file or directory`,
https://github.com/hekmak/Conf-net/issues/5, fix from the maintainers in
https://github.com/NVIDIA/nvidia-docker/issues/587), and ``no-cgroups`` set the wrong way for the daemon
(rootless Docker needs ``true``; rootful Docker with ``true`` gives containers no device access).
"""

from __future__ import annotations

import tomllib

from gpucheck.diagnose import advice
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.registry import check

CONFIG = "/etc/nvidia-container-runtime/config.toml"
EVIDENCE = (f"file:{CONFIG}", "toolkit_config_paths")
LDCONFIG_CANDIDATES = ("/sbin/ldconfig", "/usr/sbin/ldconfig", "/usr/bin/ldconfig", "/sbin/ldconfig.real")


def _set(host, key: str, value: str) -> str:
    command = f"nvidia-ctk config --in-place --set {key}={value}"
    return f"`{advice.sudo(advice.host_side(host), command)}`"


@check(
    "container.toolkit_config",
    title="the container toolkit's config.toml is usable",
    needs=("toolkit_config",),
)
def check_toolkit_config(facts: Facts) -> Finding:
    """The ldconfig it runs exists, and ``no-cgroups`` suits the Docker daemon (rootless or not)."""
    item = facts.evidence.file(CONFIG)
    if item is None or not item.exists:
        return skipped(f"{CONFIG} does not exist (the toolkit is not installed, or runs on its defaults)")
    if item.content is None:
        return skipped(f"{CONFIG} is not readable here ({item.error})")
    host = facts.of(detect_host)
    try:
        config = tomllib.loads(item.content)
    except tomllib.TOMLDecodeError as exc:
        return failed(
            f"{CONFIG} is not valid TOML ({exc}): every `nvidia-container-cli` call fails on it",
            advice.on_host(
                host,
                "Fix the line it names, or move the file aside and regenerate the defaults: "
                f"`nvidia-ctk config --config-file {CONFIG} --in-place`.",
            ),
            evidence=EVIDENCE,
        )
    cli = config.get("nvidia-container-cli") if isinstance(config.get("nvidia-container-cli"), dict) else {}
    paths = facts.evidence.value("toolkit_config_paths")
    exists = paths.data if paths is not None and isinstance(paths.data, dict) else {}
    ldconfig = str(cli.get("ldconfig", "")).lstrip("@")
    if ldconfig and exists.get(ldconfig) is False:
        present = [p for p in LDCONFIG_CANDIDATES if exists.get(p)] or ["/sbin/ldconfig"]
        fix = _set(host, "nvidia-container-cli.ldconfig", "@" + present[0])
        return failed(
            f'{CONFIG} sets ldconfig = "{cli.get("ldconfig")}", which does not exist here: every GPU '
            f"container fails with `nvidia-container-cli: ldcache error: open failed: {ldconfig}: no such "
            "file or directory`",
            advice.on_host(
                host,
                f"point it at this system's ldconfig: {fix} (the path `command -v ldconfig` prints, "
                "with a leading @)",
            ),
            evidence=EVIDENCE,
            data={"ldconfig": ldconfig},
        )
    no_cgroups = cli.get("no-cgroups")
    if host.rootless_docker and no_cgroups is not True:
        return failed(
            f"Docker runs rootless but {CONFIG} has no-cgroups = {str(no_cgroups).lower()}: a rootless "
            "daemon cannot set up device cgroups, so GPU containers fail to start",
            _set(host, "nvidia-container-cli.no-cgroups", "true") + " (NVIDIA's rootless Docker setup)",
            evidence=EVIDENCE,
        )
    if no_cgroups is True and not host.rootless_docker:
        return warned(
            f"{CONFIG} has no-cgroups = true, which only rootless Docker needs: under a rootful daemon the "
            "containers get no device access (`Failed to initialize NVML: Unknown Error` inside them)",
            _set(host, "nvidia-container-cli.no-cgroups", "false") + f", then {advice.restart_docker(host)}",
            evidence=EVIDENCE,
        )
    mode = (
        config.get("nvidia-container-runtime", {}).get("mode", "auto")
        if isinstance(config.get("nvidia-container-runtime"), dict)
        else "auto"
    )
    return passed(
        f"{CONFIG}: ldconfig {cli.get('ldconfig', '(default)')}, no-cgroups {str(bool(no_cgroups)).lower()}, "
        f"runtime mode {mode}",
        evidence=EVIDENCE,
    )
