"""Evidence source: the NVIDIA Container Toolkit's own configuration file and the paths it names.

Command line equivalent: ``cat /etc/nvidia-container-runtime/config.toml``; ``ls -l <its ldconfig path>``.
The toolkit reads this file on every container start; its ``ldconfig = "@/sbin/ldconfig.real"`` default is
Debian's, and on other distributions the path does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

CONFIG = "/etc/nvidia-container-runtime/config.toml"
LDCONFIG_CANDIDATES = ("/sbin/ldconfig.real", "/sbin/ldconfig", "/usr/sbin/ldconfig", "/usr/bin/ldconfig")
"""Where distributions put ldconfig (Debian's wrapper target first)."""
_LDCONFIG = re.compile(r'^\s*ldconfig\s*=\s*["\']@?([^"\']+)["\']', re.MULTILINE)


@collector("toolkit_config", timeout_s=2.0)
def collect_toolkit_config(ctx: CollectContext) -> Iterable[Item]:
    """/etc/nvidia-container-runtime/config.toml and whether the ldconfig it names exists."""
    read = ctx.read(CONFIG)
    yield read
    named = [m.group(1) for m in _LDCONFIG.finditer(read.content or "")]
    paths = dict.fromkeys([*named, *LDCONFIG_CANDIDATES])
    yield Value(name="toolkit_config_paths", data={p: ctx.sysroot.exists(p) for p in paths})
