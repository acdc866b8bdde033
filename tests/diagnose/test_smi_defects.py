"""The nvidia-smi defects of issue 10, each with the real capture that exposed it (tests/fixtures/real/).

Where no public capture shows a case (a ``Not Found`` CUDA field, a driver refusing a field while its help
cannot be read), the test says its input is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpucheck.collect.evidence import CommandRun, Evidence
from gpucheck.collect.registry import CollectContext, collect
from gpucheck.collect.sources import nvidia_smi
from gpucheck.diagnose.checks.gpu import check_health
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.inventory import GpuInfo, driver_info, gpu_inventory, nvidia_smi_runs
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.nvidia_smi import (
    SmiFailure,
    classify_failure,
    parse_header,
    parse_query_csv,
    parse_query_text,
    parse_xml,
)
from gpucheck.diagnose.registry import run_checks, select_checks
from tests.conftest import FakeBin, base_env, findings_by_check
from tests.fixtures.real.fake_nvidia_smi import sections

REAL = Path(__file__).parents[1] / "fixtures" / "real"
R610 = REAL / "ngexp--nvidia-geforce-rtx-2080-super--610.57.04"
R610_WINDOWS = REAL / "ngexp--win-nvidia-geforce-rtx-2080-super--610.62"
BUNDLES = sorted(p.parent for p in REAL.glob("ngexp--*/capture.json"))
H100_TEXT = REAL / "gpud--nvidia-smi-query.535.161.08" / "nvidia-smi-query.535.161.08.out.0.valid"


def _bundle(folder: Path) -> dict[str, str]:
    meta = json.loads((folder / "capture.json").read_text())
    return sections((folder / meta["file"]).read_text(errors="replace"))


def _findings(evidence: Evidence, only: str = "gpu") -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in run_checks(select_checks((only,)), Facts(evidence)):
        found.setdefault(finding.check, []).append(finding)
    return found


@pytest.mark.parametrize(("folder", "driver"), [(R610, "610.57.04"), (R610_WINDOWS, "610.62")])
def test_the_r610_header_form_is_read(folder: Path, driver: str) -> None:
    table = _bundle(folder)["idle :: nvidia-smi (default table)"]
    assert "KMD Version" in table and "CUDA UMD Version" in table
    header = parse_header(table)
    assert (header.driver_version, header.cuda_version) == (driver, "13.3")


def test_a_610_driver_meets_expect_cuda_13_1_from_its_header(
    invoke, fake_bin: FakeBin, tmp_path: Path
) -> None:
    fake = REAL / "fake_nvidia_smi.py"
    fake_bin.add_script("nvidia-smi", f'exec python3 "{fake}" "{R610}" "$@"')
    root = tmp_path / "root"
    root.mkdir()
    result = invoke(
        "doctor",
        "--json",
        "--sysroot",
        str(root),
        "--only",
        "expect",
        "--expect-cuda",
        ">=13.1",
        env=base_env(fake_bin),
    )
    (expect,) = findings_by_check(result.json())["expect.cuda"]
    assert expect["status"] == "pass", expect
    assert "13.3" in expect["summary"]


@pytest.mark.parametrize("folder", BUNDLES, ids=lambda f: f.name)
def test_every_query_field_is_known_to_the_recorded_drivers(folder: Path) -> None:
    """R590 to R610 list every field gpucheck asks, remapped rows and clocks_event_reasons included."""
    known = nvidia_smi.known_fields(_bundle(folder)["capabilities :: help-query-gpu"])
    assert nvidia_smi.fields_for(known) == nvidia_smi.QUERY_FIELDS
    assert {"remapped_rows.pending", "remapped_rows.failure", "clocks_throttle_reasons.active"} <= known


def test_a_driver_that_predates_clocks_event_reasons_is_asked_the_old_name() -> None:
    """Written: the R610 help list less its new names, as a pre-R535 driver lists them."""
    help_text = _bundle(R610)["capabilities :: help-query-gpu"]
    old = "\n".join(line.replace('"clocks_event_reasons.active" or ', "") for line in help_text.splitlines())
    fields = nvidia_smi.fields_for(nvidia_smi.known_fields(old))
    assert "clocks_throttle_reasons.active" in fields and "clocks_event_reasons.active" not in fields


def test_an_unknown_field_is_dropped_when_the_help_cannot_be_read(fake_bin: FakeBin) -> None:
    """Written fake: refuses `compute_cap` with R470's recorded message and has no `--help-query-gpu`."""
    refusal = (
        Path(__file__).parents[1] / "fixtures/system/nvidia_smi/unknown_field_compute_cap.txt"
    ).read_text()
    fields = [f for f in nvidia_smi.QUERY_FIELDS if f != "compute_cap"]
    csv = ", ".join(fields) + "\n" + ", ".join(["0", "Tesla T4"] + ["[N/A]"] * (len(fields) - 2)) + "\n"
    fake_bin.add_script(
        "nvidia-smi",
        f"""case "$*" in
  *compute_cap*) printf '%s' '{refusal}'; exit 2;;
  --query-gpu=*) printf '%s' '{csv}'; exit 0;;
  *) echo 'Invalid combination of input arguments.' >&2; exit 2;;
esac""",
    )
    evidence = collect(CollectContext(env=base_env(fake_bin, GPUCHECK_DISABLE_NVML="1")), ["nvidia_smi"])
    runs = nvidia_smi_runs(evidence)
    assert not runs["query"].succeeded and runs["legacy"].succeeded and "xml" not in runs
    assert "compute_cap" not in runs["legacy"].argv[1]
    assert [g.name for g in gpu_inventory(evidence)] == ["Tesla T4"]


