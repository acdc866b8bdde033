"""The console summary: one line per layer, problems with their consequences folded, fixes never cut."""

import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from gpucheck.collect.evidence import CommandRun, Evidence
from gpucheck.diagnose.finding import Finding, Report, Status
from gpucheck.report.console import render_console
from gpucheck.report.fixtext import commands_in, pieces, wrap

RECORDED = Path(__file__).parents[1] / "fixtures" / "report" / "no-driver-cuda13-cpu-frameworks.json"


def _recorded() -> Report:
    data = json.loads(RECORDED.read_text())
    findings = tuple(
        Finding(
            f["check"],
            Status(f["status"]),
            f["summary"],
            f["remediation"],
            tuple(f["evidence"]),
            f["data"],
            f["title"],
            f["layer"],
            tuple(f.get("caused_by", ())),
        )
        for f in data["findings"]
    )
    return Report(findings, data["meta"])


def _render(report: Report, width: int, verbose: int = 0, evidence: Evidence | None = None) -> str:
    out = io.StringIO()
    render_console(
        report, Console(file=out, width=width, color_system=None), verbose=verbose, evidence=evidence
    )
    return out.getvalue()


def _words(text: str) -> list[str]:
    """Words of prose with backticks and punctuation-only tokens dropped, for an in-order comparison."""
    return [w for w in text.replace("`", " ").split() if w.strip("(),;.:")]


def _in_order(needle: list[str], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(word == h or h.startswith(word) or word.startswith(h) for h in it) for word in needle)


def test_recorded_machine_fits_30_lines_at_80_columns():
    report = _recorded()
    text = _render(report, 80)
    assert len(text.splitlines()) <= 30, text
    assert "…" not in text and "..." not in text
    assert text.splitlines()[0].startswith("[✗] NVIDIA driver  no NVIDIA driver is loaded")
    assert "[✓] CUDA toolkit   CUDA 13.0 (/usr/local/bin/nvcc)" in text
    assert "[✓] PyTorch        PyTorch 2.13.0+cpu" in text
    assert "[!] Containers     no Docker daemon socket at unix:///var/run/docker.sock" in text
    assert "To fix, in order:\n 1. Install the NVIDIA driver 580" in text
    counts = {s: report.count(s) for s in Status}
    assert text.splitlines()[-1] == (
        f"2 layers need attention: {counts[Status.FAIL]} failed, {counts[Status.WARN]} warned, "
        f"{counts[Status.PASS]} passed, {counts[Status.SKIP]} skipped ({report.meta['duration_s']:.2f} s)"
    )


@pytest.mark.parametrize("width", [40, 60, 80, 100, 140, 220])
def test_every_command_and_url_is_printed_whole_at_any_width(width):
    report = _recorded()
    lines = [line.strip() for line in _render(report, width).splitlines()]
    remediations = [f.remediation for f in report.findings if f.status in (Status.FAIL, Status.WARN)]
    assert remediations
    for remediation in remediations:
        for command in commands_in(remediation):
            assert any(command in line for line in lines), (command, width)
        assert _in_order(_words(remediation), _words(" ".join(lines))), (remediation, width)
    for f in report.findings:
        if f.status in (Status.FAIL, Status.WARN):
            for path in re.findall(r"(?:/[\w.+-]+)+", f.summary + f.remediation):
                assert any(path in line for line in lines), (path, width)


def test_skips_and_passes_are_counted_not_listed():
    text = _render(_recorded(), 100)
    assert "wsl.kernel" not in text and "toolkit.shadowed" not in text
    assert "container.daemon: dockerd is not running" in text
    verbose = _render(_recorded(), 100, verbose=1)
    assert "wsl.kernel: not running under WSL" in verbose and "toolkit.shadowed" in verbose


def _stack() -> Report:
    return Report(
        (
            Finding(
                "driver.loaded",
                Status.FAIL,
                "no NVIDIA driver is loaded",
                "Install the driver: `sudo apt-get install nvidia-driver-580`",
                layer="driver",
            ),
            Finding(
                "toolkit.nvcc",
                Status.PASS,
                "CUDA 13.0",
                data={"version": "13.0", "nvcc": "/usr/bin/nvcc"},
                layer="toolkit",
            ),
            Finding(
                "tensorflow.gpu_libraries",
                Status.FAIL,
                "TensorFlow cannot reach the NVIDIA driver",
                "Install the driver: `sudo apt-get install nvidia-driver-580`",
                layer="tensorflow",
                caused_by=("driver.loaded",),
            ),
            Finding(
                "torch.cuda",
                Status.FAIL,
                "torch sees no GPU",
                "`sudo reboot`",
                layer="torch",
                caused_by=("driver.loaded",),
            ),
            Finding("environ.a", Status.WARN, "A is set", "`unset A`", layer="environ"),
            Finding("environ.b", Status.WARN, "B is set", "`unset A`", layer="environ"),
        ),
        {"duration_s": 1.0},
    )


