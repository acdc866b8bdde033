#!/usr/bin/env python3
"""Mutation testing with mutmut 3, one target group at a time, within a 2-core machine's means.

    python scripts/mutation.py                 # every group in tests/mutation_targets.toml
    python scripts/mutation.py redact fleet    # only these groups
    python scripts/mutation.py --list          # the groups and what they mutate
    python scripts/mutation.py --survivors     # also print each surviving mutant's diff

Each group runs in a scratch copy of the repository (mutmut writes a ``mutants/`` tree and its own
configuration), mutating only the group's modules and running only the group's tests. A group whose modules
and tests are unchanged since its last run is not run again: its result is read from the cache under
``.mutation-cache/`` (``--force`` reruns it). The score is killed / (total - equivalent - no-tests), where
``equivalent`` is the judged list in tests/mutation_targets.toml. Exit 0 when every group reaches
``--target`` (default 80 %), 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
TARGETS = REPO / "tests" / "mutation_targets.toml"
CACHE = REPO / ".mutation-cache"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "mutants", ".mutation-cache", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis"
)


@dataclass(frozen=True)
class Group:
    """One mutation target: modules to mutate and the tests that exercise them."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    """What mutmut found for one group."""

    group: str
    killed: int
    survived: tuple[str, ...]
    timeout: int
    no_tests: int
    total: int
    equivalent: int
    cached: bool = False

    @property
    def judged(self) -> int:
        """Mutants that count: the total less equivalent ones and ones no selected test reaches."""
        return max(self.total - self.equivalent - self.no_tests, 0)

    @property
    def score(self) -> float:
        """Fraction of counted mutants killed (a timeout counts as killed: the test noticed)."""
        return (self.killed + self.timeout) / self.judged if self.judged else 1.0


def load_groups(path: Path = TARGETS) -> tuple[dict[str, Group], set[str]]:
    """The groups and the set of mutant names judged equivalent."""
    data = tomllib.loads(path.read_text())
    groups = {
        name: Group(name, tuple(spec["modules"]), tuple(spec["tests"]))
        for name, spec in data.get("groups", {}).items()
    }
    return groups, set(data.get("equivalent", {}))


def fingerprint(group: Group) -> str:
    """A hash of what decides the group's result: its modules, its tests, this script and mutmut's version."""
    digest = hashlib.sha256()
    for rel in (*group.modules, *group.tests, "tests/conftest.py", "scripts/mutation.py"):
        path = REPO / rel.split("::")[0]
        digest.update(rel.encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    digest.update(_mutmut_version().encode())
    return digest.hexdigest()


def _mutmut_version() -> str:
    try:
        from importlib.metadata import version

        return version("mutmut")
    except Exception:  # noqa: BLE001 - not installed: reported by run_group
        return "absent"


def run_group(group: Group, equivalent: set[str], *, children: int, show_diffs: bool) -> Result:
    """Mutate the group's modules in a scratch copy and run its tests against every mutant."""
    tests = list(group.tests)
    flags = [i for i, t in enumerate(tests) if t == "-k"]
    options = {*flags, *(i + 1 for i in flags)}
    # "-k" and its expression are pytest options, not paths
    paths = [*group.modules, *(t for i, t in enumerate(tests) if i not in options)]
    missing = [p for p in paths if not (REPO / p.split("::")[0]).exists()]
    if missing:
        raise SystemExit(f"group {group.name}: missing {', '.join(missing)} (edit {TARGETS.name})")
    with tempfile.TemporaryDirectory(prefix=f"gpc-mut-{group.name}-") as scratch:
        work = Path(scratch) / "repo"
        shutil.copytree(REPO, work, ignore=COPY_IGNORE, symlinks=True)
        _drop_dangling_links(work)
        _write_config(work / "pyproject.toml", group)
        env = {**os.environ, "CI": os.environ.get("CI", "true"), "PYTHONDONTWRITEBYTECODE": "1"}
        mutmut = [sys.executable, "-m", "mutmut"]
        subprocess.run([*mutmut, "run", "--max-children", str(children)], cwd=work, env=env, check=False)
        subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, env=env, check=False, capture_output=True)
        stats_file = work / "mutants" / "mutmut-cicd-stats.json"
        if not stats_file.exists():
            raise SystemExit(f"group {group.name}: mutmut produced no statistics (see its output above)")
        stats = json.loads(stats_file.read_text())
        listed = subprocess.run(
            [*mutmut, "results"], cwd=work, env=env, check=False, capture_output=True, text=True
        ).stdout
        survived = tuple(
            line.split(":")[0].strip() for line in listed.splitlines() if line.strip().endswith(": survived")
        )
        if show_diffs:
            for name in survived:
                if name not in equivalent:
                    shown = subprocess.run(
                        [*mutmut, "show", name], cwd=work, env=env, capture_output=True, text=True
                    )
                    print(shown.stdout)
    counted_equivalent = sum(1 for name in survived if name in equivalent)
    return Result(
        group=group.name,
        killed=int(stats.get("killed", 0)),
        survived=tuple(s for s in survived if s not in equivalent),
        timeout=int(stats.get("timeout", 0)),
        no_tests=int(stats.get("no_tests", 0)),
        total=int(stats.get("total", 0)),
        equivalent=counted_equivalent,
    )


