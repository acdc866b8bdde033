"""The stack rule: a finding follows from the failures of the layers it rests on, and names their roots."""

from __future__ import annotations

from gpucheck.collect.evidence import Evidence, FileRead
from gpucheck.diagnose.finding import Finding, Status
from gpucheck.diagnose.registry import select_checks
from gpucheck.diagnose.stack import Layer, assign_causes, consequences, layer_of, root_causes
from gpucheck.pipeline import diagnose


def f(check: str, status: str, **data) -> Finding:
    return Finding(
        check, Status(status), f"{check} {status}", "fix" if status in ("warn", "fail") else "", (), data
    )


def caused(findings: list[Finding]) -> dict[str, tuple[str, ...]]:
    return {x.check: x.caused_by for x in assign_causes(findings)}


def test_consequences_of_a_missing_driver_name_it_and_independent_findings_do_not():
    got = caused(
        [
            f("driver.loaded", "fail"),
            f("driver.kernel_module", "skip"),
            f("driver.nvidia_smi", "skip"),
            f("gpu.present", "skip"),
            f("toolkit.nvcc", "fail"),
            f("compat.toolkit_driver", "skip"),
            f("framework.cpu_build", "fail"),
            f("torch.cuda", "fail"),
            f("container.daemon", "fail"),
            f("container.smoke", "fail"),
        ]
    )
    assert got["driver.loaded"] == ()
    for consequence in ("driver.kernel_module", "driver.nvidia_smi", "gpu.present", "compat.toolkit_driver"):
        assert got[consequence] == ("driver.loaded",), consequence
    # A toolkit is built without a driver, a CPU wheel is a CPU wheel whatever the driver does.
    assert got["toolkit.nvcc"] == ()
    assert got["framework.cpu_build"] == ()
    assert got["container.daemon"] == ()
    # Frameworks rest on the GPUs and the toolkit: both roots are named, never the consequences between.
    assert got["torch.cuda"] == ("driver.loaded", "toolkit.nvcc")
    assert set(got["container.smoke"]) == {"driver.loaded", "container.daemon"}


def test_consequences_name_the_lowest_failure_not_the_chain():
    got = caused(
        [
            f("driver.pci_devices", "fail"),
            f("driver.loaded", "fail"),
            f("driver.nvidia_smi", "fail"),
            f("gpu.present", "fail"),
            f("torch.cuda", "fail"),
        ]
    )
    assert got["driver.pci_devices"] == ()
    assert got["driver.loaded"] == ("driver.pci_devices",)
    assert got["gpu.present"] == ("driver.pci_devices",)
    assert got["torch.cuda"] == ("driver.pci_devices",)


def test_passes_and_ordinary_warnings_are_not_causes():
    got = caused(
        [
            f("driver.loaded", "pass"),
            f("gpu.modes", "warn"),
            f("driver.kernel_module", "warn"),
            f("torch.cuda", "fail"),
            f("gpu.health", "pass"),
        ]
    )
    # nvidia_uvm missing (a blocking warning) explains torch; persistence off does not.
    assert got["torch.cuda"] == ("driver.kernel_module",)
    assert got["gpu.health"] == ()
    assert got["gpu.modes"] == ()


def test_a_finding_can_move_itself_to_another_layer():
    pci = f("driver.loaded", "fail", stack_layer="pci")
    assert layer_of(pci) is Layer.PCI
    got = caused([f("driver.device_nodes", "fail"), pci])
    assert got["driver.device_nodes"] == ("driver.loaded",)


def test_root_causes_lead_lowest_first_and_consequences_fold_under_them():
    findings = assign_causes(
        [
            f("toolkit.nvcc", "fail"),
            f("driver.loaded", "fail"),
            f("gpu.present", "skip"),
            f("gpu.modes", "pass"),
        ]
    )
    roots = root_causes(findings)
    assert [r.check for r in roots] == ["driver.loaded", "toolkit.nvcc"]
    assert [c.check for c in consequences(findings, roots[0])] == ["gpu.present"]


def test_the_pipeline_fills_caused_by_from_real_checks():
    """No driver evidence at all: the driver check fails and the GPU checks name it as their cause."""
    evidence = Evidence()
    evidence.add([FileRead(path="/proc/driver/nvidia/version", exists=False, error="no such file")])
    from gpucheck.collect.evidence import CollectorStatus

    for name in ("nvml", "nvidia_smi", "procfs"):
        evidence.collectors[name] = CollectorStatus(name=name, ok=True, duration_s=0.0)
    report = diagnose(evidence, select_checks(["driver.loaded", "gpu.present", "gpu.health"]))
    by = {x.check: x for x in report.findings}
    assert by["driver.loaded"].status is Status.FAIL and by["driver.loaded"].caused_by == ()
    assert by["gpu.present"].caused_by == ("driver.loaded",)
    assert by["gpu.health"].caused_by == ("driver.loaded",)


def test_a_skip_for_a_framework_that_is_not_installed_follows_from_nothing():
    got = caused(
        [
            f("driver.loaded", "fail"),
            f("torch.install", "skip"),
            f("torch.cuda", "skip"),
            f("framework.cuda_driver", "skip"),
            f("tensorflow.install", "pass"),
            f("tensorflow.gpu_libraries", "fail"),
        ]
    )
    assert got["torch.cuda"] == () and got["torch.install"] == ()
    # TensorFlow is installed, so its failure and the cross-framework skip do rest on the missing driver.
    assert got["tensorflow.gpu_libraries"] == ("driver.loaded",)
    assert got["framework.cuda_driver"] == ("driver.loaded",)
