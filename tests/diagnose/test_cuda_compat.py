"""The driver ↔ CUDA tables, checked against the versions real nvidia-smi headers print."""

from __future__ import annotations

import pytest

from gpucheck.diagnose.cuda_compat import (
    cuda_from_driver_api,
    driver_fully_supports_cuda,
    driver_supports_cuda,
    max_cuda_for_driver,
    min_driver_for_cuda,
)


@pytest.mark.parametrize(
    ("driver", "cuda"),
    # Driver / "CUDA Version" pairs from recorded nvidia-smi headers and -q outputs (doctor-anchors Part 3).
    [
        ("384.130", "9.0"),
        ("418.56", "10.1"),
        ("450.203.03", "11.0"),
        ("455.23.04", "11.1"),
        ("470.86", "11.4"),
        ("550.144.03", "12.4"),
        ("550.54.14", "12.4"),
    ],
)
def test_max_cuda_matches_recorded_headers(driver: str, cuda: str) -> None:
    assert max_cuda_for_driver(driver) == cuda


def test_minor_version_compatibility_floors() -> None:
    assert driver_supports_cuda("450.80.02", "11.8") and not driver_fully_supports_cuda("450.80.02", "11.8")
    assert not driver_supports_cuda("450.51.06", "11.8")
    assert driver_supports_cuda("525.60.13", "12.9") and not driver_supports_cuda("520.61.05", "12.0")
    assert driver_supports_cuda("580.65.06", "13.0") and not driver_supports_cuda("575.57.08", "13.0")
    assert not driver_supports_cuda("470.86", "12.4")


def test_min_driver_for_cuda() -> None:
    assert min_driver_for_cuda("13.0") == "580.65.06"
    assert min_driver_for_cuda("12.4.131") == "550.54.14"
    assert min_driver_for_cuda("12.7") == "570.26"  # NOTE: there is no 12.7 release; the next one decides
    assert min_driver_for_cuda("5.0") is None
    assert min_driver_for_cuda("garbage") is None
    assert max_cuda_for_driver("not a version") is None


def test_driver_api_integers() -> None:
    assert cuda_from_driver_api(12040) == "12.4"
    assert cuda_from_driver_api(11000) == "11.0"
    assert cuda_from_driver_api(0) is None
