"""Checks: Slurm's view of this node's GPUs against the driver's, and a job's GPUs against what CUDA sees.

Slurm is told about GPUs twice: slurm.conf's ``NodeName=... Gres=gpu[:type]:N`` (what slurmctld schedules)
and gres.conf's ``Name=gpu File=/dev/nvidiaK`` lines or ``AutoDetect=nvml`` (what slurmd reports). When the
two disagree, or disagree with the GPUs the driver has, jobs land on GPUs that are not there, or GPUs sit
idle; slurmctld drains a node whose slurmd reports fewer GPUs than configured ("gres/gpu count reported lower
than configured"). Each finding names the file to edit and the numbers it should hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.slurm import (
    GresConf,
    SlurmConfNode,
    gpu_count,
    gpu_types,
    parse_device_list,
    parse_gres,
    parse_gres_conf,
    parse_scontrol_node,
    parse_slurm_conf,
    parse_tres,
)
from gpucheck.diagnose.registry import check

NEEDS = ("slurm", "nvml", "nvidia_smi", "procfs")
EVIDENCE = ("slurm_node", "dir:/dev/nvidia[0-9]*", "nvml")


@dataclass(frozen=True, slots=True)
class SlurmView:
    """What Slurm is told about this node, from whichever of scontrol, slurm.conf and gres.conf answered."""

    node: str
    conf: str
    gres_conf: str
    env: dict[str, str]
    scontrol: dict[str, str] | None = None
    """``scontrol show node`` fields, None when it did not run or answer."""
    scontrol_error: str | None = None
    slurm_conf: SlurmConfNode | None = None
    gres: GresConf | None = None
    gres_conf_exists: bool | None = None
    """Whether gres.conf exists beside slurm.conf (None: not collected)."""
    devices: tuple[str, ...] = ()
    """/dev/nvidia<N> device nodes present on the host."""
    problems: list[str] = field(default_factory=list)
    """Files or outputs that could not be read or parsed."""

    @property
    def present(self) -> bool:
        """Whether this host is a Slurm node at all (config, controller answer, or a job's environment)."""
        return self.scontrol is not None or self.slurm_conf is not None or "SLURM_JOB_ID" in self.env

    @property
    def configured(self) -> int | None:
        """GPUs slurmctld schedules on the node: scontrol's Gres, else slurm.conf's."""
        if self.scontrol is not None:
            try:
                return gpu_count(parse_gres(self.scontrol.get("Gres")))
            except ParseError:
                tres = parse_tres(self.scontrol.get("CfgTRES")).get("gres/gpu", "0")
                return int(tres) if tres.isdigit() else None
        if self.slurm_conf is not None:
            return gpu_count(list(self.slurm_conf.gres))
        return None

    @property
    def types(self) -> dict[str, int]:
        """GPU types Slurm knows the node by (``a100`` in ``gpu:a100:4``)."""
        try:
            if self.scontrol is not None:
                return gpu_types(parse_gres(self.scontrol.get("Gres")))
        except ParseError:
            return {}
        return gpu_types(list(self.slurm_conf.gres)) if self.slurm_conf is not None else {}


def slurm_view(evidence: Evidence) -> SlurmView:
    """Build the Slurm view from the slurm collector's evidence."""
    meta = evidence.value("slurm_node")
    data = meta.data if meta is not None and isinstance(meta.data, dict) else {}
    node, conf, gres_conf = (str(data.get(k, "")) for k in ("node", "conf", "gres_conf"))
    env = (
        {str(k): str(v) for k, v in (data.get("env") or {}).items()}
        if isinstance(data.get("env"), dict)
        else {}
    )
    problems: list[str] = []
    scontrol = error = None
    run = evidence.command("scontrol", "show", "node", node)
    if run is not None and run.succeeded:
        try:
            scontrol = parse_scontrol_node(run.stdout)
        except ParseError as exc:
            problems.append(f"`scontrol show node {node}`: {exc}")
    elif run is not None:
        error = run.describe_failure()
    slurm_conf = gres = None
    read = evidence.file(conf)
    if read is not None and read.content is not None:
        try:
            slurm_conf = parse_slurm_conf(read.content, node)
        except ParseError as exc:
            problems.append(f"{conf}: {exc}")
    read = evidence.file(gres_conf)
    gres_exists = None if read is None else read.exists
    if read is not None and read.content is not None:
        try:
            gres = parse_gres_conf(read.content, node)
        except ParseError as exc:
            problems.append(f"{gres_conf}: {exc}")
    listing = evidence.dir("/dev/nvidia[0-9]*")
    devices = tuple(sorted(listing.entries)) if listing is not None else ()
    return SlurmView(
        node, conf, gres_conf, env, scontrol, error, slurm_conf, gres, gres_exists, devices, problems
    )


def _evidence(view: SlurmView) -> tuple[str, ...]:
    return (f"file:{view.conf}", f"file:{view.gres_conf}", f"cmd:scontrol show node {view.node}", *EVIDENCE)


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum()).replace("nvidia", "").replace("geforce", "")


