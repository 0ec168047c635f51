"""The command line (issue 18, "The command line matches"): help for
every command, unknown commands and options, `tessera token list`,
`tessera token disable|enable` seen through a real web server (nginx and
`tessera serve`, /api/me before and after, a child token going off with
its parent), `tessera audit list` (filters, --csv read by Python's csv
module), the audit rows the command line writes ("command line", no
user), and no secret or password in any output or audit row. On SQLite,
and on PostgreSQL with TESSERA_TEST_ENGINE=postgresql."""

import csv
import io
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import Api, Db, Token, cli_token  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import BIN, Tap, add_user, app_env, init_data, scratch, tessera  # noqa: E402

PW = "correct horse battery"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def run(*args, stdin=b""):
    """tessera ARGS with no data directory (help needs none)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TESSERA_DATA", "TESSERA_CONFIG", "TESSERA_DATABASE")}
    return subprocess.run([BIN] + list(args), input=stdin, capture_output=True,
                          timeout=30, env=env)


def commands():
    """(command, subcommand or None) of every line of `tessera --help`'s
    synopsis, and the groups (commands with subcommands)."""
    out = run("--help").stdout.decode()
    found, groups = [], set()
    for line in out.splitlines():
        m = re.match(r"^  tessera ([a-z-]+)(?: ([a-z-]+))?", line)
        if not m:
            continue
        cmd, sub = m.group(1), m.group(2)
        if sub in ("add", "add-via", "list", "show", "rotate", "activate",
                   "deactivate", "enable", "disable", "passwd", "check"):
            groups.add(cmd)
        else:
            sub = None
        found.append((cmd, sub))
    return found, groups


def help_everywhere(t):
    r = run("--help")
    t.ok(r.returncode == 0 and r.stdout.startswith(b"usage: tessera") and not r.stderr,
         "tessera --help: usage on stdout, exit 0", r)
    t.eq(run("help").stdout, r.stdout, "tessera help prints the same")
    t.eq(run("-h").stdout, r.stdout, "tessera -h prints the same")
    found, groups = commands()
    want = {("serve", None), ("runner", None), ("init", None), ("migrate", None),
            ("config", None), ("lua-test", None), ("version", None), ("help", None),
            ("user", "add"), ("user", "list"), ("user", "disable"), ("user", "enable"),
            ("user", "passwd"), ("token", "add"), ("token", "add-via"),
            ("token", "list"), ("token", "show"), ("token", "rotate"),
            ("token", "activate"), ("token", "deactivate"), ("token", "disable"),
            ("token", "enable"), ("token", "check"), ("audit", "list"),
            ("backup", None), ("restore", None)}
    t.eq(sorted(want - set(found), key=str), [],
         "tessera --help names every command and subcommand")
    bad = []
    for cmd, sub in found:
        name = cmd + (" " + sub if sub else "")
        words = [cmd] + ([sub] if sub else [])
        for argv in (words + ["--help"], ["help"] + words):
            r = run(*argv)
            out = r.stdout.decode()
            if (r.returncode != 0 or r.stderr or
                    not out.startswith("usage: tessera " + name) or
                    "Options:" not in out or "--data DIR" not in out):
                bad.append((argv, r.returncode, out[:200], r.stderr[:200]))
            # Every option the synopsis names is explained below it.
            for opt in re.findall(r"--([a-z-]+)", out.split("\n\n")[0]):
                if not re.search(r"^  --%s\b.*\S" % opt, out, re.M):
                    bad.append((argv, "option --%s unexplained" % opt))
    t.eq(bad, [], "help of each of %d commands (CMD [SUB] --help and help CMD [SUB]): "
         "exit 0, stdout, names it, explains every option" % len(found))
    # Every option a help explains is one the command takes: given with
    # --help, it is accepted (exit 0), as an unknown one is not (exit 2).
    bad = []
    for cmd, sub in found:
        words = [cmd] + ([sub] if sub else [])
        out = run(*(words + ["--help"])).stdout.decode()
        for name, arg in re.findall(r"^  --([a-z-]+)( \S+)?", out, re.M):
            argv = words + ["--" + name] + (["x"] if arg else []) + ["--help"]
            r = run(*argv)
            if r.returncode != 0:
                bad.append((argv, r.returncode, r.stderr[:200]))
    t.eq(bad, [], "every option in every help is accepted by its command")
    for g in sorted(groups):
        r = run(g, "--help")
        subs = [s for c, s in found if c == g]
        t.ok(r.returncode == 0 and all(("  %s " % s) in r.stdout.decode() for s in subs),
             "tessera %s --help lists its subcommands" % g, r)
    r = run("token", "list", "--help")
    out = r.stdout.decode()
    t.ok(all(re.search(r"^  --%s\b.+\w" % o, out, re.M)
             for o in ("email", "account", "kind", "all")),
         "token list --help explains --email, --account, --kind, --all", out)
    t.ok(run("--version").stdout.startswith(b"tessera ") and
         run("version").returncode == 0, "tessera --version and tessera version")


def usage_errors(t, data):
    cases = [
        (["frobnicate"], "frobnicate"),
        (["token", "frob"], "frob"),
        (["user", "frob"], "frob"),
        (["audit", "frob"], "frob"),
        (["token", "list", "--bogus"], "--bogus"),
        (["token", "list", "--bogus=1"], "--bogus"),
        (["audit", "list", "--grace-seconds", "3"], "--grace-seconds"),
        (["serve", "--csv"], "--csv"),
        (["help", "frobnicate"], "frobnicate"),
        (["token", "show"], "KEY"),
        (["token", "show", "a", "b"], "b"),
        (["token"], "subcommand"),
    ]
    bad = []
    for argv, name in cases:
        r = tessera(data, *argv)
        err = r.stderr.decode()
        if (r.returncode != 2 or r.stdout or err.count("\n") != 1 or
                name not in err or "tessera --help" not in err):
            bad.append((argv, r.returncode, r.stdout[:100], err))
    t.eq(bad, [], "unknown command, subcommand or option (%d cases): exit 2, one line "
         "on stderr naming it and the hint tessera --help, nothing on stdout" % len(cases))
    bad = []
    for argv in (["token", "list", "--kind", "robot"], ["token", "list", "--email", "x"],
                 ["token", "list", "--email", "a@b.c", "--account", "Acme"],
                 ["audit", "list", "--since", "2026-02-30"],
                 ["audit", "list", "--since", "yesterday"],
                 ["audit", "list", "--until", "2026-1-01"],
                 ["audit", "list", "--limit", "0"], ["audit", "list", "--limit", "1e3"],
                 ["audit", "list", "--limit", "100001"],
                 ["audit", "list", "--email", "nobody"],
                 ["audit", "list", "--action", "a\x01b"]):
        r = tessera(data, *argv)
        if r.returncode != 2 or r.stdout or not r.stderr:
            bad.append((argv, r.returncode, r.stdout[:100], r.stderr))
    t.eq(bad, [], "bad option values (kind, email, dates, limit, control characters): "
         "exit 2, stderr, nothing listed")


def listed(out):
    """{key: row words} of `tessera token list`'s table."""
    rows = {}
    for line in out.splitlines()[1:]:
        rows[line.split()[0]] = line
    return rows


