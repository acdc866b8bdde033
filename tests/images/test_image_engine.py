"""Build, verify and diff real images on the private engine, from the real template, offline.

The base is a stand-in for nvidia/cuda (tests/images/standin.py) imported under an nvidia/cuda tag; the
template is rendered with the stand-in's Python lock (CPython 3.11) and no apt step, since the stand-in
already holds python3. Python packages come from a wheelhouse checked against the lock's hashes.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pip
import pytest

from gpucheck import __version__
from gpucheck.images.build import BuildFailed, build_gpucheck_wheel, build_with_sdk, context_tar, project_root
from gpucheck.images.lock import DATA, load_lock
from gpucheck.images.matrix import ImageSpec
from gpucheck.images.render import image_context, render_text
from tests.conftest import base_env, run_gpucheck
from tests.docker_engine import DockerEngine, ModernDockerEngine, require_capability
from tests.images.standin import python_rootfs

STANDIN_SPEC = ImageSpec("12.8.1", "24.04", "base", "none", "3.12")
STANDIN_LOCK = DATA / "requirements-none-py3.11.txt"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def standin(docker_engine: DockerEngine) -> str:
    """The stand-in base, imported under the tag the rendered Dockerfile names."""
    docker_engine.import_rootfs(python_rootfs(Path(pip.__file__).parent), STANDIN_SPEC.base_tag)
    return STANDIN_SPEC.base_tag


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in lock's wheels, downloaded once from PyPI and checked against its hashes."""
    out = tmp_path_factory.mktemp("wheelhouse")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--require-hashes",
        "--only-binary",
        ":all:",
    ]
    result = subprocess.run([*argv, "-r", str(STANDIN_LOCK), "-d", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        require_capability(
            f"cannot download the stand-in lock's wheels from PyPI: {result.stderr.strip()[-300:]}"
        )
    return out


@pytest.fixture(scope="module")
def gpucheck_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = project_root()
    assert project is not None, "the tests run from a source checkout"
    return build_gpucheck_wheel(project, tmp_path_factory.mktemp("dist"), env=base_env(), source_date_epoch=0)


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real template rendered for the stand-in: its lock, no apt step (python3 is already there)."""
    context = image_context(STANDIN_SPEC, load_lock(), allow_unpinned=True)
    context.update(apt_packages={}, lock_file=STANDIN_LOCK.name)
    context["labels"]["io.gpucheck.image.python-lock"] = STANDIN_LOCK.name
    path = tmp_path_factory.mktemp("render") / "standin.Dockerfile"
    path.write_text(render_text(context))
    return path


def cli_build(engine: DockerEngine, dockerfile: Path, wheelhouse: Path, wheel: Path, tag: str) -> str:
    args = ["image", "build", "--dockerfile", str(dockerfile), "--requirements", str(STANDIN_LOCK)]
    args += ["--wheelhouse", str(wheelhouse), "--wheel", str(wheel), "--tag", tag, "--no-cache"]
    result = run_gpucheck(*args, env=base_env(DOCKER_HOST=engine.host), timeout=300)
    assert result.exit_code == 0, result.stderr
    assert "Step 1/" in result.stderr, "the progress display shows the build steps"
    assert f"built {tag} (sha256:" in result.stdout
    return tag


@pytest.fixture(scope="module")
def two_builds(docker_engine, standin, dockerfile, wheelhouse, gpucheck_wheel) -> tuple[str, str]:
    """The same sources built twice without cache."""
    return tuple(
        cli_build(docker_engine, dockerfile, wheelhouse, gpucheck_wheel, f"gpucheck-test/standin:{n}")
        for n in "ab"
    )


def test_template_image_runs_gpucheck_as_non_root_with_nvidia_metadata(docker_engine, two_builds) -> None:
    client = docker_engine.client
    out = client.containers.run(two_builds[0], ["/bin/sh", "-c", "id -u; gpucheck --version"], remove=True)
    assert out.decode().split("\n")[:2] == ["10001", f"gpucheck {__version__}"]
    config = client.images.get(two_builds[0]).attrs["Config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"] == ["CMD", "gpucheck", "doctor"]
    assert {"NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility"} <= set(config["Env"])
    assert "NVIDIA_REQUIRE_CUDA=cuda>=12.8" in config["Env"]
    assert config["Labels"]["io.gpucheck.image.python-lock"] == STANDIN_LOCK.name
    assert not any("created" in key for key in config["Labels"])


def test_two_builds_of_the_same_sources_diff_equal(docker_engine, two_builds) -> None:
    a, b = (docker_engine.client.images.get(t) for t in two_builds)
    assert a.id != b.id, (
        "the classic builder stamps build times, so the ids differ; diff must see through that"
    )
    result = run_gpucheck("image", "diff", *two_builds, env=base_env(DOCKER_HOST=docker_engine.host))
    assert result.exit_code == 0, result.stdout
    assert "hold the same files and metadata" in result.stdout


def test_diff_names_changed_removed_and_added_files_and_metadata(docker_engine, two_builds) -> None:
    dockerfile = (
        f"FROM {two_builds[0]}\nUSER 0\n"
        "RUN echo changed >> /etc/login.defs && rm /etc/gshadow && mkdir -p /opt/new\n"
        'USER 10001:10001\nLABEL extra="1"\n'
    )
    tag = "gpucheck-test/standin:changed"
    build_with_sdk(docker_engine.client, context_tar({"Dockerfile": dockerfile.encode()}), tag)
    result = run_gpucheck("image", "diff", two_builds[0], tag, env=base_env(DOCKER_HOST=docker_engine.host))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "changed: /etc/login.defs (sha256)" in lines
    assert "only in A: /etc/gshadow" in lines, "the whiteout of a deleted file is applied"
    assert "only in B: /opt/new" in lines
    assert any(line.startswith("metadata Config.Labels: ") for line in lines)


def test_verify_runs_doctor_inside_and_reports_its_findings(docker_engine, two_builds) -> None:
    client = docker_engine.client
    direct = client.containers.run(
        two_builds[0],
        ["/bin/sh", "-c", "gpucheck doctor >/dev/null; echo $?"],
        network_mode="none",
        remove=True,
    )
    before = {c.id for c in client.containers.list(all=True)}
    result = run_gpucheck(
        "image", "verify", two_builds[0], "--no-gpus", env=base_env(DOCKER_HOST=docker_engine.host)
    )
    assert result.exit_code == int(direct.decode().strip()), result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"doctor in {two_builds[0]} (without GPUs): ")
    if result.exit_code == 1:
        assert any(line.startswith("  fail ") for line in lines[1:]), "a failing doctor names its failures"
    assert {c.id for c in client.containers.list(all=True)} == before, "verify removes its container"


def test_verify_of_an_image_without_gpucheck_says_what_it_printed(docker_engine, busybox_image) -> None:
    before = {c.id for c in docker_engine.client.containers.list(all=True)}
    result = run_gpucheck(
        "image", "verify", busybox_image, "--no-gpus", env=base_env(DOCKER_HOST=docker_engine.host)
    )
    assert result.exit_code == 1
    assert "the engine could not run" in result.stderr or "without a JSON report" in result.stderr
    assert {c.id for c in docker_engine.client.containers.list(all=True)} == before, (
        "verify removes its container"
    )


def test_a_failing_step_reports_the_engine_message_and_leaves_no_container(
    docker_engine, busybox_image
) -> None:
    before = {c.id for c in docker_engine.client.containers.list(all=True)}
    context = context_tar({"Dockerfile": f"FROM {busybox_image}\nRUN exit 3\n".encode()})
    with pytest.raises(BuildFailed, match=r"The command '/bin/sh -c exit 3' returned a non-zero code: 3"):
        build_with_sdk(docker_engine.client, context, "gpucheck-test/failing:1")
    assert {c.id for c in docker_engine.client.containers.list(all=True)} == before


def test_reproducible_builds_give_identical_oci_tarballs(
    modern_docker_engine: ModernDockerEngine, modern_busybox_image, tmp_path: Path
) -> None:
    """Two buildx builds on dockerd 26 (containerd store), the build cache emptied between: equal bytes."""
    dockerfile = tmp_path / "r.Dockerfile"
    dockerfile.write_text(f"FROM {modern_busybox_image}\nARG SOURCE_DATE_EPOCH\nRUN echo hello > /hello\n")
    env = modern_docker_engine.env(base_env())
    digests, tarballs = [], []
    for n in range(2):
        # Without the cache the RUN step really runs again and writes /hello with a new mtime.
        modern_docker_engine.client.api.prune_builds(all=True)
        out = tmp_path / f"{n}.oci.tar"
        args = [
            "image",
            "build",
            "--reproducible",
            "--dockerfile",
            str(dockerfile),
            "--requirements",
            str(STANDIN_LOCK),
        ]
        result = run_gpucheck(*args, "--oci-out", str(out), env=env, timeout=300)
        assert result.exit_code == 0, result.stderr
        digests.append(result.stdout.split("(")[-1])
        with tarfile.open(out) as tar:
            assert "index.json" in tar.getnames(), "buildx wrote an OCI image layout"
        tarballs.append(out.read_bytes())
    assert digests[0] == digests[1]
    assert tarballs[0] == tarballs[1]
