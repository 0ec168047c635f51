"""The PostgreSQL dialect (schema/pg/) against SQLite's (schema/), on a
real PostgreSQL 15 that the test starts on a unix socket (pg.py).

- schema/pg's migrations apply in order, each cleanly (no error, warning
  or notice), the way the host applies SQLite's; a second run finds
  nothing left to apply.
- The schema has SQLite's shape: the same tables, columns in the same
  order with the mapped types and NOT NULLs, the same named indexes,
  triggers and view; token_counts is kept by the trigger.
- Every named query of schema/queries.sql has a PostgreSQL form in
  schema/pg/queries.sql with the same parameters and the same result
  columns in the same order (tests/c/describe_queries asks each engine),
  and PostgreSQL answers only bigint, text or bytea, as SQLite's
  INTEGER, TEXT and BLOB.
- The same calls get the same answers: a scenario of named queries with
  the same parameters runs on both engines (SQLite through Python's
  sqlite3 on a fresh tessera database, PostgreSQL through PREPARE and
  EXECUTE of the statements describe_queries prepared), on data that
  tells the ways of folding case, matching LIKE, limiting and counting
  apart; rows and rows changed must agree.
- iso_time() and utc_minute() give the same text on both engines: the
  SQLite side from the real host (a tessera lua-test probe).
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import BIN, REPO, Tap, app_env, init_data, scratch  # noqa: E402
from pg import Postgres  # noqa: E402

SCHEMA = os.path.join(REPO, "schema")
PG_SCHEMA = os.path.join(SCHEMA, "pg")
DESCRIBE = os.path.join(REPO, "tests", "c", "describe_queries")

# The one column PostgreSQL has and SQLite has not (SQLite's queries use
# the hidden rowid): schema/pg/001_init.sql.
PG_ONLY_COLUMNS = {("login_failures", "id")}

SQLITE_TYPES = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea",
                "ANY": "text"}
PG_ANSWER_TYPES = {"bigint", "text", "bytea"}

# Unix seconds whose formatting must agree (None: NULL).
TIMES = [0, 1, -1, 59, 60, 3599, 86399, 86400,
         1795821058,        # 2026-11-27T23:10:58Z, the example in db_sqlite.c
         1772323200,        # 2026-03-01, the day after 28 February
         1835481599,        # 2028-02-29T23:59:59Z, a leap day
         951782400,         # 2000-02-29 (a leap year by 400)
         -2203891200,       # 1900-03-01 (no 29 February by 100)
         2147483647, 2147483648, 4102444800,
         -62135596800,      # 0001-01-01
         -62162121600,      # 0000-02-29: year 0 is a leap year
         -62167219200,      # 0000-01-01, the first second shown
         -62167219201,      # before it: NULL
         253402300799,      # 9999-12-31T23:59:59Z, the last
         253402300800,      # after it: NULL
         None]


def migration_files(d):
    """(version, name) of dir's migrations in the host's order: NNN_*.sql
    (fcgi/store/schema_files.c schema_migration_version), sorted by name."""
    names = sorted(n for n in os.listdir(d)
                   if len(n) >= 9 and re.fullmatch(r"\d{3}_.*\.sql", n))
    return [(int(n[:3]), n) for n in names]


def pg_migrate(pg, db, upto=None):
    """What the host will do on PostgreSQL, as fcgi/store/db_sqlite.c migrate() does on
    SQLite: create schema_migrations, then apply each migration not in it
    (up to version upto, if given), with its row, in one transaction.
    Returns [(name, psql's stderr)] of those it applied; raises on a
    failure."""
    pg.psql(db, "SET client_min_messages = warning;\n"
                "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
                "    version bigint PRIMARY KEY, name text NOT NULL,\n"
                "    applied_at bigint NOT NULL);")
    done = {int(v) for v in pg.psql(db, "SELECT version FROM schema_migrations").split()}
    applied = []
    for version, name in migration_files(PG_SCHEMA):
        if version in done or (upto is not None and version > upto):
            continue
        with open(os.path.join(PG_SCHEMA, name)) as f:
            sql = f.read()
        sql += ("\n;\nINSERT INTO schema_migrations (version, name, applied_at)\n"
                "VALUES (%d, '%s', %d);\n" % (version, name, int(time.time())))
        r = pg.run_psql(db, sql, "-1")
        if r.returncode != 0:
            raise RuntimeError("%s: %s" % (name, r.stderr.strip()))
        applied.append((name, r.stderr))
    return applied


def describe(engine, target, queries):
    """{name: description} from describe_queries, and its exit status and
    stderr."""
    r = subprocess.run([DESCRIBE, engine, target, queries], capture_output=True,
                       text=True, timeout=60)
    out, order = {}, []
    for line in r.stdout.splitlines():
        d = json.loads(line)
        order.append(d["name"])
        out[d["name"]] = d
    return out, order, r.returncode, r.stderr


def sqlite_times(work):
    """{t: (iso, minute)} from the real host's iso_time() and utc_minute():
    a copy of schema/ with one extra named query in queries.d, and a Lua
    probe run by `tessera lua-test` on a database made from it."""
    schema = os.path.join(work, "schema")
    os.makedirs(os.path.join(schema, "queries.d"))
    for name in os.listdir(SCHEMA):
        if name.endswith(".sql"):
            shutil.copy(os.path.join(SCHEMA, name), schema)
    with open(os.path.join(schema, "queries.d", "parity.sql"), "w") as f:
        f.write("-- name: parity_times\n"
                "SELECT iso_time(:t) AS iso, utc_minute(:t) AS minute;\n")
    probe = os.path.join(work, "times_probe.lua")
    with open(probe, "w") as f:
        f.write("local function s(v) if v == nil then return 'NULL' end return v end\n"
                "for _, t in ipairs({%s}) do\n"
                "  local r = host.db.row('parity_times', { t = t })\n"
                "  print('time\\t' .. tostring(t) .. '\\t' .. s(r.iso) .. '\\t' .. s(r.minute))\n"
                "end\n"
                "local r = host.db.row('parity_times', { t = host.null })\n"
                "print('time\\tNULL\\t' .. s(r.iso) .. '\\t' .. s(r.minute))\n"
                "return 0\n" % ", ".join(str(t) for t in TIMES if t is not None))
    data = os.path.join(work, "data")
    env = dict(os.environ, **app_env(data), TESSERA_SCHEMA_DIR=schema)
    subprocess.run([BIN, "init", "--data", data], env=env, check=True,
                   capture_output=True, timeout=30)
    r = subprocess.run([BIN, "lua-test", probe], env=env, capture_output=True,
                       text=True, timeout=30)
    got = {}
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if len(f) == 4 and f[0] == "time":
            got[None if f[1] == "NULL" else int(f[1])] = (
                None if f[2] == "NULL" else f[2], None if f[3] == "NULL" else f[3])
    return got, r


def pg_times(pg, db):
    values = ", ".join("(%s::bigint)" % ("NULL" if t is None else t) for t in TIMES)
    out = pg.psql(db, "\\pset null NULL\n"
                      "SELECT t, iso_time(t), utc_minute(t) FROM (VALUES %s) v (t);"
                  % values)
    got = {}
    for line in out.splitlines():
        t, iso, minute = line.split("|")
        got[None if t == "NULL" else int(t)] = (
            None if iso == "NULL" else iso, None if minute == "NULL" else minute)
    return got


def sqlite_shape(path):
    """tables {name: [(column, type, NOT NULL, key, default)]}, views
    {name: [columns]}, named indexes {name: table}, triggers {name: table},
    foreign keys [(table, column, table, column, ON DELETE)]."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        tables, views, indexes, triggers, fks = {}, {}, {}, {}, []
        for kind, name, tbl, sql in con.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"):
            if kind == "table" and not name.startswith("sqlite_"):
                tables[name] = [(c[1], SQLITE_TYPES.get(c[2].upper(), c[2]),
                                 bool(c[3]), bool(c[5]), c[4])
                                for c in con.execute("PRAGMA table_info(%s)" % name)]
                fks += [(name, f[3], f[2], f[4], f[6]) for f in
                        con.execute("PRAGMA foreign_key_list(%s)" % name)]
            elif kind == "view":
                views[name] = [c[1] for c in con.execute("PRAGMA table_info(%s)" % name)]
            elif kind == "index" and sql is not None:
                indexes[name] = tbl
            elif kind == "trigger":
                triggers[name] = tbl
        return tables, views, indexes, triggers, sorted(fks)
    finally:
        con.close()


def pg_shape(pg, db):
    """As sqlite_shape, from PostgreSQL's catalogs (schema public). Indexes
    that back a PRIMARY KEY or UNIQUE constraint are left out, as SQLite's
    automatic ones are."""
    tables, views, indexes, triggers = {}, {}, {}, {}
    rows = pg.psql(db, """
        SELECT c.table_name, t.table_type, c.column_name, c.data_type,
               c.is_nullable, coalesce(c.column_default, 'NULL'),
               EXISTS (SELECT 1 FROM information_schema.table_constraints k
                       JOIN information_schema.key_column_usage u
                         ON u.constraint_name = k.constraint_name
                        AND u.table_name = k.table_name
                       WHERE k.table_schema = 'public'
                         AND k.table_name = c.table_name
                         AND k.constraint_type = 'PRIMARY KEY'
                         AND u.column_name = c.column_name)
        FROM information_schema.columns c
        JOIN information_schema.tables t
          ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = 'public'
        ORDER BY c.table_name, c.ordinal_position;""")
    for line in rows.splitlines():
        table, kind, col, typ, nullable, default, pk = line.split("|")
        # 'member'::text is SQLite's 'member'; no default is NULL.
        default = None if default == "NULL" else re.sub(r"::(text|bigint)$", "", default)
        if kind == "VIEW":
            views.setdefault(table, []).append(col)
        else:
            tables.setdefault(table, []).append((col, typ, nullable == "NO", pk == "t",
                                                 default))
    for line in pg.psql(db, """
            SELECT i.relname, t.relname FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = 'public'
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                              WHERE k.conindid = x.indexrelid);""").splitlines():
        name, table = line.split("|")
        indexes[name] = table
    for line in pg.psql(db, """
            SELECT g.tgname, t.relname FROM pg_trigger g
            JOIN pg_class t ON t.oid = g.tgrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = 'public' AND NOT g.tgisinternal;""").splitlines():
        name, table = line.split("|")
        triggers[name] = table
    on_delete = {"a": "NO ACTION", "c": "CASCADE", "r": "RESTRICT", "n": "SET NULL",
                 "d": "SET DEFAULT"}
    fks = []
    for line in pg.psql(db, """
            SELECT k.conrelid::regclass, a.attname, k.confrelid::regclass,
                   af.attname, k.confdeltype
            FROM pg_constraint k
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
            JOIN pg_attribute af ON af.attrelid = k.confrelid
                                AND af.attnum = k.confkey[1]
            WHERE k.contype = 'f' AND cardinality(k.conkey) = 1;""").splitlines():
        table, col, ref, refcol, deltype = line.split("|")
        fks.append((table, col, ref, refcol, on_delete[deltype]))
    return tables, views, indexes, triggers, sorted(fks)


def check_shape(t, sq, pq):
    s_tables, s_views, s_indexes, s_triggers, s_fks = sq
    p_tables, p_views, p_indexes, p_triggers, p_fks = pq
    t.eq(sorted(p_tables), sorted(s_tables), "the same tables")
    for name in sorted(set(s_tables) & set(p_tables)):
        # SQLite's INTEGER PRIMARY KEY is NOT NULL without saying so.
        want = [(c, typ, nn or pk, pk, df) for c, typ, nn, pk, df in s_tables[name]]
        got = [c for c in p_tables[name] if (name, c[0]) not in PG_ONLY_COLUMNS]
        t.ok(got == want, "%s: the same columns, types, NOT NULLs, key and defaults"
             % name, "(column, type, NOT NULL, key, default) that differ:\npg:     %r\nsqlite: %r"
             % ([c for c in got if c not in want], [c for c in want if c not in got])
             if sorted(got) != sorted(want) else "the order differs:\npg:     %r\nsqlite: %r"
             % ([c[0] for c in got], [c[0] for c in want]))
    for table, col in sorted(PG_ONLY_COLUMNS):
        t.ok(any(c[0] == col for c in p_tables.get(table, [])) and
             not any(c[0] == col for c in s_tables.get(table, [])),
             "%s.%s: in PostgreSQL only (SQLite's rowid)" % (table, col))
    t.eq(p_views, s_views, "the view token_rows with the same columns")
    t.eq(sorted(p_indexes.items()), sorted(s_indexes.items()),
         "the same named indexes on the same tables")
    # PostgreSQL's own: the gate cache's invalidation (schema/pg/002).
    p_triggers = {k: v for k, v in p_triggers.items()
                  if not k.endswith("_auth_notify")}
    t.eq(sorted(p_triggers.items()), sorted(s_triggers.items()),
         "the same triggers on the same tables")
    t.eq(p_fks, s_fks, "the same foreign keys, ON DELETE CASCADE where SQLite has it")


def check_token_counts(t, pg, db):
    """The trigger keeps token_counts as SQLite's two do (in a transaction
    rolled back at the end)."""
    out = pg.psql(db, """
        BEGIN;
        INSERT INTO accounts (name, created_at) VALUES ('acme', 0);
        INSERT INTO users (account_id, email, email_norm, password_hash,
                           created_at, updated_at)
        SELECT id, 'a@x', 'a@x', 'h', 0, 0 FROM accounts;
        INSERT INTO tokens (key, secret_hash, kind, description, account_id,
                            user_id, created_at, updated_at)
        SELECT 'k' || g, decode(md5(g::text), 'hex'), 'user', '', u.account_id,
               u.id, 0, 0
        FROM users u, generate_series(1, 3) g;
        SELECT n FROM token_counts;
        DELETE FROM tokens WHERE key = 'k2';
        SELECT n FROM token_counts;
        ROLLBACK;""")
    t.eq(out.split(), ["3", "2"], "token_counts: 3 after three inserts, 2 after a delete")


# The counts before the stripes: tokens 1 and 2 of account 1, token 1 with
# 3 deliveries of 7 records and 2 runs, token 2 with one run; the account
# storing 7 records of 90 bytes and 40 bytes of objects.
BEFORE_STRIPES = """
INSERT INTO accounts (name, created_at) VALUES ('acme', 0);
INSERT INTO users (account_id, email, email_norm, password_hash, created_at,
                   updated_at) VALUES (1, 'a@x', 'a@x', 'h', 0, 0);
INSERT INTO tokens (key, secret_hash, kind, description, account_id, user_id,
                    created_at, updated_at, webhooks_received,
                    records_received, runs_requested)
VALUES ('k1', %(h1)s, 'user', '', 1, 1, 0, 0, 3, 7, 2),
       ('k2', %(h2)s, 'user', '', 1, 1, 0, 0, 0, 0, 1),
       ('k3', %(h3)s, 'user', '', 1, 1, 0, 0, 0, 0, 0);
INSERT INTO account_usage (account_id, records, bytes, object_bytes)
VALUES (1, 7, 90, 40);
"""
AFTER_STRIPES = [
    ("SELECT token_id, stripe, webhooks, records, runs FROM token_usage "
     "ORDER BY token_id", [(1, 0, 3, 7, 2), (2, 0, 0, 0, 1)]),
    ("SELECT account_id, stripe, records, bytes, object_bytes FROM account_usage",
     [(1, 0, 7, 90, 40)]),
]


def check_stripe_migration(t, pg, work):
    """SQLite's 015 and PostgreSQL's 003 carry a database's counters (the
    tokens' columns, account_usage's one row per account) into stripe 0
    of token_usage and account_usage, on both engines alike."""
    path = os.path.join(work, "stripes.db")
    con = sqlite3.connect(path, isolation_level=None)
    try:
        for version, name in migration_files(SCHEMA):
            if version == 15:
                con.executescript(BEFORE_STRIPES % {
                    "h1": "randomblob(32)", "h2": "randomblob(32)",
                    "h3": "randomblob(32)"})
            with open(os.path.join(SCHEMA, name)) as f:
                con.executescript("BEGIN;\n" + f.read() + "\nCOMMIT;")
        for sql, want in AFTER_STRIPES:
            t.eq(con.execute(sql).fetchall(), want, "SQLite 015: " + sql)
        t.eq(con.execute("PRAGMA foreign_key_check").fetchall(), [],
             "SQLite 015: no foreign key broken")
    finally:
        con.close()
    pg.createdb("stripes")
    pg_migrate(pg, "stripes", upto=2)
    pg.psql("stripes", BEFORE_STRIPES % {
        "h1": "'\\x01'", "h2": "'\\x02'", "h3": "'\\x03'"})
    pg_migrate(pg, "stripes")
    for sql, want in AFTER_STRIPES:
        got = [tuple(int(v) for v in line.split("|"))
               for line in pg.psql("stripes", sql).split()]
        t.eq(got, want, "PostgreSQL 003: " + sql)


# ---------------------------------------------------------------- answers

def H(text):
    """A 32-byte hash, as tokens store."""
    return hashlib.sha256(text.encode()).digest()


def tok(key, desc, user=1, parent=None, expires=None, kind="user", dest=None,
        scopes=63, n=0):
    return ("token_add", {"key": key, "secret_hash": H(key), "kind": kind,
                          "description": desc, "account_id": 1, "user_id": user,
                          "destination_id": dest, "now": 200 + n, "scopes": scopes,
                          "expires_at": expires, "allowed_ips": "",
                          "parent_id": parent})


def scenario():
    """The same named queries with the same parameters, in order, on both
    engines: what the PostgreSQL forms rewrite (case folding, LIKE,
    booleans, sums, LIMIT and OFFSET, lineage, upserts) on data that tells
    the ways apart (non-ASCII letters, LIKE's wildcards, a backslash)."""
    steps = [
        ("health", {}),
        ("account_add", {"name": "Acme", "now": 100}),
        ("account_add", {"name": "beta", "now": 100}),
        ("account_add", {"name": "\u00c4rger", "now": 100}),
        ("user_add", {"account_id": 1, "email": "Ana@x", "email_norm": "ana@x",
                      "password_hash": "h1", "role": "admin", "now": 100}),
        ("user_add", {"account_id": 1, "email": "bob@x", "email_norm": "bob@x",
                      "password_hash": "h2", "role": "member", "now": 101}),
        ("user_add", {"account_id": 2, "email": "cy@x", "email_norm": "cy@x",
                      "password_hash": "h3", "role": "admin", "now": 102}),
        ("user_add", {"account_id": 3, "email": "Dee@x", "email_norm": "dee@x",
                      "password_hash": "h4", "role": "member", "now": 103}),
        ("users_all", {}),
        ("user_count", {}),
        ("user_set_active", {"id": 2, "active": 0, "now": 104}),
        ("account_first_admin", {"account_id": 1}),
        ("destination_add", {"account_id": 1, "name": "lake", "type": "s3",
                             "config": "{}", "created_by": 1, "now": 100}),
        tok("AbCd-0001", "\u00dcn\u00efcode Token", expires=1000, n=1),
        tok("abcd-0002", "plain CamelCase", parent=1, expires=900, n=2),
        tok("ef_%-0003", "50% under_score", parent=2, expires=900, n=3),
        tok("back\\slash-4", "slash \u00c4BC \u00e4bc", user=2, n=4),
        tok("via-0005", "", kind="via", dest=1, scopes=128, expires=5000, n=5),
        tok("stale-6", "gone", user=2, expires=800, n=6),
    ]
    for q in ["", "camel", "CAMEL", "\u00fc", "\u00dc", "\u00c4", "\u00e4bc", "\u00c4BC",
              "%", "_", "\\", "ab", "AB", "abcd-", "ABCD-0001", "a_cd", "ef_%",
              "back\\", "BACK\\S", "zzz", "50%", "'"]:
        steps.append(("tokens_count_q", {"account_id": 1, "kind": "user", "all": 1,
                                         "user_id": 1, "q": q}))
        steps.append(("tokens_page", {"account_id": 1, "kind": "user", "all": 1,
                                      "user_id": 1, "q": q, "limit": 20, "offset": 0}))
    page = {"account_id": 1, "kind": "user", "all": 0, "user_id": 2, "q": ""}
    steps += [
        ("tokens_count_q", page),
        ("tokens_count", {"account_id": 1, "kind": "user", "all": 1, "user_id": 1}),
        ("tokens_count", {"account_id": 1, "kind": "user", "all": 0, "user_id": 2}),
        ("tokens_count", {"account_id": 2, "kind": "user", "all": 1, "user_id": 3}),
        ("tokens_page", dict(page, all=1, limit=-1, offset=-3)),
        ("tokens_page", dict(page, all=1, limit=2, offset=1)),
        ("tokens_page", dict(page, limit=0, offset=0)),
        ("tokens_of_user", {"user_id": 1, "limit": -1, "offset": 1}),
        ("tokens_of_user", {"user_id": 1, "limit": 2, "offset": -1}),
        ("token_visible", {"key": "abcd-0002", "account_id": 1, "all": 0, "user_id": 1}),
        ("token_visible", {"key": "abcd-0002", "account_id": 1, "all": 0, "user_id": 2}),
        ("token_descendants", {"id": 1}),
        ("token_in_tree", {"id": 3, "ancestor": 1}),
        ("token_in_tree", {"id": 1, "ancestor": 3}),
        ("token_grant", {"id": 3}),
        ("tokens_expiring_due", {"warn_until": 1000, "now": 500, "limit": 10}),
        ("tokens_expiring_due", {"warn_until": 1000, "now": 500, "limit": -1}),
        ("token_mark_warned", {"id": 2, "now": 600}),
        ("token_mark_warned", {"id": 2, "now": 601}),
        ("tokens_expiring_due", {"warn_until": 1000, "now": 500, "limit": 10}),
        ("token_narrow", {"id": 3, "scopes": 1, "allowed_ips": "10.0.0.0/8", "keep": 1,
                          "now": 300, "actor": 1}),
        ("token_grant", {"id": 3}),
        ("token_narrow", {"id": 3, "scopes": 1, "allowed_ips": "", "keep": 0,
                          "now": 301, "actor": 1}),
        ("token_narrow", {"id": 3, "scopes": 1, "allowed_ips": "", "keep": 1,
                          "now": 302, "actor": 1}),
        ("token_grant", {"id": 3}),
        ("token_deactivate_tree", {"id": 1, "now": 400, "actor": 1}),
        ("token_deactivate_tree", {"id": 1, "now": 401, "actor": 1}),
        ("token_descendants", {"id": 1}),
        ("token_activate", {"id": 2, "now": 450, "actor": 1, "by_token": None}),
        ("token_activate", {"id": 1, "now": 451, "actor": 1, "by_token": None}),
        ("token_activate", {"id": 2, "now": 452, "actor": 1, "by_token": 3}),
        ("token_activate", {"id": 2, "now": 453, "actor": 1, "by_token": 1}),
        ("tokens_expired_due", {"now": 950, "limit": 10}),
        ("token_mark_noticed", {"id": 3, "now": 960}),
        ("token_mark_noticed", {"id": 3, "now": 961}),
        ("tokens_expired_due", {"now": 950, "limit": 10}),
        ("token_update", {"id": 2, "description": "renamed", "scopes": 3,
                          "allowed_ips": "", "now": 470, "actor": 2}),
        ("token_rotate", {"id": 1, "prev_expires_at": None, "secret_hash": H("1b"),
                          "now": 500, "actor": 1}),
        ("token_rotate", {"id": 1, "prev_expires_at": 9999, "secret_hash": H("1c"),
                          "now": 501, "actor": 1}),
        ("token_auth_by_hash", {"secret_hash": H("1b")}),
        ("token_auth_by_hash", {"secret_hash": H("AbCd-0001")}),
        ("token_auth_by_key", {"key": "AbCd-0001"}),
        ("token_first_use", {"id": 1, "now": 510}),
        ("token_first_use", {"id": 1, "now": 511}),
        ("token_touch", {"id": 1, "now": 512, "ip": "::1"}),
        ("token_count_run", {"id": 1}),
        ("token_count_webhook", {"id": 1, "records": 3}),
        ("token_by_key", {"key": "AbCd-0001"}),
        ("account_objects_add", {"account_id": 1, "bytes": 10}),
        ("account_objects_add", {"account_id": 1, "bytes": 7}),
        ("account_usage_add", {"account_id": 1, "records": 2, "bytes": 5}),
        ("account_usage_add", {"account_id": 1, "records": 1, "bytes": 4}),
        ("account_usage_bytes", {"account_id": 1}),
        ("account_usage_bytes", {"account_id": 2}),
        ("meta_set", {"key": "k", "value": "v1"}),
        ("meta_set", {"key": "k", "value": "v2"}),
        ("meta_get", {"key": "k"}),
        ("meta_delete", {"key": "k"}),
        ("meta_get", {"key": "k"}),
        ("login_failure_add", {"scope": "ip", "key": "1.2.3.4", "now": 10}),
        ("login_failure_add", {"scope": "ip", "key": "1.2.3.4", "now": 20}),
        ("login_failure_add", {"scope": "pair", "key": "ana@x 1.2.3.4", "now": 30}),
        ("login_failures_count", {"scope": "ip", "key": "1.2.3.4", "since": 0}),
        ("login_failure_remove", {"id": 1}),
        ("login_failures_count", {"scope": "ip", "key": "1.2.3.4", "since": 0}),
        ("login_failures_prune", {"since": 25}),
        ("login_failures_count", {"scope": "pair", "key": "ana@x 1.2.3.4", "since": 0}),
        ("sources_add", {"account_id": 1, "name": "hook", "type": "webhook",
                         "config": '{"a":"\u00e9\u00e9"}', "user_id": 1, "now": 600}),
        ("sources_add", {"account_id": 1, "name": "hook2", "type": "webhook",
                         "config": "{}", "user_id": 2, "now": 601}),
        ("sources_sizes", {"account_id": 1, "limit": -1, "offset": 0}),
        ("sources_list", {"account_id": 1, "limit": 1, "offset": 1}),
        ("sources_get", {"account_id": 1, "id": 1}),
        ("pipelines_add", {"account_id": 1, "name": "p", "type": "webhook", "config": "{}",
                           "source_id": 1, "destination_id": 1, "user_id": 1, "now": 610}),
        ("pipeline_schedule", {"id": 1, "now": 611}),
        ("pipeline_schedule", {"id": 1, "now": 612}),
        ("pipeline_status", {"account_id": 1, "id": 1}),
        ("run_queue_pipeline", {"account_id": 1, "pipeline_id": 1, "token_id": 1,
                                "now": 613}),
        ("run_queue_pipeline", {"account_id": 1, "pipeline_id": 1, "token_id": 1,
                                "now": 614}),
        ("models_add", {"account_id": 1, "name": "m", "type": "sql", "config": "{}",
                        "destination_id": 1, "sql": "SELECT '\u00fc'", "user_id": 1,
                        "now": 620}),
        ("models_sizes", {"account_id": 1, "limit": 10, "offset": 0}),
        ("delivery_open", {"pipeline_id": 1, "account_id": 1, "token_id": 1, "records": 2,
                           "bytes": 4, "now": 700}),
        ("record_add", {"pipeline_id": 1, "destination_id": 1, "token_id": 1, "now": 701,
                        "data": "{}", "delivery_id": None}),
        ("record_add", {"pipeline_id": 1, "destination_id": 1, "token_id": 1, "now": 702,
                        "data": '{"x":1}', "delivery_id": 1}),
        ("records_sizes", {"pipeline_id": 1, "after": 0, "limit": 10}),
        ("delivery_done", {"id": 1, "now": 703}),
        ("delivery_done", {"id": 1, "now": 704}),
        ("records_sizes", {"pipeline_id": 1, "after": 0, "limit": -1}),
        ("records_page", {"pipeline_id": 1, "after": 0, "upto": 2}),
        ("deliveries_stale", {"before": 10000, "limit": 10}),
        # Runs and the Via tables (016 / pg 004).
        ("runs_of_pipeline", {"pipeline_id": 1, "limit": 10}),
        ("run_claim", {"now": 705, "lease": 60, "per_account": 2, "total": 8}),
        ("run_claim", {"now": 706, "lease": 60, "per_account": 2, "total": 8}),
        ("run_get", {"id": 1}),
        ("pipeline_running", {"id": 1, "now": 706}),
        ("pipeline_for_run", {"id": 1}),
        ("records_to_move", {"pipeline_id": 1, "after": 0, "limit": 1}),
        ("records_to_move", {"pipeline_id": 1, "after": 1, "limit": 10}),
        ("pipeline_cursor", {"id": 1, "old": 0, "new": 1}),
        ("pipeline_cursor", {"id": 1, "old": 0, "new": 2}),
        ("via_table_add", {"account_id": 1, "destination_id": 1, "name": "pipeline_1",
                           "now": 707}),
        ("via_table_add", {"account_id": 1, "destination_id": 1, "name": "pipeline_1",
                           "now": 708}),
        ("via_table_get", {"destination_id": 1, "name": "pipeline_1"}),
        ("via_row_add", {"table_id": 1, "id": 1, "data": '{"x":1}'}),
        ("via_table_grow", {"id": 1, "added": 1, "columns": '[{"name":"x"}]', "now": 709}),
        ("via_tables_of", {"destination_id": 1}),
        ("via_rows_page", {"table_id": 1, "after": 0, "limit": 10}),
        ("run_records_add", {"id": 1, "n": 1, "attempts": 1}),
        ("run_lease", {"id": 1, "lease_until": 800, "attempts": 2}),
        ("run_lease", {"id": 1, "lease_until": 800, "attempts": 1}),
        ("run_finish", {"id": 1, "now": 710, "status": "failed", "message": "m\u00fc",
                        "attempts": 1}),
        ("pipeline_failed", {"id": 1, "now": 710, "message": "m", "max_failures": 1}),
        ("pipeline_status", {"account_id": 1, "id": 1}),
        ("pipeline_succeeded", {"id": 1, "now": 711}),
        ("runs_of_pipeline", {"pipeline_id": 1, "limit": 10}),
        ("model_exists", {"account_id": 1, "id": 1}),
        ("model_for_run", {"id": 1}),
        ("run_queue_model", {"account_id": 1, "model_id": 1, "token_id": 1, "now": 712}),
        ("runs_of_model", {"model_id": 1, "limit": 10}),
        ("via_table_rename", {"destination_id": 1, "old": "pipeline_1",
                              "new": "_old_pipeline_1", "now": 713}),
        ("via_tables_of", {"destination_id": 1}),
        ("via_rows_delete_some", {"table_id": 1, "limit": 1}),
        ("via_rows_page", {"table_id": 1, "after": 0, "limit": 10}),
        ("outbox_prune", {"before": 0}),
        ("audit_add", {"now": 800, "account_id": 1, "user_id": 1, "action": "a",
                       "object": "o", "ip": "", "detail": "", "via_token": ""}),
        ("audit_add", {"now": 801, "account_id": 1, "user_id": None, "action": "b",
                       "object": "", "ip": "::1", "detail": "d", "via_token": "k"}),
        ("audit_recent", {"account_id": 1, "limit": -1}),
        ("audit_ip_denied_recent", {"account_id": 1, "since": 0, "key": "o", "ip": ""}),
        # The activity page (018): who acted, whose token, filters, paging.
        ("audit_add_by", {"now": 802, "account_id": 1, "user_id": None, "action":
                          "token.expired", "object": "ab-cd", "ip": "", "detail": "x",
                          "via_token": "", "owner_id": 1, "actor": "runner"}),
        ("audit_add_by", {"now": 802, "account_id": 1, "user_id": 1, "action":
                          "token.created", "object": "AB-cd", "ip": "::1", "detail": "",
                          "via_token": "abc", "owner_id": None, "actor": ""}),
    ] + [(q, dict(f, account_id=1, **({"limit": 2, "offset": o} if q == "activity_page"
                                       else {})))
         for f in ({"mine": 0, "user_id": 0, "key": "", "action": "", "since": 0,
                    "until": 10 ** 12},
                   {"mine": 1, "user_id": 0, "key": "ab", "action": "", "since": 801,
                    "until": 803},
                   {"mine": 0, "user_id": 1, "key": "", "action": "token.created",
                    "since": 0, "until": 803})
         for q, o in (("activity_count", 0), ("activity_page", 0), ("activity_page", 1))
         ] + [
        ("activity_actions", {"account_id": 1, "mine": 0}),
        ("activity_actions", {"account_id": 1, "mine": 1}),
        ("activity_users", {"account_id": 1}),
    ]
    return steps


def sql_texts(path):
    """{name: statement} of a queries file (as fcgi/store/named_queries.c reads it)."""
    out, name = {}, None
    for line in open(path).read().split("\n"):
        m = re.match(r"-- name:[ \t]*([a-z0-9_]+)[ \t\r]*$", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


NULL = "<NULL>"


def sqlite_cell(v):
    if v is None:
        return NULL
    if isinstance(v, bytes):
        return "\\x" + v.hex()
    return str(v)


def sqlite_answers(db_path, steps):
    """[(changes or None, rows)] of each step on a copy of a fresh SQLite
    database, rows as PostgreSQL's text output shows them. iso_time and
    utc_minute are defined here as strftime would (the real host's are
    checked against PostgreSQL's on their own)."""
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    for name, fmt in (("iso_time", "%Y-%m-%dT%H:%M:%SZ"), ("utc_minute", "%Y-%m-%d %H:%M UTC")):
        con.create_function(name, 1, lambda t, f=fmt: None if t is None
                            else time.strftime(f, time.gmtime(t)), deterministic=True)
    texts = sql_texts(os.path.join(SCHEMA, "queries.sql"))
    out = []
    try:
        for name, params in steps:
            try:
                cur = con.execute(texts[name], params)
                rows = [tuple(sqlite_cell(v) for v in r) for r in cur.fetchall()]
                # changes(): the statement's own rows, not its triggers'.
                out.append((None if cur.description else
                            con.execute("SELECT changes()").fetchone()[0], rows))
            except sqlite3.Error as e:
                out.append(("error", str(e)))
    finally:
        con.close()
    return out


def pg_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        raise TypeError("no booleans in the scenario")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, bytes):
        return "'\\x%s'" % v.hex()
    return "'%s'" % v.replace("'", "''")


def pg_answers(pg, db, described, steps):
    """The same on PostgreSQL: each statement as describe_queries
    prepared it, through PREPARE and EXECUTE in one psql session."""
    sep = "\x1f"
    script = ["\\pset null '%s'" % NULL]
    for i, (name, params) in enumerate(steps):
        d = described[name]
        sql = re.sub(r"(?s);\s*(--[^\n]*\n\s*)*$", "", d["sql"].strip())
        args = ", ".join(pg_literal(params[p]) for p in d["params"])
        script += ["\\echo @@%d" % i, "PREPARE s AS %s;" % sql,
                   "EXECUTE s%s;" % ("(%s)" % args if args else "")]
        if not d["columns"]:
            script.append("\\echo @@rows :ROW_COUNT")
        script.append("DEALLOCATE s;")
    r = pg.run_psql(db, "\n".join(script) + "\n", "-F", sep)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    blocks, cur = {}, None
    for line in r.stdout[:-1].split("\n") if r.stdout.endswith("\n") else []:
        m = re.fullmatch(r"@@(\d+)", line)
        if m:
            cur = blocks.setdefault(int(m.group(1)), [])
        elif cur is not None:
            cur.append(line)
    out = []
    for i, (name, _) in enumerate(steps):
        lines = blocks.get(i, [])
        if not described[name]["columns"]:
            m = re.fullmatch(r"@@rows (\d+)", lines[-1] if lines else "")
            out.append((int(m.group(1)) if m else "no ROW_COUNT in %r" % lines, []))
        else:
            out.append((None, [tuple(l.split(sep)) for l in lines]))
    return out


def main():
    t = Tap()
    if not os.access(DESCRIBE, os.X_OK):
        t.ok(False, "tests/c/describe_queries is built",
             "run make -C tests/c (make test builds it)")
        return t.done()
    started = time.monotonic()
    work = scratch("pg-queries")
    sqlite_data = init_data(os.path.join(work, "sqlite"))
    sqlite_db = os.path.join(sqlite_data, "tessera.db")

    with Postgres(os.path.join(work, "pg")) as pg:
        socket_path = pg.socket_path
        t.ok(len(pg.socket_path.encode()) <= 107, "the socket's path fits a unix socket",
             pg.socket_path)
        t.eq(pg.psql("postgres", "SHOW listen_addresses;").strip(), "",
             "PostgreSQL listens on no network address")
        t.eq(pg.psql("postgres", "SHOW fsync;").strip(), "on", "fsync on")
        t.has(pg.psql("postgres", "SELECT version();"), "PostgreSQL 15.",
              "PostgreSQL 15")
        pg.createdb("tessera")

        # Migrations, as the host will apply them.
        files = migration_files(PG_SCHEMA)
        t.ok(files and files[0] == (1, "001_init.sql"), "schema/pg starts with 001_init.sql",
             files)
        t.eq([v for v, _ in files], list(range(1, len(files) + 1)),
             "schema/pg's migrations are numbered 1, 2, ... without a gap")
        try:
            applied = pg_migrate(pg, "tessera")
        except RuntimeError as e:
            t.ok(False, "schema/pg's migrations apply", e)
            return t.done()
        t.eq([n for n, _ in applied], [n for _, n in files], "every migration applied, in order")
        for name, err in applied:
            t.eq(err, "", "%s applies cleanly (no error, warning or notice)" % name)
        t.eq(pg_migrate(pg, "tessera"), [], "a second run has nothing left to apply")
        t.eq(pg.psql("tessera", "SELECT version, name FROM schema_migrations "
                                "ORDER BY version;").split(),
             ["%d|%s" % f for f in files], "schema_migrations lists each once")

        # The schema's shape and its trigger.
        check_shape(t, sqlite_shape(sqlite_db), pg_shape(pg, "tessera"))
        check_token_counts(t, pg, "tessera")
        check_stripe_migration(t, pg, work)

        # The named queries, as each engine describes them.
        sq, s_order, s_rc, s_err = describe("sqlite", sqlite_db,
                                            os.path.join(SCHEMA, "queries.sql"))
        pq, p_order, p_rc, p_err = describe("pg", pg.uri("tessera"),
                                            os.path.join(PG_SCHEMA, "queries.sql"))
        t.ok(s_rc == 0, "describe_queries sqlite: every query prepared",
             s_err + "\n".join(json.dumps(d) for d in sq.values() if "error" in d))
        t.ok(p_rc == 0, "describe_queries pg: every query prepared",
             p_err + "\n".join(json.dumps(d) for d in pq.values() if "error" in d))
        t.ok(len(sq) > 50, "SQLite has its named queries (%d)" % len(sq))
        t.eq(len(s_order), len(set(s_order)), "no SQLite query defined twice")
        t.eq(len(p_order), len(set(p_order)), "no PostgreSQL query defined twice")
        t.eq(sorted(set(pq) - set(sq)), [], "no PostgreSQL query SQLite lacks")
        t.eq(sorted(set(sq) - set(pq)), [], "no SQLite query PostgreSQL lacks")
        for name in s_order:
            s, p = sq[name], pq.get(name)
            if p is None:
                continue
            if "error" in s or "error" in p:
                t.ok(False, "%s: prepared by both" % name,
                     "sqlite: %s\npg: %s" % (s.get("error"), p.get("error")))
                continue
            t.eq(sorted(p["params"]), sorted(s["params"]), "%s: the same parameters" % name)
            t.eq(p["columns"], s["columns"], "%s: the same columns in the same order" % name)
            odd = [(c, ty) for c, ty in zip(p["columns"], p["column_types"])
                   if ty not in PG_ANSWER_TYPES]
            odd += [(":" + c, ty) for c, ty in zip(p["params"], p["param_types"])
                    if ty not in PG_ANSWER_TYPES]
            t.eq(odd, [], "%s: PostgreSQL takes and answers bigint, text or bytea only" % name)

        # The same answers to the same calls.
        steps = scenario()
        t.eq(sorted({n for n, _ in steps} - set(pq)), [], "the scenario names known queries")
        want = sqlite_answers(shutil.copy(sqlite_db, os.path.join(work, "answers.db")), steps)
        pg.createdb("answers")   # fresh: no identity has moved yet
        pg_migrate(pg, "answers")
        try:
            got = pg_answers(pg, "answers", pq, steps)
        except RuntimeError as e:
            got = None
            t.ok(False, "the scenario runs on PostgreSQL", e)
        for i, (name, params) in enumerate(steps if got else []):
            t.eq(got[i], want[i], "step %d, %s %s: the same answer%s" % (
                i + 1, name, json.dumps(params, default=lambda b: b.hex()[:8],
                                        ensure_ascii=False),
                "" if got[i][0] is None else " and rows changed"))

        # iso_time() and utc_minute().
        got_pg = pg_times(pg, "tessera")
        got_sqlite, r = sqlite_times(scratch("pg-times"))
        t.ok(len(got_sqlite) == len(TIMES), "the SQLite host answered for every time",
             "lua-test exited with %s, %d of %d answers:\n%s"
             % (r.returncode, len(got_sqlite), len(TIMES), r.stderr[-800:]))
        t.eq(sorted(got_pg, key=str), sorted(TIMES, key=str),
             "PostgreSQL answered for every time")
        for ts in TIMES:
            t.eq(got_pg.get(ts), got_sqlite.get(ts),
                 "iso_time and utc_minute of %s agree" % ("NULL" if ts is None else ts))
        t.eq(got_pg.get(1795821058), ("2026-11-27T23:10:58Z", "2026-11-27 23:10 UTC"),
             "the example of fcgi/store/db_sqlite.c")
        t.eq(got_pg.get(1835481599), ("2028-02-29T23:59:59Z", "2028-02-29 23:59 UTC"),
             "a leap day")
        t.eq(got_pg.get(-62162121600), ("0000-02-29T00:00:00Z", "0000-02-29 00:00 UTC"),
             "year 0, a leap year")
        t.eq(got_pg.get(0), ("1970-01-01T00:00:00Z", "1970-01-01 00:00 UTC"), "the epoch")
        t.eq(got_pg.get(None), (None, None), "NULL for NULL")

    t.ok(pg.proc is None and not os.path.exists(socket_path),
         "stopped: the postmaster is gone and so is its socket")
    print("# %.1f s" % (time.monotonic() - started))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
