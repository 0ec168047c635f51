"""Socket squatting: a front talks to whatever listens at its FastCGI
socket's path, so the socket's directory must be one nobody else can
write. conf/lighttpd-env.sh refuses an unsafe TESSERA_RUNDIR (which stops
lighttpd before it starts) and makes a missing one 0700; `tessera serve
--listen unix:PATH` refuses a directory another user could write; a
squatter already listening where lighttpd's sockets go never hears from
lighttpd.

Run as root (as make test is): directories of another user are made by
chown, and the default directory is tried as www-data."""

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import (REPO, Lighttpd, ServerError, TesseraServe,  # noqa: E402
                     free_port, give_to_web_user, http)
from tap import BIN, Tap, app_env, init_data, scratch  # noqa: E402

ENV_SH = os.path.join(REPO, "conf", "lighttpd-env.sh")
WEB = pwd.getpwnam("www-data")
ROOT = os.geteuid() == 0


def env_sh(rundir=None, web_user=None, as_uid=None, extra=None):
    """Runs conf/lighttpd-env.sh as lighttpd would (in conf/); returns
    (exit status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TESSERA_") and k != "XDG_RUNTIME_DIR"}
    env.update({"TESSERA_ROOT": REPO, "TESSERA_PORT": "8080"})
    if rundir is not None:
        env["TESSERA_RUNDIR"] = rundir
    if web_user is not None:
        env["TESSERA_WEB_USER"] = web_user
    env.update(extra or {})
    argv = ["/bin/sh", ENV_SH]
    if as_uid is not None:
        argv = ["setpriv", "--reuid=%d" % as_uid, "--regid=%d" % as_uid,
                "--clear-groups"] + argv
    p = subprocess.run(argv, cwd=os.path.dirname(ENV_SH), env=env,
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def printed_rundir(out):
    for line in out.splitlines():
        if line.startswith("var.tessera_rundir = "):
            return line.split("=", 1)[1].strip().strip('"')
    return None


def mkdir(path, mode, uid=0):
    os.mkdir(path)
    os.chmod(path, mode)
    os.chown(path, uid, uid)
    return path


class Squatter:
    """A listener at path, as another local user would leave one: counts
    the connections it gets and what they send."""

    def __init__(self, path):
        self.path = path
        self.conns = 0
        self.got = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns += 1
            c.settimeout(0.5)
            try:
                self.got += c.recv(65536)
            except OSError:
                pass
            c.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def env_script(t, work):
    """conf/lighttpd-env.sh on directories good and bad."""
    # A good one, and a missing one (made 0700, ours).
    good = mkdir(os.path.join(work, "good"), 0o700)
    rc, out, err = env_sh(good)
    t.eq((rc, printed_rundir(out)), (0, good), "env: a 0700 directory of ours is used")
    fresh = os.path.join(work, "fresh")
    rc, out, err = env_sh(fresh)
    st = os.stat(fresh) if os.path.isdir(fresh) else None
    t.ok(rc == 0 and st and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(),
         "env: a missing directory is made 0700, ours", err)

    # Bad ones: each refused with a message naming it.
    bad = [
        ("world-writable (1777, like /tmp)", mkdir(os.path.join(work, "sticky"), 0o1777), "writable"),
        ("world-writable (0777)", mkdir(os.path.join(work, "world"), 0o777), "writable"),
        ("group-writable (0770)", mkdir(os.path.join(work, "group"), 0o770), "writable"),
        ("another user's (www-data, 0700)",
         mkdir(os.path.join(work, "theirs"), 0o700, WEB.pw_uid), "belongs to uid %d" % WEB.pw_uid),
    ]
    open_parent = mkdir(os.path.join(work, "open"), 0o777)
    bad.append(("0700 under a world-writable, non-sticky directory",
                mkdir(os.path.join(open_parent, "inner"), 0o700), "not sticky"))
    link = os.path.join(work, "link-to-theirs")
    os.symlink(os.path.join(work, "theirs"), link)
    bad.append(("a symbolic link to another user's directory", link,
                "belongs to uid %d" % WEB.pw_uid))
    for what, path, why in bad:
        rc, out, err = env_sh(path)
        t.ok(rc != 0 and "TESSERA_RUNDIR" in err and why in err and "var.tessera_rundir" not in out,
             "env: refuses %s" % what, "rc=%d\n%s" % (rc, err))
    # A link to a good directory is used as the real path.
    link = os.path.join(work, "link-to-good")
    os.symlink(good, link)
    rc, out, err = env_sh(link)
    t.eq((rc, printed_rundir(out)), (0, good), "env: a link is resolved, its target checked and used")
    rc, out, err = env_sh("relative/run")
    t.ok(rc != 0 and "absolute" in err, "env: a relative directory is refused", err)
    # A directory whose sockets' paths would pass the 107 bytes of a unix
    # socket (a long checkout, as make run once used): refused, saying so,
    # instead of lighttpd's "unixsocket is too long".
    deep = work
    while len(deep) < 100:
        deep = os.path.join(deep, "d" * 20)
    os.makedirs(deep, mode=0o700)
    rc, out, err = env_sh(deep)
    t.ok(rc != 0 and "too long for the sockets" in err and "var.tessera_rundir" not in out,
         "env: a directory too deep for a socket's path is refused", err)

    # lighttpd switching to TESSERA_WEB_USER creates the sockets as that
    # user: the directory must be its own.
    made = os.path.join(work, "web-fresh")
    rc, out, err = env_sh(made, web_user="www-data")
    st = os.stat(made) if os.path.isdir(made) else None
    t.ok(rc == 0 and st and st.st_uid == WEB.pw_uid and stat.S_IMODE(st.st_mode) == 0o700,
         "env: with TESSERA_WEB_USER a missing directory is made 0700 for that user", err)
    rc, out, err = env_sh(good, web_user="www-data")
    t.ok(rc != 0 and "not to www-data" in err,
         "env: with TESSERA_WEB_USER root's own directory is refused", err)
    rc, out, err = env_sh(good, web_user="no-such-user-here")
    t.ok(rc != 0 and "no such user" in err, "env: an unknown TESSERA_WEB_USER is refused", err)

    # The default, for a user other than root: never a shared directory
    # itself; a squatter's directory at the default path is refused.
    tmp = mkdir(os.path.join(work, "tmp"), 0o1777)
    readable = subprocess.run(["setpriv", "--reuid=%d" % WEB.pw_uid, "--regid=%d" % WEB.pw_gid,
                               "--clear-groups", "test", "-r", ENV_SH]).returncode == 0
    if not readable:
        t.skip("env: the default directory as www-data", "www-data cannot read " + ENV_SH)
        return
    mine = os.path.join(tmp, "tessera-lighttpd-%d" % WEB.pw_uid)
    squat = mkdir(mine, 0o777)   # root's: another user, as www-data sees it
    rc, out, err = env_sh(as_uid=WEB.pw_uid, extra={"TMPDIR": tmp})
    t.ok(rc != 0 and squat in err, "env: the default directory, squatted by another user, is refused", err)
    os.rmdir(squat)
    rc, out, err = env_sh(as_uid=WEB.pw_uid, extra={"TMPDIR": tmp})
    st = os.stat(mine) if os.path.isdir(mine) else None
    t.ok(rc == 0 and printed_rundir(out) == mine and st and st.st_uid == WEB.pw_uid
         and stat.S_IMODE(st.st_mode) == 0o700,
         "env: the default directory is made 0700 for the user, inside TMPDIR", err)


def squatted_lighttpd(t, work):
    """lighttpd does not start with its sockets in a directory a squatter
    can write, and the squatter already listening there hears nothing."""
    data = init_data(os.path.join(work, "data-squat"))
    shared = mkdir(os.path.join(work, "shared"), 0o1777)
    port = free_port()
    squatters = [Squatter(os.path.join(shared, "tessera-fcgi-%d.sock-%d" % (port, n)))
                 for n in range(2)]
    web = Lighttpd(os.path.join(work, "lighttpd-squat"), port, BIN, env=app_env(data),
                   rundir=shared)
    try:
        web.start(timeout=10)
        started = True
        try:
            http("GET", web.base_url + "/login?email=x&password=SQUATTED-SECRET", timeout=5)
        except OSError:
            pass
    except ServerError as e:
        started = False
        why = str(e)
    finally:
        web.stop()
        for s in squatters:
            s.close()
    t.ok(not started, "lighttpd refuses to start with its sockets in a world-writable directory")
    if not started:
        t.has(why, "TESSERA_RUNDIR " + shared, "the refusal names the directory")
    t.eq(sum(s.conns for s in squatters), 0, "the squatter got no connection")
    t.hasnt(b"".join(s.got for s in squatters), b"SQUATTED-SECRET", "and no request")


def lighttpd_as_web_user(t, work):
    """Started as root with TESSERA_WEB_USER=www-data and no socket
    directory yet: it is made for www-data, 0700, and the sockets in it are
    www-data's."""
    data = init_data(os.path.join(work, "data-web"))
    give_to_web_user(data)
    rundir = os.path.join(work, "web-run")
    try:
        with Lighttpd(os.path.join(work, "lighttpd-web"), free_port(), BIN,
                      env=app_env(data), user="www-data", rundir=rundir) as web:
            status, _, body = http("GET", web.base_url + "/healthz")
            t.eq(status, 200, "lighttpd as www-data: /healthz through sockets in a fresh directory")
            st = os.stat(rundir)
            t.ok(st.st_uid == WEB.pw_uid and stat.S_IMODE(st.st_mode) == 0o700,
                 "lighttpd as www-data: the directory is www-data's, 0700",
                 "uid %d mode %o" % (st.st_uid, stat.S_IMODE(st.st_mode)))
            socks = [n for n in os.listdir(rundir) if ".sock" in n]
            t.ok(socks and all(os.stat(os.path.join(rundir, n)).st_uid == WEB.pw_uid
                               for n in socks),
                 "lighttpd as www-data: its sockets are www-data's", socks)
    except ServerError as e:
        t.ok(False, "lighttpd as www-data starts", e)


