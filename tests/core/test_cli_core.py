"""The CLI contract: output formats, exit codes, snapshot/replay, usage errors — through the real app."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema

import gpucheck
from tests.conftest import base_env, run_gpucheck

SCHEMAS = Path(gpucheck.__file__).parent / "schemas"


def test_doctor_json_validates_against_the_schema(invoke, fake_bin):
    result = invoke("doctor", "--only", "environ", "--json", env=base_env(fake_bin))
    doc = result.json()
    jsonschema.validate(doc, json.loads((SCHEMAS / "report.schema.json").read_text()))
    assert doc["exit_code"] == result.exit_code
    assert {f["layer"] for f in doc["findings"]} == {"environ"}


def test_unknown_check_is_a_usage_error(invoke):
    result = invoke("doctor", "--only", "gpus-please", env=base_env())
    assert result.exit_code == 2 and "matches no check or layer" in result.stderr


def test_junit_file_is_written(invoke, tmp_path):
    junit = tmp_path / "out" / "report.xml"
    junit.parent.mkdir()
    invoke("doctor", "--only", "environ", "--junit", str(junit), env=base_env())
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 1


def test_snapshot_redacts_secrets_and_replays(invoke, tmp_path):
    snap = tmp_path / "snap.json"
    env = base_env(HF_TOKEN="hf_supersecretvalue123", WANDB_API_KEY="0123456789abcdef")
    result = invoke("snapshot", "-o", str(snap), "--only", "environ", env=env)
    assert result.exit_code == 0 and "wrote" in result.stdout
    text = snap.read_text()
    assert (
        "hf_supersecretvalue123" not in text and "0123456789abcdef" not in text and "***REDACTED***" in text
    )
    jsonschema.validate(json.loads(text), json.loads((SCHEMAS / "snapshot.schema.json").read_text()))
    replayed = invoke("doctor", "--replay", str(snap), "--only", "environ", "--json", env=base_env())
    assert replayed.json()["meta"]["replayed"] is True


def test_foreign_snapshot_is_refused_with_usage_error(invoke, tmp_path):
    bogus = tmp_path / "report.json"
    bogus.write_text(json.dumps({"format": "gpucheck-report", "schema_version": 1}))
    result = invoke("doctor", "--replay", str(bogus), env=base_env())
    assert result.exit_code == 2 and "not a gpucheck snapshot" in result.stderr


def test_python_that_does_not_exist_is_a_usage_error(invoke):
    result = invoke("doctor", "--python", "/nonexistent/bin/python", env=base_env())
    assert result.exit_code == 2 and "no such interpreter" in result.stderr


def test_internal_crash_is_one_line_and_exit_3(tmp_path):
    # A sitecustomize that breaks the registry's collect() simulates a gpucheck bug in a real process.
    (tmp_path / "sitecustomize.py").write_text(
        "import gpucheck.pipeline as p\n"
        "def broken(*a, **k):\n    raise RuntimeError('simulated bug')\n"
        "p.gather = broken\n"
    )
    env = base_env(PYTHONPATH=str(tmp_path))
    result = run_gpucheck("doctor", "--only", "environ", env=env)
    assert result.exit_code == 3
    assert "internal error: RuntimeError: simulated bug" in result.stderr and "Traceback" not in result.stderr


def test_version_and_module_entry_point():
    result = run_gpucheck("--version", env=base_env())
    assert result.exit_code == 0 and result.stdout.strip() == f"gpucheck {gpucheck.__version__}"
