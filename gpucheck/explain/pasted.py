"""Pasted tool outputs found in a text, read with doctor's own parsers into facts.

Recognised: the ``nvidia-smi`` table, ``nvidia-smi -q`` and ``-q -x``, ``nvcc --version``,
``python -m torch.utils.collect_env`` (both layouts), ``pip list`` / ``pip freeze`` / ``conda list`` lines,
``tf.sysconfig.get_build_info()``, ``docker info``, ``nvidia-container-cli info``, ``/proc/version``,
``/etc/docker/daemon.json``, ``ldconfig -p`` and ``CUDA_VISIBLE_DEVICES=`` assignments. Each reader finds
its output by a plain needle (linear search), takes a bounded block of lines and parses it; a block that
does not parse is reported with the parser's reason, never raised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gpucheck.diagnose.cuda_compat import max_cuda_for_driver
from gpucheck.diagnose.parse.container_toolkit import parse_cli_info
from gpucheck.diagnose.parse.daemon_json import parse_daemon_json
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.ldconfig import parse_ldconfig
from gpucheck.diagnose.parse.nvcc import parse_nvcc_version
from gpucheck.diagnose.parse.nvidia_smi import parse_header, parse_xml
from gpucheck.diagnose.parse.proc import parse_proc_version
from gpucheck.explain.facts import Fact
from gpucheck.explain.text import InputText, quote

MAX_BLOCKS = 20
"""Occurrences of one kind of output read (a log repeating a header 10,000 times is read 20 times)."""
MAX_XML_CHARS = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Pasted:
    """One pasted output found in the text."""

    kind: str
    line: int
    """1-based line where it starts."""
    parser: str
    """The parser that read it (``gpucheck.diagnose.parse.nvidia_smi.parse_header`` ...)."""
    error: str | None = None
    """Why it could not be read, when it could not."""


@dataclass(slots=True)
class Reading:
    """Everything the readers found."""

    pasted: list[Pasted] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)


Reader = Callable[[InputText, int, Reading], None]


def _lines_with(text: InputText, needle: str, limit: int = MAX_BLOCKS) -> Iterator[int]:
    position, found = text.lowered.find(needle), 0
    while position != -1 and found < limit:
        index = text.line_of(position)
        yield index
        found += 1
        following = text.starts[index + 1] if index + 1 < len(text.starts) else len(text.lowered)
        position = text.lowered.find(needle, following)


def _strip_quote(line: str) -> str:
    """A line without the markdown quote marks (``> ``) an issue body may add."""
    stripped = line.lstrip()
    while stripped.startswith(">"):
        stripped = stripped[1:].lstrip()
    return stripped


def _fact(reading: Reading, text: InputText, index: int, name: str, value: str | None, source: str) -> None:
    if value is None or not str(value).strip():
        return
    fact = Fact(name, str(value).strip(), index + 1, quote(text.lines[index]), source)
    if fact not in reading.facts:
        reading.facts.append(fact)


# -------------------------------------------------------------------------------------------- nvidia-smi

_SMI_ROW = re.compile(
    r"^\|\s{1,6}(?P<index>\d{1,3})\s{1,4}(?P<name>\S[^|]{0,60}?)\s{1,30}(?P<mode>On|Off|WDDM|TCC)\s{0,4}\|"
)
_SMI_MODE = re.compile(
    r"\|\s{0,30}\d{1,3}%\s{1,10}(?P<mode>Default|E\. Process|E\. Thread|Prohibited)\s{0,4}\|"
)
_SMI_MIG = re.compile(r"\|\s{1,40}(?P<mig>Enabled|Disabled|N/A)\s{0,4}\|\s*$")


def _read_smi_table(text: InputText, index: int, reading: Reading) -> None:
    line = _strip_quote(text.line(index))
    parser = "gpucheck.diagnose.parse.nvidia_smi.parse_header"
    try:
        header = parse_header(line)
    except ParseError as exc:
        reading.pasted.append(Pasted("nvidia-smi table", index + 1, parser, str(exc)))
        return
    reading.pasted.append(Pasted("nvidia-smi table", index + 1, parser))
    source = "nvidia-smi table"
    _fact(reading, text, index, "driver.version", header.driver_version, source)
    _fact(reading, text, index, "driver.cuda_raw", header.cuda_raw, source)
    _fact(
        reading,
        text,
        index,
        "driver.cuda",
        header.cuda_version
        or (max_cuda_for_driver(header.driver_version) if header.cuda_raw is None else None),
        source,
    )
    for row in range(index + 1, min(index + 60, len(text.lines))):
        body = _strip_quote(text.line(row))
        if body.startswith("| Processes") or (body and not body.startswith(("|", "+"))):
            break
        match = _SMI_ROW.match(body)
        if match:
            _fact(reading, text, row, "gpu.name", match["name"].strip(), source)
            if match["mode"] in ("WDDM", "TCC"):
                _fact(reading, text, row, "gpu.driver_model", match["mode"], source)
        mode = _SMI_MODE.search(body)
        if mode:
            _fact(reading, text, row, "gpu.compute_mode", mode["mode"], source)
        mig = _SMI_MIG.search(body)
        if mig and "%" not in body and "MIG M." not in body and mig["mig"] == "Enabled":
            _fact(reading, text, row, "gpu.mig", "Enabled", source)


_Q_FIELD = re.compile(r"^\s{0,12}(?P<key>[A-Z][A-Za-z ]{2,40}?)\s{0,60}:\s{0,10}(?P<value>\S.{0,120}?)\s*$")
_Q_KEYS = {
    "Driver Version": "driver.version",
    "CUDA Version": "driver.cuda",
    "Product Name": "gpu.name",
    "Compute Mode": "gpu.compute_mode",
}


def _read_smi_q(text: InputText, index: int, reading: Reading) -> None:
    """``nvidia-smi -q``: ``Key : value`` lines below ``==============NVSMI LOG==============``."""
    reading.pasted.append(Pasted("nvidia-smi -q", index + 1, "gpucheck.explain.pasted (key : value lines)"))
    mig_block = False
    for row in range(index, min(index + 400, len(text.lines))):
        body = _strip_quote(text.line(row))
        if body.startswith("MIG Mode"):
            mig_block = True
            continue
        match = _Q_FIELD.match(body)
        if match is None:
            continue
        key, value = match["key"].strip(), match["value"].strip()
        if mig_block and key == "Current":
            if value == "Enabled":
                _fact(reading, text, row, "gpu.mig", value, "nvidia-smi -q")
            mig_block = False
        elif key in _Q_KEYS:
            _fact(reading, text, row, _Q_KEYS[key], value, "nvidia-smi -q")


def _read_smi_xml(text: InputText, index: int, reading: Reading) -> None:
    parser = "gpucheck.diagnose.parse.nvidia_smi.parse_xml"
    start = text.starts[index]
    begin = text.lowered.find("<nvidia_smi_log", start)
    end = text.lowered.find("</nvidia_smi_log>", begin)
    if end == -1 or end - begin > MAX_XML_CHARS:
        reading.pasted.append(Pasted("nvidia-smi -q -x", index + 1, parser, "no closing </nvidia_smi_log>"))
        return
    block = text.text[begin : end + len("</nvidia_smi_log>")]
    if "<!entity" in text.lowered[max(0, begin - 4096) : end]:  # a DOCTYPE above may declare entities
        reading.pasted.append(Pasted("nvidia-smi -q -x", index + 1, parser, "XML entities are not read"))
        return
    try:
        xml = parse_xml(block)
    except ParseError as exc:
        reading.pasted.append(Pasted("nvidia-smi -q -x", index + 1, parser, str(exc)))
        return
    reading.pasted.append(Pasted("nvidia-smi -q -x", index + 1, parser))
    _fact(reading, text, index, "driver.version", xml.driver_version, "nvidia-smi -q -x")
    _fact(reading, text, index, "driver.cuda", xml.cuda_version, "nvidia-smi -q -x")
    for gpu in xml.gpus:
        _fact(reading, text, index, "gpu.name", gpu.get("name"), "nvidia-smi -q -x")
        _fact(reading, text, index, "gpu.compute_mode", gpu.get("compute_mode"), "nvidia-smi -q -x")
        if gpu.get("mig.mode.current") == "Enabled":
            _fact(reading, text, index, "gpu.mig", "Enabled", "nvidia-smi -q -x")


# -------------------------------------------------------------------------------------------- toolkit


def _read_nvcc(text: InputText, index: int, reading: Reading) -> None:
    parser = "gpucheck.diagnose.parse.nvcc.parse_nvcc_version"
    try:
        version = parse_nvcc_version(_strip_quote(text.line(index)))
    except ParseError as exc:
        reading.pasted.append(Pasted("nvcc --version", index + 1, parser, str(exc)))
        return
    reading.pasted.append(Pasted("nvcc --version", index + 1, parser))
    _fact(reading, text, index, "toolkit.nvcc", version.release, "nvcc --version")


# -------------------------------------------------------------------------------------------- frameworks

_ENV_FIELD = re.compile(r"^(?P<key>[A-Za-z][A-Za-z_ ()]{1,40}?)\s{0,40}:\s{0,20}(?P<value>.{0,200}?)\s*$")
_CUDA_TAG = re.compile(r"\+cu(?P<major>\d{2})(?P<minor>\d)\b")


def _torch_cuda_from_version(version: str) -> str | None:
    match = _CUDA_TAG.search(version)
    return f"{int(match['major'])}.{match['minor']}" if match else None


def _read_collect_env(text: InputText, index: int, reading: Reading) -> None:
    """``python -m torch.utils.collect_env`` (``Key: value``, or the aligned ``Key   : value`` layout)."""
    reading.pasted.append(Pasted("collect_env", index + 1, "gpucheck.explain.pasted (collect_env fields)"))
    for row in range(index, min(index + 120, len(text.lines))):
        match = _ENV_FIELD.match(_strip_quote(text.line(row)))
        if match is None:
            continue
        key, value = match["key"].strip(), match["value"].strip()
        if value in ("", "Could not collect", "N/A"):
            if key == "CUDA used to build PyTorch" and value == "Could not collect":
                _fact(reading, text, row, "torch.cuda", "none", "collect_env")
            continue
        if key == "PyTorch version":
            _fact(reading, text, row, "torch.version", value, "collect_env")
            if value.endswith("+cpu"):
                _fact(reading, text, row, "torch.cuda", "none", "collect_env")
        elif key == "CUDA used to build PyTorch":
            _fact(reading, text, row, "torch.cuda", value, "collect_env")
        elif key == "Is CUDA available":
            _fact(reading, text, row, "torch.cuda_available", value, "collect_env")
        elif key == "Nvidia driver version":
            _fact(reading, text, row, "driver.version", value, "collect_env")
        elif key == "GPU models and configuration":
            for name in re.findall(r"GPU \d{1,3}: ([^\n,]{1,80}?)(?=\s*(?:GPU \d|$))", value):
                _fact(reading, text, row, "gpu.name", name.strip(), "collect_env")
        elif key == "OS":
            _fact(reading, text, row, "os", "windows" if "windows" in value.lower() else value, "collect_env")
        elif key == "CUDA runtime version":
            release = re.match(r"(\d+\.\d+)", value)
            _fact(reading, text, row, "toolkit.nvcc", release.group(1) if release else None, "collect_env")


_PACKAGE = re.compile(
    r"^(?P<name>torch|pytorch|tensorflow|tensorflow-gpu|tensorflow-cpu|tensorflow-intel|jaxlib|jax|"
    r"cudatoolkit|nvidia-cudnn-cu\d{2})(?:\s{1,60}|==|=)v?(?P<version>\d[\w.+-]{0,40})"
)
_INLINE_PACKAGE = re.compile(
    r"\b(?P<name>torch|pytorch|cudatoolkit|tensorflow)={1,2}(?P<version>\d[\w.+]{0,30})"
)
_CONDA_CUDA = re.compile(r"cuda(?P<cuda>\d{1,2}\.\d)")


def _package_facts(reading: Reading, text: InputText, row: int, name: str, version: str, source: str) -> None:
    if name in ("torch", "pytorch"):
        _fact(reading, text, row, "torch.version", version, source)
        cuda = _torch_cuda_from_version(version)
        if version.endswith("+cpu"):
            cuda = "none"
        line = text.line(row)
        conda = _CONDA_CUDA.search(line) if name == "pytorch" else None
        _fact(reading, text, row, "torch.cuda", cuda or (conda["cuda"] if conda else None), source)
        if name == "pytorch" and "cpu_" in line:
            _fact(reading, text, row, "torch.cuda", "none", source)
    elif name.startswith("tensorflow"):
        _fact(reading, text, row, "tf.version", version, source)
    elif name == "jaxlib":
        _fact(reading, text, row, "jax.version", version, source)
    elif name == "cudatoolkit":
        release = re.match(r"(\d+\.\d+)", version)
        _fact(reading, text, row, "torch.cuda", release.group(1) if release else None, source)
    elif name.startswith("nvidia-cudnn"):
        _fact(reading, text, row, "cudnn.loaded", version, source)


def _read_packages(text: InputText, reading: Reading) -> None:
    """``pip list`` / ``pip freeze`` / ``conda list`` lines and inline ``torch==x`` mentions."""
    seen: list[int] = []
    for needle in ("torch", "tensorflow", "jaxlib", "cudatoolkit", "nvidia-cudnn"):
        for row in _lines_with(text, needle, 200):
            line = _strip_quote(text.line(row))
            match = _PACKAGE.match(line)
            matches = [match] if match else list(_INLINE_PACKAGE.finditer(line))[:4]
            for m in matches:
                seen.append(row)
                _package_facts(reading, text, row, m["name"], m["version"], "package list")
    if seen:
        reading.pasted.append(
            Pasted("package list", min(seen) + 1, "gpucheck.explain.pasted (package lines)")
        )


_BUILD_INFO = re.compile(
    r"""['"](?P<key>cuda_version|cudnn_version)['"]\s{0,4}[,:]\s{0,4}['"](?P<value>[\w.]{1,20})['"]"""
)


