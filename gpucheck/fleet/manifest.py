"""Render manifests that run ``gpucheck doctor`` on every node through the scheduler a fleet already has.

Kubernetes: a DaemonSet (every matching node) or a Job (N nodes, one pod each), selecting GPU nodes,
requesting ``nvidia.com/gpu`` and writing ``<node>.json`` to a volume as well as to the pod log. Slurm: an
sbatch script whose ``srun`` runs one task per node into a shared directory, then ``gpucheck fleet report``
on it. Templates are package data (``gpucheck/fleet/data/``) rendered by Jinja2 with ``StrictUndefined``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import jinja2

DEFAULT_IMAGE = "gpucheck/cuda12.4.1-runtime-ubuntu22.04-none-py3.10:local"
"""The tag ``gpucheck image build cuda12.4.1-runtime-ubuntu22.04-none-py3.10`` gives the image rendered in
``dockerfiles/``; push it to a registry the nodes can pull from and pass that name with ``--image``."""
DEFAULT_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
"""The label NVIDIA GPU feature discovery (part of the GPU operator) puts on GPU nodes."""
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
WORKLOADS = ("daemonset", "job")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?" + _LABEL_NAME)
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
# NOTE: every value rendered into a script or YAML is validated against a closed character set (no
# whitespace, quotes or shell metacharacters), never escaped: a newline in a path would otherwise turn a
# comment into a command or add an #SBATCH directive. Each pattern is unambiguous (linear-time).
_PATH_CHARS = r"[A-Za-z0-9_./@%+=:,~-]"
_REPORTS_DIR = re.compile(rf"(/|\$[A-Za-z_][A-Za-z0-9_]*(/|$)){_PATH_CHARS}*")
_HOST_DIR = re.compile(rf"/{_PATH_CHARS}*")
_FILENAME = re.compile(r"[A-Za-z0-9_.+@,=][A-Za-z0-9_.+@,=-]*")
_SBATCH_LIST = re.compile(r"[A-Za-z0-9_.,&|\[\]*:!-]+")
_TIME_LIMIT = re.compile(r"[0-9]{1,6}(-[0-9]{1,2})?(:[0-9]{1,2}){0,2}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?:[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)
"""An image reference as the distribution spec's grammar gives it: [registry[:port]/]name[:tag][@digest]."""


class ManifestError(ValueError):
    """An option cannot go into a manifest (a usage error)."""


@dataclass(frozen=True, slots=True)
class ManifestOptions:
    """What the rendered manifest runs and where."""

    namespace: str = "gpucheck"
    """Kubernetes namespace."""
    image: str = DEFAULT_IMAGE
    node_selector: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_NODE_SELECTOR))
    """Kubernetes node labels a node must carry."""
    doctor_args: Sequence[str] = ()
    """Extra ``gpucheck doctor`` arguments (expectations such as ``--expect-gpus 8``)."""
    gpus: int = 1
    """GPUs requested per pod (``nvidia.com/gpu``) or per node (Slurm ``--gres``; 0 leaves it out)."""
    workload: str = "daemonset"
    """``daemonset`` (every matching node) or ``job``."""
    nodes: int = 1
    """Job completions / Slurm ``--nodes``."""
    pvc: str = ""
    """A ReadWriteMany PersistentVolumeClaim for the reports; a hostPath on each node when empty."""
    host_dir: str = "/var/lib/gpucheck/reports"
    reports_dir: str = "$HOME/gpucheck-reports"
    """Slurm: the shared directory the nodes write to (a job-id subdirectory is created)."""
    partition: str = ""
    constraint: str = ""
    time_limit: str = "00:20:00"
    name: str = "gpucheck-doctor"


