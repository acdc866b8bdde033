"""Parsers of the container layer: daemon.json variants, CDI specs, toolkit output, recorded error texts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucheck.diagnose.parse.cdi import CdiSpecError, parse_cdi_spec
from gpucheck.diagnose.parse.container_toolkit import parse_cli_info, parse_tool_version
from gpucheck.diagnose.parse.daemon_json import DaemonJsonError, parse_daemon_json
from gpucheck.diagnose.parse.docker_daemon import (
    ConnectError,
    SmokeFailure,
    classify_connect_error,
    classify_smoke_error,
)
from gpucheck.diagnose.parse.errors import ParseError
from tests.conftest import FIXTURES

DAEMON = FIXTURES / "container" / "daemon_json"
CDI = FIXTURES / "container" / "cdi"
TOOLKIT = FIXTURES / "container" / "toolkit"


def daemon(name: str):
    return parse_daemon_json((DAEMON / name).read_text())


def test_nvidia_ctk_shape_uses_args_spelling():
    config = daemon("nvidia_ctk_default.json")
    entry = config.runtime("nvidia")
    assert (entry.path, entry.args_key, entry.args) == ("nvidia-container-runtime", "args", ())
    assert config.default_runtime is None and config.problems == ()


def test_legacy_runtimeargs_spelling_is_recognised():
    entry = daemon("legacy_runtimeargs.json").runtime("nvidia")
    assert (entry.path, entry.args_key) == ("nvidia-container-runtime", "runtimeArgs")


def test_set_as_default_names_a_defined_runtime():
    config = daemon("nvidia_ctk_set_as_default.json")
    assert config.default_runtime == "nvidia" and config.problems == ()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("default_without_definition.json", "specified default runtime 'nvidia' does not exist"),
        ("runtime_without_path.json", "runtime nvidia: either a runtimeType or a path must be configured"),
        ("reserved_runc.json", "runtime name 'runc' is reserved"),
    ],
)
def test_dockerd_refusals_quote_dockerd(name, problem):
    # the messages dockerd 26.1.5 printed for these files (docker.md B4)
    assert daemon(name).problems == (problem,)


def test_cdi_feature_and_spec_dirs():
    config = daemon("with_cdi.json")
    assert config.cdi_enabled is True and config.cdi_spec_dirs is None
    assert parse_daemon_json('{"cdi-spec-dirs": ["/tmp/cdi"]}').cdi_spec_dirs == ("/tmp/cdi",)


@pytest.mark.parametrize(
    ("name", "line", "column", "hint"),
    [
        ("trailing_comma.json", 7, 5, "trailing comma"),
        ("comments.json", 2, 5, "comments"),
    ],
)
def test_broken_json_reports_line_and_column(name, line, column, hint):
    with pytest.raises(DaemonJsonError) as info:
        daemon(name)
    assert (info.value.line, info.value.column) == (line, column)
    assert hint in str(info.value) and f"(line {line}, column {column})" in str(info.value)


def test_non_object_top_level_and_duplicates_are_refused():
    with pytest.raises(DaemonJsonError, match="top level is an array"):
        daemon("toplevel_array.json")
    with pytest.raises(DaemonJsonError, match="duplicate key 'runtimes'"):
        parse_daemon_json('{"runtimes": {}, "runtimes": {"nvidia": {}}}')


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_daemon_json_parser_raises_only_parse_errors(text):
    try:
        parse_daemon_json(text)
    except ParseError:
        pass


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    )
)
@settings(max_examples=300, deadline=None)
def test_daemon_json_parser_survives_any_json_shape(value):
    import json

    for text in (
        json.dumps(value),
        json.dumps({"runtimes": value, "default-runtime": value, "features": value}),
    ):
        try:
            parse_daemon_json(text)
        except ParseError:
            pass


def test_real_cdi_spec_lists_devices_and_hooks():
    spec = parse_cdi_spec((CDI / "nvidia.yaml").read_text(), "/etc/cdi/nvidia.yaml")
    assert spec.kind == "nvidia.com/gpu" and spec.cdi_version == "0.5.0"
    assert spec.qualified_devices == (
        "nvidia.com/gpu=0",
        "nvidia.com/gpu=GPU-520e01f2-cf30-6396-abef-e8e9a5233b0e",
        "nvidia.com/gpu=all",
    )
    assert {h.path for h in spec.hooks} == {"/usr/bin/nvidia-cdi-hook"}


def test_flow_style_spec_and_json_spec():
    spec = parse_cdi_spec((CDI / "fake-gpu.yaml").read_text(), "/etc/cdi/fake.yaml")
    assert spec.devices == ("0", "all") and spec.hooks == ()
    as_json = parse_cdi_spec(
        '{"cdiVersion":"0.6.0","kind":"example.com/x","devices":[{"name":"a"}]}', "x.json"
    )
    assert as_json.qualified_devices == ("example.com/x=a",)


def test_broken_cdi_spec_reports_position():
    with pytest.raises(CdiSpecError) as info:
        parse_cdi_spec((CDI / "broken.yaml").read_text(), "/etc/cdi/broken.yaml")
    assert info.value.line is not None and "line" in str(info.value)
    with pytest.raises(CdiSpecError, match="line 1, column 2"):
        parse_cdi_spec("{,}", "/etc/cdi/x.json")


@given(st.text(max_size=200), st.sampled_from(["a.yaml", "a.json"]))
@settings(max_examples=300, deadline=None)
def test_cdi_parser_raises_only_parse_errors(text, name):
    try:
        parse_cdi_spec(text, name)
    except ParseError:
        pass


def test_toolkit_versions_from_recorded_outputs():
    assert parse_tool_version((TOOLKIT / "nvidia-ctk-version.txt").read_text()) == "1.17.8"
    assert parse_tool_version((TOOLKIT / "nvidia-container-runtime-version.txt").read_text()) == "1.17.6"
    assert parse_tool_version((TOOLKIT / "nvidia-container-cli-version.txt").read_text()) == "1.17.8"
    # whole recordings: the runtime's own lines then its runc's, and libnvidia-container 1.0.0's older form
    whole_runtime = (TOOLKIT / "nvidia-container-runtime-version-1.17.8.txt").read_text()
    assert "runc version 1.2.5" in whole_runtime
    assert parse_tool_version(whole_runtime) == "1.17.8"
    assert parse_tool_version((TOOLKIT / "nvidia-container-cli-version-1.0.0.txt").read_text()) == "1.0.0"
    with pytest.raises(ParseError):
        parse_tool_version("Usage: nvidia-ctk [global options] command")


def test_cli_info_recorded_sample():
    info = parse_cli_info((TOOLKIT / "nvidia-container-cli-info.txt").read_text())
    assert (info.nvrm_version, info.cuda_version) == ("384.130", "9.0")
    (gpu,) = info.devices
    assert (gpu.model, gpu.uuid, gpu.architecture) == (
        "GeForce 920M",
        "GPU-4712226b-88e6-a01e-efb0-a5950a64f8d9",
        "3.5",
    )
    with pytest.raises(ParseError):
        parse_cli_info((TOOLKIT / "cli-info-libnvidia-ml.txt").read_text())


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_toolkit_parsers_raise_only_parse_errors(text):
    for parser in (parse_cli_info, parse_tool_version):
        try:
            parser(text)
        except ParseError:
            pass


@pytest.mark.parametrize(
    ("text", "kind", "detail"),
    [
        # docker.md A4 / doctor-anchors F27
        (
            "docker: Error response from daemon: "
            'could not select device driver "" with capabilities: [[gpu]].',
            SmokeFailure.NO_GPU_DEVICE_DRIVER,
            "",
        ),
        (
            "Error response from daemon: unknown or invalid runtime name: nvidia",
            SmokeFailure.UNKNOWN_RUNTIME,
            "nvidia",
        ),
        (
            '400 Client Error: Bad Request ("Unknown runtime specified nvidia")',
            SmokeFailure.UNKNOWN_RUNTIME,
            "nvidia",
        ),
        # doctor-anchors F09
        (
            "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, "
            "please update your driver to "
            "a newer version, or use an earlier cuda container: unknown",
            SmokeFailure.CUDA_REQUIREMENT,
            "12.8",
        ),
        # doctor-anchors F30
        (
            (TOOLKIT / "cli-info-libnvidia-ml.txt").read_text(),
            SmokeFailure.NVML_NOT_LOADABLE,
            "libnvidia-ml.so.1",
        ),
        ((TOOLKIT / "cli-info-driver-timeout.txt").read_text(), SmokeFailure.DRIVER_TIMEOUT, ""),
        (
            "docker: Error response from daemon: failed to create shim task: "
            "OCI runtime create failed: unable to "
            "retrieve OCI runtime error (open /run/containerd/log.json: no such file or directory): exec: "
            '"nvidia-container-runtime": executable file not found in $PATH: unknown',
            SmokeFailure.RUNTIME_NOT_FOUND,
            "nvidia-container-runtime",
        ),
        (
            "docker: Error response from daemon: CDI device injection failed: "
            "unresolvable CDI devices nvidia.com/gpu=7",
            SmokeFailure.CDI_UNRESOLVABLE,
            "nvidia.com/gpu=7",
        ),
        ("something else entirely", SmokeFailure.OTHER, ""),
    ],
)
def test_recorded_smoke_errors_are_classified(text, kind, detail):
    assert classify_smoke_error(text) == (kind, detail)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # docker.md A1, verbatim: no daemon
        (
            "DockerException: Error while fetching server API version: ('Connection aborted.', "
            "FileNotFoundError(2, 'No such file or directory'))",
            ConnectError.SOCKET_MISSING,
        ),
        (
            "DockerException: Error while fetching server API version: ('Connection aborted.', "
            "PermissionError(13, 'Permission denied'))",
            ConnectError.PERMISSION_DENIED,
        ),
        (
            "DockerException: Error while fetching server API version: ('Connection aborted.', "
            "ConnectionRefusedError(111, 'Connection refused'))",
            ConnectError.REFUSED,
        ),
        ("ModuleNotFoundError: No module named 'docker'", ConnectError.SDK_MISSING),
        ("TLSParameterError: Path to a certificate and key files must be provided", ConnectError.OTHER),
    ],
)
def test_connect_errors_are_classified(error, kind):
    assert classify_connect_error(error) is kind


@pytest.mark.parametrize(
    ("header", "image"),
    [
        (
            (TOOLKIT.parent / "toolkit" / "nvidia-smi-header-550.txt").read_text(),
            "nvidia/cuda:12.0.1-base-ubuntu22.04",
        ),
        (
            "| NVIDIA-SMI 455.23.04    Driver Version: 455.23.04    CUDA Version: 11.1     |",
            "nvidia/cuda:11.0.3-base-ubuntu20.04",
        ),
        (  # synthetic line (no recorded R580 header in the references): only the CUDA field matters here
            "| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: 13.0  |",
            "nvidia/cuda:13.0.0-base-ubuntu24.04",
        ),
        (
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
            "nvidia/cuda:12.0.1-base-ubuntu22.04",
        ),
    ],
)
def test_default_smoke_image_satisfies_the_driver(header, image):
    from gpucheck.collect.sources.docker_daemon import default_smoke_image

    assert default_smoke_image(header) == image
