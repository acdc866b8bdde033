"""The base-image lock file: parsing, pins, and refreshing where no registry answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpucheck.images.lock import (
    DEFAULT_LOCK,
    BaseLock,
    LockEntry,
    LockError,
    dump_lock,
    load_lock,
    parse_lock,
)
from gpucheck.images.matrix import default_matrix
from tests.conftest import base_env

DIGEST = "sha256:" + "0" * 64
UNREACHABLE = "http://127.0.0.1:9"
"""The discard port: nothing listens, so the connection is refused at once."""


def test_the_packaged_lock_pins_every_base_of_the_default_matrix() -> None:
    lock = load_lock()
    for spec in default_matrix():
        assert lock.pinned_ref(spec.base_tag).startswith(spec.base_tag + "@sha256:")
    unknown = [tag for tag, entry in lock.entries.items() if entry.digest is None]
    assert unknown and all(lock.entries[t].source.startswith("unknown:") for t in unknown)


def test_dump_is_stable_and_round_trips() -> None:
    text = DEFAULT_LOCK.read_text(encoding="utf-8")
    assert dump_lock(parse_lock(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"images": {"a:b": {"digest": "sha256:1"}},}',
            r"not JSON: Expecting property name .* line 1 column 44",
        ),
        ('{"images": {"a:b": {"digest": "sha256:12"}}}', r"a:b: digest must be sha256:<64 hex> or null"),
        ('{"pins": {}}', r'needs an "images" object'),
        ("[]", r'needs an "images" object'),
    ],
)
def test_bad_lock_files_are_refused_with_the_position_or_field(text: str, message: str) -> None:
    with pytest.raises(LockError, match=message):
        parse_lock(text)


def test_missing_lock_file_is_a_lock_error(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="cannot read .*: No such file or directory"):
        load_lock(tmp_path / "absent.json")


def test_pinned_ref_keeps_the_tag_for_humans() -> None:
    lock = BaseLock({"nvidia/cuda:1-base": LockEntry(DIGEST, "test")})
    assert lock.pinned_ref("nvidia/cuda:1-base") == f"nvidia/cuda:1-base@{DIGEST}"


def test_cli_lock_without_a_registry_says_so_and_changes_nothing(invoke, tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    original = json.dumps(
        {"images": {"nvidia/cuda:12.4.1-base-ubuntu22.04": {"digest": None, "source": "x"}}}
    )
    path.write_text(original)
    args = ("image", "lock", "--lock", str(path), "--registry", UNREACHABLE, "--auth", f"{UNREACHABLE}/token")
    result = invoke(*args, env=base_env())
    assert result.exit_code == 1
    assert (
        "cannot reach the registry for nvidia/cuda:12.4.1-base-ubuntu22.04 (http://127.0.0.1:9)"
        in result.stderr
    )
    assert f"{path} is unchanged" in result.stderr
    assert path.read_text() == original
