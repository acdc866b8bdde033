"""gpucheck.tf.configure_gpus with real tensorflow-cpu, each case in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=180
    )


def test_logical_cpus_are_created_before_initialisation():
    proc = run_python("""
        import tensorflow as tf
        import gpucheck.tf
        done = gpucheck.tf.configure_gpus(logical_cpus=3)
        print(done.logical_cpus, done.gpus, done.memory_growth)
        print([d.name for d in tf.config.list_logical_devices("CPU")])
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "('/device:CPU:0', '/device:CPU:1', '/device:CPU:2') () ()"
    assert lines[1] == "['/device:CPU:0', '/device:CPU:1', '/device:CPU:2']"


def test_too_late_names_the_call_site_and_where_to_move_it():
    proc = run_python("""
        import tensorflow as tf
        import gpucheck.tf
        tf.constant(1.0) + 1
        try:
            gpucheck.tf.configure_gpus(logical_cpus=2)
        except gpucheck.tf.ConfigureTooLateError as exc:
            print("caught:", exc)
            print("cause:", type(exc.__cause__).__name__, exc.__cause__)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        "caught: gpucheck.tf.configure_gpus() at <string>:6 ran after TensorFlow had initialised"
        in proc.stdout
    )
    assert "right after `import tensorflow`" in proc.stdout
    assert "cause: RuntimeError Virtual devices cannot be modified after being initialized" in proc.stdout


def test_same_configuration_twice_is_not_an_error():
    proc = run_python("""
        import gpucheck.tf
        gpucheck.tf.configure_gpus(logical_cpus=2)
        print(gpucheck.tf.configure_gpus(logical_cpus=2).logical_cpus)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "('/device:CPU:0', '/device:CPU:1')"


def test_logical_gpus_need_a_memory_limit():
    import gpucheck.tf

    with pytest.raises(ValueError, match="memory_limit_mb"):
        gpucheck.tf.configure_gpus(logical_gpus=2)