def _drop_dangling_links(work: Path) -> None:
    """Remove symlinks that point nowhere from the scratch copy: mutmut's own copy of tests/ cannot take them.

    They are scenario data (a PCI device's ``driver`` link in a sysroot) that only the subprocess-based
    scenario tests read, and those are not part of any group.
    """
    for path in work.rglob("*"):
        if path.is_symlink() and not path.exists():
            path.unlink()


def _write_config(pyproject: Path, group: Group) -> None:
    """Replace any [tool.mutmut] table in the scratch copy's pyproject with this group's."""
    text = pyproject.read_text()
    lines, skipping = [], False
    for line in text.splitlines():
        if line.strip().startswith("["):
            skipping = line.strip() == "[tool.mutmut]"
        if not skipping:
            lines.append(line)
    lines += [
        "",
        "[tool.mutmut]",
        f"source_paths = {json.dumps(list(group.modules))}",
        # the whole package beside the mutated modules: the tests import the rest of it (and the knowledge
        # tables it reads) from the mutants/ tree, where a partial package would shadow the real one
        'also_copy = ["gpucheck"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(list(group.tests))}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-p", "no:randomly"]',
        "",
    ]
    pyproject.write_text("\n".join(lines))


def _cached(group: Group, key: str) -> Result | None:
    path = CACHE / f"{group.name}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("fingerprint") != key:
        return None
    result = data["result"]
    return Result(**{**result, "survived": tuple(result["survived"]), "cached": True})


def _store(group: Group, key: str, result: Result) -> None:
    CACHE.mkdir(exist_ok=True)
    payload = {"fingerprint": key, "result": {**result.__dict__, "survived": list(result.survived)}}
    payload["result"].pop("cached", None)
    (CACHE / f"{group.name}.json").write_text(json.dumps(payload, indent=2))


def main(argv: list[str] | None = None) -> int:
    """Run the selected groups and print one line each plus the overall score."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help="group names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    parser.add_argument("--force", action="store_true", help="ignore cached results")
    parser.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--children", type=int, default=max((os.cpu_count() or 2) - 0, 1))
    parser.add_argument("--target", type=float, default=0.80, help="required score per group (0..1)")
    parser.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    groups, equivalent = load_groups()
    if args.list:
        for group in groups.values():
            print(f"{group.name}: mutates {', '.join(group.modules)}; runs {', '.join(group.tests)}")
        return 0
    unknown = [g for g in args.groups if g not in groups]
    if unknown:
        print(f"unknown group(s): {', '.join(unknown)}; known: {', '.join(groups)}", file=sys.stderr)
        return 2
    if _mutmut_version() == "absent":
        print("mutmut is not installed: python -m pip install 'mutmut>=3.3'", file=sys.stderr)
        return 2
    results = []
    for name in args.groups or list(groups):
        group = groups[name]
        key = fingerprint(group)
        result = None if args.force or args.survivors else _cached(group, key)
        if result is None:
            result = run_group(group, equivalent, children=args.children, show_diffs=args.survivors)
            _store(group, key, result)
        results.append(result)
    print(
        f"\n{'group':<10} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'equiv':>5} "
        f"{'no-test':>7} {'score':>6}"
    )
    for r in results:
        print(
            f"{r.group:<10} {r.total:>7} {r.killed:>6} {r.timeout:>7} {len(r.survived):>8} {r.equivalent:>5} "
            f"{r.no_tests:>7} {r.score:>6.1%}{'  (cached)' if r.cached else ''}"
        )
    killed = sum(r.killed + r.timeout for r in results)
    judged = sum(r.judged for r in results)
    print(f"overall: {killed}/{judged} killed = {killed / judged if judged else 1:.1%}")
    for r in results:
        for name in r.survived:
            print(f"  survived: {name}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                [{**r.__dict__, "survived": list(r.survived), "score": r.score} for r in results], indent=2
            )
        )
    return 0 if all(r.score >= args.target for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
