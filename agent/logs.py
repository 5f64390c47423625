"""Where the agent's log lines go, and in what shape: plain text on a terminal, syslog priority
prefixes under systemd (journald reads `<3>` as priority err, so `journalctl -p warning` works),
one JSON object per line with --log-json for log collectors. Secrets never reach a log line:
commands are described with agent.execute.describe, which masks them, before they are logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

# syslog(3) priorities, as journald's SyslogLevelPrefix= reads them.
JOURNAL_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def level_for(verbose: int, quiet: int) -> int:
    """-q: errors only; default: warnings; -v: info; -vv: debug."""
    return min(logging.CRITICAL, max(logging.DEBUG, logging.WARNING - 10 * verbose + 10 * quiet))


def under_journald() -> bool:
    """True when stderr is connected to the journal (systemd sets JOURNAL_STREAM to its device:inode)."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if not stream or ":" not in stream:
        return False
    try:
        status = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    device, _, inode = stream.partition(":")
    return f"{status.st_dev}:{status.st_ino}" == f"{device}:{inode}"


class JournalFormatter(logging.Formatter):
    """`<4>backup-agent.run: message`: the priority prefix journald turns into the entry's priority."""

    def format(self, record: logging.LogRecord) -> str:
        priority = JOURNAL_PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        # Every line of a multi-line message keeps the priority (journald splits on newlines).
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the record, so that while progress lines are
    drawn (agent.progress, which redirects stderr) a log line scrolls above them instead of through."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(verbose: int = 0, quiet: int = 0, json_lines: bool = False) -> None:
    """Send the agent's log records to stderr in the shape the place they land expects."""
    handler = CurrentStderrHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    elif under_journald():
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_for(verbose, quiet))
