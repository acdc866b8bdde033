"""Framework log lines and worker JSON → typed events and reports (verbatim recorded lines)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.framework_logs import (
    cuda_from_found_version,
    dlerror_library,
    events_of,
    parse_log_events,
    tuple_version,
)
from gpucheck.diagnose.parse.framework_workers import parse_worker_output, worker_report
from tests.frameworks.helpers import TORCH, fixture, worker_run


def kinds(name: str) -> list[str]:
    return [e.kind for e in parse_log_events(fixture(name))]


def test_tf_missing_cudnn_names_the_library():
    events = parse_log_events(fixture("tf_libcudnn8_missing.log"))
    assert [e.kind for e in events] == ["dlopen_failed", "gpu_libraries_missing", "skipping_gpu_devices"]
    assert events[0].fields["library"] == "libcudnn.so.8"
    assert dlerror_library(events[0]) == "libcudnn.so.8"


def test_transitive_dlerror_reports_the_dependency_not_the_requested_library():
    (event,) = parse_log_events(fixture("tf_libcusolver_transitive.log"))
    assert event.fields["library"] == "libcusolver.so.11"
    assert dlerror_library(event) == "libnvJitLink.so.12"


def test_cudart_missing():
    (event,) = events_of(parse_log_events(fixture("tf_libcudart_missing.log")), "dlopen_failed")
    assert dlerror_library(event) == "libcudart.so.11.0"


def test_cudnn_mismatch_versions():
    events = parse_log_events(fixture("tf_cudnn_mismatch.log"))
    assert [e.kind for e in events] == ["cudnn_mismatch", "dnn_init_failed"]
    assert events[0].fields == {"loaded": "9.1.0", "compiled": "9.3.0"}


def test_torch_cudnn_incompatibility_uses_tuples():
    line = (
        "RuntimeError: cuDNN version incompatibility: PyTorch was compiled  against (9, 1, 0) but found "
        "runtime version (8, 9, 2). PyTorch already comes bundled with cuDNN."
    )
    (event,) = parse_log_events(line)
    assert tuple_version(event.fields["compiled"]) == "9.1.0"
    assert tuple_version(event.fields["loaded"]) == "8.9.2"


def test_no_cuda_driver_both_tf_generations():
    assert kinds("tf_no_cuda_drivers.log") == ["no_cuda_driver", "no_cuda_driver"]


def test_cuinit_and_kernel_driver():
    events = parse_log_events(fixture("tf_cuinit_no_device.log"))
    assert events[0].kind == "cuinit_failed" and events[0].fields["code"] == "CUDA_ERROR_NO_DEVICE"
    assert events[1].fields["reason"] == "/proc/driver/nvidia/version does not exist"


@pytest.mark.parametrize(
    "name,cuda", [("torch_driver_too_old.log", "11.4"), ("torch_driver_too_old_warning.log", "11.0")]
)
def test_driver_too_old_found_version(name, cuda):
    (event,) = parse_log_events(fixture(name))
    assert event.kind == "driver_too_old"
    assert cuda_from_found_version(event.fields["found"]) == cuda


def test_sm120_warning():
    events = parse_log_events(fixture("torch_sm120.log"))
    assert [e.kind for e in events] == ["capability_unsupported", "supported_capabilities"]
    assert events[0].fields == {"name": "NVIDIA GeForce RTX 5090", "sm": "sm_120"}
    assert events[1].fields["archs"].split() == [
        "sm_50",
        "sm_60",
        "sm_61",
        "sm_70",
        "sm_75",
        "sm_80",
        "sm_86",
        "sm_90",
    ]


def test_old_gpu_and_no_kernel_image():
    assert kinds("torch_no_kernel_image.log") == ["gpu_too_old", "no_kernel_image", "no_kernel_image"]
    assert parse_log_events(fixture("torch_no_kernel_image.log"))[0].fields["capability"] == "2.1"


def test_misc_cuda_initialisation_errors():
    assert kinds("torch_misc_cuda_init.log") == [
        "forward_compat_unsupported",
        "cuda_unknown_error",
        "driver_insufficient",
        "devices_busy",
        "torch_not_cuda",
    ]


def test_too_late_errors():
    assert [e.fields["what"] for e in parse_log_events(fixture("tf_too_late.log"))] == ["Physical", "Virtual"]


def test_real_cpu_worker_stderr_has_no_gpu_events():
    assert parse_log_events(fixture("tf_cpu_worker.stderr")) == ()


def test_worker_json_is_the_last_line():
    data = parse_worker_output("noise\n" + fixture("torch_cpu_worker.json"))
    assert data["build"]["version"] == "2.13.0+cpu"


@pytest.mark.parametrize("stdout", ["", "not json", "[1, 2]", '{"worker": "torch"}', "{" * 5000])
def test_worker_output_errors(stdout):
    with pytest.raises(ParseError):
        parse_worker_output(stdout)


def test_report_of_a_worker_killed_by_sigsegv():
    run = worker_run(TORCH, stderr="[gpucheck-worker] step import\nSegmentation fault\n", returncode=-11)
    report = worker_report(run, "torch")
    assert report.state == "crashed"
    assert "SIGSEGV" in report.detail and "step 'import'" in report.detail
    assert report.stderr_tail == ("Segmentation fault",)


@given(st.text())
def test_log_parser_never_raises(text):
    assert isinstance(parse_log_events(text), tuple)


@given(st.text())
def test_worker_output_parser_raises_only_parse_error(text):
    try:
        parse_worker_output(text)
    except ParseError:
        pass


@given(st.text(), st.text(), st.one_of(st.none(), st.integers(-64, 255)))
def test_worker_report_never_raises(stdout, stderr, code):
    report = worker_report(worker_run(TORCH, stdout, stderr, code), "torch")
    assert report.state in {
        "ok",
        "not_installed",
        "import_failed",
        "crashed",
        "timed_out",
        "not_started",
        "bad_output",
    }
