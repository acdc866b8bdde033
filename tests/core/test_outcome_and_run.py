import os
import time

from gpucheck.collect.run import run_command
from gpucheck.outcome import Outcome, run_all_with_deadlines


def test_outcome_records_value_and_exception():
    ok = Outcome.from_call(lambda: 42)
    assert ok.ok and ok.value == 42 and ok.error is None

    def boom():
        raise RuntimeError("nvml exploded")

    bad = Outcome.from_call(boom)
    assert not bad.ok and bad.value is None
    assert bad.error == "RuntimeError: nvml exploded"
    assert "boom" in bad.traceback


def test_deadline_abandons_a_hung_call_and_keeps_the_others():
    results = run_all_with_deadlines({"hang": (lambda: time.sleep(30), 0.2), "fast": (lambda: "done", 5.0)})
    assert results["hang"].timed_out and results["hang"].error == "timed out after 0.2 s"
    assert results["fast"].value == "done"


def test_run_command_success_and_verbatim_streams(fake_bin):
    fake_bin.add("tool", "line one\nline two\n", stderr="warn\n", exit_code=3)
    run = run_command(["tool", "--x"], timeout_s=5, env={"PATH": str(fake_bin.path) + ":/usr/bin:/bin"})
    assert run.returncode == 3 and run.stdout == "line one\nline two\n" and run.stderr == "warn\n"
    assert run.key == "cmd:tool --x" and run.resolved == str(fake_bin.path / "tool")
    assert "exited with status 3: warn" in run.describe_failure()


def test_run_command_missing_binary():
    run = run_command(["no-such-tool-xyz"], timeout_s=5, env={"PATH": "/nonexistent"})
    assert run.not_found and run.returncode is None
    assert run.describe_failure() == "`no-such-tool-xyz` was not found on PATH"


def test_run_command_timeout_kills_the_process_group(fake_bin):
    fake_bin.add("slow", "never\n", sleep_s=30)
    run = run_command(["slow"], timeout_s=0.3, env={"PATH": str(fake_bin.path) + ":/usr/bin:/bin"})
    assert run.timed_out and run.returncode is None
    assert "did not finish" in run.describe_failure()


def test_run_command_non_utf8_output_is_replaced_not_raised(fake_bin):
    fake_bin.add("garbage", b"\xff\xfe GPU \x80\n")
    run = run_command(["garbage"], timeout_s=5, env={"PATH": str(fake_bin.path) + ":/usr/bin:/bin"})
    assert run.returncode == 0 and "\ufffd" in run.stdout and "GPU" in run.stdout


def test_run_command_permission_denied(tmp_path):
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\necho hi\n")
    exe.chmod(0o644)
    run = run_command([str(exe)], timeout_s=5, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode is None and "not executable" in run.error


def test_run_command_exec_format_error(tmp_path):
    exe = tmp_path / "tool"
    exe.write_bytes(b"\x7fELFgarbage")
    exe.chmod(0o755)
    run = run_command([str(exe)], timeout_s=5, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode is None and run.error and "OSError" in run.error


def test_run_command_signal_is_negative_returncode(fake_bin):
    fake_bin.add_script("crash", "kill -SEGV $$")
    run = run_command(["crash"], timeout_s=5, env={"PATH": str(fake_bin.path) + ":/usr/bin:/bin"})
    assert run.returncode == -11 and "signal 11" in run.describe_failure()


def test_run_command_never_uses_a_shell(fake_bin, tmp_path):
    marker = tmp_path / "pwned"
    fake_bin.add_script("echoargs", 'printf "%s\\n" "$@"')
    run = run_command(
        ["echoargs", f"; touch {marker}"], timeout_s=5, env={"PATH": str(fake_bin.path) + ":/usr/bin:/bin"}
    )
    assert run.stdout == f"; touch {marker}\n" and not os.path.exists(marker)


def test_overall_timeout_stops_commands_and_keeps_their_evidence(fake_bin):
    from gpucheck.collect import registry
    from gpucheck.collect.registry import CollectContext, collect

    fake_bin.add("slowtool", "partial\n", sleep_s=30)

    @registry.collector("test_slow_command", timeout_s=60)
    def _slow(ctx):
        yield ctx.run("slowtool", timeout_s=60)

    try:
        env = {"PATH": f"{fake_bin.path}:/usr/bin:/bin"}
        evidence = collect(CollectContext(env=env), ["test_slow_command"], overall_timeout_s=1.0)
        run = evidence.command("slowtool")
        assert run is not None and run.timed_out  # stopped at the deadline, and its run recorded
        assert evidence.collectors["test_slow_command"].ok
    finally:
        registry.COLLECTORS.pop("test_slow_command", None)
