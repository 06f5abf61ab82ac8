"""The state schema of each backend, as an ordered list of migrations.

Migration N brings a store from version N-1 to N; ``schema_migrations`` holds one row per
migration applied. A migration, once released, never changes: a new column or table is a new
migration appended to both lists, so every store, whichever version wrote it, reaches the same
schema. Both lists always have the same length (the same version means the same tables).

SQLite's first migration adopts a ``state.db`` from before migrations existed: every
statement is ``IF NOT EXISTS``, and the columns earlier versions lacked are added
(:data:`SQLITE_COLUMNS`), so its history stays. PostgreSQL's starts from nothing, in the
store's own schema: epoch times are DOUBLE PRECISION, counts BIGINT, and a DLQ payload is
BYTEA, or TEXT in ``payload_text`` when it was text (a row from a database, a failed task).
"""

from __future__ import annotations

SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    duration_s REAL,
    rows_loaded INTEGER DEFAULT 0,
    rows_rejected INTEGER DEFAULT 0,
    target TEXT,
    error TEXT,
    result_json TEXT,
    spec_json TEXT,
    spec_hash TEXT,
    pid INTEGER,
    host TEXT,
    attempts INTEGER DEFAULT 1
);
CREATE INDEX IF NOT EXISTS runs_pipeline ON runs (pipeline, started_at);
CREATE TABLE IF NOT EXISTS dlq (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,          -- 'row' (quarantined row) or 'task' (failed task)
    table_name TEXT,
    source_file TEXT,
    line INTEGER,
    reason TEXT NOT NULL,
    payload BLOB,                -- the row's bytes as read (text in older DBs), or the task
    context TEXT,                -- JSON: what replay needs to read the payload again
    status TEXT NOT NULL DEFAULT 'open',   -- open | replayed
    attempts INTEGER NOT NULL DEFAULT 0,
    replay_run_id TEXT,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dlq_identity
    ON dlq (run_id, kind, table_name, ifnull(source_file, ''), ifnull(line, -1));
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    resource TEXT NOT NULL,       -- '<source or target display>#<table>': the history key
    table_name TEXT NOT NULL,
    run_id TEXT,                  -- the run whose staged rows were profiled, if any
    taken_at REAL NOT NULL,
    depth TEXT NOT NULL,
    score REAL,                   -- the total, 0..100
    profile_json TEXT NOT NULL,
    score_json TEXT,
    anomalies_json TEXT
);
CREATE INDEX IF NOT EXISTS profiles_resource ON profiles (resource, taken_at);
CREATE INDEX IF NOT EXISTS profiles_run ON profiles (run_id);
CREATE TABLE IF NOT EXISTS check_results (
    run_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,         -- passed | warned | quarantined | failed
    result_json TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (run_id, table_name, name)
);
CREATE TABLE IF NOT EXISTS checked_tables (
    run_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,    -- of the staged rows the check task judged
    passed INTEGER NOT NULL,      -- 1: every fail check passed
    recorded_at REAL NOT NULL,
    PRIMARY KEY (run_id, table_name)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,           -- select | route | memory
    subject TEXT NOT NULL,        -- what was decided about: a need ('extract:files/csv'), a table
    choice TEXT NOT NULL,         -- the agent chosen, the route taken, the memory used
    score REAL,
    reasons_json TEXT NOT NULL,   -- why, in words
    detail_json TEXT NOT NULL,    -- the candidates and their scores, row counts…
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_run ON audit (run_id, id);
CREATE TABLE IF NOT EXISTS agent_stats (
    agent TEXT NOT NULL,
    action TEXT NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, action)
);
CREATE TABLE IF NOT EXISTS memory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,              -- source | run
    fingerprint TEXT NOT NULL,       -- the source: its schema hash and URI without secrets
    schema_hash TEXT NOT NULL,
    uri TEXT NOT NULL,               -- without secrets
    run_id TEXT,
    pipeline TEXT,
    spec_hash TEXT,
    status TEXT,                     -- a run's: success | failed | interrupted
    failure TEXT,                    -- timeout | out_of_memory | bad_input | transient | fatal
    duration_s REAL,
    rows INTEGER,
    rows_per_s REAL,
    settings_json TEXT NOT NULL DEFAULT '{}',
    data_json TEXT NOT NULL DEFAULT '{}',  -- the schema, the plan, the error
    text TEXT NOT NULL,              -- what substring and vector search read
    embedded INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_fingerprint ON memory (fingerprint, kind);
