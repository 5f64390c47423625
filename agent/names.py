"""File names are bytes. Inside the agent they are str with surrogate escapes (each byte that is
not valid UTF-8 becomes one lone surrogate U+DC80..U+DCFF, as os.fsdecode does), so a name read
from disk, from a remote `find`, or from restic goes back to the same bytes on every command line,
in the hash cache and in restic's --include patterns.

Where a name is shown to a person or written to a record it goes through show(): one printable,
unambiguous form. A byte that is not UTF-8 is `\\xNN`, a backslash `\\\\`, a newline `\\n`, a tab
`\\t`, a carriage return `\\r`, any other control or invisible character `\\xNN` (ASCII) or
`\\uNNNN`; everything printable (spaces, Chinese) stays as it is. So `a\\nb` on screen is the
three-character name a-newline-b, never the name with a literal backslash, which shows as `a\\\\nb`.
"""

from __future__ import annotations

import re

ENCODING = "utf-8"
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def to_bytes(name: str) -> bytes:
    """Return a name's bytes (the inverse of from_bytes), whatever the local locale."""
    return name.encode(ENCODING, "surrogateescape")


def from_bytes(raw: bytes) -> str:
    """Return bytes of a name (from disk, a remote host or restic) as the agent's str form."""
    return raw.decode(ENCODING, "surrogateescape")


def _shown_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # one byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if char.isprintable():
        return char
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def show(name: str) -> str:
    """Given a name (str with surrogate escapes), return its printable, unambiguous display."""
    if name.isprintable() and "\\" not in name:
        return name
    return "".join(_shown_char(char) for char in name)


def scrub(text: str) -> str:
    """Given free text that may carry a name that did not go through show() (an error message from
    a tool, say), return it with every lone surrogate shown as its byte (`\\xNN`), so records, JSON
    and terminals always receive valid UTF-8. Text without surrogates is returned unchanged."""
    if not _LONE_SURROGATE.search(text):
        return text
    return _LONE_SURROGATE.sub(lambda match: _shown_char(match.group()) if 0xDC80 <= ord(match.group()) <= 0xDCFF
                               else f"\\u{ord(match.group()):04x}", text)


def operand(path: str) -> str:
    """Given a path for a command line, return one no tool can read as an option: absolute paths
    as they are, relative ones with `./` in front (`-rf` becomes `./-rf`; GNU tools read a lone
    `-` as standard input even after `--`, `./-` is the file)."""
    return path if path.startswith("/") else "./" + path
