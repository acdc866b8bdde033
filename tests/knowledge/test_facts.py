"""Each corrected fact, through the real checks, with the authority's value written in the test.

Sources: NVIDIA CUDA release notes Table 3 and the minor-version-compatibility guide; NVIDIA's driver
installation guide and open-kernel-module announcement; PyTorch's build tables and maintainers; TensorFlow's
tested build configurations; the container toolkit's CHANGELOG and moby PR #50228 (version-facts.md).
"""

from __future__ import annotations

from pathlib import Path

from gpucheck.collect.evidence import CollectorStatus, CommandRun, Evidence, Value
from gpucheck.diagnose.driver_choice import choose_driver, render_driver_install
from gpucheck.diagnose.finding import Status
from gpucheck.diagnose.wheels import cudnn_pin, tf_build_for_driver, torch_wheel_for
from gpucheck.knowledge import load
from tests.frameworks.helpers import TF, TORCH, fixture, nvml, one, worker_run
from tests.frameworks.helpers import evidence as framework_evidence

FIXTURES = Path(__file__).parent.parent / "fixtures" / "knowledge"
SYSTEM = ("nvml", "nvidia_smi", "procfs", "toolkit", "env")


def host(driver: str, cuda_api: int, gpus, nvcc_banner: str | None = None, release: str = "13.2") -> Evidence:
    """NVML readings and (optionally) one nvcc on PATH, as the collectors record them."""
    ev = Evidence()
    items = [nvml(driver, cuda_api, gpus), Value(name="env", data={})]
    if nvcc_banner is not None:
        nvcc = f"/usr/local/cuda-{release}/bin/nvcc"
        items += [
            Value(name="nvcc_candidates", data=[{"nvcc": nvcc, "origin": "PATH", "exists": True}]),
            CommandRun(argv=(nvcc, "--version"), returncode=0, stdout=nvcc_banner),
        ]
    ev.add(items)
    for name in SYSTEM:
        ev.collectors[name] = CollectorStatus(name=name, ok=True, duration_s=0.1)
    return ev


RTX3090 = ("NVIDIA GeForce RTX 3090", "8.6", 24576)
RTX5090 = ("NVIDIA GeForce RTX 5090", "12.0", 32607)
GTX1080 = ("NVIDIA GeForce GTX 1080", "6.1", 8192)
GH200 = ("NVIDIA GH200 480GB", "9.0", 97871)


def test_cuda_13_2_toolkit_on_r580_is_minor_version_compatibility_with_the_595_upgrade():
    ev = host("580.95.05", 13000, [RTX3090], (FIXTURES / "nvcc-13.2.txt").read_text())
    result = one(ev, "compat.toolkit_driver")
    assert result.status is Status.WARN
    assert "only through minor-version compatibility" in result.summary
    assert "cannot be JIT-compiled" in result.summary and "≥ 595.45.04" in result.summary
    assert "nvidia-driver-595-open" in result.remediation  # Ampere: either flavour, open is the default


def test_a_toolkit_newer_than_the_table_is_a_warning_naming_the_table_date():
    ev = host("615.71.09", 13040, [RTX3090], (FIXTURES / "nvcc-13.5.txt").read_text(), "13.5")
    result = one(ev, "compat.toolkit_driver")
    assert result.status is Status.WARN
    assert "CUDA 13.5 is newer than this gpucheck's cuda_drivers table" in result.summary
    assert "(newest 13.4, checked 2026-12-01): cannot judge" in result.summary
    assert "python -m pip install --upgrade gpucheck" in result.remediation
    (known,) = [f for f in _all(ev, "compat.known_versions")]
    assert known.status is Status.WARN and "CUDA 13.5 is newer" in known.summary


def test_a_driver_newer_than_the_table_is_a_warning():
    findings = _all(host("620.18.01", 13050, [RTX3090]), "compat.known_versions")
    assert any(
        f.status is Status.WARN
        and "driver 620.18.01 is newer than this gpucheck's cuda_drivers table" in f.summary
        for f in findings
    )


def test_drivers_within_the_table_pass_the_known_versions_check():
    (result,) = _all(host("580.95.05", 13000, [RTX3090]), "compat.known_versions")
    assert result.status is Status.PASS and "checked 2026-12-01" in result.summary


def _all(ev: Evidence, check_id: str) -> list:
    from tests.frameworks.helpers import findings

    return findings(ev, check_id)


def test_blackwell_and_grace_hopper_get_the_open_kernel_modules():
    # NVIDIA: Blackwell and Grace Hopper require the open GPU kernel modules (proprietary unsupported)
    for gpu in (RTX5090, GH200):
        choice = choose_driver("580.65.06", [(gpu[0], gpu[1])])
        assert choice.open_modules is True
        assert "Debian/Ubuntu: `sudo apt-get install -y nvidia-driver-580-open`" in render_driver_install(
            choice
        )


