"""Secrets never reach a snapshot or a report, by name or by value; redaction is linear-time and precise.

A fake ``nvidia-smi`` prints the whole environment twice, as ``env`` would and JSON-escaped, and a
daemon.json under ``--sysroot`` holds a registry ``"auth"`` blob: the snapshot (``-o``) and the verbose
report (``-v``) must contain none of the secret values, and the short secret ``DB_PASSWORD=nvidia`` must not
turn ``nvidia-smi`` into ``***REDACTED***-smi``.
"""

from __future__ import annotations

import json
from pathlib import Path

from gpucheck.collect.redact import REDACTED, redact_environment, scrub_text
from tests.faults.harness import DEADLINE_MARGIN_S, ProbeLog, fault_env, leftovers, run_cli

SECRETS = {
    "REDIS_URL": ("redis://:pw-redis-0001@cache.internal:6379/0", "pw-redis-0001"),
    "DATABASE_URL": ("postgres://app:p/ss@w0rd-xyz@db.internal/app", "p/ss@w0rd-xyz"),
    "SERVICE_URL": ("https://api.example/v1?user=a&password=qpass-12345&x=1", "qpass-12345"),
    "MYSQL_PWD": ("mysql-pwd-secret", "mysql-pwd-secret"),
    "SMTP_PASS": ("smtp-pass-secret", "smtp-pass-secret"),
    "KAGGLE_KEY": ("kaggle-key-0123456789", "kaggle-key-0123456789"),
    "CI_JOB_JWT": ("eyJhbGciOiJIUzI1NiJ9.e30.sig-abcdef", "eyJhbGciOiJIUzI1NiJ9.e30.sig-abcdef"),
    "DD_APP_KEY": ("dd-app-key-98765", "dd-app-key-98765"),
    "AZURE_STORAGE_CONNECTION_STRING": (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=azKey+/abc123==;EndpointSuffix=core",
        "azKey+/abc123==",
    ),
    "HF_TOKEN": ("hf_abcdefghijklmnop", "hf_abcdefghijklmnop"),
    "AWS_SECRET_ACCESS_KEY": ("wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG"),
    "MY_SECRET": ('quote"and\\backslash-secret', 'quote"and\\backslash-secret'),
    "PIP_INDEX_URL": ("https://user:s3cret-pip@pypi.internal/simple", "s3cret-pip"),
}
REGISTRY_AUTH = "dXNlcjpzZWNyZXQtcmVnaXN0cnk="

ECHO_ENV = """#!/usr/bin/python3
import json, os, sys
open(os.environ["PIDS"], "a").write(f"{os.getpid()}\\n")
for k, v in sorted(os.environ.items()):
    print(f"{k}={v}")
print(json.dumps(dict(os.environ)))
print(json.dumps(dict(os.environ), ensure_ascii=False), file=sys.stderr)
sys.exit(9)
"""


def _forms(value: str) -> set[str]:
    return {value, json.dumps(value)[1:-1]}


def test_secrets_are_redacted_by_name_and_value_in_snapshot_and_report(tmp_path: Path) -> None:
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text(
        '{\n  "auths": {"registry.internal": {"auth": "' + REGISTRY_AUTH + '"}},\n  "debug": true\n}\n'
    )
    log = ProbeLog(tmp_path / "pids")
    exe = bin_dir / "nvidia-smi"
    exe.write_text(ECHO_ENV)
    exe.chmod(0o755)
    env = fault_env(
        bin_dir, PIDS=str(log.path), DB_PASSWORD="nvidia", **{k: v for k, (v, _) in SECRETS.items()}
    )
    out = tmp_path / "snap.json"
    snap = run_cli("snapshot", "-o", str(out), "--only", "driver,container", "--sysroot", str(root), env=env)
    snap.assert_clean(0)
    report = run_cli("doctor", "-v", "--only", "driver,container", "--sysroot", str(root), env=env)
    report.assert_clean(0, 1)
    text = out.read_text()
    for name, (_, secret) in SECRETS.items():
        for form in _forms(secret):
            assert form not in text, f"{name}'s secret leaked into the snapshot as {form!r}"
            assert form not in report.stdout, f"{name}'s secret leaked into the report"
    assert REGISTRY_AUTH not in text and REGISTRY_AUTH not in report.stdout
    assert f'\\"auth\\": \\"{REDACTED}\\"' in text  # NOTE: the daemon.json was collected, its blob scrubbed
    assert REDACTED in text
    doc = json.loads(text)
    argv0 = {item["argv"][0] for item in doc["evidence"] if item["kind"] == "command"}
    assert "nvidia-smi" in argv0, argv0  # NOTE: the 6-character DB_PASSWORD is not hunted elsewhere
    assert "DB_PASSWORD=nvidia" not in text and f"DB_PASSWORD={REDACTED}" in text
    assert leftovers(log.groups()) == []


def test_scrubbing_long_hostile_output_stays_within_the_deadline(tmp_path: Path) -> None:
    """1 MB runs of the characters that made the old URL pattern quadratic (113 s for 100 KB)."""
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    log = ProbeLog(tmp_path / "pids")
    body = (
        "head -c 1000000 /dev/zero | tr '\\000' a; echo; "
        'i=0; while [ $i -lt 2000 ]; do printf \'x://a:b@c%s=%s"k": "\' $i $i; i=$((i+1)); done; echo'
    )
    exe = bin_dir / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\n{log.prologue}\n{body}\n")
    exe.chmod(0o755)
    env = fault_env(bin_dir, API_TOKEN="tok-" + "a" * 40)
    out = tmp_path / "snap.json"
    run = run_cli(
        "snapshot", "-o", str(out), "--only", "driver", "--sysroot", str(root), "--timeout", "5", env=env
    )
    run.assert_clean(0)
    assert run.wall_s < 5 + DEADLINE_MARGIN_S, f"took {run.wall_s:.1f} s"


def test_url_credentials_and_pairs_in_free_text_are_redacted() -> None:
    text = (
        "fetching https://bob:hunter2-long@git.internal/repo.git and redis://:x@y and "
        'AccountKey=abc/def+ghi==; "password": "pw-in-json-123", --api-key=zzz-abcdefgh '
        "https://example.com/a:b@c (no credentials: ':' after '/')"
    )
    clean = scrub_text(text, set())
    for leaked in ("hunter2-long", ":x@", "abc/def+ghi==", "pw-in-json-123", "zzz-abcdefgh"):
        assert leaked not in clean, leaked
    assert "https://bob:" + REDACTED + "@git.internal/repo.git" in clean
    assert "https://example.com/a:b@c" in clean  # a path, not a password, is left alone


def test_short_and_common_values_are_redacted_in_place_but_not_hunted() -> None:
    redacted, secrets = redact_environment(
        {"DB_PASSWORD": "nvidia", "X_TOKEN": "password", "Y_TOKEN": "s3cr3t-v4lue"}
    )
    assert redacted == {"DB_PASSWORD": REDACTED, "X_TOKEN": REDACTED, "Y_TOKEN": REDACTED}
    assert secrets == {"s3cr3t-v4lue"}
    assert (
        scrub_text("nvidia-smi --password=x s3cr3t-v4lue", secrets)
        == f"nvidia-smi --password={REDACTED} {REDACTED}"
    )