def _read_tf_build_info(text: InputText, index: int, reading: Reading) -> None:
    for match in _BUILD_INFO.finditer(text.line(index)):
        value = match["value"].split("_")[-1]  # Windows builds print '64_112'
        if value.isdigit() and len(value) >= 3 and match["key"] == "cuda_version":
            value = f"{value[:-1]}.{value[-1]}"
        name = "tf.cuda" if match["key"] == "cuda_version" else "tf.cudnn"
        _fact(reading, text, index, name, value, "tf.sysconfig.get_build_info()")
    if any(f.source == "tf.sysconfig.get_build_info()" for f in reading.facts) and not any(
        p.kind == "tf build info" for p in reading.pasted
    ):
        reading.pasted.append(Pasted("tf build info", index + 1, "gpucheck.explain.pasted (build info)"))


# -------------------------------------------------------------------------------------------- containers


def _read_docker_info(text: InputText, index: int, reading: Reading) -> None:
    line = _strip_quote(text.line(index))
    key, _, value = line.partition(":")
    value = value.strip()
    if key.strip() == "Runtimes":
        reading.pasted.append(Pasted("docker info", index + 1, "gpucheck.explain.pasted (docker info)"))
        _fact(reading, text, index, "docker.runtimes", " ".join(value.split()), "docker info")
    elif key.strip() == "Default Runtime":
        _fact(reading, text, index, "docker.default_runtime", value, "docker info")
    elif key.strip() == "cdi":
        _fact(reading, text, index, "docker.cdi_devices", value, "docker info")


