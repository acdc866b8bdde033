"""The README's explain examples are real: each input is a corpus text (verbatim, same source URL) and each
output block is exactly what ``gpucheck explain --offline`` prints for it at 110 columns."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import base_env
from tests.explain.test_corpus import CASES, load_case

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Explain an error") : text.index("### Exit codes")]
    pattern = r"\*\*A [^*]+\*\* \((https://[^\s,;)]+).*?```text\n(.*?)```\n\n```text\n(.*?)```"
    found = re.findall(pattern, section, re.S)
    return [(url, given, printed) for url, given, printed in found]


def test_three_examples_from_the_corpus():
    examples = _examples()
    assert len(examples) == 3
    corpus = {load_case(p)["source"]: load_case(p)["text"] for p in CASES}
    for url, given, _ in examples:
        assert url in corpus, url
        assert given.strip("\n") == corpus[url].strip("\n")


def test_outputs_are_what_explain_prints(invoke, tmp_path):
    for number, (_, given, printed) in enumerate(_examples()):
        report = tmp_path / f"example{number}.txt"
        report.write_text(given, encoding="utf-8")
        result = invoke("explain", "--offline", str(report), env=base_env(COLUMNS="110"))
        assert result.exit_code == 0
        assert result.stdout.rstrip("\n") == printed.rstrip("\n")
