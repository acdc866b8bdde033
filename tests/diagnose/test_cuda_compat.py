"""The driver ↔ CUDA functions against oracles from outside the code: real nvidia-smi headers and NVIDIA's
release-notes Table 3, row by row, just below and at each GA driver.

Every expected value is written here, from its source, never read from the table under test.
"""

from __future__ import annotations

import pytest

from gpucheck.diagnose.cuda_compat import (
    NewerThanTable,
    Support,
    cuda_from_driver_api,
    driver_fully_supports_cuda,
    driver_supports_cuda,
    judge,
    max_cuda_for_driver,
    min_driver_for_cuda,
    min_driver_for_major,
)

RECORDED_HEADERS = [
    # (driver, the "CUDA Version" its nvidia-smi header prints), each from a recording:
    ("384.130", "9.0"),  # doctor-anchors.md Part 3 (R384 header)
    ("418.56", "10.1"),  # tests/fixtures: nvidia-smi -q -x of a Quadro P2000 (R418)
    ("450.203.03", "11.0"),  # doctor-anchors.md Part 3 (nvidia-smi -q)
    ("455.23.04", "11.1"),  # tests/fixtures healthy header, doctor-anchors.md
    ("470.86", "11.4"),  # doctor-anchors.md F07
    ("520.56.06", "11.8"),  # public "NVIDIA-SMI 520.56.06 Driver Version: 520.56.06 CUDA Version: 11.8"
    ("550.40.07", "12.4"),  # public "NVIDIA-SMI 550.40.07 Driver Version: 550.40.07 CUDA Version: 12.4"
    ("550.54.14", "12.4"),  # tests/fixtures
    ("550.144.03", "12.4"),  # tests/fixtures, doctor-anchors.md
    ("551.78", "12.4"),  # a Windows driver seen from WSL2 (tests/fixtures)
    ("565.57.01", "12.7"),  # version-facts.md: R565 prints "CUDA Version: 12.7" (no such toolkit exists)
    ("580.65.06", "13.0"),  # tests/fixtures
    ("590.44.01", "13.1"),  # public "NVIDIA-SMI 590.44.01 Driver Version: 590.44.01 CUDA Version: 13.1"
    ("595.71.05", "13.2"),  # public headers "... Driver Version: 595.71.05 CUDA Version: 13.2"
    ("596.36", "13.2"),  # WSL2 header "NVIDIA-SMI 595.71.01 Driver Version: 596.36 CUDA Version: 13.2"
    ("610.43.02", "13.3"),  # public headers "KMD Version: 610.43.02 CUDA UMD Version: 13.3"
    ("615.71.09", "13.4"),  # public headers "KMD Version: 615.71.09 CUDA UMD Version: 13.4"
]


@pytest.mark.parametrize(("driver", "cuda"), RECORDED_HEADERS)
def test_max_cuda_matches_recorded_headers(driver: str, cuda: str) -> None:
    assert max_cuda_for_driver(driver) == cuda


RELEASE_NOTES = [
    # NVIDIA CUDA release notes, Table 3 "CUDA Toolkit and Corresponding Driver Versions", Linux x86_64,
    # GA rows (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/ and its 12.4.0 / 13.0.1 archives).
    ("10.0", "410.48", "410.47"),
    ("10.1", "418.39", "418.38"),
    ("10.2", "440.33", "440.32"),
    ("11.0", "450.51.05", "450.51.04"),
    ("11.1", "455.23", "455.22"),
    ("11.2", "460.27.03", "460.27.02"),
    ("11.3", "465.19.01", "465.19"),
    ("11.4", "470.42.01", "470.42"),
    ("11.5", "495.29.05", "495.29.04"),
    ("11.6", "510.39.01", "510.39"),
    ("11.7", "515.43.04", "515.43.03"),
    ("11.8", "520.61.05", "520.61.04"),
    ("12.0", "525.60.13", "525.60.12"),
    ("12.1", "530.30.02", "530.30.01"),
    ("12.2", "535.54.03", "535.54.02"),
    ("12.3", "545.23.06", "545.23.05"),
    ("12.4", "550.54.14", "550.54.13"),
    ("12.5", "555.42.02", "555.42.01"),
    ("12.6", "560.28.03", "560.28.02"),
    ("12.8", "570.26", "570.25"),
    ("12.9", "575.51.03", "575.51.02"),
    ("13.0", "580.65.06", "580.65.05"),
    ("13.1", "590.44.01", "590.44"),
    ("13.2", "595.45.04", "595.45.03"),
    ("13.3", "610.43.02", "610.43.01"),
]


@pytest.mark.parametrize(("cuda", "ga_driver", "below"), RELEASE_NOTES)
def test_release_notes_row_by_row(cuda: str, ga_driver: str, below: str) -> None:
    assert min_driver_for_cuda(cuda) == ga_driver
    assert min_driver_for_cuda(f"{cuda}.1") == ga_driver  # an update's version keeps its release's GA driver
    assert driver_fully_supports_cuda(ga_driver, cuda)
    assert not driver_fully_supports_cuda(below, cuda)


