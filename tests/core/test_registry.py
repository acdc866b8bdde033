"""The check runner's guarantees: a crashing check, a failed probe and a missing probe never stop doctor."""

import pytest

from gpucheck.collect.evidence import CollectorStatus, Evidence
from gpucheck.diagnose import registry
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Status, failed, passed
from gpucheck.diagnose.registry import (
    Check,
    UnknownSelectionError,
    load_checks,
    run_check,
    run_checks,
    select_checks,
)


def _check(func, needs=()):
    return Check(id="gpu.test_probe", title="a test check", needs=needs, func=func)


def _facts(**collectors):
    ev = Evidence()
    for name, status in collectors.items():
        ev.collectors[name] = status
    return Facts(ev)


def test_first_check_crashing_does_not_stop_the_others():
    def crash(facts):
        raise KeyError("bus_id")

    findings = run_checks([_check(crash), _check(lambda f: passed("fine"))], _facts())
    assert [f.status for f in findings] == [Status.ERROR, Status.PASS]
    assert "check crashed: KeyError: 'bus_id'" in findings[0].summary
    assert "Traceback" in findings[0].data["traceback"]


def test_findings_are_stamped_with_id_title_and_layer():
    [finding] = run_check(_check(lambda f: failed("broken", "fix it")), _facts())
    assert (finding.check, finding.title, finding.layer) == ("gpu.test_probe", "a test check", "gpu")


def test_a_check_returning_nothing_is_an_error():
    [finding] = run_check(_check(lambda f: []), _facts())
    assert finding.status is Status.ERROR and "returned no finding" in finding.summary


def test_needed_probe_that_timed_out_is_an_error_finding():
    facts = _facts(nvml=CollectorStatus("nvml", False, 5.0, "timed out after 5 s", True))
    [finding] = run_check(_check(lambda f: passed("never"), needs=("nvml",)), facts)
    assert (
        finding.status is Status.ERROR and finding.summary == "the nvml probe timed out: timed out after 5 s"
    )
    assert "--timeout" in finding.remediation


def test_needed_probe_that_did_not_run_is_a_skip():
    [finding] = run_check(_check(lambda f: passed("never"), needs=("nvml",)), _facts())
    assert finding.status is Status.SKIP and "nvml" in finding.summary


def test_check_ids_must_name_a_known_layer():
    with pytest.raises(ValueError, match="layer"):
        registry.check("nolayer", title="x")
    with pytest.raises(ValueError, match="layer"):
        registry.check("bogus.topic", title="x")


def test_selection_by_layer_id_and_glob():
    every = select_checks()
    assert select_checks(only=["environ"]) == [c for c in every if c.layer == "environ"]
    assert select_checks(only=["environ.container"])[0].id == "environ.container"
    assert all(c.layer != "environ" for c in select_checks(skip=["environ.*"]))
    with pytest.raises(UnknownSelectionError, match="matches no check or layer"):
        select_checks(only=["gpus"])


def test_every_registered_check_has_a_unique_id_title_and_known_needs():
    from gpucheck.collect.registry import load_sources

    collectors = load_sources()
    for c in load_checks().values():
        assert c.title and c.layer in registry.LAYERS
        assert set(c.needs) <= set(collectors), (
            f"{c.id} needs an unknown collector: {set(c.needs) - set(collectors)}"
        )
