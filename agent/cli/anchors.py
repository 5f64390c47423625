"""`records verify --anchors`: list the chain heads anchored under S3 object lock and check that the
store still holds every anchored record with the anchored hash and reaches the newest one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import click

from agent.clock import iso
from agent.config import Config
from agent.records.anchoring import agent_name, pending_path, read_pending


@dataclass(frozen=True)
class StoreView:
    """What the anchors are checked against: the agents a store holds, each one's hash by sequence
    number (None: not there) and newest sequence number (0: none)."""

    agents: tuple[str, ...]
    lookup: Callable[[str, int], str | None]
    last_seq: Callable[[str], int]


def store_view(config: Config, store) -> StoreView:
    """The agents a store holds (and always this one: an emptied store must still answer for its
    anchors), each one's hash by sequence number and newest number. None: no store file."""
    me = agent_name(config)
    agents = tuple(sorted({me, *(store.agents() if store is not None else ())}))
    heads = {agent: store.head(agent) for agent in agents} if store is not None else {}

    def lookup(agent: str, seq: int) -> str | None:
        return store.hash_at(agent, seq) if store is not None else None

    def last_seq(agent: str) -> int:
        head = heads.get(agent)
        return head.seq if head is not None else 0

    return StoreView(agents, lookup, last_seq)


def verify_anchors(config: Config, view: StoreView) -> bool:
    """Print every anchor of the view's agents and what disagrees with the store; return whether
    nothing does. Raise TargetUnavailable when the anchors cannot be read (no verdict)."""
    from agent.records.anchors import check_anchors, group, list_anchors, unanchored_tail
    from agent.targets.s3 import bucket_client

    settings = config.records.anchor
    assert settings is not None
    client = bucket_client(config.targets[settings.target])
    try:
        stored = list_anchors(client, settings, view.agents)
    finally:
        client.close()
    click.echo(f"anchors in {client.bucket.where} under {settings.prefix} (records.anchor.target "
               f"{settings.target}): {len(stored)}")
    for anchor in stored:
        held = f"{anchor.mode} until {iso(anchor.retain_until)}" if anchor.mode else "NOT LOCKED (no retention)"
        what = (f"{anchor.head.agent} #{anchor.head.seq} sha256 {anchor.head.hash[:16]}… {iso(anchor.head.time)}"
                if anchor.head else "not an anchor")
        click.echo(f"  {what}  {held}  {anchor.key} (version {anchor.version_id})")
    heads = group(a.head for a in stored if a.head is not None)
    problems = [f"{a.key} (version {a.version_id}) is not an anchor: {a.problem}" for a in stored if a.problem]
    problems += [str(p) for p in check_anchors(heads, view.lookup, view.last_seq)]
    for agent in view.agents:
        note = unanchored_tail(heads, agent, view.last_seq(agent))
        if note:
            click.echo(f"note: {note}")
    waiting = [h for h in read_pending(pending_path(config)) if h.agent in view.agents]
    if waiting:
        click.echo(f"note: {len(waiting)} head(s) wait in {pending_path(config)} to be anchored by the next run: "
                   + ", ".join(f"{h.agent} #{h.seq}" for h in waiting))
    for problem in problems:
        click.echo(f"anchors BROKEN: {problem}", err=True)
    if not problems:
        newest = {agent: heads[agent][-1].seq for agent in view.agents if agent in heads}
        click.echo("anchors agree: " + ("; ".join(f"{agent} holds every anchored record up to #{seq}"
                                                  for agent, seq in newest.items()) or "no anchors yet"))
    return not problems