def _read_container_cli(text: InputText, index: int, reading: Reading) -> None:
    parser = "gpucheck.diagnose.parse.container_toolkit.parse_cli_info"
    block = "\n".join(_strip_quote(text.line(i)) for i in range(index, min(index + 80, len(text.lines))))
    try:
        info = parse_cli_info(block)
    except ParseError as exc:
        reading.pasted.append(Pasted("nvidia-container-cli info", index + 1, parser, str(exc)))
        return
    reading.pasted.append(Pasted("nvidia-container-cli info", index + 1, parser))
    _fact(reading, text, index, "container_cli.nvrm", info.nvrm_version, "nvidia-container-cli info")
    _fact(reading, text, index, "driver.version", info.nvrm_version, "nvidia-container-cli info")
    _fact(reading, text, index + 1, "driver.cuda", info.cuda_version, "nvidia-container-cli info")
    for device in info.devices:
        _fact(reading, text, index, "gpu.name", device.model, "nvidia-container-cli info")
        _fact(reading, text, index, "gpu.capability", device.architecture, "nvidia-container-cli info")


MAX_JSON_CHARS = 65536
"""A pasted daemon.json is a few hundred bytes; an object longer than this is not read."""


def _object_end(text: InputText, top: int, limit: int = 200) -> int | None:
    """The line where the JSON object opened on line ``top`` closes (braces counted outside strings)."""
    depth, in_string, escaped, budget = 0, False, False, MAX_JSON_CHARS
    for index in range(top, min(len(text.lines), top + limit)):
        line = _strip_quote(text.line(index))
        budget -= len(line)
        if budget < 0:
            return None
        for char in line:
            if in_string:
                escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return index
    return None