def test_root_cause_first_with_consequences_folded_under_it():
    text = _render(_stack(), 100)
    lines = text.splitlines()
    assert lines[0].startswith("[✗] NVIDIA driver")
    assert "↳ follows from it: torch.cuda, tensorflow.gpu_libraries" in text
    # a consequence is not a second FAIL: its layer line says where it comes from, its fix is not listed
    assert "[-] TensorFlow     follows from driver.loaded (NVIDIA driver)" in text
    assert "✗ tensorflow.gpu_libraries" not in text and "sudo reboot" not in text
    fixes = text[text.index("To fix, in order:") :].splitlines()[1:]
    assert [f for f in fixes if re.match(r"\s*\d+\. ", f)] == [" 1. Install the driver:", " 2. unset A"]
    assert text.count("sudo apt-get install nvidia-driver-580") == 1
    assert "! environ.a → fix 2" in text and "environ.b: B is set → fix 2" in text
    assert lines[-1] == "2 layers need attention: 3 failed, 2 warned, 1 passed (1.00 s)"
    verbose = _render(_stack(), 140, verbose=1)
    assert (
        "✗ tensorflow.gpu_libraries: TensorFlow cannot reach the NVIDIA driver (follows from driver.loaded)"
        in verbose
    )


def test_untrusted_text_is_never_markup():
    report = Report(
        (
            Finding(
                "gpu.health",
                Status.ERROR,
                "nvml said [bold red]boom[/] :smile: [link=x]y[/link]",
                "`echo [/]`",
                layer="gpu",
            ),
        )
    )
    text = _render(report, 100)
    assert "nvml said [bold red]boom[/] :smile: [link=x]y[/link]" in text and "echo [/]" in text
    escaped = _render(
        Report((Finding("gpu.health", Status.FAIL, "bad\x1b[2J\x07 bell", "`x y`", layer="gpu"),)), 80
    )
    assert "\x1b" not in escaped and "bad\\x1b[2J\\x07 bell" in escaped


def test_evidence_only_with_vv():
    ev = Evidence()
    ev.add([CommandRun(argv=("nvidia-smi",), returncode=9, stdout="NVIDIA-SMI has failed [red]x[/red]")])
    report = Report(
        (
            Finding(
                "driver.nvidia_smi",
                Status.FAIL,
                "nvidia-smi fails",
                "`sudo reboot`",
                ("cmd:nvidia-smi",),
                layer="driver",
            ),
        )
    )
    assert "NVIDIA-SMI has failed" not in _render(report, 100, verbose=1, evidence=ev)
    assert "NVIDIA-SMI has failed [red]x[/red]" in _render(report, 100, verbose=2, evidence=ev)


def test_worker_timings_show_with_v():
    report = Report(
        (
            Finding(
                "torch.install",
                Status.PASS,
                "PyTorch 2.13 imports",
                data={"version": "2.13", "timings": {"import": 1.43, "matmul": 0.021}},
                layer="torch",
            ),
        )
    )
    assert "time: import 1.43s, matmul 0.02s" in _render(report, 100, verbose=1)
    assert "time:" not in _render(report, 100)


def test_wrap_breaks_only_between_pieces_and_keeps_long_commands_whole():
    cmd = "sudo apt-get install -y " + " ".join(f"package-{i}" for i in range(20))
    lines = wrap(
        pieces(f"Install the packages: `{cmd}`, then reboot (see https://example.com/a/very/long/path)."),
        30,
        first=" 1. ",
        rest="    ",
    )
    assert lines[0] == " 1. Install the packages:"
    assert lines[1] == "      " + cmd
    assert lines[2] == "    then reboot (see"
    assert lines[3] == "    https://example.com/a/very/long/path)."


