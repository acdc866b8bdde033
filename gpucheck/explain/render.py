"""Rendering an explanation: console (rich ``Text`` only, never markup from the input), Markdown, JSON.

Everything quoted from the input is untrusted: the console gets it as plain ``Text`` segments, Markdown as
code spans or fenced blocks whose fence is longer than any backtick run in the quote, and JSON as strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.text import Text

from gpucheck import __version__
from gpucheck.explain.engine import Explanation, RankedCause, Status, Verdict
from gpucheck.explain.facts import FACT_NAMES
from gpucheck.explain.text import quote

SCHEMA_VERSION = 1
VERDICT_LABEL = {
    Verdict.CONFIRMED: "CONFIRMED",
    Verdict.RULED_OUT: "RULED OUT",
    Verdict.UNDECIDED: "UNDECIDED",
    Verdict.NOT_CHECKED: "",
}
VERDICT_STYLE = {
    Verdict.CONFIRMED: "bold red",
    Verdict.RULED_OUT: "green",
    Verdict.UNDECIDED: "yellow",
    Verdict.NOT_CHECKED: "dim",
}


def decide_command(explanation: Explanation) -> str:
    """The command the reporter should run to decide between the causes.

    A failure explain cannot place gets the whole of doctor; no failure, nothing.
    """
    checks = explanation.checks_to_decide()
    if checks:
        return f"gpucheck doctor --only {','.join(checks)}"
    return "gpucheck doctor" if explanation.status is Status.UNEXPLAINED else ""


def headline(explanation: Explanation) -> str:
    """One line: the leading cause, or why there is none."""
    status = explanation.status
    if status is Status.EXPLAINED:
        cause = explanation.identified[0]
        prefix = "Confirmed on this machine" if cause.verdict is Verdict.CONFIRMED else "Most likely cause"
        return f"{prefix}: {cause.cause.title}"
    if status is Status.UNEXPLAINED:
        return "The text shows a failure gpucheck cannot explain"
    return "No failure recognised in the text"


# -------------------------------------------------------------------------------------------- JSON


def _cause_json(cause: RankedCause, rank: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "id": cause.cause.id,
        "title": cause.cause.title,
        "layer": cause.cause.layer,
        "score": round(cause.score, 3),
        "reasons": list(cause.reasons),
        "signatures": list(dict.fromkeys(cause.signatures)),
        "fix": cause.fix,
        "checks": list(cause.cause.checks),
        "verdict": cause.verdict.value,
        "findings": [
            {"check": f.check, "status": f.status, "summary": f.summary, "remediation": f.remediation}
            for f in cause.findings
        ],
    }


def to_json(explanation: Explanation, exit_code: int) -> dict[str, Any]:
    """The JSON document (schema: gpucheck/schemas/explain.schema.json)."""
    text = explanation.text
    return {
        "format": "gpucheck-explain",
        "schema_version": SCHEMA_VERSION,
        "gpucheck_version": __version__,
        "mode": explanation.mode,
        "status": explanation.status.value,
        "exit_code": exit_code,
        "headline": headline(explanation),
        "input": {"bytes": text.size_bytes, "lines": len(text.lines), "truncated": text.truncated},
        "recognised": [
            {
                "signature": h.signature.id,
                "layer": h.signature.layer,
                "meaning": h.signature.meaning,
                "line": h.line,
                "text": h.text,
                "count": h.count,
                "failure": h.signature.failure,
                "fields": dict(h.fields),
                "sources": list(h.signature.sources),
            }
            for h in explanation.hits
        ],
        "pasted": [
            {"kind": p.kind, "line": p.line, "parser": p.parser, "error": p.error} for p in explanation.pasted
        ],
        "facts": [
            {"name": f.name, "value": f.value, "line": f.line, "text": f.text, "source": f.source}
            for f in explanation.facts
        ],
        "causes": [_cause_json(c, i + 1) for i, c in enumerate(explanation.causes)],
        "unrecognised": [{"line": n, "text": t} for n, t in explanation.unrecognised],
        "decide": decide_command(explanation),
        "doctor_error": explanation.doctor_error,
        "host_note": explanation.host_note,
        "other_findings": [
            {"check": f.check, "status": f.status, "summary": f.summary, "remediation": f.remediation}
            for f in explanation.other_findings
        ],
    }


def render_json(explanation: Explanation, exit_code: int) -> str:
    """The JSON document as text."""
    return json.dumps(to_json(explanation, exit_code), indent=2, ensure_ascii=False) + "\n"


# -------------------------------------------------------------------------------------------- console


def render_console(explanation: Explanation, console: Console) -> None:
    """The console report: headline, causes with reasons and fixes, facts, what was recognised."""
    status = explanation.status
    style = {"explained": "bold red", "unexplained": "bold magenta", "no_failure": "green"}[status.value]
    console.print(Text(headline(explanation), style=style))
    if explanation.causes:
        console.print(Text("\nLikely causes", style="bold cyan"))
    for rank, cause in enumerate(explanation.causes, start=1):
        line = Text(f"{rank}. ", style="bold")
        if cause.verdict is not Verdict.NOT_CHECKED:
            line.append(f"[{VERDICT_LABEL[cause.verdict]}] ", style=VERDICT_STYLE[cause.verdict])
        line.append(cause.cause.title)
        line.append(f"  ({cause.cause.id}, score {cause.score:.2f})", style="dim")
        console.print(line)
        for reason in cause.reasons[:4]:
            console.print(Text("   because ", style="dim").append(reason))
        for finding in cause.confirming:
            summary = quote(finding.summary)
            console.print(Text(f"   doctor {finding.check} {finding.status}: ", style="dim").append(summary))
        console.print(Text("   fix: ", style="bold cyan").append(cause.fix, style="cyan"))
    if explanation.facts:
        console.print(Text("\nWhat the text establishes", style="bold cyan"))
        for fact in explanation.facts[:30]:
            label = FACT_NAMES.get(fact.name, fact.name)
            console.print(
                Text(f"  line {fact.line:>5}  ", style="dim")
                .append(f"{label}: ")
                .append(fact.value, style="bold")
                .append(f"  ({fact.source})", style="dim")
            )
    if explanation.hits or explanation.pasted:
        console.print(Text("\nRecognised", style="bold cyan"))
        for hit in explanation.hits:
            more = f" ×{hit.count}" if hit.count > 1 else ""
            console.print(
                Text(f"  line {hit.line:>5}  ", style="dim")
                .append(hit.signature.id, style="bold")
                .append(f"{more}: ")
                .append(hit.text)
            )
        for pasted in explanation.pasted:
            note = f" (unreadable: {pasted.error})" if pasted.error else ""
            console.print(
                Text(f"  line {pasted.line:>5}  ", style="dim").append(f"pasted {pasted.kind}{note}")
            )
    if status is Status.UNEXPLAINED and explanation.unrecognised:
        console.print(Text("\nFailure lines no signature covers", style="bold magenta"))
        for number, quoted in explanation.unrecognised:
            console.print(Text(f"  line {number:>5}  ", style="dim").append(quoted))
    if explanation.other_findings:
        console.print(Text("\nAlso failing on this machine", style="bold magenta"))
        for finding in explanation.other_findings:
            line = Text(f"  {finding.check} {finding.status}: ", style="dim").append(finding.summary)
            if finding.remediation:
                line.append("\n    fix: ", style="bold cyan").append(finding.remediation, style="cyan")
            console.print(line)
    decide = decide_command(explanation)
    if explanation.host_note:
        console.print(Text("\n" + explanation.host_note, style="yellow"))
    if explanation.doctor_error:
        console.print(
            Text(f"\ncould not run the deciding checks: {explanation.doctor_error}", style="yellow")
        )
    if explanation.mode == "offline" and decide:
        console.print(
            Text("\nTo decide between these causes, the reporter should run: ", style="bold").append(
                decide, style="cyan"
            )
        )
    elif explanation.mode == "live":
        console.print(
            Text("\nChecked on this machine with doctor's checks: ", style="dim").append(
                ", ".join(explanation.checks_to_decide()) or "none apply"
            )
        )


# -------------------------------------------------------------------------------------------- Markdown


def _code(text: str) -> str:
    """``text`` as an inline code span that its own backticks cannot break."""
    text = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _plain(text: str) -> str:
    """Text from the catalogue or doctor, with Markdown/HTML metacharacters escaped."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", text)


