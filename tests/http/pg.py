"""A scratch PostgreSQL 15 for the tests: Debian's server binaries, a
cluster of its own, reachable on a unix socket only.

    from pg import Postgres

    with Postgres(scratch("pg")) as pg:
        uri = pg.createdb("tessera")
        pg.psql("tessera", "SELECT 1")

initdb runs into WORKDIR/data as an unprivileged user: the `postgres`
system user when the tests run as root (PostgreSQL refuses to run as
root), the current user otherwise. The superuser is named postgres either
way and every local connection is trusted (--auth=trust), which is safe
because nothing listens on the network (listen_addresses = '') and the
socket's directory is the cluster user's alone (0700). The port only names
the socket file (.s.PGSQL.PORT).

A unix socket's path may be at most 107 bytes and the checkout (so the
scratch root) may be deep: the socket goes in WORKDIR/run when that is
short enough, else in a fresh directory under /tmp, which stop() removes.
Nothing else outside WORKDIR is touched.

The postmaster runs in the foreground in a session of its own, exec'd by
setpriv (no fork: the process the harness started is the postmaster).
stop() sends it SIGINT (a fast shutdown: clients are disconnected, the
data is checkpointed) and waits; it is never looked for by name. start()
after stop() runs the same cluster again.
"""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import urllib.parse

from servers import ServerError, _Server, free_port

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"      # the cluster's owner when we are root
SUPERUSER = "postgres"    # the cluster's superuser (initdb -U)
SOCKET_PATH_MAX = 107     # bytes in sockaddr_un.sun_path, less the NUL

__all__ = ["Postgres", "PgError", "let_pg_user_reach", "PG_BIN"]


class PgError(RuntimeError):
    """psql failed (the message carries its stderr)."""


def _is_root():
    return os.geteuid() == 0


def _psql_binary():
    for path in (os.path.join(PG_BIN, "psql"), "/usr/bin/psql"):
        if os.access(path, os.X_OK):
            return path
    raise ServerError("no psql in %s or /usr/bin" % PG_BIN)


def _c_utf8():
    """C.UTF-8 when the C library has it, else C."""
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "C"
    names = {l.strip().lower() for l in out.splitlines()}
    return "C.UTF-8" if names & {"c.utf8", "c.utf-8"} else "C"


