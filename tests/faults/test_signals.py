"""SIGTERM, SIGINT and SIGHUP to doctor while its probes hang: every probe's process group goes with it.

The hanging probes are a fake ``nvidia-smi`` and a fake ``--python`` interpreter (standing in for the
torch and TensorFlow workers, ~0.9 GiB each when real), each with a grandchild of its own.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults.harness import TRACEBACK, ProbeLog, fault_env, leftovers, start_cli, wait_for, write_program

HANG = "sleep 600 &\ntrap '' TERM INT HUP\nwait"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_to_doctor_stops_every_probe_and_exits_128_plus_n(sig: signal.Signals, tmp_path: Path) -> None:
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    log = ProbeLog(tmp_path / "pids")
    write_program(bin_dir, "nvidia-smi", HANG, log)
    python = write_program(bin_dir, "python-hangs", HANG, log)
    proc = start_cli(
        "doctor", "--json", "--only", "driver,framework", "--sysroot", str(root), "--python", str(python),
        env=fault_env(bin_dir),
    )  # fmt: skip
    try:
        # both nvidia-smi calls (query and table) and both workers (torch, tensorflow) have started
        assert wait_for(lambda: len(log.groups()) >= 4), f"probes did not start: {log.groups()}"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig.value, stderr
    assert TRACEBACK not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [f"gpucheck: stopped by {sig.name}; every probe it started was stopped too"], stderr
    assert leftovers(log.groups()) == []
