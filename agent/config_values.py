"""The first look at a parsed targets.yaml: values no setting can honour, wherever they stand.

Before the schema sees a document, every key and value is walked once (iteratively, so a deep
document cannot exhaust the stack) and refused when it is:
- a key that is not a string (YAML reads `yes:` as True, `1:` as 1, `2024-01-01:` as a date);
- a string with a control character (NUL, ESC, a newline in a name or path) or a lone surrogate:
  a path with NUL cannot be opened, a newline forges lines in logs and records, and a surrogate
  cannot be written to the records store; only `description` and a process `name` may hold a
  tab or a newline;
- a string longer than MAX_STRING (PATH_MAX: no path, name or command is longer);
- a number that is not finite (.nan, .inf) or an integer beyond 64 bits (the records store and
  every count are 64-bit; Python cannot even print an integer of more than 4300 digits);
- nested deeper than MAX_DEPTH.
The schema and the cross-field rules then say what each setting accepts (bounds, names, units).
"""

from __future__ import annotations

import math
import re
from typing import Any

from agent.units import short_repr

MAX_DEPTH = 32  # the deepest real key is datasets.NAME.copies[i].snapshot_filter.tags[j], depth 7
MAX_STRING = 4096
MAX_INTEGER = 2**63 - 1
# Free text may span lines; names, paths and commands may not.
FREE_TEXT_KEYS = {"description", "name"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_FREE_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def key_path(parts) -> str:
    """Return the dotted key path of parts (`datasets.x.copies[2].path`); odd names are quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and part and part.isprintable() and "." not in part and "[" not in part:
            text += f".{part}" if text else part
        else:
            text += f"[{short_repr(part)}]"
    return text or "(top level)"


def poisoned_values(document: Any) -> list[str]:
    """Given a parsed document, return one problem (key path and fix) per value nothing can honour."""
    problems: list[str] = []
    stack: list[tuple[Any, tuple]] = [(document, ())]
    while stack:
        node, parts = stack.pop()
        if len(parts) > MAX_DEPTH:
            problems.append(f"{key_path(parts)}: nested deeper than {MAX_DEPTH} levels; "
                            "targets.yaml is never that deep, check the brackets and indentation")
            continue
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    problems.append(f"{key_path([*parts, key])}: a key must be a name, but YAML read "
                                    f"{short_repr(key)} as {type(key).__name__}; quote it")
                    continue
                problem = _string_problem(key, free_text=False)
                if problem:
                    problems.append(f"{key_path(parts)}: key {short_repr(key)} {problem}")
                    continue
                stack.append((value, (*parts, key)))
        elif isinstance(node, list | tuple):
            stack.extend((item, (*parts, index)) for index, item in enumerate(node))
        else:
            problem = _scalar_problem(node, free_text=bool(parts) and parts[-1] in FREE_TEXT_KEYS)
            if problem:
                problems.append(f"{key_path(parts)}: {problem}")
    return problems


def _scalar_problem(value: Any, free_text: bool) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        return f"{short_repr(value)} is too large to honour; no setting takes a number beyond 2**63"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{short_repr(value)} is not a finite number; write a value the agent can honour"
    if isinstance(value, str):
        problem = _string_problem(value, free_text)
        return f"{short_repr(value)} {problem}" if problem else None
    return None


def _string_problem(text: str, free_text: bool) -> str | None:
    if len(text) > MAX_STRING:
        return f"is {len(text)} characters long; at most {MAX_STRING} are accepted"
    surrogate = _SURROGATE.search(text)
    if surrogate:
        return f"contains a lone surrogate (U+{ord(surrogate.group()):04X}), which no file or record can hold"
    control = (_FREE_TEXT_CONTROL if free_text else _CONTROL).search(text)
    if control:
        return (f"contains the control character U+{ord(control.group()):04X}; "
                "names, paths and commands cannot hold control characters")
    return None
