"""The shared records store's URL (agent.records_db as postgresql://…): recognising it, refusing one
that carries a password, and naming it in messages. Apart from agent.records so the configuration
can use it without loading the store."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

SCHEMES = ("postgresql", "postgres")


def is_shared_url(value: str | None) -> bool:
    return bool(value) and urlsplit(str(value)).scheme in SCHEMES


def url_problem(url: str) -> str | None:
    """Given a records_db URL, say what is wrong with it (a password in it, above all), or None."""
    try:
        parts = urlsplit(url)
        password = parts.password
        query = dict(parse_qsl(parts.query))
    except ValueError as error:
        return f"not a valid postgresql:// URL ({error})"
    if parts.scheme not in SCHEMES:
        return f"expected postgresql://USER@HOST:PORT/DATABASE, got scheme {parts.scheme!r}"
    if password is not None or "password" in query:
        return ("the URL carries a password: take it out, and give it in agent.records_password_file, "
                "libpq's ~/.pgpass (PGPASSFILE) or PGPASSWORD — never in targets.yaml")
    return None


def display_url(url: str) -> str:
    """The URL as messages and the outbox name it: user, host, port and database (never a password)."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"
