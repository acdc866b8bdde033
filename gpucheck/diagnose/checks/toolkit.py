"""Checks: the CUDA toolkit — on PATH, not shadowed, CUDA_HOME consistent, runtime libraries found."""

from __future__ import annotations

import os

from packaging.version import Version

from gpucheck.diagnose import advice
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, errored, passed, skipped, warned
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import ld_cache_names, ld_conf_dirs, library_paths
from gpucheck.diagnose.toolkits import ToolkitInfo, active_toolkit, missing_homes, toolkits

EVIDENCE = ("nvcc_candidates", "dir:/usr/local/cuda*")
DISTRO_TOOLKIT: advice.Packages = {"apt": ["nvidia-cuda-toolkit"]}
"""The distribution's own CUDA toolkit, the usual owner of /usr/bin/nvcc (Debian and Ubuntu)."""


def cudart_soname(version: str) -> str:
    """The SONAME of the CUDA runtime of a toolkit version.

    CUDA 10.x and older version it by major.minor (``libcudart.so.10.1``), CUDA 11.x is ``libcudart.so.11.0``
    for every minor release, CUDA 12 and later by major only (``libcudart.so.12``). The names are the ones
    frameworks ask the loader for, e.g. TensorFlow's `Could not load dynamic library 'libcudart.so.11.0'`
    (https://github.com/tensorflow/tensorflow/issues/45930) and `'libcudart.so.10.1'`
    (https://github.com/tensorflow/tensorflow/issues/38578).
    """
    parts = version.split(".")
    major, minor = int(parts[0]), parts[1] if len(parts) > 1 else "0"
    if major <= 10:
        return f"libcudart.so.{major}.{minor}"
    if major == 11:
        return "libcudart.so.11.0"
    return f"libcudart.so.{major}"


NO_TOOLKIT = (
    "no CUDA toolkit (nvcc) is installed: only needed to compile CUDA code; PyTorch and TensorFlow "
    "wheels bring their own CUDA runtime"
)


def _key(t: ToolkitInfo) -> Version:
    return Version(t.version) if t.version else Version("0")


def _newest(facts: Facts) -> ToolkitInfo | None:
    found = [t for t in facts.of(toolkits) if t.version]
    return max(found, key=_key) if found else None


def _bin_dir(t: ToolkitInfo) -> str:
    return os.path.dirname(t.nvcc)


def path_fix(t: ToolkitInfo) -> str:
    """The exact shell lines that put a toolkit first on PATH and its libraries on LD_LIBRARY_PATH."""
    root = os.path.dirname(_bin_dir(t))
    return (
        f"`export PATH={_bin_dir(t)}:$PATH` and `export LD_LIBRARY_PATH={root}/lib64:${{LD_LIBRARY_PATH:-}}` "
        "(add both lines to ~/.bashrc; `sudo` resets PATH, so use `sudo env PATH=$PATH ...`)"
    )


@check("toolkit.nvcc", title="a CUDA toolkit is reachable on PATH", needs=("toolkit", "env"))
def check_nvcc(facts: Facts) -> Finding:
    """The nvcc that wins on PATH and its version, or the installed toolkit that PATH misses."""
    active, newest = facts.of(active_toolkit), _newest(facts)
    if active is not None:
        if active.version is None:
            return errored(
                f"{active.nvcc} is on PATH but its version could not be read: {active.error}",
                f"Run `{active.nvcc} --version` by hand; reinstall the toolkit if it fails.",
                evidence=(*EVIDENCE, f"cmd:{active.nvcc} --version"),
            )
        how = f"nvcc {active.full_version}"
        if active.source != "nvcc":
            how = f"{active.source}: {active.full_version}"
        return passed(
            f"CUDA {active.version} toolkit ({how}) at {active.nvcc} wins on PATH",
            evidence=(*EVIDENCE, f"cmd:{active.nvcc} --version"),
            data={"version": active.version, "nvcc": active.nvcc, "root": active.root},
        )
    if newest is not None:
        return warned(
            f"CUDA {newest.version} toolkit is installed at {os.path.dirname(_bin_dir(newest))} but "
            "nvcc is not on PATH",
            path_fix(newest),
            evidence=EVIDENCE,
            data={"version": newest.version, "nvcc": newest.nvcc},
        )
    broken = next(iter(facts.of(toolkits)), None)
    if broken is not None:
        return errored(
            f"{broken.nvcc} exists but its version could not be read: {broken.error}",
            f"Run `{broken.nvcc} --version` by hand; reinstall the toolkit if it fails.",
            evidence=EVIDENCE,
        )
    return skipped(NO_TOOLKIT, evidence=EVIDENCE)


@check("toolkit.shadowed", title="the nvcc on PATH is the newest toolkit installed", needs=("toolkit", "env"))
def check_shadowed(facts: Facts) -> Finding:
    """Whether an older nvcc earlier on PATH hides a newer installed toolkit."""
    active, newest = facts.of(active_toolkit), _newest(facts)
    if active is None or active.version is None:
        return skipped("no readable nvcc on PATH (see toolkit.nvcc)")
    if newest is not None and _key(newest) > _key(active):
        return warned(
            f"nvcc on PATH ({active.nvcc}, CUDA {active.version}) shadows the newer CUDA "
            f"{newest.version} toolkit at {os.path.dirname(_bin_dir(newest))}",
            f"To use CUDA {newest.version}: {path_fix(newest)}; or remove the older one"
            + (
                f" ({advice.remove_owner_of(facts.of(detect_host), active.nvcc, DISTRO_TOOLKIT)})"
                if active.nvcc == "/usr/bin/nvcc"
                else ""
            )
            + ".",
            evidence=EVIDENCE,
        )
    others = sorted({t.version for t in facts.of(toolkits) if t.version and t.version != active.version})
    extra = f" (older toolkits also installed: {', '.join(others)})" if others else ""
    return passed(f"CUDA {active.version} on PATH is the newest toolkit installed{extra}", evidence=EVIDENCE)


