"""gpu.health temperature against each GPU's own slowdown threshold (NVML readings written for the test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpucheck.collect.evidence import CommandRun, Evidence, Value
from gpucheck.diagnose.checks.gpu import check_health
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.inventory import gpu_inventory

REAL = Path(__file__).parents[1] / "fixtures" / "real"


def _health(**gpu: object) -> list[tuple[str, str]]:
    evidence = Evidence()
    reading = {"index": 0, "name": "NVIDIA A10", "uuid": "GPU-a", "pci.bus_id": "00000000:07:00.0", **gpu}
    evidence.add([Value(name="nvml", data={"driver_version": "535.129.03", "gpus": [reading]})])
    return [(f.status.value, f.summary) for f in check_health(Facts(evidence))]


@pytest.mark.parametrize(
    ("temperature", "slowdown", "status", "text"),
    [
        (92, 98, "pass", "temperature 92 °C"),
        (93, 98, "warn", "93 °C is about to slow down (its slowdown threshold is 98 °C)"),
        (99, 98, "warn", "99 °C is slowing down"),
        (99, None, "pass", "temperature 99 °C"),
    ],
)
def test_temperature_is_judged_against_the_gpus_own_threshold(temperature, slowdown, status, text) -> None:
    ((got, summary),) = _health(**{"temperature.gpu": temperature, "temperature.gpu.slowdown": slowdown})
    assert got == status and text in summary


def test_the_thresholds_are_read_from_the_recorded_xml_and_text() -> None:
    xml = (REAL / "a0s--nvidia-smi-3" / "nvidia-smi-3.xml").read_text()
    text = REAL / "gpud--nvidia-smi-query.535.129.03.a10" / "nvidia-smi-query.535.129.03.out.0.valid.a10"
    for argv, stdout, want in (
        (("nvidia-smi", "-q", "-x"), xml, 93),
        (("nvidia-smi", "-q"), text.read_text(), 98),
    ):
        evidence = Evidence()
        evidence.add([CommandRun(argv=argv, returncode=0, stdout=stdout)])
        assert {g.slowdown_temp_c for g in gpu_inventory(evidence)} == {want}
