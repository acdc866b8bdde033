"""`gpucheck image render|lock|build|verify|diff`: reproducible CUDA images with gpucheck inside."""

# ruff: noqa: B008 - typer declares options as call defaults; they are never mutated.

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from gpucheck.cli.exit_codes import ExitCode
from gpucheck.cli.help_text import examples
from gpucheck.images import build as builder
from gpucheck.images.lock import DATA, DEFAULT_LOCK, LockError, dump_lock, load_lock, refresh
from gpucheck.images.matrix import ImageSpec, MatrixError, default_matrix, expand, validate
from gpucheck.images.render import RenderError, dockerfile_name, render, render_all
from gpucheck.report.untrusted import plain, visible

image_app = typer.Typer(
    help="Render, lock, build, verify and diff reproducible CUDA images.", no_args_is_help=True
)
NAME_RE = re.compile(
    r"^cuda(?P<cuda>[\d.]+)-(?P<flavour>\w+)-ubuntu(?P<ubuntu>[\d.]+)-(?P<fw>\w+)-py(?P<py>[\d.]+)$"
)
# NOTE: markup off: image names, paths and text from inside images are untrusted ("cuda[/x]")
out = Console(soft_wrap=True, markup=False)  # paths and digests stay on one line, whatever the width
err = Console(stderr=True, soft_wrap=True, markup=False)


