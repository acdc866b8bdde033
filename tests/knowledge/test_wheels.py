"""Which wheel fits a host, from the knowledge tables (in-process and free of the CLI, for mutation testing).

Expected values come from PyTorch's build tables (.ci/manywheel/build_env_setup.py at v2.13.0 / v2.14.0),
PyTorch's statement that cu126+ wheels run on R535/R550 drivers (pytorch/pytorch#155141), NVIDIA's
minor-version compatibility floors, and TensorFlow's tested build configurations.
"""

from __future__ import annotations

import pytest

from gpucheck.diagnose.cuda_compat import Support
from gpucheck.diagnose.wheels import (
    arch_capability,
    arch_list_supports,
    arch_runs_on,
    cudnn_pin,
    newer_than_build,
    newer_wheels_lost,
    sm_name,
    tf_build_for_driver,
    tf_gpu_install_command,
    torch_index_url,
    torch_install_command,
    torch_wheel_after_upgrade,
    torch_wheel_for,
)
from gpucheck.knowledge import load


@pytest.mark.parametrize(
    ("arch", "capability", "runs"),
    [
        ("sm_86", "8.6", True),
        ("sm_80", "8.6", True),  # same major, newer minor
        ("sm_86", "8.0", False),
        ("sm_90", "12.0", False),  # cubins do not cross majors
        ("sm_90a", "9.0", True),
        ("sm_90a", "9.1", False),  # arch-specific code runs on exactly that capability
        ("compute_80", "12.0", True),  # PTX is JIT-compiled for any newer device
        ("compute_90", "8.6", False),
        ("sm_86", "garbage", False),
        ("nonsense", "8.6", False),
    ],
)
def test_arch_runs_on(arch: str, capability: str, runs: bool) -> None:
    assert arch_runs_on(arch, capability) is runs


def test_arch_helpers() -> None:
    assert arch_capability("sm_120") == (12, 0) and arch_capability("compute_90a") == (9, 0)
    assert arch_capability("x") is None
    assert sm_name("12.0") == "sm_120" and sm_name("junk") == "junk"
    archs = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
    assert newer_than_build(archs, "12.0") and not newer_than_build(archs, "3.7")
    assert not newer_than_build([], "12.0")
    assert arch_list_supports(archs, "6.1") and not arch_list_supports(archs, "12.0")


@pytest.mark.parametrize(
    ("driver", "capabilities", "series", "variant", "support"),
    [
        ("535.104.05", ["8.6"], "2.14", "cu126", Support.MINOR_COMPAT),  # R535 runs cu126: no upgrade
        ("560.35.03", ["8.6"], "2.14", "cu126", Support.FULL),
        ("570.124.06", ["12.0"], "2.13", "cu129", Support.MINOR_COMPAT),  # Blackwell on R570: cu129
        ("580.65.06", ["12.0"], "2.14", "cu132", Support.MINOR_COMPAT),
        ("595.45.04", ["12.0"], "2.14", "cu132", Support.FULL),
        ("580.65.06", ["6.1"], "2.14", "cu126", Support.FULL),  # Pascal: only cu126 has sm_60
        ("470.86", ["8.6"], "2.7", "cu118", Support.MINOR_COMPAT),  # an 11.x driver: cu118, torch 2.7
        ("470.86", ["3.7"], "2.7", "cu118", Support.MINOR_COMPAT),  # Kepler: cu118 is the last with sm_37
    ],
)
def test_torch_wheel_for(driver, capabilities, series, variant, support) -> None:
    pick = torch_wheel_for(driver, capabilities)
    assert (pick.wheel.series, pick.wheel.variant, pick.support) == (series, variant, support)


def test_torch_wheel_for_prefers_the_installed_series_and_needs_a_driver() -> None:
    assert torch_wheel_for("580.65.06", ["8.6"], prefer_series="2.13").wheel.series == "2.13"
    assert torch_wheel_for(None, ["8.6"]) is None
    assert torch_wheel_for("440.33", ["8.6"]) is None  # below every minor-version-compatibility floor
    assert torch_wheel_for("580.65.06", ["12.0", "6.1"]) is None  # no wheel covers Blackwell and Pascal


def test_drivers_of_a_pick() -> None:
    pick = torch_wheel_for("535.104.05", ["8.6"])
    assert (pick.full_driver, pick.floor_driver, pick.spec) == ("560.28.03", "525.60.13", "torch==2.14.*")
    assert [(w.series, w.variant) for w in newer_wheels_lost(pick, ["8.6"])] == [("2.14", "cu132")]
    assert newer_wheels_lost(torch_wheel_for("595.45.04", ["8.6"]), ["8.6"]) == []


