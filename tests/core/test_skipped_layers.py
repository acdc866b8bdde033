"""doctor costs only what was asked: a layer removed with --skip starts none of its probes."""

import dataclasses
import os
import stat
import threading

import pytest

from gpucheck.collect import registry as collect_registry
from gpucheck.collect.evidence import CommandRun
from gpucheck.diagnose.finding import Status
from gpucheck.diagnose.registry import LAYERS, collector_layers, select_checks, unprobed_collectors
from gpucheck.pipeline import DoctorOptions, diagnose, gather
from tests.conftest import base_env, run_gpucheck

OWNED = collector_layers()
PROBED_LAYERS = sorted(set(OWNED.values()), key=list(LAYERS).index)


@pytest.fixture
def probes(monkeypatch):
    """Record every collector that runs and every program it starts (every collector runs programs through
    ``ctx.run``; here they are recorded, not started)."""
    started: list[tuple[str, tuple[str, ...]]] = []
    current = threading.local()
    for name, c in list(collect_registry.load_sources().items()):

        def run(ctx, _func=c.func, _name=name):
            current.name = _name
            started.append((_name, ()))
            return list(_func(ctx))

        monkeypatch.setitem(collect_registry.COLLECTORS, name, dataclasses.replace(c, func=run))

    def fake_run_command(argv, **_):
        started.append((getattr(current, "name", "?"), tuple(argv)))
        return CommandRun(argv=tuple(argv), not_found=True)

    monkeypatch.setattr(collect_registry, "run_command", fake_run_command)
    return started


def _gather(skip: tuple[str, ...]):
    opts = DoctorOptions(skip=skip, env=base_env(), python="/nonexistent/python")
    checks = select_checks((), skip)
    return checks, gather(opts, checks)


def test_every_layer_with_probes_owns_at_least_one():
    assert {"driver", "toolkit", "torch", "tensorflow", "container"} <= set(PROBED_LAYERS)
    assert OWNED["tf_worker"] == "tensorflow" and OWNED["torch_worker"] == "torch"


@pytest.mark.parametrize("layer", PROBED_LAYERS)
def test_skipping_a_layer_starts_none_of_its_probes(layer, probes):
    _gather(())
    baseline = list(probes)
    owned = {name for name, owner in OWNED.items() if owner == layer}
    assert owned <= {name for name, _ in baseline}, "every probe of the layer runs when nothing is skipped"
    their_programs = {argv for name, argv in baseline if name in owned and argv}
    probes.clear()
    checks, evidence = _gather((layer,))
    ran = {name for name, _ in probes}
    assert not ran & owned, ran & owned
    assert not their_programs & {argv for _, argv in probes}
    assert not set(evidence.collectors) & owned
    # checks of other layers that need the skipped probes say why they did not run
    report = diagnose(evidence, checks, {}, unprobed_collectors((layer,)))
    needing = [f for f in report.findings if any(n in owned for n in _needs(f.check))]
    assert all(
        f.status is Status.SKIP and f.summary == f"{layer} not probed (--skip {layer})" for f in needing
    ), [(f.check, f.summary) for f in needing]


def _needs(check_id: str) -> tuple[str, ...]:
    return next(c.needs for c in select_checks() if c.id == check_id)


def test_skip_tensorflow_never_starts_the_tensorflow_worker(tmp_path):
    log = tmp_path / "started.log"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 0\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    env = base_env()
    result = run_gpucheck(
        "doctor", "--json", "--skip", "tensorflow,container", "--python", str(python), env=env
    )
    assert result.exit_code in (0, 1), result.stderr
    started = log.read_text().splitlines()
    assert any(os.path.basename(line.split()[0]) == "torch_probe.py" for line in started), started
    assert not any("tf_probe.py" in line for line in started), started
