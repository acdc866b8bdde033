"""Untrusted input: 10 MB of adversarial text stays within a generous time bound, markup is never interpreted,
size limits hold, and hostile bytes neither crash nor leak into the output as control sequences."""

from __future__ import annotations

import re
import time

from rich.console import Console

from gpucheck.explain.catalogue import load_catalogue
from gpucheck.explain.engine import explain_text
from gpucheck.explain.render import render_console, render_markdown
from gpucheck.explain.text import MAX_INPUT_BYTES, MAX_LINE_CHARS, clean

TEN_MB = 10_000_000
CPU_BOUND_S = 60.0
"""Generous on purpose (CI machines are loaded); the scan is linear and takes seconds on a quiet machine."""


def adversarial_text(size: int = TEN_MB) -> str:
    """Every catalogue needle followed by the kind of tail that makes naive patterns backtrack, plus headers,
    XML, JSON and escape sequences that open and never close, repeated to ``size`` characters."""
    needles = [n for s in load_catalogue().signatures for n in s.needles]
    parts = [n + " " + "(" * 3000 + " with cuda capability sm_" + "9" * 500 for n in needles]
    parts += [
        "| NVIDIA-SMI 1 Driver Version: " + " " * 4000 + "x",
        "NVIDIA-SMI " * 350,
        "<nvidia_smi_log>" + "<a>" * 5000,
        "PyTorch version: " + "+cu" * 1000,
        '{\n"runtimes": {' + '"a":' * 2000,
        "\x1b[" + "1;" * 10000 + "m",
        "é" * 5000 + "İ" * 5000,
        "Could not load dynamic library '" + "x" * 5000,
    ]
    block = "\n".join(parts) + "\n"
    return (block * (size // len(block) + 1))[:size]


def test_ten_megabytes_of_adversarial_text_within_bound():
    planted = "\nRuntimeError: CUDA error: no kernel image is available for execution on the device\n"
    raw = (adversarial_text(TEN_MB - len(planted)) + planted).encode()
    assert len(raw) >= TEN_MB
    start = time.process_time()
    explanation = explain_text(clean(raw))
    elapsed = time.process_time() - start
    assert elapsed < CPU_BOUND_S, f"{elapsed:.1f} s of CPU for 10 MB"
    assert "no_kernel_image" in {h.signature.id for h in explanation.hits}


def test_input_is_cut_at_the_size_limit():
    text = clean(b"x" * (MAX_INPUT_BYTES + 10))
    assert text.truncated and len(text.text) == MAX_INPUT_BYTES


def test_long_lines_are_read_only_up_to_the_cap():
    needle = "Torch not compiled with CUDA enabled"
    beyond = explain_text(clean("a" * MAX_LINE_CHARS + " " + needle))
    within = explain_text(clean("a" * (MAX_LINE_CHARS - len(needle) - 1) + " " + needle))
    assert "torch_not_compiled_with_cuda" not in {h.signature.id for h in beyond.hits}
    assert "torch_not_compiled_with_cuda" in {h.signature.id for h in within.hits}


def test_markup_and_control_characters_are_shown_as_text():
    hostile = (
        "[bold red]RuntimeError[/]: [link=https://evil.example]CUDA error[/link]: no kernel image is "
        "available for execution on the device \x1b]0;pwned\x07 \x9b2J `code` "
        "<script>alert(1)</script> |cell|\n"
    )
    explanation = explain_text(clean(hostile.encode()))
    console = Console(record=True, width=200, color_system=None)
    render_console(explanation, console)
    shown = console.export_text()
    assert "[bold red]RuntimeError[/]" in shown
    assert "[link=https://evil.example]" in shown
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    markdown = render_markdown(explanation)
    assert "<script>" in markdown  # quoted ...
    outside_code = re.sub(r"(`+).*?\1", "", markdown)
    assert "<script>" not in outside_code and "|cell|" not in outside_code  # ... but only inside code spans


def test_undecodable_bytes_do_not_crash():
    raw = b"\xff\xfe\x00garbage\x80\x81 Torch not compiled with CUDA enabled\n" * 3
    explanation = explain_text(clean(raw))
    assert explanation.identified[0].cause.id == "torch_cpu_build"


def test_utf16_from_powershell_is_decoded():
    text = "| NVIDIA-SMI 551.78                 Driver Version: 551.78         CUDA Version: 12.4     |\n"
    explanation = explain_text(clean(text.encode("utf-16")))
    assert ("driver.version", "551.78") in {(f.name, f.value) for f in explanation.facts}
