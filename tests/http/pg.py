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

A synchronous hot standby of a running cluster, for failover tests:

    with Postgres(scratch("pg1")) as primary, \
            primary.standby(scratch("pg2")) as standby:
        primary.crash()        # kill -9: the postmaster and its children
        standby.promote()      # now the primary

standby() makes it with pg_basebackup -R over the primary's socket (the
replication entry "local replication all trust" comes with initdb
--auth=trust), gives it its own data directory, socket directory and
port, and primary_conninfo naming the primary's socket and the standby's
application_name. start() waits until it streams; then the primary's
synchronous_standby_names names it (ALTER SYSTEM, reloaded) and start()
waits until the primary reports it as "sync": from then on a commit on
the primary returns only once the standby has flushed it
(synchronous_commit = on). The standby's own synchronous_standby_names
is empty, so once promoted it commits on its own.

crash() is a machine dying: the postmaster is stopped (SIGSTOP, so it
forks nothing more), each of its children is sent SIGKILL (PostgreSQL's
children call setsid(), so they are found by their parent pid, not by
the session), then the postmaster itself. All by pid.
"""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import urllib.parse

from servers import ServerError, _Server, free_port

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"      # the cluster's owner when we are root
SUPERUSER = "postgres"    # the cluster's superuser (initdb -U)
SOCKET_PATH_MAX = 107     # bytes in sockaddr_un.sun_path, less the NUL

__all__ = ["Postgres", "Standby", "PgError", "let_pg_user_reach", "PG_BIN",
           "multi_host_uri"]


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
    value(dbname, sql): the one value sql answers, as text.
    standby(workdir, app_name): a synchronous hot standby of it (Standby).
    replication(): what pg_stat_replication says of its standbys.
    set_synchronous(*app_names): its synchronous_standby_names (ALTER
    SYSTEM: it stays after a restart, even once the standby is gone).
    crash(): kill -9 of the postmaster and its children, by pid.
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
            self._make_cluster()
        # Appended at every start: the last setting wins, and a restart
        # may have a new socket directory.
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# tests/http/pg.py: a unix socket only, ours alone\n"
                    "listen_addresses = ''\n"
                    "unix_socket_directories = '%s'\n"
                    "unix_socket_permissions = 0700\n"
                    "port = %d\n"
                    "fsync = on\n"
                    "synchronous_commit = on\n"
                    "max_connections = 64\n"
                    "shared_buffers = 16MB\n"
                    "logging_collector = off\n"
                    # What a standby needs of it (PostgreSQL 15's defaults,
                    # said here): WAL for replicas, senders to stream it.
                    "wal_level = replica\n"
                    "max_wal_senders = 10\n"
                    "%s"
                    % (self.socket_dir.replace("'", "''"), self.port,
                       self._more_conf()))
        argv = _as_pg_user([os.path.join(PG_BIN, "postgres"), "-D", self.data_dir])
        return argv, _clean_env()

    def _make_cluster(self):
        """A new cluster in data_dir (empty, ours): initdb."""
        self._initdb()

    def _more_conf(self):
        """postgresql.conf lines a subclass adds at each start."""
        return ""

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
                and lines[7].strip() in self._ready_states
                and os.path.exists(self.socket_path))

    _ready_states = ("ready",)

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

    def value(self, dbname, sql):
        """The one value sql answers, as text ('' when no row)."""
        return self.psql(dbname, sql).strip()

    # -- replication ---------------------------------------------------------

    def standby(self, workdir, app_name="standby", port=None, synchronous=True):
        """A hot standby of this (running) cluster, not started yet: use it
        as a context manager or call start(). With synchronous, start()
        makes it this cluster's synchronous standby."""
        return Standby(workdir, self, app_name=app_name, port=port,
                       synchronous=synchronous)

    def replication(self):
        """{application_name: (state, sync_state)} of the standbys this
        cluster streams to now (pg_stat_replication)."""
        out = self.psql("postgres", "SELECT application_name, state, sync_state "
                        "FROM pg_stat_replication;")
        found = {}
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) == 3:
                found[parts[0]] = (parts[1], parts[2])
        return found

    def set_synchronous(self, *app_names):
        """synchronous_standby_names = the standbys named (none: commits
        wait for no standby), through ALTER SYSTEM (kept in
        postgresql.auto.conf across restarts) and a reload."""
        value = ", ".join('"%s"' % n.replace('"', '""') for n in app_names)
        self.psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = '%s';\n"
                  "SELECT pg_reload_conf();" % value.replace("'", "''"))

    def crash(self, timeout=10):
        """kill -9 this cluster as a dying machine would: the postmaster is
        stopped first (it can fork nothing more and reacts to nothing),
        each process whose parent it is (backends, WAL senders, the
        checkpointer... they call setsid(), so they are not in its
        session) is sent SIGKILL, then the postmaster. Nothing is
        flushed or shut down. By pid only. Returns the pids killed.
        stop() afterwards only tidies up."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            raise ServerError("%s is not running" % self.name)
        pm = proc.pid
        os.kill(pm, signal.SIGSTOP)
        victims = _descendants(pm)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # The orphans come to us rather than to an init that may never
        # reap them (a container's): we wait for exactly those pids.
        reaper = _subreaper(True)
        try:
            os.kill(pm, signal.SIGKILL)
            proc.wait(timeout)
            if reaper:
                for pid in victims:
                    try:
                        os.waitpid(pid, 0)
                    except ChildProcessError:
                        pass     # not reparented to us: init has it
        finally:
            if reaper:
                _subreaper(False)
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in victims):
            if time.monotonic() > deadline:
                raise ServerError("%s: children of %d outlived SIGKILL" % (self.name, pm))
            time.sleep(0.01)
        return [pm] + victims

    def createdb(self, name):
        """CREATE DATABASE name (UTF8, the cluster's locale); returns its URI."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError("database names here are [a-z_][a-z0-9_]*: %r" % name)
        self.psql("postgres", "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8';"
                  % name)
        return self.uri(name)


class Standby(Postgres):
    """A hot standby of a running Postgres (primary), made by
    pg_basebackup -R at the first start into its own data directory, with
    its own socket directory and port. primary_conninfo names the
    primary's socket and app_name (the standby's application_name there).
    start() returns once it streams from the primary and, when
    synchronous, once the primary counts it as its synchronous standby.
    promote() makes it a primary."""

    name = "postgres-standby"
    _ready_states = ("standby", "ready")   # hot standby, or promoted

    def __init__(self, workdir, primary, app_name="standby", port=None,
                 synchronous=True):
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", app_name):
            raise ValueError("application names here are [a-z_][a-z0-9_]*: %r" % app_name)
        super().__init__(workdir, port)
        self.primary = primary
        self.app_name = app_name
        self.synchronous = synchronous

    def _primary_conninfo(self):
        return _conninfo(host=self.primary.socket_dir, port=self.primary.port,
                         user=SUPERUSER, application_name=self.app_name)

    def _make_cluster(self):
        """pg_basebackup -R from the primary, over its socket, as the
        cluster's user; then postgresql.auto.conf gets our primary_conninfo
        and loses any synchronous_standby_names copied from the primary
        (the standby, once promoted, must not wait for itself)."""
        if not self.primary.socket_dir or self.primary.proc is None:
            raise ServerError("%s: the primary is not running" % self.name)
        argv = _as_pg_user([
            os.path.join(PG_BIN, "pg_basebackup"), "--pgdata=" + self.data_dir,
            "--dbname=" + self._primary_conninfo(), "--write-recovery-conf",
            "--wal-method=stream", "--checkpoint=fast", "--no-password"])
        with open(self.log_path, "ab") as log:
            rc = subprocess.run(argv, env=_clean_env(), cwd=self.workdir,
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, timeout=120).returncode
        if rc != 0:
            raise ServerError("pg_basebackup exited with status %d:\n%s"
                              % (rc, _log_tail(self.log_path)))
        if not os.path.exists(os.path.join(self.data_dir, "standby.signal")):
            raise ServerError("pg_basebackup -R made no standby.signal")
        auto = os.path.join(self.data_dir, "postgresql.auto.conf")
        with open(auto) as f:
            kept = [l for l in f.read().splitlines() if not re.match(
                r"\s*(primary_conninfo|synchronous_standby_names)\s*=", l)]
        kept.append("primary_conninfo = '%s'" % self._primary_conninfo().replace("'", "''"))
        with open(auto, "w") as f:     # rewritten in place: still the cluster user's
            f.write("\n".join(kept) + "\n")

    def _more_conf(self):
        return ("hot_standby = on\n"
                "synchronous_standby_names = ''\n"
                "wal_receiver_status_interval = 1s\n")

    def start(self, timeout=60):
        """Start (making the cluster first if need be) and wait until it
        streams from the primary; when synchronous, name it in the
        primary's synchronous_standby_names and wait until the primary
        reports it "sync"."""
        super().start(timeout=timeout)
        try:
            self._await_primary("streaming", None, timeout)
            if self.synchronous:
                self.primary.set_synchronous(self.app_name)
                self._await_primary("streaming", "sync", timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _await_primary(self, state, sync_state, timeout):
        deadline = time.monotonic() + timeout
        while True:
            got = self.primary.replication().get(self.app_name)
            if got and got[0] == state and (sync_state is None or got[1] == sync_state):
                return
            if time.monotonic() > deadline or self.proc is None or self.proc.poll() is not None:
                raise ServerError("%s: the primary reports %r for %s, not %s/%s:\n%s"
                                  % (self.name, got, self.app_name, state,
                                     sync_state or "any", _log_tail(self.log_path)))
            time.sleep(0.05)

    def in_recovery(self):
        """True while a standby (pg_is_in_recovery())."""
        return self.value("postgres", "SELECT pg_is_in_recovery();") == "t"

    def promote(self, timeout=30):
        """Makes it a primary (pg_promote, waiting); True once it is out of
        recovery and its postmaster says "ready"."""
        out = self.value("postgres", "SELECT pg_promote(true, %d);" % int(timeout))
        if out != "t":
            raise ServerError("%s: pg_promote answered %r:\n%s"
                              % (self.name, out, _log_tail(self.log_path)))
        deadline = time.monotonic() + timeout
        while self.in_recovery():
            if time.monotonic() > deadline:
                raise ServerError("%s: still in recovery after promotion" % self.name)
            time.sleep(0.02)
        return True


def multi_host_uri(dbname, servers, **params):
    """A libpq URI naming several servers by their sockets, in order:
    postgresql:///DB?host=DIR1,DIR2&port=P1,P2&user=postgres&... (params
    added as they are, e.g. target_session_attrs="read-write")."""
    query = [("host", ",".join(s.socket_dir for s in servers)),
             ("port", ",".join(str(s.port) for s in servers)),
             ("user", SUPERUSER)] + sorted(params.items())
    return "postgresql:///%s?%s" % (urllib.parse.quote(dbname, safe=""),
                                    urllib.parse.urlencode(query, safe="/,"))


def _conninfo(**kw):
    """A libpq key=value connection string, each value quoted."""
    return " ".join("%s='%s'" % (k, str(v).replace("\\", "\\\\").replace("'", "\\'"))
                    for k, v in kw.items())


def _subreaper(on):
    """prctl(PR_SET_CHILD_SUBREAPER): orphans below us come to us; True
    when that worked (Linux)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1 if on else 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _ppids():
    """{pid: parent pid} of every process now."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                line = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        found[int(entry)] = int(line[line.rindex(")") + 2:].split()[1])
    return found


def _descendants(pid):
    """The pids below pid (children, their children...), nearest first."""
    ppids = _ppids()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop(0)
        kids = sorted(p for p, pp in ppids.items() if pp == parent)
        found += kids
        todo += kids
    return found


def _alive(pid):
    """True while pid is a process that is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            line = f.read()
    except OSError:
        return False
    return line[line.rindex(")") + 2:].split()[0] not in ("Z", "X")


def _log_tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            text = f.read()[-16384:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
