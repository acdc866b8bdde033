"""Expectations about the machine doctor runs on, from ``--expect-*`` flags and a TOML file (``--config``).

A runner pool's contract lives in a small file checked into the repository that runs gpucheck::

    [expect]
    gpus = 8                      # exactly this many GPUs
    gpu_name = "H100"             # a regular expression every GPU name must match (case-insensitive)
    driver = ">=550,<560"         # a version specifier for the driver (nvidia-smi "Driver Version")
    cuda = ">=12.4"               # ... for the CUDA version the driver supports (nvidia-smi "CUDA Version")
    frameworks = ["torch"]        # these frameworks must see at least one GPU
    mem_gib = 80                  # every GPU has at least this much memory

Flags given on the command line replace the file's value for the same key.

Version specifiers are PEP 440 specifier sets (``packaging``), compared on release numbers: ``>=550`` admits
``550.54.14`` (it is later than ``550``), ``<560`` refuses ``560.28.03``. A bare version names a release
line: ``550`` means ``==550.*`` (every 550 driver) and ``12.4`` means ``==12.4.*``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from gpucheck.collect.sysroot import read_regular

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

FRAMEWORKS = ("torch", "tensorflow")
"""Frameworks ``--expect-framework`` knows (their workers report the GPUs they see)."""
MAX_CONFIG_BYTES = 1024 * 1024
"""A --config file larger than this is refused."""
_FRAMEWORK_KEY = {True: "framework", False: "frameworks"}
"""The flag is repeatable (``--expect-framework``); the TOML key is a list (``frameworks``)."""
_BARE_VERSION = re.compile(r"\d+(\.\d+)*(\.\*)?")


class ExpectationError(ValueError):
    """An expectation or the config file holding it cannot be used (a usage error, exit code 2)."""


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """A version specifier as the user wrote it, and its parsed form."""

    text: str
    """What the user wrote, e.g. ``>=550,<560`` or ``550``."""
    specifier: SpecifierSet
    """The PEP 440 specifier set it stands for (``550`` → ``==550.*``)."""

    @classmethod
    def parse(cls, text: str, *, option: str) -> VersionSpec:
        """Parse ``text``; ``option`` names the flag or key in the error message."""
        cleaned = str(text).strip()
        spelled = f"=={cleaned}" if _BARE_VERSION.fullmatch(cleaned) else cleaned
        if _BARE_VERSION.fullmatch(cleaned) and not cleaned.endswith(".*"):
            spelled += ".*"
        try:
            specifier = SpecifierSet(spelled)
        except InvalidSpecifier:
            specifier = SpecifierSet()
        if not cleaned or not str(specifier):
            raise ExpectationError(
                f"{option} {text!r} is not a version specifier "
                "(examples: '>=550,<560', '550' for any 550 driver, '~=12.4', '>=12.4')"
            )
        return cls(cleaned, specifier)

    def admits(self, version: str) -> bool | None:
        """Whether ``version`` satisfies the specifier; None when ``version`` is not a version at all."""
        try:
            parsed = Version(version)
        except InvalidVersion:
            return None
        return self.specifier.contains(parsed, prereleases=True)


@dataclass(frozen=True, slots=True)
class Expectations:
    """What the machine must look like; None (or empty) means "not asserted"."""

    gpus: int | None = None
    """Exactly this many GPUs visible to the driver."""
    gpu_name: str | None = None
    """A regular expression every GPU name must match (``re.search``, case-insensitive)."""
    driver: VersionSpec | None = None
    """The driver version (e.g. ``550.54.14``) must satisfy this."""
    cuda: VersionSpec | None = None
    """The CUDA version the driver supports (e.g. ``12.4``) must satisfy this."""
    frameworks: tuple[str, ...] = ()
    """These frameworks must import and see at least one GPU."""
    mem_gib: float | None = None
    """Every GPU must have at least this much memory, in GiB."""

    @property
    def empty(self) -> bool:
        """Whether nothing is asserted."""
        return all(getattr(self, f.name) in (None, ()) for f in fields(self))

    def merged(self, override: Expectations) -> Expectations:
        """These expectations with every value ``override`` sets replacing ours (flags over the file)."""
        given = {f.name: getattr(override, f.name) for f in fields(self)}
        return replace(self, **{k: v for k, v in given.items() if v not in (None, ())})

    def describe(self) -> dict[str, Any]:
        """The expectations as plain JSON values (for finding data and logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, ()):
                out[f.name] = value.text if isinstance(value, VersionSpec) else value
        return out