def test_pascal_stops_at_r580_and_gets_the_proprietary_modules():
    # R580 is the last driver branch for Maxwell, Pascal and Volta; they cannot use the open modules
    choice = choose_driver("595.45.04", [(GTX1080[0], GTX1080[1])])
    assert choice.branch == 580 and choice.open_modules is False
    assert "Pascal GPUs stop at driver branch R580 (and CUDA 12.9)" in choice.limits[0]
    text = render_driver_install(choice)
    assert "Debian/Ubuntu: `sudo apt-get install -y nvidia-driver-580`" in text and "580-open" not in text


def test_cuda_13_cannot_build_for_pascal():
    ev = host("580.65.06", 13000, [GTX1080], fixture_nvcc_13_0(), "13.0")
    (result,) = _all(ev, "compat.toolkit_arch")
    assert result.status is Status.WARN
    assert "cannot build for it (CUDA 12.9 is the last release that can)" in result.summary
    assert "`sudo apt-get install -y cuda-toolkit-12-9`" in result.remediation


def fixture_nvcc_13_0() -> str:
    return (Path(__file__).parent.parent / "fixtures" / "system" / "nvcc" / "13.0.txt").read_text()


def test_torch_on_r535_ampere_uses_cu126_without_a_driver_upgrade():
    # PyTorch runs cu126+ wheels on R535/R550 (minor-version compatibility; pytorch/pytorch#155141)
    pick = torch_wheel_for("535.104.05", ["8.6"])
    assert (pick.wheel.series, pick.wheel.variant, pick.support.name) == ("2.14", "cu126", "MINOR_COMPAT")
    assert pick.full_driver == "560.28.03"


def test_blackwell_on_570_gets_cu129_not_a_proprietary_575():
    ev = framework_evidence(
        torch=worker_run(TORCH, fixture("torch_cpu_worker.json")), system=nvml("570.124.06", 12080, [RTX5090])
    )
    result = one(ev, "framework.cpu_build")
    assert "--index-url https://download.pytorch.org/whl/cu129" in result.remediation
    assert "nvidia-driver-575" not in result.remediation


def test_565_reports_cuda_12_7_but_the_toolkit_advice_is_12_6():
    # R565 prints "CUDA Version: 12.7"; no 12.7 toolkit was released (12.6 Update 3 → 12.8)
    ev = host("565.57.01", 12070, [RTX3090], fixture_nvcc_13_0(), "13.0")
    result = one(ev, "compat.toolkit_driver")
    assert result.status is Status.FAIL
    assert "cuda-toolkit-12-6" in result.remediation and "cuda-toolkit-12-7" not in result.remediation
    assert "/usr/local/cuda-12.6/bin" in result.remediation


def test_tensorflow_matrix_values():
    # tensorflow.org tested build configurations: 2.14 CUDA 11.8 cuDNN 8.7; CUDA 12 from 2.15 (12.2, 8.9);
    # 2.18-2.21 CUDA 12.5 cuDNN 9.3; 2.13 has no [and-cuda] extra
    b214, b215, b213, b221 = (load.tf_build(v) for v in ("2.14.1", "2.15.0", "2.13.1", "2.21.0"))
    assert (b214.cuda, b214.cudnn, b214.and_cuda, b214.wheel_suffix) == ("11.8", "8.7", True, "cu11")
    assert (b215.cuda, b215.cudnn) == ("12.2", "8.9")
    assert b213.and_cuda is False
    assert (b221.cuda, b221.cudnn) == ("12.5", "9.3")
    assert cudnn_pin(b215) == "nvidia-cudnn-cu12>=8.9,<9"  # never a jump to cuDNN 9 for a cuDNN-8 build


def test_a_cuda_11_driver_gets_tensorflow_2_14_and_cuda_not_2_13():
    build = tf_build_for_driver("470.86")
    assert build.series == "2.14"
    ev = framework_evidence(
        tf=worker_run(TF, fixture("tf_cpu_worker.json")), system=nvml("470.86", 11040, [RTX3090])
    )
    result = one(ev, "framework.cpu_build")
    assert "'tensorflow[and-cuda]==2.14.*'" in result.remediation
    assert "tensorflow<2.14" not in result.remediation and "and-cuda]==2.13" not in result.remediation


def test_torch_and_tensorflow_newer_than_their_tables():
    torch_report = fixture("torch_cpu_worker.json").replace('"2.13.0+cpu"', '"2.15.0+cpu"')
    tf_report = fixture("tf_cpu_worker.json").replace('"2.21.0"', '"2.22.0"')
    ev = framework_evidence(torch=worker_run(TORCH, torch_report), tf=worker_run(TF, tf_report))
    summaries = {f.summary for f in _all(ev, "framework.known_versions") if f.status is Status.WARN}
    assert any(
        "torch 2.15.0 is newer than this gpucheck's torch_wheels table (newest 2.14" in s for s in summaries
    )
    assert any(
        "TensorFlow 2.22.0 is newer than this gpucheck's tf_builds table (newest 2.21" in s for s in summaries
    )


