"""Untrusted text (command output, snapshots, node reports, image contents) on its way to a terminal.

Rich reads ``[bold]`` and ``[/x]`` in a ``str`` as markup: text from outside gpucheck must never reach
``console.print`` or a table cell as a plain ``str``. Wrap it with ``plain`` (a ``rich.text.Text``, which is
never parsed) or, inside a markup string gpucheck writes itself, with ``escape``. Both also make C0/C1
control characters visible (ESC is shown as the four characters backslash, x, 1, b), so an escape
sequence in a probe's output cannot recolour, move the cursor in or retitle the user's terminal.
Linear time: one ``str.translate``.
"""

from __future__ import annotations

from rich.markup import escape as _escape_markup
from rich.text import Text

_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if c not in (0x09, 0x0A)}
"""Control characters other than tab and newline, mapped to their visible ``\\xNN`` spelling."""


def visible(text: object) -> str:
    """``str(text)`` with control characters (ESC, CR, BEL ...) replaced by their backslash-x-NN spelling."""
    return str(text).translate(_CONTROLS)


def plain(text: object, style: str = "") -> Text:
    """A rich ``Text`` holding ``text`` literally (no markup, visible control characters)."""
    return Text(visible(text), style=style)


def escape(text: object) -> str:
    """``text`` made safe to embed in a rich markup string that gpucheck itself writes."""
    return _escape_markup(visible(text))
