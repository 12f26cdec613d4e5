"""Text for Graphviz labels: numbers as micrograd prints them, and user labels
escaped so that any string keeps the DOT source valid."""

from __future__ import annotations

import math
import unicodedata

# Inside a record label these split fields ('|', '{', '}') or name ports ('<', '>').
_RECORD_SPECIALS = "{}|<>"


def number(x: float) -> str:
    """micrograd's "%.4f", switching to "%.4e" where it would show 0.0000 or a long row of digits."""
    if x == 0 or not math.isfinite(x) or 1e-3 <= abs(x) < 1e7:
        return f"{x:.4f}"
    return f"{x:.4e}"


def record(fields: list[str]) -> str:
    """A record label showing each field literally, in a row across the rank direction (as micrograd's).

    No space starts a field: Graphviz 2.43 drops the first space after a field's leading
    non-ASCII character when spaces come before it ("{ é b}" shows "éb").
    """
    return "{" + "|".join(escape(field.lstrip(" ")) for field in fields) + "}"


def escape(text: str) -> str:
    """text as a DOT label or record field, shown literally.

    Backslashes are doubled first (Graphviz reads escapes such as \\N and \\l in
    labels), record specials get a backslash, newlines become DOT's "\\n", and other
    control characters are shown as Python escapes. Double quotes are left to the
    graphviz package, which escapes them when it quotes the attribute.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(f"\\x{ord(c):02x}" if c != "\n" and unicodedata.category(c) == "Cc" else c for c in text)
    text = text.replace("\\", "\\\\")
    for special in _RECORD_SPECIALS:
        text = text.replace(special, "\\" + special)
    return text.replace("\n", "\\n")