def test_container_facts():
    facts = load.container_facts()
    assert facts["toolkit_cdi_refresh"].since == "1.18.0"
    assert facts["toolkit_cdi_refresh"].value == "/var/run/cdi/nvidia.yaml"
    assert (
        facts["docker_gpus_via_cdi"].since == "29.2.0"
        and facts["docker_gpus_via_cdi"].value == "nvidia-cdi-hook"
    )
    assert facts["docker_gpus_via_cdi"].holds_for("29.2.0") and not facts["docker_gpus_via_cdi"].holds_for(
        "29.1.5"
    )
    assert facts["docker_rootless_cdi_dirs"].since == "29.3.0"
    assert facts["docker_gpus_via_cdi"].holds_for(None) is None


def test_a_torch_newer_than_the_table_is_not_told_to_downgrade():
    torch_report = fixture("torch_cpu_worker.json").replace('"2.13.0+cpu"', '"2.15.0+cpu"')
    ev = framework_evidence(torch=worker_run(TORCH, torch_report), system=nvml("580.95.05", 13000, [RTX3090]))
    result = one(ev, "framework.cpu_build")
    assert "torch 2.15.0 is newer than this gpucheck's torch_wheels table" in result.remediation
    assert "torch==2.14" not in result.remediation


def test_the_driver_choice_is_rendered_for_the_host_it_runs_on():
    from gpucheck.diagnose.host import Host

    choice = choose_driver("580.65.06", [(RTX5090[0], RTX5090[1])])
    ubuntu = render_driver_install(choice, Host(family="apt", distro_id="ubuntu", root=False))
    assert "`sudo apt-get install -y nvidia-driver-580-open`" in ubuntu and "dnf" not in ubuntu
    container = render_driver_install(choice, Host(family="apt", distro_id="ubuntu", container="docker"))
    assert container.startswith("On the host, not inside this docker container")
    assert "In Windows" in render_driver_install(choice, Host(family="apt", wsl2=True))


def test_wsl2_toolkit_advice_follows_the_windows_driver():
    from gpucheck.diagnose.checks.wsl import _wsl_toolkit
    from gpucheck.diagnose.facts import Facts

    # a Windows 565 driver reports CUDA 12.7, which was never released: the toolkit to install is 12.6
    assert _wsl_toolkit(Facts(host("566.03", 12070, [RTX3090]), {})).startswith("`cuda-toolkit-12-6`")
    assert _wsl_toolkit(Facts(host("596.36", 13020, [RTX3090]), {})).startswith("`cuda-toolkit-13-2`")
    assert "cuda-toolkit-12-x" not in _wsl_toolkit(Facts(host("596.36", 13020, [RTX3090]), {}))


def test_pci_device_ids_tell_the_generation_without_a_driver():
    # lspci: "GB202 [GeForce RTX 5090] [10de:2b85]", "GH100 [GH200 480GB] [10de:2342]" (pci.ids)
    assert choose_driver(None, [("", None, 0x2B85)]).open_modules is True
    assert choose_driver(None, [("", None, 0x2342)]).open_modules is True
    unknown = choose_driver(None, [("", None, 0x1B80)])  # a Pascal id outside every recorded range
    assert unknown.open_modules is None and unknown.branch == 580


def test_a_tensorflow_newer_than_the_table_keeps_its_version():
    tf_report = fixture("tf_cpu_worker.json").replace('"2.21.0"', '"2.22.0"')
    ev = framework_evidence(tf=worker_run(TF, tf_report), system=nvml("580.95.05", 13000, [RTX3090]))
    result = one(ev, "framework.cpu_build")
    assert "'tensorflow[and-cuda]==2.22.0'" in result.remediation
    assert "TensorFlow 2.22.0 is newer than this gpucheck's tf_builds table" in result.remediation
    assert "==2.21" not in result.remediation


def test_a_framework_built_for_a_cuda_newer_than_the_table_is_not_judged():
    report = fixture("torch_gpu_rtx5090_cu124.json").replace('"cuda": "12.4"', '"cuda": "13.5"')
    ev = framework_evidence(torch=worker_run(TORCH, report), system=nvml("615.71.09", 13040, [RTX5090]))
    (result,) = _all(ev, "framework.cuda_driver")
    assert result.status is Status.WARN
    assert "CUDA 13.5 is newer than this gpucheck's cuda_drivers table" in result.summary
    assert "whether driver 615.71.09 runs torch's CUDA 13.5 build" in result.summary