@check(
    "toolkit.cuda_home", title="CUDA_HOME / CUDA_PATH point at the toolkit in use", needs=("toolkit", "env")
)
def check_cuda_home(facts: Facts) -> Finding:
    """CUDA_HOME / CUDA_PATH / CUDA_ROOT naming a directory without nvcc, or a toolkit other than PATH's."""
    missing = facts.of(missing_homes)
    active = facts.of(active_toolkit)
    if missing:
        var, nvcc = missing[0]
        target = os.path.dirname(_bin_dir(active)) if active else None
        fix = f"`export {var}={target}`" if target and active and active.root != "/usr" else f"`unset {var}`"
        return warned(
            f"{var}={facts.env.get(var, '?')} holds no toolkit ({nvcc} does not exist): builds of CUDA "
            "extensions will fail",
            fix,
            evidence=EVIDENCE,
        )
    homes = [t for t in facts.of(toolkits) if t.origin in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT")]
    if active and active.version:
        for home in homes:
            if home.version and home.version != active.version:
                return warned(
                    f"{home.origin} names CUDA {home.version} ({home.root}) but nvcc on PATH is CUDA "
                    f"{active.version}: extension builds mix the two",
                    f"`export {home.origin}={os.path.dirname(_bin_dir(active))}` or {path_fix(home)}",
                    evidence=EVIDENCE,
                )
    names = [v for v in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT") if facts.env.get(v)]
    if not names:
        return passed(
            "CUDA_HOME / CUDA_PATH are not set (tools fall back to the nvcc on PATH)", evidence=EVIDENCE
        )
    return passed(f"{', '.join(names)} agree with the nvcc on PATH", evidence=EVIDENCE)


@check(
    "toolkit.runtime_library",
    title="the toolkit's libcudart is found by the loader",
    needs=("toolkit", "libraries", "env"),
)
def check_runtime_library(facts: Facts) -> Finding:
    """The active toolkit's libcudart in the loader cache, the loader's config, or on LD_LIBRARY_PATH."""
    active = facts.of(active_toolkit) or _newest(facts)
    if active is None or active.version is None:
        return skipped("no CUDA toolkit to check (see toolkit.nvcc)")
    soname = cudart_soname(active.version)
    host = facts.of(detect_host)
    installed = [p for p in facts.of(library_paths) if os.path.basename(p) == soname]
    where = _loader_finds(facts, soname, installed)
    if where:
        return passed(f"{soname} (CUDA {active.version} runtime) is found through {where}", evidence=EVIDENCE)
    if installed:
        libdir = os.path.dirname(installed[0])
        return warned(
            f"{soname} is installed at {libdir} but the dynamic loader does not find it",
            f"`export LD_LIBRARY_PATH={libdir}:${{LD_LIBRARY_PATH:-}}`, or system-wide: "
            f"`echo {libdir} | {advice.sudo(host, 'tee /etc/ld.so.conf.d/cuda.conf')} && "
            f"{advice.sudo(host, 'ldconfig')}`",
            evidence=EVIDENCE,
        )
    return warned(
        f"the CUDA {active.version} toolkit has no {soname} anywhere gpucheck looked",
        "Reinstall the runtime: "
        + advice.install_packages(host, advice.cuda_packages("cudart", active.version)),
        evidence=EVIDENCE,
    )


def _loader_finds(facts: Facts, soname: str, installed: list[str]) -> str | None:
    """How the dynamic loader reaches ``soname`` (cache, LD_LIBRARY_PATH, ld.so.conf), or None."""
    cache = facts.of(ld_cache_names)
    if cache is not None and soname in cache:
        return "the loader cache"
    ld_path = {d.rstrip("/") for d in facts.env.get("LD_LIBRARY_PATH", "").split(":") if d}
    if any(os.path.dirname(p) in ld_path for p in installed):
        return "LD_LIBRARY_PATH"
    if cache is None:  # NOTE: ldconfig could not run (a --sysroot tree): its config says what it would cache
        conf = facts.of(ld_conf_dirs)
        listed = next((conf[os.path.dirname(p)] for p in installed if os.path.dirname(p) in conf), None)
        if listed:
            return listed
    return None


@check("toolkit.cudnn", title="cuDNN libraries on the system", needs=("libraries", "toolkit"))
def check_cudnn(facts: Facts) -> Finding:
    """Which libcudnn versions the system provides (frameworks installed with pip bring their own)."""
    found = sorted(
        {
            os.path.basename(p)
            for p in facts.of(library_paths)
            if os.path.basename(p).startswith("libcudnn.so.")
        }
    )
    if not found:
        toolkit = facts.of(active_toolkit) or _newest(facts)
        major = toolkit.version.split(".")[0] if toolkit is not None and toolkit.version else "12"
        install = advice.install_packages(facts.of(detect_host), advice.cudnn_packages(major))
        return passed(
            "no system cuDNN (fine for pip-installed PyTorch/TensorFlow, which ship their own; "
            f"for native builds: {install})"
        )
    return passed(f"system cuDNN: {', '.join(found)}")