def _fix_markdown(text: str) -> str:
    """A fix with its backticked commands kept as code and everything between them escaped.

    Fixes are gpucheck's own text (the catalogue's, advice's or doctor's), written with commands in backticks.
    """
    parts = re.split(r"(`[^`\n]{1,2000}`)", text)
    return "".join(part if part.startswith("`") and part.endswith("`") else _plain(part) for part in parts)


def _cell(text: str) -> str:
    """A table cell: pipes escaped (GitHub tables split on them even inside code spans)."""
    return text.replace("|", "\\|")


def render_markdown(explanation: Explanation) -> str:
    """A Markdown report to paste back into the issue."""
    out = ["### gpucheck explain", "", f"**{_plain(headline(explanation))}**", ""]
    for rank, cause in enumerate(explanation.causes, start=1):
        verdict = (
            f" — {VERDICT_LABEL[cause.verdict].lower()} on the reporter's machine"
            if (cause.verdict is not Verdict.NOT_CHECKED)
            else ""
        )
        out.append(
            f"{rank}. **{_plain(cause.cause.title)}** ({_code(cause.cause.id)}, score "
            f"{cause.score:.2f}){verdict}"
        )
        for reason in cause.reasons[:4]:
            out.append(f"   - because {_code(reason)}")
        out.append(f"   - fix: {_fix_markdown(cause.fix)}")
    if explanation.facts:
        out += ["", "| line | fact | value | from |", "|---:|---|---|---|"]
        for fact in explanation.facts[:30]:
            out.append(
                f"| {fact.line} | {_plain(FACT_NAMES.get(fact.name, fact.name))} | "
                f"{_cell(_code(fact.value))} | {_cell(_plain(fact.source))} |"
            )
    if explanation.hits:
        out += ["", "Recognised:"]
        out += [f"- line {h.line}: {_code(h.signature.id)} — {_code(h.text)}" for h in explanation.hits]
    if explanation.status is Status.UNEXPLAINED and explanation.unrecognised:
        out += ["", "Failure lines no signature covers:"]
        out += [f"- line {n}: {_code(t)}" for n, t in explanation.unrecognised]
    decide = decide_command(explanation)
    if explanation.host_note:
        out += ["", _plain(explanation.host_note)]
    if explanation.mode == "offline" and decide:
        out += ["", f"To decide between these causes, run {_code(decide)} on the affected machine."]
    return "\n".join(out) + "\n"
