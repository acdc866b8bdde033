"""Evidence source: what Slurm is told about this node's GPUs, and what a job was granted.

Command line equivalent: ``cat $SLURM_CONF /etc/slurm/gres.conf; scontrol show node $SLURMD_NODENAME;
ls /dev/nvidia[0-9]*; env | grep -E '^(SLURM_|CUDA_VISIBLE_DEVICES)'``. gres.conf always sits beside
slurm.conf (gres.conf(5)). ``scontrol`` runs only on a host with signs of Slurm (a slurm.conf, a job's
environment, or scontrol on PATH), so doctor asks no controller anything elsewhere.
"""

from __future__ import annotations

import platform
import posixpath
import shutil
from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

SLURM_ENV = (
    "SLURM_CONF",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "SLURMD_NODENAME",
    "SLURM_JOB_NODELIST",
    "SLURM_JOB_GPUS",
    "SLURM_STEP_GPUS",
    "SLURM_GPUS_ON_NODE",
    "SLURM_GPUS_PER_NODE",
    "CUDA_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",
)
"""The variables slurmd sets in a job (and SLURM_CONF, which moves the config) that concern GPUs."""
CONF_PATHS = ("/etc/slurm/slurm.conf", "/etc/slurm-llnl/slurm.conf", "/usr/local/etc/slurm.conf")
"""Where slurm.conf lives when SLURM_CONF does not say: Debian/RHEL packages, old Debian, a source build."""
DEVICES = "/dev/nvidia[0-9]*"
SCONTROL_TIMEOUT_S = 5.0


def node_name(ctx: CollectContext) -> str:
    """Slurm's name for this node: SLURMD_NODENAME inside a job, else the short host name."""
    return ctx.env.get("SLURMD_NODENAME") or platform.node().split(".", 1)[0]


@collector("slurm", timeout_s=8.0)
def collect_slurm(ctx: CollectContext) -> Iterable[Item]:
    """slurm.conf, gres.conf, `scontrol show node` for this node, /dev/nvidia*, and a job's GPU variables."""
    env = {k: ctx.env[k] for k in SLURM_ENV if k in ctx.env}
    conf = env.get("SLURM_CONF") or next((p for p in CONF_PATHS if ctx.sysroot.exists(p)), CONF_PATHS[0])
    gres_conf = posixpath.join(posixpath.dirname(conf), "gres.conf")
    slurm_conf = ctx.read(conf)
    name = node_name(ctx)
    scontrol = shutil.which("scontrol", path=ctx.env.get("PATH", ""))
    yield Value(name="slurm_node", data={"node": name, "conf": conf, "gres_conf": gres_conf, "env": env})
    yield slurm_conf
    yield ctx.read(gres_conf)
    yield ctx.glob(DEVICES)
    if slurm_conf.exists or "SLURM_JOB_ID" in env or scontrol:
        yield ctx.run("scontrol", "show", "node", name, timeout_s=SCONTROL_TIMEOUT_S)