def _read_daemon_json(text: InputText, index: int, reading: Reading) -> None:
    """A daemon.json object around a ``"runtimes"`` / ``"default-runtime"`` key."""
    parser = "gpucheck.diagnose.parse.daemon_json.parse_daemon_json"
    top = next((i for i in range(index, max(-1, index - 30), -1) if _strip_quote(text.line(i)) == "{"), None)
    if top is None or any(p.kind == "daemon.json" and p.line == top + 1 for p in reading.pasted):
        return
    bottom = _object_end(text, top)
    if bottom is None:
        return
    block = "\n".join(_strip_quote(text.line(i)) for i in range(top, bottom + 1))
    try:
        config = parse_daemon_json(block)
    except ParseError as exc:
        reading.pasted.append(Pasted("daemon.json", top + 1, parser, str(exc)))
        return
    reading.pasted.append(Pasted("daemon.json", top + 1, parser))
    names = " ".join(r.name for r in config.runtimes) or "none"
    _fact(reading, text, top, "daemon_json.runtimes", names, "daemon.json")
    for problem in config.problems:
        _fact(reading, text, top, "daemon_json.problem", problem, "daemon.json")


# -------------------------------------------------------------------------------------------- host


def _read_proc_version(text: InputText, index: int, reading: Reading) -> None:
    parser = "gpucheck.diagnose.parse.proc.parse_proc_version"
    line = _strip_quote(text.line(index))
    start = line.find("Linux version")
    try:
        kernel = parse_proc_version(line[start:] if start >= 0 else line)
    except ParseError as exc:
        reading.pasted.append(Pasted("/proc/version", index + 1, parser, str(exc)))
        return
    reading.pasted.append(Pasted("/proc/version", index + 1, parser))
    _fact(reading, text, index, "kernel.flavour", kernel.flavour.value, "/proc/version")