def parse_node_selector(values: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` → ``{k: v}``, checked against Kubernetes label syntax."""
    selector: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value) or len(value) > 63:
            raise ManifestError(f"--node-selector {item!r}: expected key=value (nvidia.com/gpu.present=true)")
        selector[key] = value
    return selector


def _check(opts: ManifestOptions) -> None:
    if not _DNS_LABEL.fullmatch(opts.namespace):
        raise ManifestError(f"--namespace {opts.namespace!r}: not a namespace name (lowercase, digits, '-')")
    if not _DNS_LABEL.fullmatch(opts.name):
        raise ManifestError(f"name {opts.name!r}: lowercase letters, digits and '-' only")
    if opts.pvc and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", opts.pvc):
        raise ManifestError(f"--pvc {opts.pvc!r} is not a valid claim name")
    if len(opts.image) > 512 or not _IMAGE.fullmatch(opts.image):
        raise ManifestError(
            f"--image {opts.image!r} is not an image reference ([registry[:port]/]name[:tag][@sha256:digest])"
        )
    if not _HOST_DIR.fullmatch(opts.host_dir):
        raise ManifestError(
            f"host directory {opts.host_dir!r}: an absolute path of letters, digits and {_PATH_CHARS}"
        )
    if opts.workload not in WORKLOADS:
        raise ManifestError(f"--workload {opts.workload!r}: choose {' or '.join(WORKLOADS)}")
    if opts.gpus < 0 or opts.nodes < 1:
        raise ManifestError("--gpus must be ≥ 0 and --nodes ≥ 1")
    for arg in opts.doctor_args:
        if not arg.isprintable():
            raise ManifestError(
                f"--doctor-args {arg!r}: control characters (a newline, a tab) are not allowed"
            )


def _check_slurm(opts: ManifestOptions, filename: str) -> None:
    if not _REPORTS_DIR.fullmatch(opts.reports_dir):
        raise ManifestError(
            f"--reports-dir {opts.reports_dir!r}: an absolute path, or one starting with $VARIABLE/, made of "
            "letters, digits and _./@%+=:,~- (no spaces, quotes, newlines or other shell characters)"
        )
    if not _FILENAME.fullmatch(filename):
        raise ManifestError(
            f"--output file name {filename!r}: letters, digits and _.+@,=- only (it is named in the script)"
        )
    for label, value in (("--partition", opts.partition), ("--constraint", opts.constraint)):
        if value and not _SBATCH_LIST.fullmatch(value):
            raise ManifestError(f"{label} {value!r} contains characters sbatch does not accept")
    if not _TIME_LIMIT.fullmatch(opts.time_limit):
        raise ManifestError(f"time limit {opts.time_limit!r}: [days-]hours:minutes:seconds, as sbatch --time")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gpucheck.fleet", "data"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["shell_quote"] = _shell_quote
    # NOTE: a JSON string is a valid YAML double-quoted scalar, so this quotes any value safely.
    env.filters["yaml_str"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def _shell_quote(value: str) -> str:
    """Quote for sh, but leave a leading ``$HOME``/``$VAR`` expandable (Slurm report directories)."""
    match = re.fullmatch(r"(\$[A-Za-z_][A-Za-z0-9_]*)(/.*)?", value)
    if match:
        return f'"{match.group(1)}"' + (shlex.quote(match.group(2)) if match.group(2) else "")
    return shlex.quote(value)


def pod_script(doctor_args: Sequence[str]) -> str:
    """The shell line a pod runs: doctor's JSON to the volume (named after the node), then to the log."""
    args = " ".join(shlex.quote(a) for a in ("--json", *doctor_args))
    out = '"/reports/$NODE_NAME'
    return f'gpucheck doctor {args} > {out}.json" 2> {out}.stderr.txt"; cat {out}.json"'


def render_k8s(opts: ManifestOptions) -> str:
    """The Kubernetes manifest (one YAML document)."""
    _check(opts)
    template = _environment().get_template(f"k8s-{opts.workload}.yaml.j2")
    return template.render(
        name=opts.name,
        namespace=opts.namespace,
        image=opts.image,
        node_selector=dict(opts.node_selector),
        gpus=max(opts.gpus, 1),
        completions=opts.nodes,
        pvc=opts.pvc,
        host_dir=opts.host_dir,
        pause_image=PAUSE_IMAGE,
        script=pod_script(opts.doctor_args),
    )


def render_slurm(opts: ManifestOptions, filename: str = "gpucheck-fleet.sbatch") -> str:
    """The sbatch script."""
    _check(opts)
    _check_slurm(opts, filename)
    return (
        _environment()
        .get_template("slurm.sbatch.j2")
        .render(
            name=opts.name,
            filename=filename,
            nodes=opts.nodes,
            gpus=opts.gpus,
            partition=opts.partition,
            constraint=opts.constraint,
            time_limit=opts.time_limit,
            reports_dir=opts.reports_dir,
            doctor_args=" ".join(shlex.quote(a) for a in opts.doctor_args),
        )
    )