def test_a_query_failing_for_another_reason_falls_back_and_keeps_what_was_read(fake_bin: FakeBin) -> None:
    """An 8×H100 host (gpud's recorded `nvidia-smi -q`) whose query fails with exit 255 and the message of
    https://github.com/haotian-liu/LLaVA/issues/1466 (8×A100): the XML is tried, then the text report."""
    fake_bin.add(
        "nvidia-smi",
        stderr="Unable to determine the device handle for GPU0000:4F:00.0: Unknown Error\n",
        exit_code=255,
        by_args={"-q": (H100_TEXT.read_text(), "", 0)},
    )
    ctx = CollectContext(env=base_env(fake_bin, GPUCHECK_DISABLE_NVML="1"))
    evidence = collect(ctx, ["nvml", "nvidia_smi", "procfs"])
    runs = nvidia_smi_runs(evidence)
    assert {"query", "table", "xml", "text"} <= set(runs) and "help" not in runs
    info = driver_info(evidence)
    assert (info.version, info.cuda_version, info.source) == ("535.161.08", "12.2", "nvidia-smi")
    gpus = gpu_inventory(evidence)
    assert len(gpus) == 8 and {g.name for g in gpus} == {"NVIDIA H100 80GB HBM3"}
    found = _findings(evidence)
    assert found["gpu.present"][0].status.value == "pass"
    smi = _findings(evidence, "driver")["driver.nvidia_smi"][0]
    assert "Unable to determine the device handle" in smi.summary


def test_placeholders_are_unknown_never_values() -> None:
    """Written document: the placeholders real drivers print, in the fields gpucheck reads."""
    xml = parse_xml(
        "<nvidia_smi_log><driver_version>470.57.02</driver_version><cuda_version>Not Found</cuda_version>"
        "<gpu id='00000000:01:00.0'><product_name>Tesla K80</product_name>"
        "<ecc_errors><volatile><double_bit><total>N/A</total></double_bit></volatile></ecc_errors>"
        "<retired_pages><pending_blacklist>No</pending_blacklist></retired_pages></gpu></nvidia_smi_log>"
    )
    assert xml.cuda_version is None
    assert xml.gpus[0]["retired_pages.pending"] == "No"
    rows = parse_query_csv(
        "index, ecc.errors.uncorrected.volatile.total, temperature.gpu, remapped_rows.pending\n"
        "0, [Not Supported], ERR!, [N/A]\n"
    )
    assert rows[0]["ecc.errors.uncorrected.volatile.total"] == "[Not Supported]"
    gpu = _gpu_from(rows[0])
    assert (gpu.ecc_uncorrected, gpu.temperature_c, gpu.remapped_rows_pending) == (None, None, None)


