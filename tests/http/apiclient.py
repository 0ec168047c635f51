"""What the API tests share: credentials in every form, tokens made on
the command line, a small JSON client, the database read directly, and
the checks of the failure envelope.

    from apiclient import Api, Db, Token, cli_token, is_failure
"""

import base64
import json
import os
import re
import secrets
import sqlite3
import threading
import time
import zlib

from servers import http
from tap import body_json, tessera

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
    from tap import BIN
    full = dict(os.environ)
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


class Db:
    def __init__(self, data):
        self.c = sqlite3.connect(os.path.join(data, "tessera.db"),
                                 isolation_level=None, timeout=10)

    def all(self, sql, *args):
        return self.c.execute(sql, args).fetchall()

    def one(self, sql, *args):
        rows = self.all(sql, *args)
        return rows[0] if rows else None

    def val(self, sql, *args):
        r = self.one(sql, *args)
        return r[0] if r else None


