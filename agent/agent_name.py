"""An agent's name: who wrote a record, whose hash chain it belongs to, the `agent` metric label.

`agent.name` in targets.yaml, by default the host name (`agent.host`, else this machine's),
lower-cased and with every character outside letters, digits, `-`, `_` and `.` made `-`.
"""

from __future__ import annotations

import re
import socket

PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
MAX_LENGTH = 64


def is_agent_name(text: str) -> bool:
    return PATTERN.fullmatch(text) is not None


def agent_name_from(host: str | None = None) -> str:
    """Given a host name (default: this machine's), return it as an agent name."""
    text = re.sub(r"[^a-z0-9_.-]", "-", (host or socket.gethostname()).strip().lower())
    text = text.lstrip("-_.")[:MAX_LENGTH]
    return text or "agent"
