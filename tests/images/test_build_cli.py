"""`gpucheck image build` paths that need no engine: missing buildx, no daemon, an impossible name."""

from __future__ import annotations

from pathlib import Path

from gpucheck.images.lock import DATA
from tests.conftest import FIXTURES, base_env, run_gpucheck

LOCK = DATA / "requirements-none-py3.11.txt"


def test_reproducible_build_without_buildx_says_what_is_missing(fake_bin, tmp_path: Path) -> None:
    stderr = (FIXTURES / "images" / "docker-buildx-missing.stderr").read_text()
    fake_bin.add("docker", stderr=stderr, exit_code=1)
    dockerfile = tmp_path / "x.Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    args = [
        "image",
        "build",
        "--reproducible",
        "--dockerfile",
        str(dockerfile),
        "--requirements",
        str(LOCK),
    ]
    result = run_gpucheck(*args, env=base_env(fake_bin))
    assert result.exit_code == 1
    assert "--reproducible needs the docker buildx plugin" in result.stderr
    assert "`docker buildx version` failed: docker: unknown command: docker buildx" in result.stderr
    assert "apt-get install docker-buildx" in result.stderr


def test_build_without_an_engine_names_the_socket(tmp_path: Path) -> None:
    env = base_env(DOCKER_HOST=f"unix://{tmp_path}/absent.sock")
    result = run_gpucheck(
        "image", "build", "cuda12.4.1-runtime-ubuntu22.04-none-py3.10", env=env, timeout=300
    )
    assert result.exit_code == 1
    assert f"no Docker engine answers on unix://{tmp_path}/absent.sock" in result.stderr


def test_build_of_an_unknown_matrix_name_is_a_usage_error() -> None:
    result = run_gpucheck("image", "build", "cuda12.4.1-runtime-ubuntu22.04-none-py3.11", env=base_env())
    assert result.exit_code == 2
    assert "Ubuntu 22.04 ships Python 3.10, not 3.11" in result.stderr