CREATE INDEX IF NOT EXISTS memory_schema ON memory (schema_hash, kind);
CREATE INDEX IF NOT EXISTS memory_pending ON memory (embedded) WHERE embedded = 0;
CREATE UNIQUE INDEX IF NOT EXISTS memory_one_source ON memory (fingerprint) WHERE kind = 'source';
"""

# Columns that state databases of earlier versions lack: SQLite's first migration adds them.
SQLITE_COLUMNS = {
    "runs": {
        "spec_json": "TEXT",
        "spec_hash": "TEXT",
        "pid": "INTEGER",
        "host": "TEXT",
        "attempts": "INTEGER DEFAULT 1",
    },
    "dlq": {
        "context": "TEXT",
        "status": "TEXT NOT NULL DEFAULT 'open'",
        "attempts": "INTEGER NOT NULL DEFAULT 0",
        "replay_run_id": "TEXT",
    },
}

POSTGRES_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    duration_s DOUBLE PRECISION,
    rows_loaded BIGINT DEFAULT 0,
    rows_rejected BIGINT DEFAULT 0,
    target TEXT,
    error TEXT,
    result_json TEXT,
    spec_json TEXT,
    spec_hash TEXT,
    pid BIGINT,
    host TEXT,
    attempts BIGINT DEFAULT 1
);
CREATE INDEX runs_pipeline ON runs (pipeline, started_at);
CREATE TABLE dlq (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    table_name TEXT,
    source_file TEXT,
    line BIGINT,
    reason TEXT NOT NULL,
    payload BYTEA,
    payload_text TEXT,
    context TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    attempts BIGINT NOT NULL DEFAULT 0,
    replay_run_id TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX dlq_identity
    ON dlq (run_id, kind, table_name, coalesce(source_file, ''), coalesce(line, -1));
CREATE TABLE profiles (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    resource TEXT NOT NULL,
    table_name TEXT NOT NULL,
    run_id TEXT,
    taken_at DOUBLE PRECISION NOT NULL,
    depth TEXT NOT NULL,
    score DOUBLE PRECISION,
    profile_json TEXT NOT NULL,
    score_json TEXT,
    anomalies_json TEXT
);
CREATE INDEX profiles_resource ON profiles (resource, taken_at);
CREATE INDEX profiles_run ON profiles (run_id);
CREATE TABLE check_results (
    run_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    result_json TEXT NOT NULL,
    recorded_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, table_name, name)
);
CREATE TABLE checked_tables (
    run_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    passed INTEGER NOT NULL,
    recorded_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, table_name)
);
CREATE TABLE audit (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL,
    task_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    choice TEXT NOT NULL,
    score DOUBLE PRECISION,
    reasons_json TEXT NOT NULL,
    detail_json TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX audit_run ON audit (run_id, id);
CREATE TABLE agent_stats (
    agent TEXT NOT NULL,
    action TEXT NOT NULL,
    calls BIGINT NOT NULL DEFAULT 0,
    successes BIGINT NOT NULL DEFAULT 0,
    rows BIGINT NOT NULL DEFAULT 0,
    seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, action)
);
CREATE TABLE memory (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    schema_hash TEXT NOT NULL,
    uri TEXT NOT NULL,
    run_id TEXT,
    pipeline TEXT,
    spec_hash TEXT,
    status TEXT,
    failure TEXT,
    duration_s DOUBLE PRECISION,
    rows BIGINT,
    rows_per_s DOUBLE PRECISION,
    settings_json TEXT NOT NULL DEFAULT '{}',
    data_json TEXT NOT NULL DEFAULT '{}',
    text TEXT NOT NULL,
    embedded INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX memory_fingerprint ON memory (fingerprint, kind);
CREATE INDEX memory_schema ON memory (schema_hash, kind);
CREATE INDEX memory_pending ON memory (embedded) WHERE embedded = 0;
CREATE UNIQUE INDEX memory_one_source ON memory (fingerprint) WHERE kind = 'source';
"""

# One profile per run and resource: two attempts of a check task racing on PostgreSQL had
# doubled it. A store that has duplicates keeps the newest of each. IF NOT EXISTS: SQLite runs
# every migration again on a state.db whose version table is gone, as it runs the first.
PROFILES_ONE_PER_RUN = """
DELETE FROM profiles WHERE run_id IS NOT NULL AND id NOT IN
    (SELECT max(id) FROM profiles WHERE run_id IS NOT NULL GROUP BY run_id, resource);
CREATE UNIQUE INDEX IF NOT EXISTS profiles_run_resource ON profiles (run_id, resource)
    WHERE run_id IS NOT NULL;
"""

# Index i holds migration i + 1. Append only, to both.
SQLITE: tuple[str, ...] = (SQLITE_V1, PROFILES_ONE_PER_RUN)
POSTGRES: tuple[str, ...] = (POSTGRES_V1, PROFILES_ONE_PER_RUN)
LATEST = len(SQLITE)
assert len(POSTGRES) == LATEST, "every migration is written for both backends"

VERSION_TABLE = "schema_migrations"
VERSION_DDL = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER PRIMARY KEY, "
    "applied_at DOUBLE PRECISION NOT NULL, aoetl TEXT NOT NULL)"
)


def statements(script: str) -> list[str]:
    """A script's statements, one by one: ``executescript`` would commit the transaction a
    migration runs in, and psycopg runs one statement per call with parameters."""
    found, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line.split("--", 1)[0].rstrip() + "\n"
        if current.rstrip().endswith(";"):
            found.append(current.strip().rstrip(";"))
            current = ""
    if current.strip():
        found.append(current.strip())
    return found


def too_new(found: int, where: str) -> str:
    """The message for a store a newer aoetl migrated."""
    return (
        f"the state store {where} has schema version {found}, newer than this aoetl knows "
        f"({LATEST}): a newer aoetl wrote it; upgrade aoetl "
        "(pip install -U agent-orchestrated-etl) on this machine"
    )


def aoetl_version() -> str:
    """The aoetl that applied a migration, for whoever reads the version table later."""
    from importlib import metadata

    try:
        return metadata.version("agent-orchestrated-etl")
    except metadata.PackageNotFoundError:
        return "unknown"