def let_pg_user_reach(*paths):
    """Make sure the cluster's user can walk down to each path (a file or
    a directory, made or not).

    Running as root only (otherwise the user is us). A directory on the
    way that the user may not traverse gets o+x added when it is ours and
    inside the temp directory (tempfile.mkdtemp() makes them 0700);
    anywhere else that is an error: opening up a directory outside the
    temp directory is not ours to do.
    """
    if not _is_root():
        return
    pw = pwd.getpwnam(PG_USER)
    gids = set(os.getgrouplist(PG_USER, pw.pw_gid))
    tmp = os.path.realpath(tempfile.gettempdir())
    for path in paths:
        cur = os.path.realpath(path)
        while not os.path.isdir(cur):
            cur = os.path.dirname(cur)
        while True:
            st = os.stat(cur)
            if st.st_uid == pw.pw_uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid in gids:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if not ok:
                if cur.startswith(tmp + os.sep) and st.st_uid == os.geteuid():
                    os.chmod(cur, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
                else:
                    raise ServerError("%s cannot reach %s: %s is not searchable for it"
                                      % (PG_USER, path, cur))
            if cur == "/":
                break
            cur = os.path.dirname(cur)


def _give_to_pg_user(path):
    """chown one path (not recursive) to the cluster's user when root."""
    if _is_root():
        pw = pwd.getpwnam(PG_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _as_pg_user(argv):
    """argv run as the cluster's user. setpriv execs (runuser would fork
    and wait), so a Popen's pid is the program's own."""
    if not _is_root():
        return list(argv)
    return ["setpriv", "--reuid=" + PG_USER, "--regid=" + PG_USER,
            "--init-groups", "--"] + list(argv)


def _clean_env(extra=None):
    """The environment for the server and psql: no PG* variable of ours
    may redirect them; messages in English."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"LC_ALL": "C", "LANG": "C"})
    if _is_root():
        env["HOME"] = pwd.getpwnam(PG_USER).pw_dir
    env.update(extra or {})
    return env


class Postgres(_Server):
    """PostgreSQL 15 on a unix socket, with its cluster in workdir/data.

    socket_dir, port: where the socket is (port only names the file).
    uri(dbname): a libpq URI for that database as the superuser.
    psql(dbname, sql): runs SQL (ON_ERROR_STOP) and returns psql's output
    (unaligned, tuples only, fields split by '|'); PgError on failure.
    createdb(name): makes a database; returns its URI.
    """

    name = "postgres"

    def __init__(self, workdir, port=None):
        super().__init__(workdir)
        self.port = int(port or free_port())
        self.data_dir = self._path("data")
        self.socket_dir = None
        self._own_socket_dir = False   # a mkdtemp under /tmp: stop() removes it

    # -- the socket's directory ------------------------------------------

    def _socket_path_in(self, d):
        return os.path.join(d, ".s.PGSQL.%d" % self.port)

    def _make_socket_dir(self):
        inside = self._path("run")
        if len(self._socket_path_in(inside).encode()) <= SOCKET_PATH_MAX:
            os.makedirs(inside, mode=0o700, exist_ok=True)
            self.socket_dir = inside
        else:
            self.socket_dir = tempfile.mkdtemp(prefix="pg-", dir="/tmp")
            self._own_socket_dir = True
            if len(self.socket_path.encode()) > SOCKET_PATH_MAX:
                raise ServerError("%s: even %s is too long for a unix socket"
                                  % (self.name, self.socket_path))
        os.chmod(self.socket_dir, 0o700)
        _give_to_pg_user(self.socket_dir)

    @property
    def socket_path(self):
        return self._socket_path_in(self.socket_dir) if self.socket_dir else None

    # -- _Server -----------------------------------------------------------

    def _prepare(self):
        self._make_socket_dir()
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        _give_to_pg_user(self.data_dir)
        let_pg_user_reach(self.data_dir, self.socket_dir)
        if not os.path.exists(os.path.join(self.data_dir, "PG_VERSION")):
            self._initdb()
        # Appended at every start: the last setting wins, and a restart
        # may have a new socket directory.
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# tests/http/pg.py: a unix socket only, ours alone\n"
                    "listen_addresses = ''\n"
                    "unix_socket_directories = '%s'\n"
                    "unix_socket_permissions = 0700\n"
                    "port = %d\n"
                    "fsync = on\n"
                    "max_connections = 64\n"
                    "shared_buffers = 16MB\n"
                    "logging_collector = off\n"
                    % (self.socket_dir.replace("'", "''"), self.port))
        argv = _as_pg_user([os.path.join(PG_BIN, "postgres"), "-D", self.data_dir])
        return argv, _clean_env()

    def _initdb(self):
        initdb = _as_pg_user([
            os.path.join(PG_BIN, "initdb"), "--pgdata=" + self.data_dir,
            "--username=" + SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=" + _c_utf8(), "--no-instructions"])
        with open(self.log_path, "ab") as log:
            rc = subprocess.run(initdb, env=_clean_env(), cwd=self.workdir,
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, timeout=120).returncode
        if rc != 0:
            raise ServerError("initdb exited with status %d:\n%s"
                              % (rc, _log_tail(self.log_path)))

    def _ready(self):
        """Ready when postmaster.pid names our process and says "ready"
        (PostgreSQL 10 and later write the state on its 8th line)."""
        if self.proc is None:
            return False
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return False
        return (len(lines) >= 8 and lines[0].strip() == str(self.proc.pid)
                and lines[7].strip() == "ready" and os.path.exists(self.socket_path))

    def _address(self):
        return self.socket_path or self.data_dir

    def stop(self, timeout=30):
        """SIGINT (fast shutdown) to the postmaster, by its pid, and wait;
        the base class then SIGTERMs, SIGKILLs and sweeps its session if
        that was not enough. Removes a socket directory made under /tmp.
        Safe to call twice."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        super().stop()

    def _cleanup(self):
        if self._own_socket_dir and self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir, self._own_socket_dir = None, False

    # -- clients -----------------------------------------------------------

    def uri(self, dbname):
        """postgresql:///DB?host=SOCKETDIR&port=N&user=postgres"""
        if not self.socket_dir:
            raise ServerError("postgres is not started")
        return "postgresql:///%s?%s" % (
            urllib.parse.quote(dbname, safe=""),
            urllib.parse.urlencode({"host": self.socket_dir, "port": self.port,
                                    "user": SUPERUSER}, safe="/"))

    def run_psql(self, dbname, sql, *args):
        """psql with sql on its stdin, ON_ERROR_STOP, no psqlrc, quiet,
        unaligned and tuples only; extra args are psql's (-1 for one
        transaction). Returns the CompletedProcess (text), checked or not."""
        argv = [_psql_binary(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-d", self.uri(dbname)] + list(args) + ["-f", "-"]
        return subprocess.run(argv, input=sql, capture_output=True, text=True,
                              env=_clean_env(), timeout=60)

    def psql(self, dbname, sql, *args):
        """Runs sql; returns psql's output. PgError (with stderr) when psql
        fails."""
        r = self.run_psql(dbname, sql, *args)
        if r.returncode != 0:
            raise PgError("psql %s exited with status %d: %s"
                          % (dbname, r.returncode, r.stderr.strip()))
        return r.stdout

    def createdb(self, name):
        """CREATE DATABASE name (UTF8, the cluster's locale); returns its URI."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError("database names here are [a-z_][a-z0-9_]*: %r" % name)
        self.psql("postgres", "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8';"
                  % name)
        return self.uri(name)


def _log_tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            text = f.read()[-16384:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
