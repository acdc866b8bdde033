"""Issue 13's fleet reproductions (fixed in gpucheck/fleet by issue 15), kept in the abuse suite.

Shell and ``#SBATCH`` injection through ``fleet manifest --slurm`` values must be a one-line usage error;
a node report whose hostname or check ids hold rich markup must not take the fleet view down (exit 3).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.harness import fault_env, run_cli


@pytest.mark.parametrize(
    "args",
    [
        ["--reports-dir", "/shared/r\ntouch /tmp/pwned\n"],
        ["--reports-dir", "/shared\n#SBATCH --partition=admin-only --exclusive\n#"],
        ["--reports-dir", "/shared/$(touch /tmp/pwned)"],
        ["--partition", "gpu\n#SBATCH --exclusive"],
        ["-o", "x.sbatch\n#SBATCH --exclusive"],
    ],
    ids=["reports-dir-command", "reports-dir-sbatch", "reports-dir-substitution", "partition", "output"],
)
def test_slurm_manifest_injection_is_a_usage_error(args: list[str], tmp_path: Path) -> None:
    run = run_cli("fleet", "manifest", "--slurm", *args, env=fault_env(tmp_path))
    run.assert_clean(2)
    assert "#SBATCH --exclusive" not in run.stdout and "touch /tmp/pwned" not in run.stdout


def test_markup_in_a_node_report_does_not_take_the_fleet_view_down(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    good = run_cli("doctor", "--json", "--only", "environ", env=fault_env(tmp_path))
    good.assert_clean(0, 1)
    doc = json.loads(good.stdout)
    (reports / "good.json").write_text(good.stdout)
    doc["meta"]["hostname"] = "[/bold]evil[/] \x1b]0;pwned\x07"
    for finding in doc["findings"]:
        finding["check"] = "[/bold]" + finding["check"]
        finding["summary"] = "[red]" + finding["summary"] + "[/x]"
    (reports / "hostile.json").write_text(json.dumps(doc))
    run = run_cli("fleet", "report", str(reports), env=fault_env(tmp_path))
    run.assert_clean(0, 1)
    assert "[/bold]evil[/]" in run.stdout  # NOTE: printed as text
    assert "\x1b]0;pwned" not in run.stdout
