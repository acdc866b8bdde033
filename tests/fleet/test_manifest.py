"""`gpucheck fleet manifest`: Kubernetes manifests validated offline against the Kubernetes schemas, and the
Slurm recipe run end to end with a stand-in `srun` that runs its one task here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import kubernetes_validate
import pytest
import yaml

from gpucheck.fleet.manifest import ManifestOptions, _environment, render_k8s
from tests.conftest import FakeBin, base_env
from tests.fleet.conftest import SNAPSHOT

# The oldest and newest Kubernetes schema versions kubernetes-validate ships (it stores them offline).
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def _validate(text: str) -> dict:
    doc = yaml.safe_load(text)
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)
    return doc


@pytest.mark.parametrize("workload", ["daemonset", "job"])
def test_cli_manifest_validates_against_the_kubernetes_schemas(invoke, workload: str):
    result = invoke(
        "fleet",
        "manifest",
        "--k8s",
        "--workload",
        workload,
        "--namespace",
        "gpu-ops",
        "--node-selector",
        "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3",
        "--node-selector",
        "pool=train",
        "--image",
        "registry.example.com/gpucheck:cuda12.4",
        "--gpus",
        "8",
        "--nodes",
        "16",
        "--doctor-args",
        "--expect-gpus 8 --expect-driver '>=550,<560'",
    )
    assert result.exit_code == 0, result.stderr
    doc = _validate(result.stdout)
    assert doc["kind"] == {"daemonset": "DaemonSet", "job": "Job"}[workload]
    assert doc["metadata"]["namespace"] == "gpu-ops"
    pod = doc["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "pool": "train"}
    doctor = (pod["initContainers"] if workload == "daemonset" else pod["containers"])[0]
    assert doctor["image"] == "registry.example.com/gpucheck:cuda12.4"
    assert doctor["resources"]["limits"] == {"nvidia.com/gpu": 8}
    assert doctor["args"] == [
        "gpucheck doctor --json --expect-gpus 8 --expect-driver '>=550,<560' "
        '> "/reports/$NODE_NAME.json" 2> "/reports/$NODE_NAME.stderr.txt"; cat "/reports/$NODE_NAME.json"'
    ]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    if workload == "job":
        assert doc["spec"]["completions"] == doc["spec"]["parallelism"] == 16
        anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert anti["topologyKey"] == "kubernetes.io/hostname"


def test_defaults_select_gpu_nodes_and_keep_reports_on_a_host_path():
    doc = _validate(render_k8s(ManifestOptions()))
    pod = doc["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["volumes"] == [
        {"name": "reports", "hostPath": {"path": "/var/lib/gpucheck/reports", "type": "DirectoryOrCreate"}}
    ]


def test_pvc_volume_and_values_needing_quotes_stay_valid_yaml():
    opts = ManifestOptions(pvc="fleet-reports", workload="job", node_selector={"example.com/zone": "true"})
    doc = _validate(render_k8s(opts))
    volume = doc["spec"]["template"]["spec"]["volumes"][0]
    assert volume["persistentVolumeClaim"] == {"claimName": "fleet-reports"}
    # "true" and "null"-looking strings must stay strings for nodeSelector (a map of strings).
    assert doc["spec"]["template"]["spec"]["nodeSelector"] == {"example.com/zone": "true"}


def test_pod_script_is_valid_shell():
    script = yaml.safe_load(render_k8s(ManifestOptions(doctor_args=["--expect-gpu-name", "H100|A100"])))
    line = script["spec"]["template"]["spec"]["initContainers"][0]["args"][0]
    assert "--expect-gpu-name 'H100|A100'" in line
    assert subprocess.run(["/bin/sh", "-n", "-c", line]).returncode == 0


def test_templates_are_strict_about_missing_values():
    with pytest.raises(jinja2.UndefinedError):
        _environment().get_template("k8s-job.yaml.j2").render(name="x")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k8s", "--namespace", "GPU_Ops"], "--namespace 'GPU_Ops'"),
        (["--k8s", "--node-selector", "gpu"], "expected key=value"),
        (["--k8s", "--doctor-args", "--expect-gpu 8"], "gpucheck doctor has no option --expect-gpu"),
        (["--k8s", "--doctor-args", "--json"], "--json is set by the manifest itself"),
        (["--k8s", "--workload", "cronjob"], "--workload 'cronjob'"),
        (["--k8s", "--slurm"], "choose one of --k8s or --slurm"),
        ([], "choose one of --k8s or --slurm"),
        (["--slurm", "--partition", "gpu; rm -rf /"], "--partition"),
    ],
)
def test_bad_options_are_usage_errors(invoke, args: list[str], message: str):
    result = invoke("fleet", "manifest", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_slurm_recipe_runs_end_to_end(invoke, tmp_path: Path, fake_bin: FakeBin):
    script = tmp_path / "fleet.sbatch"
    result = invoke(
        "fleet",
        "manifest",
        "--slurm",
        "--nodes",
        "4",
        "--gpus",
        "2",
        "--partition",
        "gpu",
        "--reports-dir",
        str(tmp_path / "shared"),
        "--doctor-args",
        f"--replay {SNAPSHOT} --expect-gpus 2",
        "--output",
        str(script),
    )
    assert result.exit_code == 0, result.stderr
    text = script.read_text()
    assert "#SBATCH --nodes=4\n#SBATCH --ntasks-per-node=1\n#SBATCH --gres=gpu:2\n" in text
    assert "#SBATCH --partition=gpu\n" in text
    assert "srun --ntasks-per-node=1" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    # A stand-in srun: drops its own options and runs the task once, as on a one-node allocation.
    fake_bin.add_script("srun", 'while [ "${1#--}" != "$1" ]; do shift; done; exec "$@"')
    gpucheck = Path(sys.executable).parent / "gpucheck"
    shutil.copy(gpucheck if gpucheck.exists() else shutil.which("gpucheck"), fake_bin.path / "gpucheck")
    env = base_env(fake_bin, SLURM_JOB_ID="4242", SLURM_JOB_NUM_NODES="1", HOME=str(tmp_path))
    env["PATH"] += os.pathsep + str(Path(sys.executable).parent)
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=120)
    out_dir = tmp_path / "shared" / "4242"
    reports = sorted(out_dir.glob("*.json"))
    assert len(reports) == 1, run.stderr
    assert json.loads(reports[0].read_text())["meta"]["hostname"] == "h100-node"
    assert run.returncode == 0, run.stdout + run.stderr  # one warn-only node: the fleet passes
    assert "1 nodes: 1 ok, 0 failing, 0 outliers" in run.stdout
    assert (out_dir / "fleet.md").read_text().startswith("## gpucheck fleet report")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Issue 13: a newline in a path turned a comment into a command, or added an #SBATCH directive.
        (["--reports-dir", "/shared/r\ntouch /tmp/pwned\n"], "--reports-dir"),
        (["--reports-dir", "/shared\n#SBATCH --partition=admin-only --exclusive\n#"], "--reports-dir"),
        (["--reports-dir", "/shared/$(id)"], "--reports-dir"),
        (["--reports-dir", "relative/dir"], "--reports-dir"),
        (["--output", "x\n#SBATCH --exclusive"], "--output file name"),
        (["--doctor-args", "--expect-gpu-name 'H100\n#SBATCH --exclusive'"], "control characters"),
        (["--partition", "gpu\n#SBATCH --exclusive"], "--partition"),
    ],
)
def test_values_rendered_into_the_sbatch_script_are_validated(invoke, tmp_path: Path, args, message):
    if "--output" in args:
        args = ["--output", str(tmp_path / args[1])]
    result = invoke("fleet", "manifest", "--slurm", *args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr and result.stdout == ""
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--image", "registry.example.com/x:1\n  command: [sh]"],
        ["--image", "x y"],
        ["--doctor-args", "--expect-gpu-name 'a\nb'"],
    ],
)
def test_values_rendered_into_yaml_are_validated(invoke, args):
    result = invoke("fleet", "manifest", "--k8s", *args)
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.startswith("gpucheck: error: ")


def test_accepted_values_still_render_a_valid_script(invoke, tmp_path: Path):
    result = invoke(
        "fleet",
        "manifest",
        "--slurm",
        "--reports-dir",
        "$SCRATCH/gpucheck_reports-2026",
        "--partition",
        "gpu,debug",
        "--image",
        "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04@sha256:" + "a" * 64,
    )
    assert result.exit_code == 0, result.stderr
    assert 'REPORT_DIR="$SCRATCH"/gpucheck_reports-2026/"${SLURM_JOB_ID}"' in result.stdout
    script = tmp_path / "s.sbatch"
    script.write_text(result.stdout)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    directives = [line for line in result.stdout.splitlines() if line.startswith("#SBATCH")]
    assert [d.split("=")[0] for d in directives] == [
        "#SBATCH --job-name",
        "#SBATCH --nodes",
        "#SBATCH --ntasks-per-node",
        "#SBATCH --gres",
        "#SBATCH --partition",
        "#SBATCH --time",
        "#SBATCH --output",
    ]