@pytest.mark.parametrize(("cuda", "ga_driver", "below"), [r for r in RELEASE_NOTES if r[0] >= "11"])
def test_below_the_ga_driver_is_minor_version_compatibility_within_the_major(
    cuda: str, ga_driver: str, below: str
) -> None:
    # NVIDIA's minor-version compatibility floors: 11.x >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580.65.06
    floor = {"11": "450.80.02", "12": "525.60.13", "13": "580.65.06"}[cuda.split(".")[0]]
    at_floor = tuple(map(int, below.split("."))) >= tuple(map(int, floor.split(".")))
    expected = Support.MINOR_COMPAT if at_floor else Support.TOO_OLD
    assert judge(below, cuda) is expected
    assert min_driver_for_major(cuda) == floor


def test_cuda_13_2_on_r580_is_minor_version_compatibility_not_full_support() -> None:
    # 13.2's release driver is 595.45.04: on R580 it only runs through minor-version compatibility
    assert judge("580.95.05", "13.2") is Support.MINOR_COMPAT
    assert not driver_fully_supports_cuda("580.95.05", "13.2")
    assert driver_supports_cuda("580.95.05", "13.2")
    assert judge("595.45.04", "13.2") is Support.FULL


def test_minor_version_compatibility_floors() -> None:
    assert driver_supports_cuda("450.80.02", "11.8") and not driver_fully_supports_cuda("450.80.02", "11.8")
    assert not driver_supports_cuda("450.51.06", "11.8")
    assert driver_supports_cuda("525.60.13", "12.9") and not driver_supports_cuda("520.61.05", "12.0")
    assert driver_supports_cuda("580.65.06", "13.0") and not driver_supports_cuda("575.57.08", "13.0")
    assert not driver_supports_cuda("470.86", "12.4")


def test_min_driver_past_the_tables_end_is_newer_than_table_not_the_last_row() -> None:
    # NVIDIA documents CUDA 13.5; the table stops at 13.4 (R615), so 13.5 and 14.0 cannot be judged
    for cuda in ("13.5", "13.5.37", "14.0"):
        result = min_driver_for_cuda(cuda)
        assert isinstance(result, NewerThanTable), (cuda, result)
        assert result.newest == "13.4"
        assert judge("615.71.09", cuda) is Support.NEWER_THAN_TABLE
        assert not driver_supports_cuda("615.71.09", cuda)
    assert "cannot judge" in min_driver_for_cuda("13.5").cannot_judge("its driver")


def test_cuda_13_4_needs_the_r615_branch() -> None:
    # 13.4 ships no Linux driver; its cuDNN support matrix and nvidia-smi headers tie it to R615
    assert judge("615.65.07", "13.4") is Support.FULL
    assert judge("610.43.02", "13.4") is Support.MINOR_COMPAT


def test_driver_newer_than_every_branch_has_no_max_cuda() -> None:
    assert max_cuda_for_driver("620.10.01") is None


def test_unparseable_driver_is_never_supported() -> None:
    for driver in ("", "garbage", "N/A", "ERR!", "[Not Supported]"):
        assert judge(driver, "12.4") is Support.UNKNOWN_DRIVER
        assert not driver_supports_cuda(driver, "12.4")
        assert not driver_fully_supports_cuda(driver, "12.4")
        assert max_cuda_for_driver(driver) is None


def test_min_driver_for_cuda_edges() -> None:
    assert min_driver_for_cuda("12.4.131") == "550.54.14"
    assert min_driver_for_cuda("V12.4") == "550.54.14"
    assert min_driver_for_cuda("12.7") == "570.26"  # there is no 12.7 release: the next one (12.8) decides
    assert min_driver_for_cuda("5.0") is None
    assert min_driver_for_cuda("garbage") is None
    assert min_driver_for_major("10.2") is None  # minor-version compatibility starts with CUDA 11


def test_driver_api_integers() -> None:
    assert cuda_from_driver_api(12040) == "12.4"
    assert cuda_from_driver_api(11000) == "11.0"
    assert cuda_from_driver_api(13020) == "13.2"
    assert cuda_from_driver_api(0) is None
    assert cuda_from_driver_api(True) is None


def test_driver_api_integer_edges() -> None:
    assert cuda_from_driver_api(1000) == "1.0" and cuda_from_driver_api(999) is None
    assert cuda_from_driver_api(12045) == "12.4"  # the last two digits are a patch level
    assert cuda_from_driver_api("12040") is None


def test_minor_compat_floor_for_an_unknown_major() -> None:
    assert min_driver_for_major("14.0") is None and min_driver_for_major("garbage") is None
    assert min_driver_for_major("13.2") == "580.65.06"