def _positive_int(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ExpectationError(f"{option} must be a whole number ≥ 0, got {value!r}")
    return value


def _positive_number(value: Any, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ExpectationError(f"{option} must be a number of GiB > 0, got {value!r}")
    return float(value)


def _regex(value: Any, option: str) -> str:
    if not isinstance(value, str) or not value:
        raise ExpectationError(f"{option} must be a non-empty regular expression, got {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise ExpectationError(f"{option} {value!r} is not a valid regular expression: {exc}") from None
    return value


def _frameworks(values: Sequence[Any], option: str) -> tuple[str, ...]:
    unknown = [v for v in values if v not in FRAMEWORKS]
    if unknown:
        raise ExpectationError(f"{option} {unknown[0]!r}: expected one of {', '.join(FRAMEWORKS)}")
    return tuple(dict.fromkeys(values))


def build_expectations(
    *,
    gpus: Any = None,
    gpu_name: Any = None,
    driver: Any = None,
    cuda: Any = None,
    frameworks: Sequence[Any] = (),
    mem_gib: Any = None,
    prefix: str = "--expect-",
) -> Expectations:
    """Validate raw values (from flags or TOML) into ``Expectations``; ``prefix`` spells option names."""

    def name(key: str) -> str:
        return prefix + (key.replace("_", "-") if prefix.startswith("--") else key)

    return Expectations(
        gpus=None if gpus is None else _positive_int(gpus, name("gpus")),
        gpu_name=None if gpu_name is None else _regex(gpu_name, name("gpu_name")),
        driver=None if driver is None else VersionSpec.parse(str(driver), option=name("driver")),
        cuda=None if cuda is None else VersionSpec.parse(str(cuda), option=name("cuda")),
        frameworks=_frameworks(list(frameworks), name(_FRAMEWORK_KEY[prefix == "--expect-"])),
        mem_gib=None if mem_gib is None else _positive_number(mem_gib, name("mem_gib")),
    )


def expectations_from_mapping(table: Mapping[str, Any], *, where: str) -> Expectations:
    """The ``[expect]`` table of a config file; unknown keys are refused so a typo never silently passes."""
    known = {f.name for f in fields(Expectations)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ExpectationError(
            f"{where}: unknown key {unknown[0]!r} in [expect] (known: {', '.join(sorted(known))})"
        )
    frameworks = table.get("frameworks", ())
    if isinstance(frameworks, str):
        frameworks = (frameworks,)
    if not isinstance(frameworks, (list, tuple)):
        raise ExpectationError(f'{where}: [expect] frameworks must be a list such as ["torch"]')
    values = {k: v for k, v in table.items() if k != "frameworks"}
    return build_expectations(**values, frameworks=frameworks, prefix=f"{where}: [expect] ")


def load_config(path: Path) -> Expectations:
    """Read the expectations from a TOML file with an ``[expect]`` table."""
    try:
        # NOTE: a regular file only (a FIFO would block, /dev/zero never end), and no bigger than a config is
        data, _ = read_regular(str(path), limit=MAX_CONFIG_BYTES)
        document = tomllib.loads(data.decode("utf-8"))
    except OSError as exc:
        raise ExpectationError(f"--config {path}: cannot read it: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ExpectationError(f"--config {path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ExpectationError(f"--config {path}: nested too deeply to be a gpucheck config") from None
    table = document.get("expect", {})
    if not isinstance(table, dict):
        raise ExpectationError(f"--config {path}: 'expect' must be a table ([expect])")
    extra = sorted(set(document) - {"expect"})
    if extra:
        raise ExpectationError(f"--config {path}: unknown table or key {extra[0]!r} (only [expect] is read)")
    return expectations_from_mapping(table, where=str(path))
