"""Help text written as plain text, and the examples that close each command's ``--help``.

typer renders help with rich markup, which would eat ``[expect]`` or ``'gpucheck[docker]'``: help strings
that hold brackets go through ``plain``; examples are escaped here.
"""

from __future__ import annotations

from rich.markup import escape

EXAMPLES: dict[str, tuple[str, ...]] = {
    "doctor": (
        "gpucheck doctor                            # what is broken, and the fixes in order",
        "gpucheck doctor -v                         # every finding; -vv adds the evidence",
        "gpucheck doctor --only driver,gpu,toolkit  # the system layers only: no framework probe",
        "gpucheck doctor --skip tensorflow          # never start the TensorFlow probe",
        "gpucheck doctor --json > report.json       # for CI and `gpucheck fleet report`",
        "gpucheck doctor --expect-gpus 8 --expect-driver '>=550' --strict   # a CI gate",
        "gpucheck doctor --python ~/venvs/train/bin/python   # another environment's frameworks",
        "gpucheck doctor --replay node1.json        # diagnose a snapshot taken elsewhere",
    ),
    "snapshot": (
        "gpucheck snapshot -o node1.json            # then, elsewhere: gpucheck doctor --replay node1.json",
        "gpucheck snapshot -o sys.json --only driver,gpu,toolkit",
    ),
    "checks": (
        "gpucheck checks                            # every check id, for --only and --skip",
        "gpucheck doctor --only gpu.health          # then run one of them",
    ),
    "bench-smoke": (
        "gpucheck bench-smoke                  # every placement this host can run, then a recommendation",
        "gpucheck bench-smoke --placements cpu --steps 20000 --json",
        "gpucheck bench-smoke --envs 8,64,512 --hidden 64,256 --plot bench.png  # where the GPU wins",
    ),
    "explain": (
        "gpucheck explain error.log            # the cause of a pasted error, then checked on this machine",
        "pbpaste | gpucheck explain -          # from stdin",
        "gpucheck explain traceback.txt --offline --markdown   # from the text alone, to paste into an issue",
    ),
    "setup docker": (
        "gpucheck setup docker                      # print the daemon.json change as a diff",
        "sudo gpucheck setup docker --apply         # write it (with a backup), then restart dockerd",
        "sudo gpucheck setup docker --cdi --set-default --apply",
    ),
    "image render": (
        "gpucheck image render                      # every Dockerfile of the matrix into dockerfiles/",
        "gpucheck image render --cuda 12.4.1 --ubuntu 22.04 --framework torch",
        "gpucheck image render --check              # CI: exit 1 when a committed file is stale",
    ),
    "image lock": (
        "gpucheck image lock                        # re-resolve every locked base-image digest",
        "gpucheck image lock --tag nvidia/cuda:12.4.1-runtime-ubuntu22.04",
    ),
    "image build": (
        "gpucheck image build cuda12.4.1-runtime-ubuntu22.04-none-py3.10",
        "gpucheck image build cuda12.4.1-runtime-ubuntu22.04-none-py3.10 --reproducible --oci-out img.tar",
    ),
    "image verify": (
        "gpucheck image verify gpucheck/cuda12.4.1-runtime-ubuntu22.04-none-py3.10:local",
        "gpucheck image verify my/image:tag --no-gpus",
    ),
    "image diff": ("gpucheck image diff my/image:a my/image:b --limit 50",),
    "fleet report": (
        "gpucheck fleet report reports/             # every *.json doctor report in the directory",
        "gpucheck fleet report reports/ --markdown > fleet.md",
    ),
    "fleet manifest": (
        "gpucheck fleet manifest --k8s --workload job --nodes 4 -o doctor-job.yaml",
        'gpucheck fleet manifest --slurm --nodes 8 --gpus 8 --doctor-args "--expect-gpus 8"',
    ),
}
"""Command (as typed after ``gpucheck``) → example lines shown at the end of its ``--help``."""


def plain(text: str) -> str:
    """``text`` escaped so rich markup shows it as written (``[expect]`` stays ``[expect]``)."""
    return escape(text)


def examples(command: str) -> str:
    """The ``epilog`` of a command: its examples, one per line, shown as written."""
    return "Examples:\n\n" + "\n".join(escape(line) for line in EXAMPLES[command])
