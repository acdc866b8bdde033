"""scripts/gpu-verify.sh on this GPU-less machine (GPU steps skip with the reason, exit 0), its recording of
every nvidia-smi command through a stand-in nvidia-smi, and scripts/import-gpu-evidence.py on the result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tomllib

from tests.conftest import FIXTURES, FakeBin, base_env

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu-verify.sh"
IMPORT = REPO / "scripts" / "import-gpu-evidence.py"
SMI = FIXTURES / "system" / "nvidia_smi"
P2000_XML = (SMI / "q_x_p2000.xml").read_text()
TABLE = (SMI / "header_r550.txt").read_text()
# Written for this test (not a recording): the facts CSV, in `--format=csv` shape, for q_x_p2000.xml's P2000.
FACTS_CSV = (
    "index, name, uuid, driver_version, memory.total [MiB], compute_cap, persistence_mode, compute_mode, "
    "mig.mode.current, ecc.mode.current, ecc.errors.uncorrected.volatile.total, "
    "ecc.errors.uncorrected.aggregate.total, retired_pages.pending, remapped_rows.pending, "
    "remapped_rows.failure, pstate, utilization.gpu [%], pcie.link.gen.current, pcie.link.gen.max, "
    "pcie.link.width.current, "
    "pcie.link.width.max\n"
    "0, Quadro P2000, GPU-1ffe36ef-ac55-60ad-f9cf-623871e7736d, "
    "418.56, 5059 MiB, 6.1, Disabled, Default, "
    "[N/A], [N/A], [N/A], [N/A], No, [N/A], [N/A], P8, 0 %, 1, 3, 16, 16\n"
)


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    return subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "--out",
            str(tmp_path / "out"),
            "--skip-install",
            "--python",
            sys.executable,
            "--quick",
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _steps(out: Path) -> dict[str, tuple[str, str]]:
    rows = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()[1:]]
    return {name: (status, note) for name, status, _secs, note in rows}


def test_without_a_gpu_the_gpu_steps_skip_with_the_reason_and_it_exits_0(tmp_path: Path):
    run = _run(tmp_path, base_env(), "--skip", "bench")
    out = tmp_path / "out"
    assert run.returncode == 0, run.stdout + run.stderr
    steps = _steps(out)
    reason = "no NVIDIA GPU: nvidia-smi is not installed"
    assert steps["install"] == ("skipped", f"--skip-install: using {sys.executable} as it is")
    assert steps["nvidia-smi"] == ("skipped", reason)
    assert steps["gpu-tests"][0] == "skipped" and steps["gpu-tests"][1].startswith(reason)
    assert steps["doctor-tf2-bf16"][0] == "skipped"
    assert steps["bench"] == ("skipped", "not asked for (--skip/--only)")
    assert steps["doctor"][0] == "ok" and steps["snapshot"][0] == "ok"
    doctor = json.loads((out / "doctor.json").read_text())
    assert doctor["format"] == "gpucheck-report"
    snapshot = json.loads((out / "evidence" / "snapshot.json").read_text())
    assert "evidence" in snapshot
    summary = (out / "summary.md").read_text()
    assert f"GPU: {reason}." in summary and "0 failed, 0 timed out" in summary
    assert f"| nvidia-smi | skipped | 0 | {reason} |" in summary
    assert "## doctor.json: " in summary


def test_a_step_that_fails_is_recorded_and_the_others_still_run(tmp_path: Path, fake_bin: FakeBin):
    # A python without gpucheck: snapshot and doctor fail; the script still writes every line and exits 1.
    broken = fake_bin.add_script("python-broken", 'echo "No module named gpucheck" >&2; exit 1')
    env = base_env(fake_bin)
    run = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "--out",
            str(tmp_path / "out"),
            "--skip-install",
            "--python",
            str(broken),
            "--quick",
            "--skip",
            "bench",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1
    steps = _steps(tmp_path / "out")
    assert steps["snapshot"][0] == "failed" and steps["doctor"][0] == "failed"
    assert "exit 1" in steps["doctor"][1]
    assert (tmp_path / "out" / "summary.md").read_text().startswith("# gpu-verify summary")


def test_every_nvidia_smi_command_is_recorded_and_imported_as_a_fixture(tmp_path: Path, fake_bin: FakeBin):
    fake_bin.add(
        "nvidia-smi",
        TABLE,
        by_args={
            "-L": ("GPU 0: Quadro P2000 (UUID: GPU-1ffe36ef-ac55-60ad-f9cf-623871e7736d)\n", "", 0),
            "-q -x": (P2000_XML, "", 0),
            "-q": ("==============NVSMI LOG==============\n", "", 0),
            "--query-gpu=index,name,uuid,driver_version,memory.total,compute_cap,persistence_mode,compute_mode,"
            "mig.mode.current,ecc.mode.current,ecc.errors.uncorrected.volatile.total,"
            "ecc.errors.uncorrected.aggregate.total,retired_pages.pending,remapped_rows.pending,"
            "remapped_rows.failure,pstate,utilization.gpu,pcie.link.gen.current,pcie.link.gen.max,"
            "pcie.link.width.current,pcie.link.width.max --format=csv": (FACTS_CSV, "", 0),
        },
    )
    run = _run(tmp_path, base_env(fake_bin), "--only", "evidence")
    out = tmp_path / "out"
    assert run.returncode == 0, run.stdout + run.stderr + (out / "summary.md").read_text()
    evidence = out / "evidence"
    from gpucheck.collect.sources import nvidia_smi

    runs = [(tuple(f.read_text().split()), f.with_suffix(".out")) for f in evidence.glob("nvidia-smi-*.argv")]
    recorded = dict(runs)
    for argv in (nvidia_smi.QUERY_ARGV, nvidia_smi.XML_ARGV, nvidia_smi.TEXT_ARGV, nvidia_smi.TABLE_ARGV):
        assert tuple(argv[1:]) in recorded, argv
    assert ("-L",) in recorded and recorded[("-q", "-x")].read_text() == P2000_XML
    # The snapshot ran gpucheck's own collector through the recording shim: its query is there twice.
    assert [a for a, _ in runs].count(tuple(nvidia_smi.QUERY_ARGV[1:])) >= 2
    assert (evidence / "nvidia-smi-facts.csv").read_text() == FACTS_CSV

    dest = tmp_path / "real"
    dest.mkdir()
    (dest / "README.md").write_text("| Capture | Form |\n|---|---|\n")
    imported = subprocess.run(
        [sys.executable, str(IMPORT), str(out), "--dest", str(dest), "--date", "2026-12-01"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    folder = dest / "gpuverify--quadro-p2000--418.56"
    assert (folder / "nvidia-smi-q-x.xml").read_text() == P2000_XML
    capture = json.loads((folder / "capture.json").read_text())
    assert capture["form"] == "xml"
    assert capture["facts"]["driver"] == "418.56" and capture["facts"]["cuda"] == "12.4"
    gpu = capture["facts"]["gpus"][0]
    assert gpu["name"] == "Quadro P2000" and gpu["memory_total_mib"] == 5059 and gpu["pstate"] == 8
    assert gpu["persistence_mode"] is False and gpu["ecc_uncorrected"] is None
    assert gpu["pcie_gen_current"] == 1
    assert capture["expect"] == {"driver.loaded": "pass", "gpu.present": "pass"}
    provenance = tomllib.loads((folder / "PROVENANCE.toml").read_text())["file"]
    xml_entry = next(e for e in provenance if e["path"] == "nvidia-smi-q-x.xml")
    assert xml_entry["kind"] == "recorded" and xml_entry["whole"] is True
    assert xml_entry["date"] == "2026-12-01"
    assert "1× Quadro P2000, driver 418.56, CUDA 12.4" in xml_entry["source"]
    assert (folder / "extra" / "nvidia-smi-facts.csv").is_file()
    assert (dest / "gpuverify--quadro-p2000--418.56--query-text" / "nvidia-smi-q.txt").is_file()
    assert "`gpuverify--quadro-p2000--418.56`" in (dest / "README.md").read_text()
    again = subprocess.run(
        [sys.executable, str(IMPORT), str(out), "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "exists already" in again.stderr