def serve_refuses(t, work):
    """tessera serve --listen unix:PATH in a directory others can write."""
    data = init_data(os.path.join(work, "data-serve"))
    open_parent = mkdir(os.path.join(work, "serve-open"), 0o777)
    cases = [
        ("a world-writable sticky directory (like /tmp)",
         mkdir(os.path.join(work, "serve-sticky"), 0o1777), "writable by its group or by others"),
        ("a group-writable directory",
         mkdir(os.path.join(work, "serve-group"), 0o770), "writable by its group or by others"),
        ("another user's directory",
         mkdir(os.path.join(work, "serve-theirs"), 0o755, WEB.pw_uid), "belongs to another user"),
        ("a directory under a world-writable, non-sticky one",
         mkdir(os.path.join(open_parent, "inner"), 0o700), "not sticky"),
    ]
    for what, d, why in cases:
        sock = os.path.join(d, "tessera.sock")
        app = TesseraServe(os.path.join(work, "serve-" + os.path.basename(d) + "-out"), BIN,
                           sock, workers=1, env=app_env(data))
        try:
            app.start(timeout=10)
            refused, log = False, ""
        except ServerError as e:
            refused, log = True, str(e)
        finally:
            app.stop()
        t.ok(refused and why in log and d in log,
             "serve refuses a socket in %s, naming the directory" % what, log[-600:])
        t.ok(not os.path.exists(sock), "serve made no socket in %s" % what)
    # Our own 0755 directory is fine (the other tests use it), and a link
    # to it is bound at the real path.
    ok = mkdir(os.path.join(work, "serve-ok"), 0o755)
    link = os.path.join(work, "serve-link")
    os.symlink(ok, link)
    try:
        with TesseraServe(os.path.join(work, "serve-ok-out"), BIN, os.path.join(link, "t.sock"),
                          workers=1, env=app_env(data)):
            t.ok(stat.S_ISSOCK(os.lstat(os.path.join(ok, "t.sock")).st_mode),
                 "serve binds at the real path behind a link")
    except ServerError as e:
        t.ok(False, "serve starts in a 0755 directory of ours", e)


def main():
    t = Tap()
    if not ROOT or shutil.which("setpriv") is None:
        t.skip("socket directories", "needs root and setpriv (util-linux)")
        return t.done()
    work = scratch("fronts-sockets")
    os.chmod(work, 0o755)     # www-data walks through it
    env_script(t, work)
    squatted_lighttpd(t, work)
    lighttpd_as_web_user(t, work)
    serve_refuses(t, work)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