def test_bare_commands_at_a_clause_start_get_their_own_line_and_asides_stay_inline():
    text = (
        "sudo systemctl start docker (and `sudo systemctl enable docker` at boot); or set DOCKER_HOST, "
        "e.g. export DOCKER_HOST=unix:///run/user/$(id -u)/docker.sock"
    )
    lines = wrap(pieces(text), 60, first=" 2. ", rest="    ")
    assert lines[0] == " 2. sudo systemctl start docker"
    assert "(and `sudo systemctl enable docker` at boot); or set" in lines[1]
    assert lines[-1] == "      export DOCKER_HOST=unix:///run/user/$(id -u)/docker.sock"
    assert commands_in("pip install 'docker>=7.1' (or: pip install 'gpucheck[docker]')") == [
        "pip install 'docker>=7.1'",
        "pip install 'gpucheck[docker]'",
    ]


def test_markdown_puts_root_causes_first_and_folds_consequences():
    from gpucheck.report.markdown import render_markdown

    md = render_markdown(_stack())
    rows = [
        line for line in md[md.index("### Problems") : md.index("<details>")].splitlines() if "| `" in line
    ]
    assert [r.split("|")[2].strip() for r in rows] == [
        "`driver.loaded`",
        "`torch.cuda`",
        "`tensorflow.gpu_libraries`",
        "`environ.a`",
        "`environ.b`",
    ]
    assert rows[1].startswith("| ↳ ❌ fail |") and "(follows from `driver.loaded`)" in rows[1]
    assert "fix the line above first" in rows[2] and "sudo reboot" not in rows[1]


def test_hypothesis_ci_profile_has_no_deadline_or_wall_clock_health_checks():
    from hypothesis import HealthCheck, settings

    ci = settings.get_profile("ci")
    assert ci.deadline is None and HealthCheck.too_slow in ci.suppress_health_check and ci.print_blob


def test_glued_punctuation_stays_with_its_code_and_long_code_is_never_split():
    long_cmd = "sudo zypper --non-interactive install nvidia-driver-G06-kmp-default nvidia-compute-utils-G06"
    text = (
        f"Install it (SUSE: `{long_cmd}`; Arch: `sudo pacman -S nvidia`), "
        "then restart it (`docker run --gpus all`)."
    )
    lines = wrap(pieces(text), 60, first=" 1. ", rest="    ")
    assert "    `" + long_cmd + "`;" in lines
    assert any(line.strip().startswith("(`docker run --gpus all`).") for line in lines), lines
    assert all(not line.rstrip().endswith("(") for line in lines), lines


_WORDS = st.text(alphabet="abcdefghij/.-:=()", min_size=1, max_size=12)


@given(
    st.lists(
        st.one_of(_WORDS, st.lists(_WORDS, min_size=1, max_size=6).map(lambda ws: "`" + " ".join(ws) + "`")),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=20, max_value=120),
)
def test_wrap_never_splits_a_word_or_code_span_and_keeps_every_word(parts, width):
    text = " ".join(parts)
    lines = wrap(pieces(text), width, first=" 1. ", rest="    ")
    joined = " ".join(line.strip() for line in lines)
    for part in parts:
        if part.startswith("`"):
            inner = part.strip("`").strip()
            assert any(inner in line for line in lines), (part, lines)
    assert _in_order(_words(text), _words(joined)), (text, lines)
    too_wide = [p.text for p in pieces(text) if len(p.text) + len("      ") > width]
    for line in lines:
        # a line is wider than asked only to hold a piece that alone does not fit
        assert len(line) <= width or any(piece in line for piece in too_wide), (line, width)


def test_a_layer_fact_drops_clauses_asides_and_a_closing_path_to_fit_one_line():
    from gpucheck.report.headline import fit

    skip = "PyTorch is not installed for /opt/venvs/train/bin/python; to install it: `pip install torch`"
    assert fit(skip, 200) == skip
    assert fit(skip, 60) == "PyTorch is not installed for /opt/venvs/train/bin/python"
    assert fit(skip, 40) == "PyTorch is not installed"
    assert fit("no GPU (see driver.loaded): nothing to list", 20) == "no GPU"
    report = Report(
        (
            Finding("torch.install", Status.SKIP, skip, layer="torch"),
            Finding("torch.cuda", Status.SKIP, "n/a", layer="torch"),
        )
    )
    assert _render(report, 60).splitlines()[0] == "[-] PyTorch  PyTorch is not installed"