def _where(view: SlurmView) -> str:
    if view.scontrol is not None:
        return f"scontrol: Gres={view.scontrol.get('Gres', '(null)')}"
    return f"{view.conf}: NodeName={view.node} Gres=…"


def _reported(view: SlurmView, driver_gpus: int) -> tuple[int | None, str]:
    """What slurmd reports for the node (gres.conf files or AutoDetect) and where that comes from."""
    if view.gres is None:
        if view.gres_conf_exists is False:
            return 0, f"there is no {view.gres_conf}, and Slurm drops a GPU without a device File"
        return None, f"{view.gres_conf} was not read"
    if view.gres.lines == 0 and view.gres.autodetect in (None, "off"):
        return 0, f"{view.gres_conf} has no Name=gpu line for this node"
    if view.gres.autodetect in ("nvml", "nvidia") and view.gres.lines == 0:
        return driver_gpus, f"{view.gres_conf}: AutoDetect={view.gres.autodetect}"
    return view.gres.count, f"{view.gres_conf}: {view.gres.lines} Name=gpu line(s), {view.gres.count} GPU(s)"


def _devices_fix(count: int) -> str:
    if count <= 0:
        return "no Name=gpu line for this node"
    last = f"/dev/nvidia[0-{count - 1}]" if count > 1 else "/dev/nvidia0"
    return f"`NodeName=<node> Name=gpu File={last}` (or `AutoDetect=nvml`)"


