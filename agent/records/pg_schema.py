"""The shared PostgreSQL records store's schema: versions, creating it, and the agents' GRANTs.

Version 2 (the same number as the local store's: the record format of named agents): the table
`records`, keyed by (agent, seq), with `record_no` a display number the server assigns and
`delivered_at` the time it received the record (neither is hashed); triggers that refuse UPDATE,
DELETE and TRUNCATE for every role, the owner included, and one that refuses an insert which
would not continue its agent's chain (a gap, or a link to a hash the previous record does not
have); `schema_version`. `records_time()` reads the records' ISO 8601 text as a time, so a time
filter compares times and uses an index.
"""

from __future__ import annotations

from agent.records.fields import COLUMNS, GENESIS, INTEGER_COLUMNS, REAL_COLUMNS

SCHEMA_VERSION = 2


def _type(column: str) -> str:
    """The column's type: the one that hands back the Python type the agent hashed (fields.normalize)."""
    if column == "chain":
        return "integer NOT NULL CHECK (chain > 0)"
    if column in INTEGER_COLUMNS:
        return "bigint"
    if column in REAL_COLUMNS:
        return "double precision"
    return "text"


_RECORD_COLUMNS = ",\n    ".join(
    f"{c} {_type(c)}" + (" NOT NULL" if c in ("agent", "prev_hash", "hash") else "")
    + (" CHECK (seq > 0)" if c == "seq" else "")
    for c in COLUMNS if c != "record_no")

SCHEMA_2 = f"""
CREATE TABLE schema_version (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    agent_version text
);

CREATE FUNCTION records_time(value text) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET TimeZone = 'UTC' AS $$
BEGIN
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE TABLE records (
    record_no bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    {_RECORD_COLUMNS},
    delivered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent, seq)
);
CREATE INDEX records_time ON records (records_time(recorded_at));
CREATE INDEX records_run ON records (run_id);

CREATE FUNCTION records_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'QEF-19-05 records are append-only (kept 5 years): % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER records_no_update BEFORE UPDATE ON records FOR EACH ROW EXECUTE FUNCTION records_refuse_change();
CREATE TRIGGER records_no_delete BEFORE DELETE ON records FOR EACH ROW EXECUTE FUNCTION records_refuse_change();
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
    FOR EACH STATEMENT EXECUTE FUNCTION records_refuse_change();

CREATE FUNCTION records_continue_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous text;
BEGIN
    IF NEW.seq = 1 THEN
        previous := '{GENESIS}';
    ELSE
        SELECT hash INTO previous FROM records WHERE agent = NEW.agent AND seq = NEW.seq - 1;
        IF previous IS NULL THEN
            RAISE EXCEPTION 'record % of agent % would leave a gap: record % is not in the store',
                NEW.seq, NEW.agent, NEW.seq - 1 USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    IF NEW.prev_hash IS DISTINCT FROM previous THEN
        RAISE EXCEPTION 'record % of agent % does not link to record %', NEW.seq, NEW.agent, NEW.seq - 1
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER records_continue_chain BEFORE INSERT ON records
    FOR EACH ROW EXECUTE FUNCTION records_continue_chain();
"""

# What the README tells the database's owner to run for the agents (ROLE and DATABASE filled in).
AGENT_GRANTS = """\
CREATE ROLE {role} NOLOGIN;
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT ON records TO {role};
GRANT SELECT ON schema_version TO {role};
"""