def _gpu_from(row: dict[str, str]) -> GpuInfo:
    header = ", ".join(row)
    evidence = Evidence()
    evidence.add(
        [
            CommandRun(
                argv=nvidia_smi.QUERY_ARGV,
                returncode=0,
                stdout=header + "\n" + ", ".join(row.values()) + "\n",
            )
        ]
    )
    (gpu,) = gpu_inventory(evidence)
    return gpu


def test_both_ecc_layouts_and_both_retirement_names() -> None:
    """netdata's P100 (R510, `double_bit/total`) and telegraf's A10G (R515, `dram_uncorrectable`), recorded;
    gpud's A10 `-q` report (R535) names pending retirement only `Pending Page Blacklist`."""
    p100 = parse_xml((REAL / "netdata--tesla-p100" / "tesla-p100.xml").read_text()).gpus[0]
    a10g = parse_xml((REAL / "telegraf--a10g" / "a10g.xml").read_text()).gpus[0]
    assert "<double_bit>" in (REAL / "netdata--tesla-p100" / "tesla-p100.xml").read_text()
    assert p100["ecc.errors.uncorrected.volatile.total"] == "0"
    assert p100["ecc.errors.uncorrected.aggregate.total"] == "0"
    assert a10g["ecc.errors.uncorrected.volatile.total"] == "0"
    a10_text = REAL / "gpud--nvidia-smi-query.535.129.03.a10" / "nvidia-smi-query.535.129.03.out.0.valid.a10"
    assert "Pending Page Retirement" not in a10_text.read_text()
    (a10,) = parse_query_text(a10_text.read_text()).gpus
    assert a10["retired_pages.pending"] == "N/A"
    assert (a10["remapped_rows.pending"], a10["remapped_rows.uncorrectable"]) == ("Yes", "4")


def test_a_pending_remap_warns_and_the_pass_text_names_only_what_was_read() -> None:
    """gpud's A10: `gpu.health` warns on the pending remap (it passed before remapped rows were read)."""
    a10_text = REAL / "gpud--nvidia-smi-query.535.129.03.a10" / "nvidia-smi-query.535.129.03.out.0.valid.a10"
    evidence = Evidence()
    evidence.add([CommandRun(argv=("nvidia-smi", "-q"), returncode=0, stdout=a10_text.read_text())])
    gpus = gpu_inventory(evidence)
    assert (gpus[0].remapped_rows_pending, gpus[0].remapped_rows_uncorrectable) == (True, 4)
    (finding,) = check_health(Facts(evidence))
    assert finding.status.value == "warn" and "row remapping is pending" in finding.summary
    assert "sudo nvidia-smi -r -i 0" in finding.remediation


def test_a_health_pass_names_only_the_readings_it_had() -> None:
    """telegraf's RTX 3090 (R525): no ECC, no retirement or remapping readings; a temperature."""
    xml = (REAL / "telegraf--rtx-3090-v12" / "rtx-3090-v12.xml").read_text()
    evidence = Evidence()
    evidence.add([CommandRun(argv=("nvidia-smi", "-q", "-x"), returncode=0, stdout=xml)])
    (finding,) = check_health(Facts(evidence))
    assert finding.status.value == "pass"
    assert finding.summary == (
        "ECC error counts not reported; page retirement and row remapping not reported; temperature 37 °C"
    )


def test_the_p2000_fixture_is_the_whole_recording() -> None:
    """tests/fixtures/system/nvidia_smi/q_x_p2000.xml is a0s/nvidia-smi-exporter's file, byte for byte."""
    system = Path(__file__).parents[1] / "fixtures" / "system" / "nvidia_smi" / "q_x_p2000.xml"
    assert system.read_bytes() == (REAL / "a0s--nvidia-smi-4" / "nvidia-smi-4.xml").read_bytes()
    (gpu,) = parse_xml(system.read_text()).gpus
    assert (gpu["pcie.link.gen.current"], gpu["pcie.link.width.max"], gpu["pstate"]) == ("3", "16x", "P0")