def _read_ldconfig(text: InputText, index: int, reading: Reading) -> None:
    parser = "gpucheck.diagnose.parse.ldconfig.parse_ldconfig"
    block = "\n".join(text.line(i) for i in range(index, min(index + 2000, len(text.lines))))
    try:
        entries = parse_ldconfig(block.lstrip())
    except ParseError as exc:
        reading.pasted.append(Pasted("ldconfig -p", index + 1, parser, str(exc)))
        return
    reading.pasted.append(Pasted("ldconfig -p", index + 1, parser))
    for entry in entries:
        if entry.soname.startswith(("libcud", "libnvidia-ml", "libcuda")):
            _fact(reading, text, index, "ldconfig.library", entry.soname, "ldconfig -p")


_VISIBLE = re.compile(r"CUDA_VISIBLE_DEVICES=(?P<value>[\"']?[\w,\-]{0,200}[\"']?)")


def _read_visible_devices(text: InputText, index: int, reading: Reading) -> None:
    match = _VISIBLE.search(text.line(index))
    if match:
        _fact(
            reading,
            text,
            index,
            "env.cuda_visible_devices",
            match["value"].strip("\"'") or "(empty)",
            "environment",
        )


_WINDOWS_PROMPT = re.compile(r"^(?:PS )?[A-Za-z]:\\[^<>|\n]{0,200}>")


def _read_windows_prompt(text: InputText, index: int, reading: Reading) -> None:
    r"""A Windows shell prompt (``D:\work>``, ``PS C:\projects>``): the text comes from native Windows."""
    if _WINDOWS_PROMPT.match(_strip_quote(text.line(index))):
        _fact(reading, text, index, "os", "windows", "shell prompt")


READERS: tuple[tuple[str, Reader], ...] = (
    ("driver version:", _read_smi_table),
    ("==============nvsmi log==============", _read_smi_q),
    ("<nvidia_smi_log", _read_smi_xml),
    ("cuda compilation tools, release", _read_nvcc),
    ("pytorch version", _read_collect_env),
    ("cuda_version", _read_tf_build_info),
    ("cudnn_version", _read_tf_build_info),
    ("runtimes:", _read_docker_info),
    ("default runtime:", _read_docker_info),
    (" cdi: ", _read_docker_info),
    ("nvrm version:", _read_container_cli),
    ('"runtimes"', _read_daemon_json),
    ('"default-runtime"', _read_daemon_json),
    ("linux version ", _read_proc_version),
    ("libs found in cache", _read_ldconfig),
    ("cuda_visible_devices=", _read_visible_devices),
    (":\\", _read_windows_prompt),
)
"""(needle, reader): each line holding the needle (up to ``MAX_BLOCKS``) is handed to the reader."""


def read_pasted(text: InputText) -> Reading:
    """Every pasted output and the facts read from it."""
    reading = Reading()
    for needle, reader in READERS:
        if needle == "driver version:":
            lines = [i for i in _lines_with(text, needle) if "nvidia-smi" in text.lowered_line(i)]
        elif needle == "nvrm version:":
            lines = [i for i in _lines_with(text, needle) if "kernel module" not in text.lowered_line(i)]
        else:
            lines = list(_lines_with(text, needle))
        for index in lines:
            reader(text, index, reading)
    _read_packages(text, reading)
    reading.pasted.sort(key=lambda p: p.line)
    return reading
