"""Every command's --help shows its declared texts as written: no markup eaten, examples at the end."""

import re

import pytest
import typer
from typer.testing import CliRunner

from gpucheck.cli import app
from gpucheck.cli.help_text import EXAMPLES

BOX = re.compile(r"[│╭╮╰╯─]")


def _commands(group, path: tuple[str, ...] = ()):
    if hasattr(group, "commands"):
        for name in group.list_commands(None):  # lazy commands too (they ignore the context)
            yield from _commands(group.get_command(None, name), (*path, name))
    else:
        yield path, group


ALL = list(_commands(typer.main.get_command(app)))


def _flat(text: str) -> str:
    return " ".join(BOX.sub(" ", text).split())


def _declared(text: str) -> str:
    """A help string as its author meant it read: rich escapes (``\\[``) undone, nothing else."""
    return _flat(text.replace("\\[", "["))


def test_every_command_has_examples():
    assert {" ".join(path) for path, _ in ALL} == set(EXAMPLES)


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=" ".join)
def test_help_shows_every_declared_text_verbatim(path):
    command = dict(ALL)[path]
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    texts = [command.help or ""] + [p.help for p in command.params if getattr(p, "help", None)]
    for text in texts:
        first_paragraph = text.split("\n\n")[0]
        assert _declared(first_paragraph) in shown, (path, text)
    for example in EXAMPLES[" ".join(path)]:
        assert _flat(example) in shown, (path, example)
    assert shown.rindex("Examples:") > max(shown.find(_declared(t.split("\n\n")[0])) for t in texts)


def test_doctor_options_are_grouped_in_panels():
    result = CliRunner().invoke(app, ["doctor", "--help"], env={"COLUMNS": "120", "NO_COLOR": "1"})
    for panel in ("What to check", "Output", "CI expectations", "Containers", "Frameworks"):
        assert f"─ {panel} ─" in result.output
    assert "TOML file with an [expect] table." in _flat(result.output)