def token_list(t, data, db, secrets):
    a = cli_token(data, "ana@example.com", "ana's first, with a description much longer "
                  "than the column of thirty-two characters", "--scopes",
                  "objects:read,tokens:write,tokens:read")
    b = cli_token(data, "bob@example.com", "bob's", "--expires-in-days", "30")
    z = cli_token(data, "zed@other.example", "zed's")
    r = tessera(data, "token", "add-via", "--account", "Acme", "--destination",
                "Warehouse")
    via_key = re.search(r"Token Key: (\S+)", r.stdout.decode()).group(1)
    secrets += [a.secret, b.secret, z.secret,
                re.search(r"Token: +(\S+)", r.stdout.decode()).group(1)]
    r = tessera(data, "token", "list")
    out = r.stdout.decode()
    rows = listed(out)
    t.ok(r.returncode == 0 and out.startswith("KEY ") and
         {a.key, b.key, z.key, via_key} <= set(rows),
         "token list: a header and every token", out)
    t.eq(list(rows)[:4], [via_key, z.key, b.key, a.key], "... newest first")
    ra = rows.get(a.key, "")
    t.ok(re.search(r"\buser +yes +ana's first, with a descr\S*\.\.\. ", ra) and
         "objects:read,tokens:read,tokens:write" in ra and "never" in ra,
         "... a row: key, kind, active, the description cut to fit, expiry, last use, "
         "scopes", ra)
    t.ok(re.search(r" \d{4}-\d\d-\d\d \d\d:\d\d ", rows.get(b.key, "")),
         "... an expiry shown as a UTC date and time", rows.get(b.key))
    t.ok(" via " in rows.get(via_key, ""), "... a Via token's kind", rows.get(via_key))
    hashes = [h.hex() if isinstance(h, bytes) else str(h)
              for (h,) in db.all("SELECT secret_hash FROM tokens")]
    t.ok(all(s not in out for s in secrets) and not any(h in out for h in hashes) and
         "tsr_" not in out,
         "token list shows no secret (not even one just made) and no hash")

    def keys(*argv):
        r = tessera(data, "token", "list", *argv)
        return set(listed(r.stdout.decode())) if r.returncode == 0 else r

    t.eq(keys("--email", "bob@example.com"), {b.key}, "token list --email")
    t.eq(keys("--account", "Other"), {z.key}, "token list --account")
    t.eq(keys("--kind", "via"), {via_key}, "token list --kind via")
    t.eq(keys("--account", "Acme", "--kind", "user"),
         set(k for (k,) in db.all(
             "SELECT t.key FROM tokens t JOIN accounts c ON c.id = t.account_id "
             "WHERE c.name = 'Acme' AND t.kind = 'user'")),
         "token list --account --kind user")
    t.eq(keys("--account", "Nowhere"), set(), "token list of an unknown account: empty")
    r = tessera(data, "user", "disable", "zed@other.example")
    t.eq(r.returncode, 0, "user disable zed")
    t.ok(z.key not in keys(), "token list: a disabled user's tokens are left out")
    t.ok(z.key in keys("--all"), "token list --all: ... and shown")
    r = tessera(data, "user", "enable", "--email", "zed@other.example")
    t.eq(r.returncode, 0, "user enable --email zed")
    return a, b, z, via_key


