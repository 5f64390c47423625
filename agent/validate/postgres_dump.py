"""postgres-dump: restore a pg_dump into a throwaway PostgreSQL cluster (agent.validate.pg_cluster)
and run the dataset's queries against it.

Formats, told by the file's first bytes: custom (`PGDMP`) and tar, restored with `pg_restore
--no-owner --no-privileges`; plain SQL (also gzip-compressed), run by `psql` after `\\restrict`,
so backslash commands in the dump (`\\!` would run a shell) are refused — the dump's own
`\\restrict`/`\\unrestrict` lines and statements about roles that exist only on the source server
(OWNER TO, GRANT) fail harmlessly and are not counted. A plain dump is restored into one
database: its `\\connect` lines are not followed. Directory-format dumps are not supported.

fail: the restore reported errors (a dump cut short by a killed pg_dump), or a query failed or
returned nothing, false, 0 or not its expected value — each named. error: PostgreSQL missing
or too old for the dump, the server could not start, the time ran out.
"""

from __future__ import annotations

import csv
import gzip
import re
import secrets
import zlib
from pathlib import Path

from agent.errors import CommandFailed
from agent.models import Status
from agent.units import format_size
from agent.validate.model import Query, ValidatorSpec, Verdict, judge
from agent.validate.pg_cluster import DATABASE, RESTORER, Cluster, Deadline, find_tools
from agent.validate.sandbox import CannotRun, Identity

ID = "postgres-dump"
CHUNK = 1 << 20
# psql errors a plain dump causes here by design: our \restrict refusing the dump's own, and
# ownership or privileges naming roles of the source server (pg_restore --no-owner --no-privileges).
IGNORED_PLAIN_ERRORS = (
    re.compile(r"backslash commands are restricted"),
    re.compile(r"\\unrestrict: wrong key"),
    re.compile(r'ERROR:\s+role ".*" does not exist'),
    re.compile(r"ERROR:\s+must be member of role"),
    re.compile(r"ERROR:\s+must be owner of (extension|schema) (plpgsql|public)"),
)
_NO_RESTRICT = re.compile(r"invalid command \\restrict")


def dump_format(path: Path) -> str:
    """custom, tar, gzip (gzip-compressed plain SQL), directory or plain, from the first bytes."""
    if path.is_dir():
        return "directory"
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PGDMP"):
        return "custom"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return "plain"


def validate(spec: ValidatorSpec, dump: Path, work: Path, who: Identity, deadline: Deadline,
             bin_dir: str | None = None) -> Verdict:
    """Restore `dump` into a cluster under `work` (a directory of `who`'s) and run the queries.
    Raise CannotRun or CommandTimeout (the caller makes them an error)."""
    tools = find_tools(bin_dir)
    form = dump_format(dump)
    if form == "directory":
        raise CannotRun("directory-format dumps are not supported; dump with -Fc (custom) or plain")
    with Cluster(tools, work, who, deadline) as cluster:
        problems = _restore(cluster, dump, form, work)
        failed = [f"query {n} `{q.sql}` {why}" for n, q in enumerate(spec.queries, 1)
                  if (why := _query(cluster, q)) is not None]
    measured = {"format": form, "dump_bytes": dump.stat().st_size, "queries": len(spec.queries),
                "queries_failed": len(failed), "restore_errors": len(problems)}
    what = f"{dump.name} ({form} format, {format_size(dump.stat().st_size)})"
    if problems or failed:
        found = ([f"the restore reported {len(problems)} error(s): {'; '.join(problems[:3])}"] if problems else [])
        return Verdict(spec.label, Status.FAIL, "; ".join(found + failed) + f" — {what}", measured)
    asked = f"{len(spec.queries)} queries passed" if spec.queries else "no queries given"
    return Verdict(spec.label, Status.PASS, f"restored {what} into a throwaway PostgreSQL; {asked}", measured)


def _restore(cluster: Cluster, dump: Path, form: str, work: Path) -> list[str]:
    """Restore the dump; return the errors it reported (empty when none)."""
    if form in ("custom", "tar"):
        done = cluster.run("pg_restore", *cluster.connection(RESTORER), "--no-owner", "--no-privileges",
                           stdin=dump, check=False)
        lines = [line for line in done.stderr.splitlines() if "error:" in line or "ERROR:" in line]
        if "unsupported version" in done.stderr:
            raise CannotRun(f"pg_restore is too old for this dump: {lines[0] if lines else done.stderr.strip()}")
        if done.returncode != 0 and not lines:
            lines = [done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"]
        return [_strip_prefix(line) for line in lines]
    source, damaged = _gunzip(dump, work, cluster.deadline) if form == "gzip" else (dump, None)
    key = secrets.token_hex(16)
    done = cluster.run("psql", "-X", "-q", *cluster.connection(RESTORER), "-o", "/dev/null",
                       "-c", f"\\restrict {key}", "-f", "-", stdin=source, check=False)
    if _NO_RESTRICT.search(done.stderr):
        raise CannotRun("this psql has no \\restrict (PostgreSQL 15.14, 16.10, 17.6 or newer), so a plain dump's "
                        "backslash commands could run a shell; update the client or dump with -Fc")
    errors = [line for line in done.stderr.splitlines() if ("ERROR:" in line or "error:" in line)
              and not any(p.search(line) for p in IGNORED_PLAIN_ERRORS)]
    if done.returncode != 0 and not errors:
        errors = [f"psql exit {done.returncode}"]
    return [_strip_prefix(line) for line in errors] + ([damaged] if damaged else [])


def _gunzip(dump: Path, work: Path, deadline: Deadline) -> tuple[Path, str | None]:
    """Decompress a gzip-compressed plain dump next to the cluster (psql reads it through its
    stdin); a damaged stream is a finding, and what came out before it is restored all the same."""
    target = work / "dump.sql"
    with open(target, "wb") as sink:
        try:
            with gzip.open(dump, "rb") as source:
                while chunk := source.read(CHUNK):
                    deadline.left()
                    sink.write(chunk)
        except (OSError, EOFError, zlib.error) as error:
            return target, f"the gzip stream is damaged: {error}"
    return target, None


def _query(cluster: Cluster, query: Query) -> str | None:
    """Run one query as the restoring role; return why it fails, or None."""
    null = f"NULL-{secrets.token_hex(4)}"
    try:
        done = cluster.run("psql", "-X", "-q", *cluster.connection(RESTORER, DATABASE), "--csv", "-t",
                           "-P", f"null={null}", "-v", "ON_ERROR_STOP=1", "-c", query.sql)
    except CommandFailed as error:
        lines = [line for line in (error.stderr or "").splitlines() if line.strip()]
        return f"failed: {_strip_prefix(lines[0]) if lines else error}"
    rows = list(csv.reader(done.stdout.splitlines()))
    rows = [row for row in rows if row]
    first = None if not rows or rows[0][0] == null else rows[0][0]
    return judge(query, first, len(rows))


def _strip_prefix(line: str) -> str:
    return re.sub(r"^(pg_restore|psql):\s*(<stdin>:\d+:\s*)?", "", line.strip())
