"""Whatever a node leaves in the reports directory, reading it never raises: it is a node or a Rejected."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from gpucheck.ci.config import ExpectationError, VersionSpec
from gpucheck.fleet.load import NodeReport, Rejected, parse_report
from gpucheck.fleet.merge import merge
from gpucheck.fleet.render import render_json, render_markdown

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
STATUS = st.sampled_from(["pass", "warn", "fail", "skip", "error"])
FINDING = st.fixed_dictionaries(
    {
        "check": st.sampled_from(["driver.loaded", "gpu.present", "toolkit.nvcc"]) | JSON,
        "status": STATUS | JSON,
    },
    optional={"data": st.dictionaries(st.sampled_from(["driver_version", "names", "version"]), JSON) | JSON},
)
ENVELOPE = st.fixed_dictionaries(
    {
        "format": st.just("gpucheck-report"),
        "schema_version": st.integers(0, 2) | JSON,
        "status": STATUS | JSON,
        "findings": st.lists(FINDING, max_size=4) | JSON,
        "meta": st.dictionaries(st.just("hostname"), JSON),
    }
)


@given(st.text(max_size=200))
def test_any_text_is_a_node_or_rejected(text: str):
    assert isinstance(parse_report(text, "x.json"), (NodeReport, Rejected))


@given(ENVELOPE)
def test_near_miss_envelopes_are_a_node_or_rejected(doc: dict):
    result = parse_report(json.dumps(doc), "x.json")
    assert isinstance(result, (NodeReport, Rejected))
    if isinstance(result, NodeReport):
        assert all(isinstance(f.get("data", {}), dict) for f in result.findings)
        fleet = merge([result, result])  # and the fleet view builds and renders from it
        json.loads(render_json(fleet))
        assert render_markdown(fleet).startswith("## gpucheck fleet report")


@given(st.text(max_size=30))
def test_version_specs_parse_or_raise_the_usage_error(text: str):
    try:
        spec = VersionSpec.parse(text, option="--expect-driver")
    except ExpectationError:
        return
    assert spec.admits("550.54.14") in (True, False)
