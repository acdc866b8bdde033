"""The layout is the architecture: imports flow cli → report → diagnose → collect, never backwards."""

import ast
from pathlib import Path

import gpucheck

PACKAGE = Path(gpucheck.__file__).parent
FORBIDDEN = {
    "collect": ("gpucheck.diagnose", "gpucheck.report", "gpucheck.cli", "rich", "typer"),
    "diagnose": ("gpucheck.report", "gpucheck.cli", "gpucheck.collect.sources", "rich", "typer"),
    "report": ("gpucheck.cli", "typer"),
}
FILE_ACCESS_ALLOWED = {"sysroot.py", "snapshot.py"}
"""The only collect/ modules that open files: the sysroot (host files) and the snapshot the user names."""
SYSROOT_HANDLES = {"ctx", "ctx.sysroot", "self.sysroot", "sysroot"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_stages_never_import_backwards():
    offences = []
    for stage, forbidden in FORBIDDEN.items():
        for path in (PACKAGE / stage).rglob("*.py"):
            for name in _imports(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    offences.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offences, "\n".join(offences)


def test_workers_are_standalone_scripts():
    for path in (PACKAGE / "collect" / "workers").glob("*.py"):
        gpucheck_imports = [n for n in _imports(path) if n.split(".")[0] == "gpucheck"]
        assert not gpucheck_imports, (
            f"{path.name} must run where gpucheck is not installed: {gpucheck_imports}"
        )


def test_collectors_read_files_only_through_the_sysroot():
    offences = []
    for path in (PACKAGE / "collect").rglob("*.py"):
        if path.name in FILE_ACCESS_ALLOWED or "workers" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = (
                    func.id
                    if isinstance(func, ast.Name)
                    else func.attr
                    if isinstance(func, ast.Attribute)
                    else ""
                )
                via_sysroot = isinstance(func, ast.Attribute) and ast.unparse(func.value) in SYSROOT_HANDLES
                if (
                    name in {"open", "read_text", "read_bytes", "listdir", "scandir", "iterdir", "glob"}
                    and not via_sysroot
                ):
                    offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} calls {name}()")
    assert not offences, "use ctx.read / ctx.listdir / ctx.glob (gpucheck/collect/sysroot.py):\n" + "\n".join(
        offences
    )


def test_only_the_cli_exits_the_process():
    offences = []
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or "workers" in path.parts or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "exit"
            ):
                if getattr(node.func.value, "id", "") in {"sys", "typer"}:
                    offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "Exit"
                and getattr(node.value, "id", "") == "typer"
            ):
                offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} typer.Exit")
    assert not offences, "\n".join(offences)
