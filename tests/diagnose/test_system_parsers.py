"""System-layer parsers on verbatim recorded outputs, and fuzzed: a value or a ParseError, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.ldconfig import parse_ldconfig
from gpucheck.diagnose.parse.nvcc import parse_nvcc_version
from gpucheck.diagnose.parse.nvidia_smi import (
    SmiFailure,
    classify_failure,
    parse_header,
    parse_query_csv,
    parse_query_text,
    parse_table_gpus,
    parse_xml,
    unknown_field,
)
from gpucheck.diagnose.parse.proc import (
    KernelFlavour,
    parse_modules,
    parse_nvidia_version,
    parse_proc_version,
)
from gpucheck.diagnose.parse.version_json import parse_version_json, parse_version_txt

FIXTURES = Path(__file__).parents[1] / "fixtures" / "system"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize(
    ("name", "release", "full"),
    [
        ("7.5", "7.5", "7.5.17"),
        ("10.1", "10.1", "10.1.243"),
        ("10.2", "10.2", "10.2.89"),
        ("11.0", "11.0", "11.0.221"),
        ("11.1", "11.1", "11.1.105"),
        ("11.7", "11.7", "11.7.99"),
        ("12.4", "12.4", "12.4.131"),
        ("13.0", "13.0", "13.0.88"),
    ],
)
def test_nvcc_banners(name: str, release: str, full: str) -> None:
    parsed = parse_nvcc_version(fixture(f"nvcc/{name}.txt"))
    assert (parsed.release, parsed.full) == (release, full)


def test_nvcc_banner_without_release_line_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_nvcc_version(
            "nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2019 NVIDIA Corporation\n"
        )


@pytest.mark.parametrize(
    ("name", "smi", "driver", "cuda", "raw"),
    [
        ("header_r384.txt", "384.130", "384.130", None, None),
        ("header_r455.txt", "455.23.04", "455.23.04", "11.1", "11.1"),
        ("header_r550.txt", "550.144.03", "550.144.03", "12.4", "12.4"),
        ("header_windows.txt", "551.78", "551.78", "12.4", "12.4"),
        ("header_wsl_err.txt", "545.46", "546.80", None, "ERR!"),
        ("header_r470.txt", "470.86", "470.86", "11.4", "11.4"),
    ],
)
def test_smi_headers(name: str, smi: str, driver: str, cuda: str | None, raw: str | None) -> None:
    header = parse_header(fixture(f"nvidia_smi/{name}"))
    assert (header.smi_version, header.driver_version, header.cuda_version, header.cuda_raw) == (
        smi,
        driver,
        cuda,
        raw,
    )


def test_smi_header_absent_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_header(fixture("nvidia_smi/driver_not_loaded.txt"))


def test_query_csv_with_units_in_header() -> None:
    rows = parse_query_csv(
        "index, name, memory.total [MiB], pcie.link.width.current\n0, NVIDIA GeForce RTX 3090, 24576, 16\n"
    )
    assert rows == (
        {
            "index": "0",
            "name": "NVIDIA GeForce RTX 3090",
            "memory.total": "24576",
            "pcie.link.width.current": "16",
        },
    )


def test_query_csv_recorded_mig_field_on_consumer_gpu() -> None:
    assert parse_query_csv(fixture("nvidia_smi/mig_query_consumer.csv")) == ({"mig.mode.current": "[N/A]"},)


@pytest.mark.parametrize("text", ["", "\n\n", "No devices were found\n", "index, name\n0\n"])
def test_query_csv_rejects_non_csv(text: str) -> None:
    with pytest.raises(ParseError):
        parse_query_csv(text)


def test_xml_recorded_p2000() -> None:
    parsed = parse_xml(fixture("nvidia_smi/q_x_p2000.xml"))
    assert (parsed.driver_version, parsed.cuda_version) == ("418.56", "10.1")
    (gpu,) = parsed.gpus
    assert gpu["name"] == "Quadro P2000"
    assert gpu["uuid"] == "GPU-1ffe36ef-ac55-60ad-f9cf-623871e7736d"
    assert gpu["pci.bus_id"] == "00000000:04:00.0"
    assert gpu["memory.total"] == "5059 MiB"
    assert gpu["persistence_mode"] == "Disabled"
    assert gpu["temperature.gpu"] == "62 C"
    assert gpu["retired_pages.pending"] == "N/A"
    # the whole recording (DTD v10): ECC under volatile/double_bit, the PCIe link, the P-state
    assert gpu["ecc.errors.uncorrected.volatile.total"] == "N/A"
    assert (gpu["pcie.link.gen.current"], gpu["pcie.link.width.current"], gpu["pstate"]) == ("3", "16x", "P0")


@pytest.mark.parametrize("text", ["", "<html/>", "<nvidia_smi_log", "not xml at all"])
def test_xml_rejects_other_documents(text: str) -> None:
    with pytest.raises(ParseError):
        parse_xml(text)


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        ("driver_not_loaded.txt", 9, SmiFailure.DRIVER_NOT_LOADED),
        ("version_mismatch.txt", 18, SmiFailure.VERSION_MISMATCH),
        ("no_devices.txt", 6, SmiFailure.NO_DEVICES),
        ("unknown_field_compute_cap.txt", 2, SmiFailure.UNKNOWN_FIELD),
        ("wsl_access_blocked.txt", 255, SmiFailure.WSL_ACCESS_BLOCKED),
        ("nvml_unknown_error.txt", 255, SmiFailure.NVML_UNKNOWN_ERROR),
    ],
)
def test_failure_signatures(name: str, code: int, expected: SmiFailure) -> None:
    assert classify_failure(fixture(f"nvidia_smi/{name}"), code) is expected


def test_failure_by_exit_code_alone_and_success() -> None:
    assert classify_failure("", 15) is SmiFailure.GPU_LOST
    assert classify_failure("", 42) is SmiFailure.OTHER
    assert classify_failure("index\n0\n", 0) is None
    assert unknown_field(fixture("nvidia_smi/unknown_field_compute_cap.txt")) == "compute_cap"


@pytest.mark.parametrize(
    ("name", "flavour"),
    [
        ("version_wsl1.txt", KernelFlavour.WSL1),
        ("version_wsl2_early.txt", KernelFlavour.WSL2),
        ("version_wsl2.txt", KernelFlavour.WSL2),
        ("version_wsl2_recent.txt", KernelFlavour.WSL2),
        ("version_native.txt", KernelFlavour.LINUX),
    ],
)
def test_proc_version(name: str, flavour: KernelFlavour) -> None:
    assert parse_proc_version(fixture(f"proc/{name}")).flavour is flavour


def test_nvidia_version_file_proprietary_and_open() -> None:
    closed = parse_nvidia_version(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
    )
    opened = parse_nvidia_version(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  535.104.05  Release Build  "
        "(dvs-builder@U16-I3-B03-4-3)  Sat Aug 19 01:13:15 UTC 2023\n"
    )
    assert (closed.version, closed.open_modules) == ("550.54.14", False)
    assert (opened.version, opened.open_modules) == ("535.104.05", True)


def test_modules_and_ldconfig() -> None:
    modules = parse_modules(
        "nvidia_uvm 1437696 0 - Live 0x0000000000000000\n"
        "nvidia 56799232 1 nvidia_uvm, Live 0x0000000000000000 (POE)\n"
    )
    assert modules == frozenset({"nvidia", "nvidia_uvm"})
    cache = parse_ldconfig(
        "2 libs found in cache `/etc/ld.so.cache'\n"
        "\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so.13\n"
        "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n"
    )
    assert [c.soname for c in cache] == ["libcudart.so.13", "libz.so.1"]


def test_version_files() -> None:
    assert parse_version_json('{"cuda": {"name": "CUDA SDK", "version": "12.4.1"}}') == "12.4.1"
    assert parse_version_txt("CUDA Version 10.2.89\n") == "10.2.89"
    for bad in ("", "[]", '{"cuda": {"version": 12}}', '{"cuda": "12.4"}'):
        with pytest.raises(ParseError):
            parse_version_json(bad)


PARSERS = [
    parse_nvcc_version,
    parse_header,
    parse_query_csv,
    parse_query_text,
    parse_table_gpus,
    parse_xml,
    parse_proc_version,
    parse_nvidia_version,
    parse_modules,
    parse_ldconfig,
    parse_version_json,
    parse_version_txt,
]
TEXT = st.one_of(
    st.text(),
    st.text(alphabet="0123456789., \n\t[]<>/\"'{}:|-_abcdefghijklmnopqrstuvwxyzNVIDSMA"),
    st.sampled_from([p.read_text() for p in sorted(FIXTURES.rglob("*.*")) if p.suffix != ".md"]).flatmap(
        lambda s: st.integers(0, len(s)).map(lambda n: s[:n])
    ),
)


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_parsers_return_a_value_or_a_parse_error(parser, text: str) -> None:
    try:
        parser(text)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(text=st.text(), code=st.one_of(st.none(), st.integers(-255, 255)))
def test_classify_failure_never_raises(text: str, code: int | None) -> None:
    result = classify_failure(text, code)
    assert result is None or isinstance(result, SmiFailure)
