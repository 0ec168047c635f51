"""What the API tests share: credentials in every form, tokens made on
the command line, a small JSON client, the database read directly, and
the checks of the failure envelope.

    from apiclient import Api, Db, Token, cli_token, is_failure
"""

import base64
import contextlib
import json
import os
import re
import secrets
import sqlite3
import subprocess
import threading
import time
import zlib

from servers import http
from tap import body_json, engine, pg_database, tessera

PW = "correct horse battery"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SECRET = re.compile(r"^tsr_[0-9A-Za-z]{49}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Every token object of the API has exactly these (HTTP.md "Token
# authority"); the answer that makes a secret adds "token".
TOKEN_FIELDS = {"key", "kind", "description", "active", "scopes", "expires_at",
                "allowed_ips", "parent_key", "created_at", "last_used_at",
                "last_used_ip"}
DEFAULT_SCOPES = ["objects:read", "objects:write", "pipelines:run", "webhook:write",
                  "records:read", "tokens:read"]
ALL_USER_SCOPES = DEFAULT_SCOPES + ["tokens:write"]

# -- credentials --------------------------------------------------------------


def b62(n, digits):
    out = ""
    for _ in range(digits):
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out


def checksum(s):
    return b62(zlib.crc32(s.encode()) & 0xffffffff, 6)


def fake_secret():
    """A secret of the right shape with a valid checksum that no token has."""
    body = "tsr_" + "".join(secrets.choice(B62) for _ in range(43))
    return body + checksum(body)


def typo(secret):
    """The secret with one character of its random part changed."""
    i = 10
    c = secret[i]
    return secret[:i] + ("A" if c != "A" else "B") + secret[i + 1:]


def basic(key, secret):
    raw = ("%s:%s" % (key, secret)).encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


def with_query(path, key, secret):
    return "%s%skey=%s&token=%s" % (path, "&" if "?" in path else "?", key, secret)


class Token:
    def __init__(self, key, secret):
        self.key, self.secret = key, secret

    @property
    def basic(self):
        return basic(self.key, self.secret)

    @property
    def bearer(self):
        return bearer(self.secret)


def cli_token(data, email, description, *extra):
    """A user token made by `tessera token add` (extra: more options,
    e.g. "--scopes", "a,b")."""
    r = tessera(data, "token", "add", "--email", email, "--description", description,
                *extra)
    out = r.stdout.decode()
    k = re.search(r"Token Key: (\S+)", out)
    s = re.search(r"Token: +(\S+)", out)
    if r.returncode != 0 or not k or not s:
        raise RuntimeError("tessera token add failed: %r %r" % (out, r.stderr))
    return Token(k.group(1), s.group(1))


def cli(data, *args, env=None):
    """Runs `tessera ARGS --data DATA` with env (TESSERA_* settings, the
    test clock) merged over os.environ; returns CompletedProcess."""
    import subprocess
    from tap import BIN, data_env
    full = data_env(data)
    full.update({k: str(v) for k, v in (env or {}).items()})
    return subprocess.run([BIN] + list(args) + ["--data", data], env=full,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def cli_token_env(data, email, description, *extra, env=None):
    """cli_token with env merged over os.environ (e.g. the test clock or an
    expiry policy); None when the command refused, with the
    CompletedProcess as the second value."""
    r = cli(data, "token", "add", "--email", email, "--description", description,
            *extra, env=env)
    out = r.stdout.decode()
    k = re.search(r"Token Key: (\S+)", out)
    s = re.search(r"Token: +(\S+)", out)
    if r.returncode != 0 or not k or not s:
        return None, r
    return Token(k.group(1), s.group(1)), r


# -- requests -------------------------------------------------------------------


class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, auth=None, body=None, ctype="application/json",
             headers=None):
        h = dict(auth or {})
        h.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if body is not None and ctype:
            h["Content-Type"] = ctype
        s, hd, b = http(method, self.base + path, h, body)
        return s, hd, b, body_json(b)

    def get(self, path, auth=None, **kw):
        return self.call("GET", path, auth, **kw)

    def post(self, path, auth=None, body=None, **kw):
        return self.call("POST", path, auth, body, **kw)

    def put(self, path, auth=None, body=None, **kw):
        return self.call("PUT", path, auth, body, **kw)

    def patch(self, path, auth=None, body=None, **kw):
        return self.call("PATCH", path, auth, body, **kw)


def dig(doc, *path):
    """doc[path[0]][path[1]]..., or None where something is missing."""
    for k in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(k)
    return doc


def is_failure(doc, code):
    return (isinstance(doc, dict) and doc.get("success") is False and
            doc.get("error") == code and isinstance(doc.get("message"), str) and
            doc["message"] != "")


def ctype_json(h):
    return (h.get("Content-Type") or "").split(";")[0].strip() == "application/json"


def burst(fn, threads, per_thread):
    """Runs fn(tid, i) from several threads released together; returns
    [(t_done, tid, i, result)] sorted by completion time, and the elapsed
    time of the whole burst."""
    gate = threading.Barrier(threads)
    out, lock = [], threading.Lock()

    def run(tid):
        gate.wait()
        for i in range(per_thread):
            r = fn(tid, i)
            with lock:
                out.append((time.monotonic(), tid, i, r))

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    t0 = time.monotonic()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return sorted(out, key=lambda x: x[0]), time.monotonic() - t0


def log_text(path):
    with open(path, "rb") as f:
        return f.read()


def probe_pids(log, path):
    """{probe: (pid, status)} from the serve log's req: lines for path."""
    found = {}
    for m in re.finditer(rb"tessera\[(\d+)\] req: \S+ " + re.escape(path.encode()) +
                         rb"\?probe=([\w.-]+)\S* (\d{3}) ", log):
        found[m.group(2).decode()] = (int(m.group(1)), int(m.group(3)))
    return found


def at_rest(data):
    """The bytes the database keeps on disk: DATA/tessera.db and its WAL
    on SQLite; on PostgreSQL its cluster's WAL and tables (pg_wal/ and
    base/, every file, as the server has them now)."""
    pg = pg_database(data)
    if pg:
        paths = [os.path.join(top, name)
                 for sub in ("pg_wal", "base")
                 for top, _, names in os.walk(os.path.join(pg[0].data_dir, sub))
                 for name in sorted(names)]
    else:
        paths = [os.path.join(data, n) for n in ("tessera.db", "tessera.db-wal")]
    parts = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                parts.append(f.read())
        except FileNotFoundError:
            pass    # no WAL now, or a file the server removed meanwhile
    return b"".join(parts)


class Db:
    """The database of a data directory, read and written directly, on
    either engine: DATA/tessera.db with SQLite, its PostgreSQL database
    (tap.init_data made it) otherwise. The SQL is the tests' own, with ?
    placeholders; on PostgreSQL each call is one psql run, the arguments
    quoted into the text (a str as a literal of unknown type, an int too,
    bytes as bytea), and the answers come back as sqlite3 gives them: an
    integer as int, NULL as None, bytea as bytes, a boolean as 0/1.

    engine: "sqlite" or "postgresql". run(sql, *args) executes a
    statement that answers nothing (all() too, for one that answers)."""

    def __init__(self, data):
        self.engine = "postgresql" if pg_database(data) else "sqlite"
        if self.engine == "sqlite":
            self.c_path = os.path.join(data, "tessera.db")
            self.c = sqlite3.connect(self.c_path,
                                     isolation_level=None, timeout=10)
        else:
            self.pg, self.dbname = pg_database(data)

    def token_usage(self, key):
        """(webhooks, records, runs) that the token with this key has
        received and requested: the sums of its stripes (schema/015)."""
        return self.one(
            "SELECT CAST(coalesce(sum(u.webhooks), 0) AS INTEGER), "
            "CAST(coalesce(sum(u.records), 0) AS INTEGER), "
            "CAST(coalesce(sum(u.runs), 0) AS INTEGER) "
            "FROM tokens t LEFT JOIN token_usage u ON u.token_id = t.id "
            "WHERE t.key = ?", key)

    def account_usage(self, name):
        """(records, bytes, object_bytes) the account of this name stores:
        the sums of its stripes (schema/015)."""
        return self.one(
            "SELECT CAST(coalesce(sum(u.records), 0) AS INTEGER), "
            "CAST(coalesce(sum(u.bytes), 0) AS INTEGER), "
            "CAST(coalesce(sum(u.object_bytes), 0) AS INTEGER) "
            "FROM accounts c LEFT JOIN account_usage u ON u.account_id = c.id "
            "WHERE c.name = ?", name)

    @property
    def pg_uri(self):
        return self.pg.uri(self.dbname)

    def all(self, sql, *args):
        if self.engine == "sqlite":
            return self.c.execute(sql, args).fetchall()
        return self._pg_rows(sql, args)

    def run(self, sql, *args):
        self.all(sql, *args)

    @contextlib.contextmanager
    def locked(self):
        """Another connection keeps every writer out of the database until
        the block ends. SQLite: BEGIN EXCLUSIVE. PostgreSQL: a transaction
        that holds every table of the schema IN EXCLUSIVE MODE (readers
        still read, as they do in SQLite's WAL mode), from a psql kept
        open; the block starts once PostgreSQL shows it holding them."""
        if self.engine == "sqlite":
            lock = sqlite3.connect(self.c_path, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            return
        from pg import _clean_env, _psql_binary
        name = "tessera_test_lock_%d" % os.getpid()
        proc = subprocess.Popen(
            [_psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.pg_uri],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=_clean_env(), text=True)
        try:
            proc.stdin.write(
                "SET application_name = '%s';\nBEGIN;\n"
                "DO $$ DECLARE r record; BEGIN FOR r IN SELECT schemaname, tablename "
                "FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                "'information_schema') LOOP EXECUTE format('LOCK TABLE %%I.%%I IN "
                "EXCLUSIVE MODE', r.schemaname, r.tablename); END LOOP; END $$;\n"
                "SET application_name = '%s_held';\n" % (name, name))
            proc.stdin.flush()
            deadline = time.monotonic() + 30
            while self.val("SELECT count(*) FROM pg_stat_activity WHERE "
                           "application_name = ? AND state = 'idle in transaction'",
                           name + "_held") != 1:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("psql did not lock the tables")
                time.sleep(0.05)
            yield
        finally:
            try:
                proc.stdin.write("ROLLBACK;\n")
                proc.stdin.close()
            except OSError:
                pass
            proc.wait(30)

    def many(self, sql, rows):
        """sql once per row of arguments, all in one transaction."""
        if self.engine == "sqlite":
            self.c.execute("BEGIN")
            self.c.executemany(sql, rows)
            self.c.execute("COMMIT")
            return
        self.pg.psql(self.dbname, "".join(self.bind(sql, r) + ";\n" for r in rows), "-1")

    def one(self, sql, *args):
        rows = self.all(sql, *args)
        return rows[0] if rows else None

    def val(self, sql, *args):
        r = self.one(sql, *args)
        return r[0] if r else None

    # -- PostgreSQL ---------------------------------------------------------

    @staticmethod
    def literal(v):
        """v as an SQL literal for PostgreSQL."""
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, int):
            return "'%d'" % v
        if isinstance(v, float):
            return "'%r'" % v
        if isinstance(v, (bytes, bytearray, memoryview)):
            return "'\\x%s'::bytea" % bytes(v).hex()
        if isinstance(v, str):
            if "\0" in v:
                raise ValueError("PostgreSQL text cannot hold NUL")
            return "'%s'" % v.replace("'", "''")
        raise TypeError("no SQL literal for %r" % (v,))

    @classmethod
    def bind(cls, sql, args):
        """sql with each ? outside quotes replaced by the next argument."""
        out, i, quote = [], 0, None
        args = list(args)
        for ch in sql:
            if quote:
                if ch == quote:
                    quote = None
                out.append(ch)
            elif ch in "'\"":
                quote = ch
                out.append(ch)
            elif ch == "?":
                if i >= len(args):
                    raise ValueError("too few arguments for %r" % sql)
                out.append(cls.literal(args[i]))
                i += 1
            else:
                out.append(ch)
        if i != len(args):
            raise ValueError("%d arguments for %d placeholders in %r"
                             % (len(args), i, sql))
        return "".join(out)

    _INT = {"smallint", "integer", "bigint"}

    def _pg_rows(self, sql, args):
        """One psql run. A statement that answers rows (SELECT, WITH,
        VALUES, or one with RETURNING): \\gdesc tells its columns' types,
        then each row comes as JSON (NULL, numbers and text unambiguous;
        duplicate column names kept in order). Any other is just run."""
        q = self.bind(sql, args).strip().rstrip(";").strip()
        if not re.match(r"(?is)(select|with|values)\b|.*\breturning\b", q):
            self.pg.psql(self.dbname, q + ";\n")
            return []
        script = ("%s \\gdesc\n"
                  "\\echo '-- rows'\n"
                  "WITH tessera_x AS (%s) SELECT to_json(tessera_x)::text FROM tessera_x;\n"
                  % (q, q))
        out = self.pg.psql(self.dbname, script)
        head, sep, body = out.partition("-- rows\n")
        if not sep:
            raise RuntimeError("psql answered %r" % out[:400])
        types = [line.rsplit("|", 1)[1] for line in head.splitlines() if line]
        rows = []
        for line in body.splitlines():
            if not line:
                continue
            values = json.loads(line, object_pairs_hook=lambda kv: [v for _, v in kv])
            if len(values) != len(types):
                raise RuntimeError("%d columns, %d types: %r" % (len(values), len(types), line))
            rows.append(tuple(self._value(ty, v) for ty, v in zip(types, values)))
        return rows

    def _value(self, ty, v):
        if v is None:
            return None
        if ty in self._INT:
            return int(v)
        if ty == "boolean":
            return int(v)
        if ty == "bytea":
            return bytes.fromhex(v[2:])
        return v