@check("slurm.gres", title="Slurm schedules the GPUs this node has", needs=NEEDS)
def check_gres(facts: Facts) -> Finding:
    """slurm.conf/scontrol Gres gpu count and types, and gres.conf's devices, against the driver's GPUs."""
    view = facts.of(slurm_view)
    if not view.present:
        return skipped(
            "not a Slurm node (no slurm.conf, no job environment, no scontrol)", evidence=_evidence(view)
        )
    gpus = facts.of(gpu_inventory)
    have = len(gpus)
    driver_loaded = facts.of(driver_info).loaded
    configured = view.configured
    data = {
        "node": view.node,
        "slurm_gpus": configured,
        "driver_gpus": have,
        "slurm_types": view.types,
        "state": (view.scontrol or {}).get("State"),
        "reason": (view.scontrol or {}).get("Reason"),
    }
    if configured is None:
        why = view.scontrol_error or "; ".join(view.problems) or f"{view.conf} does not list this node"
        return skipped(
            f"Slurm's GPU count for {view.node} is unknown: {why}", evidence=_evidence(view), data=data
        )
    reported, reported_from = _reported(view, have)
    drained = ""
    reason = data["reason"] or ""
    if "gres" in reason.lower():
        drained = f"; slurmctld drained it: Reason={reason}"
    in_job = "SLURM_JOB_ID" in view.env
    restart = (
        f"then `scontrol reconfigure` (or restart slurmctld and this node's slurmd) and "
        f"`scontrol update NodeName={view.node} State=RESUME`."
    )
    if configured > have and not (in_job and have > 0):
        cause = "" if driver_loaded else " (no NVIDIA driver is loaded here: see driver.loaded)"
        target = (
            f"If this node has {have} GPU(s), set `Gres=gpu:{have}` on its NodeName line in {view.conf}"
            if have
            else f"If this node has no GPU, remove `Gres=gpu:…` from its NodeName line in {view.conf}"
        )
        return failed(
            f"Slurm schedules {configured} GPU(s) on {view.node} ({_where(view)}) but the driver sees "
            f"{have}{cause}: jobs given the missing GPUs fail{drained}",
            f"Fix the driver first if the GPUs are there. {target} and make {view.gres_conf} agree "
            f"({_devices_fix(have)}); {restart}",
            evidence=_evidence(view),
            data=data,
        )
    autodetected = view.gres is not None and view.gres.lines == 0 and view.gres.autodetect is not None
    if reported is not None and reported < configured and not (in_job and autodetected):
        return failed(
            f"{view.conf} gives {view.node} {configured} GPU(s) but slurmd reports {reported} "
            f"({reported_from}): "
            f'slurmctld drains the node ("gres/gpu count reported lower than configured"){drained}',
            f"Make {view.gres_conf} list the node's {have} GPU(s): {_devices_fix(have)}; {restart}",
            evidence=_evidence(view),
            data=data,
        )
    missing = [
        f
        for f in (view.gres.files if view.gres else ())
        if f.startswith("/dev/nvidia") and view.devices and f not in view.devices
    ]
    if missing:
        return failed(
            f"{view.gres_conf} names {', '.join(missing)}, which this host does not have (it has "
            f"{', '.join(view.devices) or 'no /dev/nvidiaN'}): "
            'slurmd stops with "can\'t stat gres.conf file"',
            f"Edit the File= lines of {view.gres_conf} to the devices present ({_devices_fix(have)}); "
            f"{restart}",
            evidence=_evidence(view),
            data=data,
        )
    if configured < have and not in_job:
        fix = (
            f"Add `GresTypes=gpu` to {view.conf} and `Gres=gpu:{have}` to the NodeName line of {view.node}"
            if configured == 0
            else f"Set `Gres=gpu:{have}` on the NodeName line of {view.node} in {view.conf}"
        )
        return warned(
            f"{view.node} has {have} GPU(s) but Slurm schedules {configured}: {have - configured} GPU(s) "
            "are never given to a job",
            f"{fix}, and list them in {view.gres_conf} ({_devices_fix(have)}); {restart}",
            evidence=_evidence(view),
            data=data,
        )
    names = [_norm(g.name) for g in gpus]
    unknown = [t for t in view.types if names and not any(_norm(t) in n for n in names)]
    if unknown:
        models = ", ".join(sorted({g.name for g in gpus}))
        return warned(
            f"Slurm knows {view.node}'s GPUs as type {', '.join(unknown)}, but they are {models}: "
            f"`--gres=gpu:{unknown[0]}:1` requests do not say what they get",
            f"Name the type after the model on the NodeName line in {view.conf} and in the Type= of "
            f"{view.gres_conf} (AutoDetect=nvml names it `{_type_name(gpus[0].name)}`); {restart}",
            evidence=_evidence(view),
            data=data,
        )
    if in_job and 0 < have < configured:
        return passed(
            f"this job sees {have} of the {configured} GPU(s) Slurm schedules on {view.node} (a job is "
            "confined to the GPUs it was given)",
            evidence=_evidence(view),
            data=data,
        )
    if configured == 0:
        return passed(
            f"Slurm schedules no GPU on {view.node}, and the driver sees none",
            evidence=_evidence(view),
            data=data,
        )
    return passed(
        f"Slurm schedules {configured} GPU(s) on {view.node} ({_where(view)}), as the driver reports",
        evidence=_evidence(view),
        data=data,
    )