def test_the_smallest_upgrade() -> None:
    after = torch_wheel_after_upgrade(["12.0"])
    assert (after.wheel.series, after.wheel.variant, after.floor_driver) == ("2.14", "cu130", "580.65.06")
    assert torch_wheel_after_upgrade(["8.6"]).wheel.variant == "cu126"
    assert torch_wheel_after_upgrade(["2.0"]) is None


def test_commands() -> None:
    assert torch_index_url("cu126") == "https://download.pytorch.org/whl/cu126"
    assert torch_install_command("python3", "cu130", "torch==2.14.*") == (
        "python3 -m pip install --force-reinstall 'torch==2.14.*' --index-url https://download.pytorch.org/whl/cu130"
    )
    b214 = load.tf_build("2.14.0")
    assert tf_gpu_install_command("py") == "py -m pip install 'tensorflow[and-cuda]'"
    assert tf_gpu_install_command("py", b214) == "py -m pip install 'tensorflow[and-cuda]==2.14.*'"
    assert tf_gpu_install_command("py", b214, "2.14.1") == "py -m pip install 'tensorflow[and-cuda]==2.14.1'"
    assert tf_gpu_install_command("py", None, None, cpu_package=True) == (
        "py -m pip uninstall -y tensorflow-cpu && py -m pip install 'tensorflow[and-cuda]'"
    )


def test_tensorflow_for_a_driver() -> None:
    assert tf_build_for_driver("580.65.06").series == "2.21"
    assert tf_build_for_driver("525.60.13").series == "2.21"  # CUDA 12.5 by minor-version compatibility
    assert tf_build_for_driver("470.86").series == "2.14"  # CUDA 11.8 wheels (-cu11)
    assert tf_build_for_driver("440.33") is None
    assert tf_build_for_driver(None).series == "2.21"
    assert cudnn_pin(load.tf_build("2.14.0")) == "nvidia-cudnn-cu11>=8.7,<9"
    assert cudnn_pin(load.tf_build("2.21.0")) == "nvidia-cudnn-cu12>=9.3,<10"
    # 2.13 has no pip CUDA wheels; the pin names the cu11 wheel of the cuDNN it was built against
    assert cudnn_pin(load.tf_build("2.13.0")) == "nvidia-cudnn-cu11>=8.6,<9"


def test_machine_decides_the_architecture_list():
    # aarch64 builds differ: cu130/cu132 add sm_110 (Thor), cu126 is sm_80/sm_90 only (build_env_setup.py)
    thor = torch_wheel_for("580.95.05", ["11.0"], "aarch64")
    assert (thor.wheel.series, thor.wheel.variant) == ("2.14", "cu132")
    assert torch_wheel_for("580.95.05", ["11.0"]) is None  # no x86_64 wheel has sm_110
    assert torch_wheel_for("580.95.05", ["7.5"], "aarch64") is None  # no aarch64 wheel has sm_75
    assert torch_wheel_after_upgrade(["11.0"], "aarch64").wheel.variant == "cu130"
    assert torch_wheel_after_upgrade(["11.0"]) is None
    r535 = torch_wheel_for("535.104.05", ["8.0"], "aarch64")  # cu126 on aarch64 (sm_80), minor compat
    assert r535.wheel.variant == "cu126"
    assert [w.variant for w in newer_wheels_lost(r535, ["8.0"], "aarch64")] == ["cu132"]
    assert newer_wheels_lost(thor, ["11.0"]) == []  # judged for x86_64, where nothing covers sm_110


def test_upgrade_pick_is_from_the_newest_series_and_marked_too_old():
    after = torch_wheel_after_upgrade(["6.1"])
    assert (after.wheel.series, after.wheel.variant, after.support) == ("2.14", "cu126", Support.TOO_OLD)


def test_boundaries_of_the_arch_rules():
    assert arch_runs_on("compute_80", "8.0") and arch_capability("sm_86") == (8, 6)
    assert not newer_than_build(["sm_90"], "9.0") and newer_than_build(["sm_90"], "9.1")


def test_default_specs_and_series_mismatch():
    assert torch_install_command("py", "cu126") == (
        "py -m pip install --force-reinstall 'torch' --index-url https://download.pytorch.org/whl/cu126"
    )
    b214 = load.tf_build("2.14.0")
    assert tf_gpu_install_command("py", b214, "2.21.0") == "py -m pip install 'tensorflow[and-cuda]==2.14.*'"
    cuda12 = load.TfBuild("9.9", "12.3", "8.9", False, None, "https://example.org")
    assert cudnn_pin(cuda12) == "nvidia-cudnn-cu12>=8.9,<9"
