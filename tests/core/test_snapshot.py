import json

import jsonschema
import pytest

from gpucheck.collect.evidence import CollectorStatus, CommandRun, DirListing, Evidence, FileRead, Value
from gpucheck.collect.snapshot import SnapshotError, read_snapshot, snapshot_from_json, snapshot_to_json

SCHEMA = json.loads(
    (
        __import__("pathlib").Path(__import__("gpucheck").__file__).parent
        / "schemas"
        / "snapshot.schema.json"
    ).read_text()
)


def _evidence():
    ev = Evidence(meta={"hostname": "node-1"})
    ev.add(
        [
            CommandRun(argv=("nvidia-smi", "-L"), returncode=9, stderr="NVIDIA-SMI has failed\n"),
            FileRead(path="/proc/version", exists=True, content="Linux version 5.15 microsoft-standard-WSL2"),
            DirListing(path="/usr/lib/wsl/lib", exists=True, entries=("libcuda.so.1",)),
            Value(name="nvml", error="NVMLError_LibraryNotFound"),
        ]
    )
    ev.collectors["nvidia_smi"] = CollectorStatus("nvidia_smi", True, 0.01)
    ev.collectors["nvml"] = CollectorStatus("nvml", False, 5.0, "timed out after 5 s", True)
    return ev


def test_round_trip_preserves_every_item_and_validates():
    doc = snapshot_to_json(_evidence())
    jsonschema.validate(doc, SCHEMA)
    back = snapshot_from_json(json.loads(json.dumps(doc)))
    assert back.items == _evidence().items
    assert back.collectors == _evidence().collectors


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not a gpucheck snapshot"),
        ({"format": "gpucheck-report", "schema_version": 1}, "not a gpucheck snapshot"),
        ({"format": "gpucheck-snapshot"}, "no integer 'schema_version'"),
        (
            {"format": "gpucheck-snapshot", "schema_version": 99, "collectors": {}, "evidence": []},
            "newer than",
        ),
        (
            {"format": "gpucheck-snapshot", "schema_version": 1, "collectors": {}, "evidence": {}},
            "'evidence' list",
        ),
        (
            {
                "format": "gpucheck-snapshot",
                "schema_version": 1,
                "collectors": {},
                "evidence": [{"kind": "magic"}],
            },
            "malformed",
        ),
        (
            {
                "format": "gpucheck-snapshot",
                "schema_version": 1,
                "collectors": {},
                "evidence": [{"kind": "command", "argv": "nvidia-smi"}],
            },
            "malformed",
        ),
        (
            {
                "format": "gpucheck-snapshot",
                "schema_version": 1,
                "collectors": {"x": {"ok": "yes"}},
                "evidence": [],
            },
            "collector entry 'x'",
        ),
    ],
)
def test_foreign_or_malformed_snapshots_are_refused(doc, message):
    with pytest.raises(SnapshotError, match=message):
        snapshot_from_json(doc)


def test_unreadable_and_non_json_files_are_refused(tmp_path):
    with pytest.raises(SnapshotError, match="cannot read"):
        read_snapshot(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(SnapshotError, match="is not JSON: .* line 1 column 3"):
        read_snapshot(bad)
