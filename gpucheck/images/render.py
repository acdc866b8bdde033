"""Render Dockerfiles from the Jinja2 template: StrictUndefined, sorted iteration, byte-identical output.

The output depends only on the template, the image spec, the lock and gpucheck's version; no clock, no
environment, no file-system order enters it, so the committed dockerfiles/ can be checked for drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from gpucheck import __version__
from gpucheck.images.lock import BaseLock, LockError
from gpucheck.images.matrix import APT_PINS, ImageSpec

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "Dockerfile.j2"
IMAGE_UID = 10001
"""Above Ubuntu 24.04's own ``ubuntu`` user (uid 1000) and the usual host uids."""


class RenderError(ValueError):
    """The template could not be rendered (undefined variable, syntax error, unpinned base)."""


def environment(template_dir: Path = TEMPLATES) -> jinja2.Environment:
    """The Jinja2 environment: a variable the template uses but the context lacks is an error."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - Dockerfiles, not HTML
    )


def wheel_name(version: str = __version__) -> str:
    """The file name of gpucheck's wheel (pure Python), as the build context holds it."""
    return f"gpucheck-{version}-py3-none-any.whl"


def image_context(spec: ImageSpec, lock: BaseLock, *, allow_unpinned: bool = False) -> dict[str, Any]:
    """Everything the template needs for ``spec``.

    Raises:
        RenderError: the base tag has no digest in the lock and ``allow_unpinned`` is false.
    """
    try:
        base_ref, pinned = lock.pinned_ref(spec.base_tag), True
    except LockError as exc:
        if not allow_unpinned:
            raise RenderError(str(exc)) from None
        base_ref, pinned = spec.base_tag, False
    labels = {
        "org.opencontainers.image.description": (
            f"CUDA {spec.cuda} {spec.flavour} on Ubuntu {spec.ubuntu}, Python {spec.python}, "
            f"framework {spec.framework}{' ' + spec.framework_version if spec.framework_version else ''}, "
            "with gpucheck"
        ),
        "org.opencontainers.image.version": __version__,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.base.name": spec.base_tag,
        "org.opencontainers.image.base.digest": base_ref.partition("@")[2] or "unpinned",
        "com.nvidia.cuda.version": spec.cuda,
        "io.gpucheck.image.framework": spec.framework,
        "io.gpucheck.image.python-lock": spec.lock_name,
    }
    return {
        "name": spec.name,
        "base_tag": spec.base_tag,
        "base_ref": base_ref,
        "base_pinned": pinned,
        "cuda_minor": spec.cuda_minor,
        "framework": spec.framework,
        "labels": labels,
        "apt_packages": dict(APT_PINS[spec.ubuntu]),
        "python": "python3",
        "lock_file": spec.lock_name,
        "gpucheck_wheel": wheel_name(),
        "uid": IMAGE_UID,
    }


def render_text(context: Mapping[str, Any], template_dir: Path = TEMPLATES) -> str:
    """Render the Dockerfile template with ``context``; RenderError names what went wrong."""
    try:
        return environment(template_dir).get_template(TEMPLATE_NAME).render(**context)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"{TEMPLATE_NAME}: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{TEMPLATE_NAME} line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateNotFound:
        raise RenderError(f"no {TEMPLATE_NAME} in {template_dir}") from None


def render(
    spec: ImageSpec, lock: BaseLock, *, template_dir: Path = TEMPLATES, allow_unpinned: bool = False
) -> str:
    """The Dockerfile text for ``spec``."""
    return render_text(image_context(spec, lock, allow_unpinned=allow_unpinned), template_dir)


def dockerfile_name(spec: ImageSpec) -> str:
    """The file ``spec`` renders to inside dockerfiles/."""
    return f"{spec.name}.Dockerfile"


def render_all(
    specs: Iterable[ImageSpec], lock: BaseLock, out_dir: Path, *, template_dir: Path = TEMPLATES
) -> list[Path]:
    """Render every spec into ``out_dir``; rewrite a file only when its text changes. Returns the paths."""
    texts = {dockerfile_name(s): render(s, lock, template_dir=template_dir) for s in specs}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(texts.items()):
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