FORMS = {"xml": ("nvidia-smi", "-q", "-x"), "query-text": ("nvidia-smi", "-q"), "table": ("nvidia-smi",)}
DOCUMENTS = sorted(
    p.parent for p in REAL.glob("*/capture.json") if json.loads(p.read_text())["form"] in FORMS
)


@pytest.mark.parametrize("folder", DOCUMENTS, ids=lambda f: f.name)
def test_every_single_document_capture_reads_as_its_facts(folder: Path) -> None:
    """In-process and fast (for mutation testing): each XML, -q and table capture through the inventory."""
    meta = json.loads((folder / "capture.json").read_text())
    evidence = Evidence()
    evidence.add(
        [CommandRun(argv=FORMS[meta["form"]], returncode=0, stdout=(folder / meta["file"]).read_text())]
    )
    assert driver_info(evidence).version == meta["facts"]["driver"]
    gpus = gpu_inventory(evidence)
    assert len(gpus) == len(meta["facts"]["gpus"])
    for gpu, expected in zip(gpus, meta["facts"]["gpus"], strict=True):
        read = {key: getattr(gpu, key) for key in expected if hasattr(gpu, key)}
        assert read == {key: expected[key] for key in read}


A100_REMAP_DOC = REAL / "mleng--a100-row-remap-pending" / "nvidia-smi-q.txt"
GPU_LOST = REAL / "marian--251-gpu-lost" / "nvidia-smi.txt"
WSL_CUDA_ERR = REAL / "wsl--11589-cuda-version-err" / "nvidia-smi.txt"


def test_a_report_pasted_without_its_banner_is_still_read() -> None:
    """A troubleshooting guide quotes ``nvidia-smi -q`` from ``Timestamp`` on: no NVSMI LOG banner."""
    text = A100_REMAP_DOC.read_text()
    assert "NVSMI LOG" not in text
    report = parse_query_text(text)
    assert (report.driver_version, report.cuda_version, report.attached_gpus) == ("510.73.08", "11.6", 8)
    (gpu,) = report.gpus
    assert gpu["name"] == "NVIDIA A100-SXM4-80GB" and gpu["remapped_rows.pending"] == "Yes"
    with pytest.raises(ParseError):
        parse_query_text("Timestamp : Wed Jun  7 19:32:16 2023\nProduct Name : NVIDIA A100-SXM4-80GB\n")


def test_gpu_is_lost_is_recognised_by_its_words_whatever_the_exit_status() -> None:
    message = GPU_LOST.read_text()
    for status in (None, 0, 15, 255):
        assert classify_failure(message, status) is SmiFailure.GPU_LOST


def _answering(fake_bin: FakeBin, **by_args: tuple[str, str, int]) -> Evidence:
    """Evidence from an nvidia-smi that answers only the given arguments and refuses the rest (exit 2)."""
    fake_bin.add("nvidia-smi", stderr="no answer recorded\n", exit_code=2, by_args=by_args)
    ctx = CollectContext(env=base_env(fake_bin, GPUCHECK_DISABLE_NVML="1"))
    return collect(ctx, ["nvml", "nvidia_smi", "procfs"])


def test_a_lost_gpu_is_not_called_a_missing_driver(fake_bin: FakeBin) -> None:
    fake_bin.add("nvidia-smi", GPU_LOST.read_text(), exit_code=15)
    ctx = CollectContext(env=base_env(fake_bin, GPUCHECK_DISABLE_NVML="1"))
    found = _findings(collect(ctx, ["nvml", "nvidia_smi", "procfs"]))
    assert [f.status.value for f in found["gpu.errors"]] == ["fail"]
    for check_id in ("gpu.present", "gpu.health", "gpu.modes", "gpu.pcie_link"):
        (finding,) = found[check_id]
        assert finding.status.value == "skip" and "no NVIDIA driver is loaded" not in finding.summary
        assert "see gpu.errors" in finding.summary