def switch_through_server(t, work, data, db):
    """token disable/enable: the token stops and works again for /api/me
    through nginx + tessera serve; a child token goes off with its
    parent and stays off until enabled itself."""
    parent = cli_token(data, "ana@example.com", "parent", "--scopes",
                       "objects:read,tokens:write,tokens:read")
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    app = TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                       env=app_env(data, TESSERA_RUN_POLL_MS=0))
    web = Nginx(os.path.join(work, "nginx"), free_port(), sock)
    with app, web:
        api = Api(web.base_url)
        s, h, b, doc = api.post("/api/tokens", parent.basic, {
            "description": "child", "scopes": ["objects:read"]})
        t.eq(s, 201, "the parent token makes a child through the API")
        child = Token(doc["data"]["key"], doc["data"]["token"])
        me = lambda tok: api.get("/api/me", tok.basic)[0]  # noqa: E731
        t.eq((me(parent), me(child)), (200, 200), "/api/me: parent and child work")
        r = tessera(data, "token", "disable", parent.key)
        t.ok(r.returncode == 0 and "with 1 token made from it" in r.stdout.decode(),
             "token disable KEY: says the token made from it went too", r)
        t.eq((me(parent), me(child)), (401, 401),
             "/api/me after token disable: parent and child refused")
        t.eq(db.all("SELECT active FROM tokens WHERE key IN (?, ?) ORDER BY id",
                    parent.key, child.key), [(0,), (0,)], "... both off in the store")
        r = tessera(data, "token", "enable", child.key)
        t.ok(r.returncode == 1 and "activate that one first" in r.stderr.decode(),
             "token enable of the child while its parent is off: refused, exit 1", r)
        r = tessera(data, "token", "enable", parent.key)
        t.eq(r.returncode, 0, "token enable KEY")
        t.eq((me(parent), me(child)), (200, 401),
             "/api/me after token enable: the parent works, the child stays off")
        t.eq(tessera(data, "token", "enable", child.key).returncode, 0,
             "token enable of the child")
        t.eq(me(child), 200, "/api/me: the child works again")
        r = tessera(data, "token", "deactivate", child.key)
        t.eq((r.returncode, me(child), me(parent)), (0, 401, 200),
             "token deactivate (the old name) still works: only the child goes off")
        r = tessera(data, "token", "disable", "00000000-0000-4000-8000-000000000000")
        t.eq(r.returncode, 1, "token disable of an unknown key: exit 1")
    return parent, child


def audit_rows(data):
    r = tessera(data, "audit", "list", "--csv", "--limit", "100000")
    return r, list(csv.reader(io.StringIO(r.stdout.decode(), newline="")))