def _type_name(name: str) -> str:
    """The type AutoDetect=nvml gives a GPU: ``nvidia_`` + its name lower-cased, spaces to underscores."""
    text = name.lower()
    text = text.removeprefix("nvidia ")
    return "nvidia_" + "_".join(text.split())


@check("slurm.job_gpus", title="a Slurm job's GPUs are the ones CUDA sees", needs=NEEDS)
def check_job_gpus(facts: Facts) -> Finding:
    """Inside a job: CUDA_VISIBLE_DEVICES / SLURM_STEP_GPUS / SLURM_JOB_GPUS against the driver's GPUs."""
    view = facts.of(slurm_view)
    if "SLURM_JOB_ID" not in view.env:
        return skipped("not inside a Slurm job (SLURM_JOB_ID is unset)", evidence=_evidence(view))
    job = view.env["SLURM_JOB_ID"]
    granted = parse_device_list(view.env.get("SLURM_STEP_GPUS") or view.env.get("SLURM_JOB_GPUS"))
    visible_raw = view.env.get("CUDA_VISIBLE_DEVICES")
    visible = parse_device_list(visible_raw)
    have = len(facts.of(gpu_inventory))
    data = {"job": job, "granted": granted, "cuda_visible_devices": visible_raw, "driver_gpus": have}
    if not granted and visible_raw is None:
        return passed(
            f"job {job} was given no GPU (no --gres=gpu / --gpus)", evidence=_evidence(view), data=data
        )
    if granted and visible_raw is None:
        return warned(
            f"Slurm gave job {job} GPU(s) {','.join(granted)} but did not set CUDA_VISIBLE_DEVICES: the job "
            "uses whichever GPUs it finds, including other jobs'",
            f"Give the GPUs device files in {view.gres_conf} (`File=/dev/nvidiaN`, or AutoDetect=nvml): "
            "Slurm sets CUDA_VISIBLE_DEVICES only for GRES with a File; and `ConstrainDevices=yes` in "
            "cgroup.conf.",
            evidence=_evidence(view),
            data=data,
        )
    if visible and have == 0:
        return failed(
            f"job {job} has CUDA_VISIBLE_DEVICES={visible_raw} but the driver sees no GPU here: "
            "CUDA reports no device",
            f"Fix the driver on {view.node} (see driver.loaded and gpu.present), or drain it: "
            f'`scontrol update NodeName={view.node} State=DRAIN Reason="no GPU"`.',
            evidence=_evidence(view),
            data=data,
        )
    beyond = [v for v in visible if v.isdigit() and int(v) >= have]
    if beyond:
        return failed(
            f"job {job} has CUDA_VISIBLE_DEVICES={visible_raw}, but the driver sees {have} GPU(s) "
            f"(0-{have - 1}): CUDA ignores {', '.join(beyond)} and every device after it",
            f"The File= lines of {view.gres_conf} name devices that are not this host's GPUs in driver "
            "order; list /dev/nvidia0 … in index order (or AutoDetect=nvml) and restart slurmd.",
            evidence=_evidence(view),
            data=data,
        )
    if granted and visible and len(granted) != len(visible):
        return warned(
            f"Slurm gave job {job} {len(granted)} GPU(s) ({','.join(granted)}) but CUDA_VISIBLE_DEVICES "
            f"lists {len(visible)} ({visible_raw}): something in the job changed it",
            "Do not set CUDA_VISIBLE_DEVICES in the job script or its modules; Slurm sets it per step.",
            evidence=_evidence(view),
            data=data,
        )
    return passed(
        f"job {job} was given GPU(s) {','.join(granted) or visible_raw}; CUDA_VISIBLE_DEVICES={visible_raw} "
        f"names {len(visible)} of the {have} the driver sees",
        evidence=_evidence(view),
        data=data,
    )