def test_the_modes_pass_text_names_only_the_modes_read(fake_bin: FakeBin) -> None:
    evidence = _answering(fake_bin, **{"-q": (A100_REMAP_DOC.read_text(), "", 0)})
    (modes,) = _findings(evidence)["gpu.modes"]
    assert modes.status.value == "pass"
    assert modes.summary == "persistence not reported, compute mode not reported, MIG not reported"


def test_the_modes_pass_text_of_a_cut_table_leaves_out_its_mig_line(fake_bin: FakeBin) -> None:
    evidence = _answering(fake_bin, **{"": (WSL_CUDA_ERR.read_text(), "", 0)})
    (modes,) = _findings(evidence)["gpu.modes"]
    assert modes.summary == "persistence on, compute mode Default, MIG not reported"


def test_cuda_version_err_in_a_wsl2_header_is_unknown_not_a_version() -> None:
    header = parse_header(WSL_CUDA_ERR.read_text())
    assert (header.smi_version, header.driver_version) == ("545.46", "546.80")
    assert (header.cuda_version, header.cuda_raw) == (None, "ERR!")


SRAM_BLOCK = """    ECC Errors
        Volatile
            SRAM Correctable              : 0
            SRAM Uncorrectable            : 1
            DRAM Correctable              : 0
            DRAM Uncorrectable            : 0
        Aggregate
            SRAM Correctable              : 0
            SRAM Uncorrectable            : 5
            DRAM Correctable              : 0
            DRAM Uncorrectable            : 0
"""
"""The second `nvidia-smi -q` block of the same guide (stas00/ml-engineering, debug.md, 'uncorrectable ECC
error encountered'): a broken A100's live SRAM error. Only this block was quoted there."""


def test_an_uncorrectable_sram_error_is_an_uncorrected_ecc_error(fake_bin: FakeBin) -> None:
    """Derived input: the guide's A100 report with its ECC block replaced by the guide's SRAM block."""
    report = A100_REMAP_DOC.read_text()
    start, end = report.index("    ECC Errors\n"), report.index("    Retired Pages\n")
    derived = report[:start] + SRAM_BLOCK + report[end:]
    (gpu,) = parse_query_text(derived).gpus
    assert gpu["ecc.errors.uncorrected.volatile.total"] == "1"
    assert gpu["ecc.errors.uncorrected.aggregate.total"] == "5"
    evidence = _answering(fake_bin, **{"-q": (derived, "", 0)})
    (health,) = _findings(evidence)["gpu.health"]
    assert health.status.value == "fail" and "uncorrect" in health.summary.lower()


def test_the_hbm_layout_sums_its_parts_and_keeps_a_placeholder_when_none_is_a_number() -> None:
    """Written XML in the R535.161+ layout (parity and SEC-DED SRAM counts, as gpud's H100 report prints)."""
    ecc = (
        "<ecc_errors><volatile><sram_uncorrectable_parity>2</sram_uncorrectable_parity>"
        "<sram_uncorrectable_secded>1</sram_uncorrectable_secded><dram_uncorrectable>3</dram_uncorrectable>"
        "</volatile><aggregate><sram_uncorrectable_parity>N/A</sram_uncorrectable_parity>"
        "<dram_uncorrectable>N/A</dram_uncorrectable></aggregate></ecc_errors>"
    )
    (gpu,) = parse_xml(f"<nvidia_smi_log><gpu id='0'>{ecc}</gpu></nvidia_smi_log>").gpus
    assert gpu["ecc.errors.uncorrected.volatile.total"] == "6"
    assert gpu["ecc.errors.uncorrected.aggregate.total"] == "N/A"
    (legacy,) = parse_xml(
        "<nvidia_smi_log><gpu id='0'><ecc_errors><volatile><double_bit><total>1</total></double_bit>"
        "</volatile></ecc_errors></gpu></nvidia_smi_log>"
    ).gpus
    assert legacy["ecc.errors.uncorrected.volatile.total"] == "1"
    assert "ecc.errors.uncorrected.aggregate.total" not in legacy
