"""The anchors sink: after a run's records are appended, write the chain head under S3 object lock
(agent.records.anchors), and keep every head not yet written in STATE_DIR/anchors-pending.json so
the next run retries it. Anchoring never blocks recording: the records are committed before it
starts, and whatever goes wrong here is a warning.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from agent import atomic
from agent.clock import now
from agent.config_model import Config
from agent.errors import TargetUnavailable
from agent.records.anchors import AgentHead, write_anchor

log = logging.getLogger(__name__)
PENDING_FILE = "anchors-pending.json"


def agent_name(config: Config) -> str:
    """The name the agent's chain is anchored under: agent.name once it exists, else agent.host."""
    return getattr(config.agent, "name", None) or config.agent.host


def pending_path(config: Config) -> Path:
    return config.agent.state_dir / PENDING_FILE


def read_pending(path: Path) -> list[AgentHead]:
    """The heads waiting to be anchored, oldest first. A file that does not parse is reported and
    read as empty: the heads it held are still in the store, and the next anchor vouches for them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [AgentHead.from_json(entry) for entry in data["heads"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("%s is unreadable (%s); the heads it held are not retried, the next anchor covers them", path,
                    error)
        return []


def write_pending(path: Path, heads: list[AgentHead]) -> None:
    """Replace the pending file atomically (removed when nothing is pending). Raise OSError."""
    if not heads:
        path.unlink(missing_ok=True)
        return
    text = json.dumps({"heads": [h.to_json() for h in heads]}, indent=1, sort_keys=True) + "\n"
    atomic.replace_file(path, text.encode("utf-8"))


def anchor_head(config: Config, number: int | None, digest: str | None) -> str | None:
    """Given the chain head just appended (record number / seq and hash), anchor it and every head
    still pending, oldest first. Return a warning when any is left pending, else None. Never raises
    for want of an anchor: the records are already committed."""
    settings = config.records.anchor
    if settings is None or number is None or not digest:
        return None
    try:
        return _anchor(config, AgentHead(agent_name(config), number, digest, now()))
    except Exception as error:  # noqa: BLE001 - an anchor never turns a recorded run into a failed one
        log.exception("anchoring the chain head failed")
        return f"chain head #{number} not anchored (records.anchor): {type(error).__name__}; retried next run"


def _anchor(config: Config, head: AgentHead) -> str | None:
    from agent.targets.s3 import bucket_client

    settings = config.records.anchor
    assert settings is not None
    path = pending_path(config)
    pending = read_pending(path)
    pending += [head] if (head.agent, head.seq, head.hash) not in {(h.agent, h.seq, h.hash) for h in pending} else []
    note = ""
    try:
        write_pending(path, pending)  # first: a run killed while writing keeps the head pending
    except OSError as error:
        note = f"; {path} could not be written either ({error.strerror or error}), so it is not retried"
    client = bucket_client(config.targets[settings.target])
    written: list[AgentHead] = []
    failure: TargetUnavailable | None = None
    try:
        for waiting in pending:
            try:
                # Retention runs in real time, whatever clock BACKUP_AGENT_NOW pins for the records.
                version = write_anchor(client, settings, waiting, datetime.now(UTC))
            except TargetUnavailable as error:
                failure = error
                break
            written.append(waiting)
            log.info("chain head %s #%d anchored in %s (version %s)", waiting.agent, waiting.seq,
                     client.bucket.where, version)
    finally:
        client.close()
    remaining = [h for h in pending if h not in written]
    try:
        write_pending(path, remaining)
    except OSError as error:
        note = note or f"; {path} could not be updated ({error.strerror or error})"
    if failure is None:
        return f"chain heads anchored, but {note[2:]}" if note else None
    return (f"chain head {head.agent} #{head.seq} not anchored (records.anchor.target {settings.target}): {failure}; "
            f"{len(remaining)} head(s) stay pending in {path} and are retried next run{note}")