def audit_list(t, data, db, made, switched, secrets):
    a, b, z, via_key = made
    parent, child = switched
    r, rows = audit_rows(data)
    t.eq(rows[0] if rows else None,
         ["time", "account", "who", "action", "object", "ip", "detail"],
         "audit list --csv: a header row")
    t.ok(r.stdout.count(b"\r\n") == len(rows) and b"\n" not in r.stdout.replace(b"\r\n", b""),
         "... CRLF line ends (RFC 4180)")
    body = rows[1:]
    t.ok(body and all(ISO.match(x[0]) for x in body), "... times in ISO 8601 UTC", body[:2])
    t.ok([x[0] for x in body] == sorted((x[0] for x in body), reverse=True),
         "... newest first")
    cli_rows = [x for x in body if x[2] == "command line"]
    got = {(x[3], x[4]) for x in cli_rows}
    want = {("user.added", "ana@example.com"), ("user.added", "zed@other.example"),
            ("token.created", a.key), ("token.created", b.key), ("token.created", z.key),
            ("token.created", via_key), ("token.created", parent.key),
            ("user.disabled", "zed@other.example"), ("user.enabled", "zed@other.example"),
            ("token.deactivated", parent.key), ("token.activated", parent.key),
            ("token.activated", child.key), ("token.deactivated", child.key),
            ("user.password_changed", "bob@example.com"), ("token.rotated", b.key)}
    t.eq(sorted(want - got), [], "every command line change is audited as "
         "\"command line\" (user add/disable/enable/passwd, token add/add-via/rotate/"
         "disable/enable/deactivate)")
    t.ok(all(x[5] == "cli" and x[1] in ("Acme", "Other") for x in cli_rows),
         "... ip cli, the object's account", cli_rows[:3])
    dis = [x for x in cli_rows if x[3] == "token.deactivated" and x[4] == parent.key]
    t.ok(dis and dis[0][6] == "with 1 token made from it",
         "... deactivating says how many tokens made from it went off", dis)
    t.eq(db.all("SELECT count(*) FROM audit_log WHERE ip = 'cli' AND user_id IS NOT NULL"),
         [(0,)], "... stored with no user (user_id NULL): nobody is blamed")
    made_by_api = [x for x in body if x[3] == "token.created" and x[4] == child.key]
    t.ok(made_by_api and made_by_api[0][2] == "ana@example.com via token %s" % parent.key,
         "a token made by a token: who is \"ana@example.com via token KEY\"", made_by_api)

    def listed_csv(*argv):
        rr = tessera(data, "audit", "list", "--csv", *argv)
        return (list(csv.reader(io.StringIO(rr.stdout.decode(), newline="")))[1:]
                if rr.returncode == 0 else rr)

    other = listed_csv("--account", "Other")
    t.ok(other and all(x[1] == "Other" for x in other) and
         {x[3] for x in other} >= {"user.added", "user.disabled", "user.enabled"},
         "audit list --account", other)
    act = listed_csv("--action", "token.created")
    t.ok(act and all(x[3] == "token.created" for x in act) and len(act) >= 6,
         "audit list --action", act)
    t.eq(len(listed_csv("--limit", "3")), 3, "audit list --limit 3")
    mine = listed_csv("--email", "ana@example.com")
    t.ok(mine and all(x[2].startswith("ana@example.com") for x in mine),
         "audit list --email: what that person did (the command line's rows are nobody's)",
         mine)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    t.eq(len(listed_csv("--since", today, "--until", today)), len(body),
         "audit list --since and --until today: every row")
    t.eq(listed_csv("--until", "2001-01-01"), [], "audit list --until a past day: none")
    t.eq(listed_csv("--since", "2999-01-01"), [], "audit list --since a future day: none")
    r = tessera(data, "audit", "list", "--account", "Acme", "--limit", "5")
    lines = r.stdout.decode().splitlines()
    t.ok(r.returncode == 0 and lines[0].split() ==
         ["TIME", "ACCOUNT", "WHO", "ACTION", "OBJECT", "IP", "DETAIL"] and len(lines) == 6,
         "audit list: a table with a header, 5 rows", r.stdout[:600])
    # A description with a comma, quotes and a newline made on the page's
    # API comes back whole through the CSV.
    tricky = 'comma, "quotes"'
    tok = cli_token(data, "ana@example.com", tricky)
    secrets.append(tok.secret)
    got = [x for x in listed_csv("--action", "token.created") if x[4] == tok.key]
    t.ok(got and got[0][6] == tricky, "--csv quotes a detail with a comma and quotes",
         got)
    # No secret, no password, no hash: in any output, in any audit row.
    r = tessera(data, "audit", "list", "--limit", "100000")
    everything = r.stdout.decode() + "".join(",".join(x) for x in audit_rows(data)[1])
    stored = " ".join(str(v) for row in db.all("SELECT * FROM audit_log") for v in row)
    leaks = [s for s in secrets + [PW, "pass phrase piped in"] if s in everything or s in stored]
    t.eq(leaks, [], "no secret or password in audit list's output or any audit row")


def main():
    t = Tap()
    work = scratch("cli")
    help_everywhere(t)
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "bob@example.com", PW)
    add_user(data, "zed@other.example", PW, role="admin", account="Other")
    db = Db(data)
    usage_errors(t, data)
    secrets = []
    made = token_list(t, data, db, secrets)
    r = tessera(data, "user", "passwd", "bob@example.com", stdin=b"pass phrase piped in\n")
    t.ok(r.returncode == 0 and b"pass phrase" not in r.stdout, "user passwd (piped)", r)
    r = tessera(data, "token", "rotate", made[1].key, "--grace-seconds", "0")
    t.eq(r.returncode, 0, "token rotate")
    secrets.append(re.search(r"Token: +(\S+)", r.stdout.decode()).group(1))
    switched = switch_through_server(t, work, data, db)
    audit_list(t, data, db, made, switched, secrets)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