def _fail(message: str, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
    err.print(Text.assemble(("error:", "bold red"), " ", plain(message)), highlight=False)
    return typer.Exit(int(code))


def _client() -> object:
    try:
        import docker
    except ImportError:
        raise _fail("the Docker SDK is missing: pip install 'gpucheck[docker]'", ExitCode.FAILED) from None
    try:
        return docker.from_env(timeout=600)
    except docker.errors.DockerException as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise _fail(f"no Docker engine answers on {host}: {exc}", ExitCode.FAILED) from None


@image_app.command("render", epilog=examples("image render"))
def render_command(
    cuda: list[str] = typer.Option([], "--cuda", help="CUDA versions, e.g. 12.4.1 (repeatable)."),
    ubuntu: list[str] = typer.Option([], "--ubuntu", help="Ubuntu versions: 22.04, 24.04."),
    flavour: list[str] = typer.Option([], "--flavour", help="base, runtime, devel."),
    framework: list[str] = typer.Option([], "--framework", help="none, torch, tensorflow."),
    python: list[str] = typer.Option([], "--python", help="Python versions (default: each Ubuntu's own)."),
    out_dir: Path = typer.Option(Path("dockerfiles"), "--out", help="Directory for the Dockerfiles."),
    lock_file: Path = typer.Option(DEFAULT_LOCK, "--lock", help="Base-image lock (tag → digest)."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when a file would change."),
) -> None:
    """Render Dockerfiles for a matrix (no axis given: the default matrix of the committed dockerfiles/)."""
    try:
        specs = (
            expand(
                cuda or ["12.4.1"], ubuntu or ["22.04"], flavour or ["runtime"], framework or ["none"], python
            )
            if (cuda or ubuntu or flavour or framework or python)
            else default_matrix()
        )
        lock = load_lock(lock_file)
        if check:
            names = {dockerfile_name(s): render(s, lock) for s in specs}
            stale = [name for name, text in sorted(names.items()) if _differs(out_dir / name, text)]
            for name in stale:
                out.print(plain(f"would change: {out_dir / name}"), highlight=False)
            raise typer.Exit(int(ExitCode.FAILED if stale else ExitCode.OK))
        paths = render_all(specs, lock, out_dir)
    except (MatrixError, LockError, RenderError) as exc:
        raise _fail(str(exc)) from None
    for path in paths:
        out.print(plain(f"rendered {path}"), highlight=False)


def _differs(path: Path, text: str) -> bool:
    return not path.is_file() or path.read_text(encoding="utf-8") != text


@image_app.command("lock", epilog=examples("image lock"))
def lock_command(
    tag: list[str] = typer.Option([], "--tag", help="Tags to (re)resolve (default: every locked tag)."),
    lock_file: Path = typer.Option(DEFAULT_LOCK, "--lock", help="The lock file to update."),
    registry: str = typer.Option("https://registry-1.docker.io", "--registry", help="Registry API base URL."),
    auth: str = typer.Option(
        "https://auth.docker.io/token", "--auth", help="Token endpoint of the registry."
    ),
) -> None:
    """Resolve base-image tags to digests from the registry and rewrite the lock (all or nothing)."""
    try:
        new = refresh(load_lock(lock_file), tag, registry=registry, auth=auth)
    except LockError as exc:
        raise _fail(f"{exc}; {lock_file} is unchanged", ExitCode.FAILED) from None
    lock_file.write_text(dump_lock(new), encoding="utf-8")
    for name, entry in sorted(new.entries.items()):
        out.print(plain(f"{name} → {entry.digest}"), highlight=False)


def _matrix_spec(name: str) -> ImageSpec:
    match = NAME_RE.match(name)
    if not match:
        raise _fail(
            f"{name!r} is not a matrix image name such as cuda12.4.1-runtime-ubuntu22.04-torch-py3.10"
        )
    try:
        return validate(ImageSpec(match["cuda"], match["ubuntu"], match["flavour"], match["fw"], match["py"]))
    except MatrixError as exc:
        raise _fail(str(exc)) from None


def _sources(image: str | None, dockerfile: Path | None, requirements: Path | None, lock: Path) -> tuple:
    """(name, Dockerfile text, requirements text) for a matrix name or a given Dockerfile."""
    try:
        if dockerfile is not None:
            if requirements is None:
                raise _fail("--dockerfile needs --requirements (the Python lock it installs)")
            texts = (dockerfile.read_text(encoding="utf-8"), requirements.read_text(encoding="utf-8"))
            return (dockerfile.stem, *texts)
        if image is None:
            raise _fail("name a matrix image (see `gpucheck image render`) or pass --dockerfile")
        spec = _matrix_spec(image)
        text = render(spec, load_lock(lock))
        return spec.name, text, (requirements or DATA / spec.lock_name).read_text(encoding="utf-8")
    except (OSError, LockError, RenderError) as exc:
        raise _fail(str(exc)) from None


def _wheels(work: Path, wheel: Path | None, wheelhouse: Path | None, epoch: int) -> dict[str, bytes]:
    if wheel is None:
        project = builder.project_root()
        if project is None:
            raise _fail("gpucheck is not running from a source checkout: pass --wheel gpucheck-*.whl")
        wheel = builder.build_gpucheck_wheel(project, work / "dist", env=os.environ, source_date_epoch=epoch)
    files = {p.name: p.read_bytes() for p in sorted((wheelhouse or work / "none").glob("*.whl"))}
    files[wheel.name] = wheel.read_bytes()
    return files


def _progress_build(
    client: object, context: bytes, tag: str, buildargs: dict, network: str | None, nocache: bool
) -> str:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    description = TextColumn("{task.description}", markup=False)
    columns = (SpinnerColumn(), description, BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(f"building {tag}", total=None)

        def show(event: builder.BuildEvent) -> None:
            if event.text.startswith("Step "):
                progress.console.print(plain(event.text), highlight=False)
            line = visible(event.text)
            description = line if len(line) < 70 else line[:67] + "..."
            done = max(event.step - 1, 0)
            progress.update(task, total=event.total or None, completed=done, description=description)

        image_id = builder.build_with_sdk(
            client, context, tag, buildargs=buildargs, network_mode=network, nocache=nocache, on_event=show
        )
        progress.update(task, completed=progress.tasks[0].total or 1, description=f"built {tag}")
    return image_id


@image_app.command("build", epilog=examples("image build"))
def build_command(
    image: str = typer.Argument(
        None, help="Matrix image name, e.g. cuda12.4.1-runtime-ubuntu22.04-none-py3.10"
    ),
    dockerfile: Path | None = typer.Option(
        None, "--dockerfile", help="Build this rendered Dockerfile instead."
    ),
    requirements: Path | None = typer.Option(None, "--requirements", help="Python lock for --dockerfile."),
    tag: str | None = typer.Option(None, "--tag", "-t", help="Image tag (default gpucheck/NAME:local)."),
    wheel: Path | None = typer.Option(
        None, "--wheel", help="gpucheck wheel to install (default: build one)."
    ),
    wheelhouse: Path | None = typer.Option(
        None, "--wheelhouse", help="Install the lock from these wheels only."
    ),
    network: str | None = typer.Option(None, "--network", help="Build network, e.g. host."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild every step."),
    epoch: int = typer.Option(None, "--source-date-epoch", envvar="SOURCE_DATE_EPOCH", help="Default 0."),
    reproducible: bool = typer.Option(
        False, "--reproducible", help="Build with docker buildx, bit-reproducibly."
    ),
    oci_out: Path | None = typer.Option(
        None, "--oci-out", help="With --reproducible: the OCI tarball to write."
    ),
    lock_file: Path = typer.Option(DEFAULT_LOCK, "--lock", help="Base-image lock (tag → digest)."),
) -> None:
    """Build an image through the Docker SDK (live progress), or reproducibly through docker buildx."""
    name, text, lock_text = _sources(image, dockerfile, requirements, lock_file)
    tag, epoch = tag or f"gpucheck/{name}:local", epoch or 0
    try:
        builder.validate_reference(tag)
        if reproducible:
            builder.validate_output_path(oci_out or Path(f"{name}.oci.tar"))
    except builder.UsageError as exc:
        raise _fail(str(exc)) from None
    if reproducible:
        probe = builder.probe_buildx(os.environ)
        if not probe.available:
            raise _fail(probe.detail, ExitCode.FAILED)
    with tempfile.TemporaryDirectory(prefix="gpucheck-build-") as tmp:
        files = builder.build_files(text, lock_text, _wheels(Path(tmp), wheel, wheelhouse, epoch))
        context = builder.context_tar(files)
        buildargs = {"SOURCE_DATE_EPOCH": str(epoch), "PIP_NO_INDEX": "1" if wheelhouse else "0"}
        try:
            if reproducible:
                target = oci_out or Path(f"{name}.oci.tar")
                work = Path(tmp) / "context"
                digest = builder.build_reproducible(
                    context, work, target, tag=tag, source_date_epoch=epoch, env=os.environ
                )
                out.print(plain(f"wrote {target} ({digest})"), highlight=False)
                return
            image_id = _progress_build(_client(), context, tag, buildargs, network, no_cache)
        except builder.BuildFailed as exc:
            raise _fail(f"build of {tag} failed: {exc}", ExitCode.FAILED) from None
    out.print(plain(f"built {tag} ({image_id})"), highlight=False)


def _host_has_gpu() -> bool:
    from gpucheck.collect.run import run_command

    listed = run_command(["nvidia-smi", "-L"], timeout_s=20)
    return listed.returncode == 0 and "GPU " in listed.stdout


@image_app.command("verify", epilog=examples("image verify"))
def verify_command(
    image: str = typer.Argument(..., help="Image to verify (local to the engine)."),
    gpus: bool | None = typer.Option(
        None, "--gpus/--no-gpus", help="Default: when `nvidia-smi -L` lists one."
    ),
) -> None:
    """Run `gpucheck doctor --json` inside IMAGE and report its findings; exit with doctor's exit code."""
    from gpucheck.images.verify import VerifyError, verify_image

    with_gpus = _host_has_gpu() if gpus is None else gpus
    try:
        result = verify_image(_client(), image, gpus=with_gpus)
    except VerifyError as exc:
        raise _fail(str(exc), ExitCode.FAILED) from None
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()) if n)
    gpu_note = "with the host's GPUs" if with_gpus else "without GPUs"
    out.print(plain(f"doctor in {image} ({gpu_note}): {result.status} ({counts})"), highlight=False)
    for finding in result.problems:
        line = f"  {finding['status']!s:<5} {finding['check']}: {finding['summary']}"
        out.print(plain(line), highlight=False)
        if finding.get("remediation"):
            out.print(plain(f"        fix: {finding['remediation']}"), highlight=False)
    raise typer.Exit(result.exit_code)


@image_app.command("diff", epilog=examples("image diff"))
def diff_command(
    image_a: str = typer.Argument(..., help="First image."),
    image_b: str = typer.Argument(..., help="Second image."),
    limit: int = typer.Option(20, "--limit", help="Show at most this many paths per kind of difference."),
) -> None:
    """Compare two images' files and runtime metadata; exit 0 when equal, 1 when they differ."""
    import docker.errors

    from gpucheck.images.diff import diff_images

    try:
        result = diff_images(_client(), image_a, image_b)
    except docker.errors.ImageNotFound as exc:
        raise _fail(f"image not found: {exc.explanation or exc}") from None
    if result.equal:
        out.print(plain(f"{image_a} and {image_b} hold the same files and metadata"), highlight=False)
        raise typer.Exit(int(ExitCode.OK))
    for key, a, b in result.metadata:
        out.print(plain(f"metadata {key}: {a!r} != {b!r}"), highlight=False)
    for label, paths in (("only in A", result.only_in_a), ("only in B", result.only_in_b)):
        for path in paths[:limit]:
            out.print(plain(f"{label}: {path}"), highlight=False)
    for path, a, b in result.changed[:limit]:
        fields = [
            f
            for f in ("kind", "mode", "uid", "gid", "link", "sha256", "device")
            if getattr(a, f) != getattr(b, f)
        ]
        out.print(plain(f"changed: {path} ({', '.join(fields)})"), highlight=False)
    total = len(result.only_in_a) + len(result.only_in_b) + len(result.changed)
    out.print(
        plain(f"{image_a} and {image_b} differ: {len(result.metadata)} metadata, {total} paths"),
        highlight=False,
    )
    raise typer.Exit(int(ExitCode.FAILED))


def register(app: typer.Typer) -> None:
    """Add the `image` command group to the app."""
    app.add_typer(image_app, name="image")
