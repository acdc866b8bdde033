"""Expectation parsing: version specifiers on driver versions, the TOML config, flags over the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpucheck.ci.config import (
    ExpectationError,
    Expectations,
    VersionSpec,
    build_expectations,
    expectations_from_mapping,
    load_config,
)
from gpucheck.ci.detect import CiSystem, detect_ci, resolve_ci


@pytest.mark.parametrize(
    ("spec", "version", "admitted"),
    [
        (">=550", "550.54.14", True),  # 550.54.14 is later than 550
        (">=550,<560", "550.54.14", True),
        (">=550,<560", "560.28.03", False),
        (">=550,<560", "535.104.05", False),
        (">= 550, < 560", "555.42.02", True),
        ("550", "550.54.14", True),  # a bare version names the release line: ==550.*
        ("550", "551.23", False),
        ("550.54", "550.54.14", True),
        ("550.*", "550.127.05", True),
        ("==550.54.14", "550.54.14", True),
        ("!=550.54.14", "550.54.14", False),
        ("12.4", "12.4", True),
        ("12.4", "12.5", False),
        ("~=12.4", "12.8", True),
        ("~=12.4", "13.0", False),
        (">=12.4", "12.2", False),
        ("<=550", "550.54.14", False),  # PEP 440: 550.54.14 > 550; write <551 for "550 or older"
        ("<551", "550.54.14", True),
    ],
)
def test_version_specifiers_on_driver_and_cuda_versions(spec: str, version: str, admitted: bool):
    assert VersionSpec.parse(spec, option="--expect-driver").admits(version) is admitted


def test_a_version_that_is_not_a_version_is_undecided():
    assert VersionSpec.parse(">=550", option="x").admits("N/A") is None


@pytest.mark.parametrize("spec", ["", "abc", ">>550", "550,", "=>550", "latest"])
def test_bad_specifiers_are_refused_with_examples(spec: str):
    with pytest.raises(ExpectationError, match=r"--expect-cuda .* is not a version specifier \(examples: "):
        VersionSpec.parse(spec, option="--expect-cuda")


def test_build_validates_every_value():
    with pytest.raises(ExpectationError, match=r"--expect-gpu-name '\[' is not a valid regular expression"):
        build_expectations(gpu_name="[")
    with pytest.raises(ExpectationError, match="--expect-framework 'jax': expected one of torch, tensorflow"):
        build_expectations(frameworks=["torch", "jax"])
    with pytest.raises(ExpectationError, match="--expect-gpus must be a whole number"):
        build_expectations(gpus=-1)
    with pytest.raises(ExpectationError, match="--expect-mem-gib must be a number of GiB > 0"):
        build_expectations(mem_gib=0)
    with pytest.raises(ExpectationError, match="--expect-mem-gib must be a number of GiB > 0, got nan"):
        build_expectations(mem_gib=float("nan"))  # TOML allows nan, which every comparison would pass
    assert build_expectations(frameworks=["torch", "torch"]).frameworks == ("torch",)
    assert build_expectations().empty and not build_expectations(gpus=0).empty


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gpucheck.toml"
    path.write_text(text)
    return path


def test_config_file(tmp_path: Path):
    path = _toml(
        tmp_path,
        '[expect]\ngpus = 8\ngpu_name = "H100"\ndriver = ">=550,<560"\ncuda = "12.4"\n'
        'frameworks = ["torch", "tensorflow"]\nmem_gib = 80\n',
    )
    got = load_config(path)
    assert got.describe() == {
        "gpus": 8,
        "gpu_name": "H100",
        "driver": ">=550,<560",
        "cuda": "12.4",
        "frameworks": ("torch", "tensorflow"),
        "mem_gib": 80.0,
    }


def test_flags_override_the_file_key_by_key(tmp_path: Path):
    base = load_config(_toml(tmp_path, '[expect]\ngpus = 8\ndriver = ">=550"\nframeworks = ["torch"]\n'))
    merged = base.merged(build_expectations(gpus=4, frameworks=["tensorflow"]))
    assert merged.describe() == {"gpus": 4, "driver": ">=550", "frameworks": ("tensorflow",)}
    assert base.merged(Expectations()) == base


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[expect]\ngpu = 8\n", "unknown key 'gpu' in [expect]"),
        ("[expect]\ngpus = 'eight'\n", "[expect] gpus must be a whole number ≥ 0, got 'eight'"),
        ("[expect]\ngpus = true\n", "[expect] gpus must be a whole number"),
        ("[expect]\ndriver = '>>550'\n", "[expect] driver '>>550' is not a version specifier"),
        ("[expect]\nframeworks = 'jax'\n", "[expect] frameworks 'jax': expected one of torch, tensorflow"),
        ("[expect]\nframeworks = 3\n", "[expect] frameworks must be a list"),
        ("expect = 3\n", "'expect' must be a table"),
        ("[expects]\ngpus = 1\n", "unknown table or key 'expects'"),
        ("[expect\n", "not valid TOML"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str):
    with pytest.raises(ExpectationError) as info:
        load_config(_toml(tmp_path, text))
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ExpectationError, match="cannot read it"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GITHUB_ACTIONS": "true"}, CiSystem.GITHUB),
        ({"GITLAB_CI": "true", "CI": "true"}, CiSystem.GITLAB),
        ({"CI": "true"}, CiSystem.NONE),
        ({"GITHUB_ACTIONS": "false"}, CiSystem.NONE),
        ({}, CiSystem.NONE),
    ],
)
def test_ci_detection(env: dict[str, str], expected: CiSystem):
    assert detect_ci(env) is expected
    assert resolve_ci("auto", env) is expected
    assert resolve_ci("none", {"GITHUB_ACTIONS": "true"}) is CiSystem.NONE
    assert resolve_ci("gitlab", {}) is CiSystem.GITLAB


@given(
    st.dictionaries(
        st.sampled_from(["gpus", "gpu_name", "driver", "cuda", "frameworks", "mem_gib"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=12)
        | st.lists(st.text(max_size=12) | st.integers(), max_size=3),
    )
)
def test_any_expect_table_is_accepted_or_a_usage_error(table: dict):
    try:
        expectations_from_mapping(table, where="gpucheck.toml")
    except ExpectationError as exc:
        assert str(exc).startswith("gpucheck.toml: ")
