"""Start and stop the front web servers for the HTTP tests.

Each class runs one real server in the foreground on 127.0.0.1, configured from
the very files in conf/ (nginx and Apache: by replacing the few marked values
documented at the top of each file; lighttpd: through its TESSERA_* environment
variables).  Everything the server writes -- generated configs, logs, pid
files, sockets, temp files -- lives in the work directory given to it.

    from servers import Lighttpd, Nginx, TesseraServe, free_port, http

    with TesseraServe(work, BIN, work + "/t.sock", workers=2, env=env) as app, \
         Nginx(work, free_port(), app.socket_path) as web:
        status, headers, body = http("GET", web.base_url + "/login")

Lifecycle only: no assertions here.

Processes are started in a new session of their own and stopped by pid
(SIGTERM, then SIGKILL after a grace period); anything left in that session
afterwards (an Apache child, a spawned app process) is ended by pid as well.
Nothing is ever killed by name.  Servers still running when the interpreter
exits (a test that crashed before stop()) are stopped by an atexit hook.

Running as root (as the CI box does): Apache refuses to serve as root, so its
children -- and with mod_fcgid the app processes they spawn -- run as www-data;
nginx's workers do too, for a realistic test.  Therefore every class makes its
work directory 0755, and let_web_user_reach() adds o+x to the directories
above the socket, www/, the binary and the data dir when they are ours and
under the temp dir (tempfile.mkdtemp() makes them 0700), and fails clearly
elsewhere.  ApacheFcgid chowns the work directory and TESSERA_DATA to
www-data (the app runs as www-data there and must write its database).  The
TesseraServe socket is made 0666 (TESSERA_SOCKET_MODE) unless the caller says
otherwise, so the web servers' www-data workers may connect.
"""

import atexit
import http.client as httpclient
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(REPO, "conf")
WWW = os.path.join(REPO, "www")

APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
WEB_USER = "www-data"

__all__ = [
    "REPO", "ServerError", "free_port", "http", "give_to_web_user", "let_web_user_reach",
    "Lighttpd", "Nginx", "ApacheProxyFcgi", "ApacheFcgid", "TesseraServe",
]


class ServerError(RuntimeError):
    """A server would not start (the message carries its log tail)."""


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port6(host6="::1"):
    """A port free on 127.0.0.1 and on host6 ("::1", or "::" for a
    dual-stack listen)."""
    for _ in range(50):
        p = free_port()
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind((host6, p))
            return p
        except OSError:
            continue
    raise RuntimeError("no port free on 127.0.0.1 and %s" % host6)


def http(method, url, headers=None, body=None, timeout=30):
    """One request, redirects not followed.

    Returns (status, headers, body): headers is an http.client.HTTPMessage
    (case-insensitive, dict-like; get_all() for repeated ones), body bytes.
    A str body is sent as UTF-8.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        conn = httpclient.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout,
            context=ssl._create_unverified_context())
    else:
        conn = httpclient.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        conn.request(method, target, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        out = resp.status, resp.headers, resp.read()
    finally:
        conn.close()
    for hook in RESPONSE_HOOKS:
        hook(method, url, *out)
    return out


# Called as hook(method, url, status, headers, body) after every answer
# http() gets (openapi_check.enable adds the API description's check).
RESPONSE_HOOKS = []


def _is_root():
    return os.geteuid() == 0


def give_to_web_user(*paths):
    """chown -R paths to www-data when running as root (no-op otherwise)."""
    if not _is_root():
        return
    pw = pwd.getpwnam(WEB_USER)
    for top in paths:
        if not top or not os.path.exists(top):
            continue
        os.chown(top, pw.pw_uid, pw.pw_gid)
        for base, dirs, files in os.walk(top):
            for name in dirs + files:
                os.lchown(os.path.join(base, name), pw.pw_uid, pw.pw_gid)


def let_web_user_reach(*paths):
    """Make sure www-data can walk down to each path (a file or directory).

    Running as root only.  A directory on the way that www-data may not
    traverse gets o+x added when it is ours and inside the temp directory (as
    tempfile.mkdtemp()'s 0700 directories are); anywhere else that is an
    error, since silently opening up a directory outside /tmp is not ours to
    do.
    """
    if not _is_root():
        return
    pw = pwd.getpwnam(WEB_USER)
    gids = set(os.getgrouplist(WEB_USER, pw.pw_gid))
    tmp = os.path.realpath(tempfile.gettempdir())
    for path in paths:
        if not path:
            continue
        cur = os.path.realpath(path)
        while not os.path.isdir(cur):   # a file, or not created yet
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
                                      % (WEB_USER, path, cur))
            if cur == "/":
                break
            cur = os.path.dirname(cur)


def _tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _session_members(sid):
    """(pid, state) of processes whose session id is sid, sid itself excluded.
    Zombies are included: an orphan killed by its server waits there until
    init reaps it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == sid:
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                line = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may contain spaces
        fields = line[line.rindex(")") + 2:].split()
        if int(fields[3]) == sid:
            found.append((int(entry), fields[0]))
    return found


def _substitute(text, replacements, path):
    """Replace each exact marker string; a marker missing from the file is a bug."""
    for old, new in replacements:
        if old not in text:
            raise ServerError("%s: marker %r not found" % (path, old))
        text = text.replace(old, new)
    return text


_running = set()


@atexit.register
def _stop_all():
    """Servers a crashed test never stopped do not outlive the interpreter."""
    for server in list(_running):
        server.stop()


class _Server:
    """One foreground server process and its files in workdir."""

    name = "server"

    def __init__(self, workdir):
        self.workdir = os.path.abspath(workdir)
        self.proc = None
        self.log_path = os.path.join(self.workdir, self.name + ".out")

    # Subclasses provide these.
    def _prepare(self):
        """Write config files; return (argv, env)."""
        raise NotImplementedError

    def _ready(self):
        """True once the server accepts connections (OSError: not yet)."""
        raise NotImplementedError

    def _address(self):
        raise NotImplementedError

    def _logs(self):
        """Files worth showing when the start fails."""
        return [self.log_path]

    def _web_user_paths(self):
        """Paths www-data must be able to reach (when we run as root)."""
        return []

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _path(self, name):
        return os.path.join(self.workdir, name)

    def start(self, timeout=15):
        """Start the server and wait until it accepts connections."""
        if self.proc:
            raise ServerError("%s already started" % self.name)
        try:
            if self._ready():
                # Someone else answers there: we could never tell it from us.
                raise ServerError("%s: %s is already in use" % (self.name, self._address()))
        except OSError:
            pass
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        let_web_user_reach(*self._web_user_paths())
        argv, env = self._prepare()
        # Append mode: the server may open the same file again (lighttpd's
        # "/dev/stderr" access log); O_APPEND keeps writers from overwriting.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                why = "exited with status %s" % self.proc.returncode
                break
            try:
                if self._ready():
                    _running.add(self)
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                why = "did not accept connections within %ss" % timeout
                break
            time.sleep(0.05)
        self.stop()
        report = ["%s %s: %s" % (self.name, why, " ".join(argv))]
        for path in self._logs():
            report.append("--- %s\n%s" % (path, _tail(path) or "(empty)"))
        raise ServerError("\n".join(report))

    def stop(self, timeout=10):
        """SIGTERM the server, SIGKILL it after timeout, then end any leftovers
        of its session.  Safe to call twice."""
        proc, self.proc = self.proc, None
        _running.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Children of the server (Apache workers, spawned app processes) may
        # outlive it by a moment; give them the same treatment, by pid.
        deadline = time.monotonic() + timeout
        sig = signal.SIGTERM
        while True:
            left = _session_members(proc.pid)
            live = [pid for pid, state in left if state != "Z"]
            if not left or (not live and time.monotonic() > deadline):
                break
            if time.monotonic() > deadline:
                sig = signal.SIGKILL
            for pid in live:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        self._cleanup()

    def _cleanup(self):
        pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class _WebServer(_Server):
    def __init__(self, workdir, port, www=None):
        super().__init__(workdir)
        self.port = int(port)
        self.www = os.path.abspath(www or WWW)

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def _ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def _address(self):
        return "127.0.0.1:%d" % self.port


class Lighttpd(_WebServer):
    """lighttpd spawning tessera_bin itself (mode A), from conf/lighttpd.conf.

    env (TESSERA_CONFIG, TESSERA_DATA, ...) is merged over os.environ and
    reaches the spawned app processes.  www, if given, must be a directory
    named "www" (the config serves $TESSERA_ROOT/www).  user: lighttpd and the
    app processes switch to this user when started as root (default: stay).
    rundir: TESSERA_RUNDIR, the sockets' directory (default: the work
    directory, given to user); conf/lighttpd-env.sh checks it (and makes it
    when missing), so an unsafe one stops lighttpd from starting.
    """

    name = "lighttpd"

    def __init__(self, workdir, port, tessera_bin, env=None, procs=2, www=None, user=None,
                 rundir=None):
        super().__init__(workdir, port, www)
        if os.path.basename(self.www) != "www":
            raise ValueError("lighttpd serves ROOT/www: %s is not named www" % self.www)
        self.tessera_bin = os.path.abspath(tessera_bin)
        self.env = dict(env or {})
        self.procs = procs
        self.user = user
        self.rundir = os.path.abspath(rundir) if rundir else None

    def _web_user_paths(self):
        if not self.user:
            return []
        return [self.workdir, self.tessera_bin, self.www,
                self.env.get("TESSERA_DATA"), self.env.get("TESSERA_CONFIG")]

    def _prepare(self):
        env = dict(os.environ)
        env.update(self.env)
        env.update({
            "TESSERA_ROOT": os.path.dirname(self.www),
            "TESSERA_BIN": self.tessera_bin,
            "TESSERA_RUNDIR": self.rundir or self.workdir,
            "TESSERA_PORT": str(self.port),
            "TESSERA_BIND": "127.0.0.1",
            "TESSERA_PROCS": str(self.procs),
            "TESSERA_WEB_USER": self.user or "",
            # include_shell runs through $SHELL.
            "SHELL": "/bin/sh",
        })
        if self.user:
            give_to_web_user(self.workdir)
        argv = [LIGHTTPD, "-D", "-f", os.path.join(CONF, "lighttpd.conf")]
        return argv, env


class Nginx(_WebServer):
    """nginx in front of a running FastCGI socket (mode B), from
    conf/nginx/tessera.conf included into a generated main config.

    listens: the addresses to listen on instead of 127.0.0.1:port, each
    the parameters of one nginx "listen" directive, e.g.
    ["127.0.0.1:8080", "[::1]:8081", "[::]:8082 ipv6only=off"].  The list
    must include one that accepts 127.0.0.1:port (readiness is checked
    there).  Default (None): 127.0.0.1:port only, as always.

    more_sockets: further hosts' sockets in the same upstream (several
    `tessera serve` hosts behind one nginx); balance: a directive for the
    upstream, e.g. "hash $http_authorization consistent".

    site: another copy of the site file (the Debian package's
    /etc/tessera/nginx/tessera.conf), whose www/ directory is written
    site_www there (that package's /usr/share/tessera/www)."""

    name = "nginx"

    def __init__(self, workdir, port, socket_path, www=None, listens=None,
                 more_sockets=(), balance=None, site=None,
                 site_www="/usr/local/share/tessera/www"):
        super().__init__(workdir, port, www)
        self.site = site or os.path.join(CONF, "nginx", "tessera.conf")
        self.site_www = site_www
        self.socket_path = os.path.abspath(socket_path)
        self.listens = list(listens) if listens is not None else None
        self.more_sockets = [os.path.abspath(p) for p in more_sockets]
        self.balance = balance

    def _web_user_paths(self):
        return [self.workdir, self.socket_path, self.www] + self.more_sockets

    def _logs(self):
        return [self._path("nginx-error.log"), self.log_path]

    def _prepare(self):
        src = self.site
        with open(src) as f:
            site = _substitute(f.read(), [
                ("/run/tessera/tessera.sock", self.socket_path),
                (self.site_www, self.www),
                ("listen 80;", "listen 127.0.0.1:%d;" % self.port),
                ("/var/log/nginx/tessera-access.log", self._path("tessera-access.log")),
            ], src)
        site = re.sub(r"(?m)^\s*listen \[::\]:80;\s*\n", "", site)
        if self.more_sockets or self.balance:
            line = "    server unix:%s;\n" % self.socket_path
            if line not in site:
                raise ServerError("%s: no upstream server line to extend" % src)
            site = site.replace(line, line + "".join(
                "    server unix:%s;\n" % p for p in self.more_sockets) +
                ("    %s;\n" % self.balance if self.balance else ""))
        if self.listens is not None:
            # Only the directive (the file's comments mention it too).
            site, n = re.subn(r"(?m)^(\s*)listen 127\.0\.0\.1:%d;$" % self.port,
                              lambda m: "\n".join(m.group(1) + "listen %s;" % l
                                                  for l in self.listens), site)
            if n != 1:
                raise ServerError("%s: no single listen directive to replace" % src)
        site_path = self._path("nginx-tessera.conf")
        with open(site_path, "w") as f:
            f.write(site)
        w = self.workdir
        types = ("include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types")
                 else "types { text/css css; text/javascript js; image/svg+xml svg; "
                      "image/png png; text/html html; text/plain txt; }")
        main = "\n".join([
            "# generated by tests/http/servers.py",
            "daemon off;",
            "master_process on;",
            # One worker: the upstream keepalive in the site file is per worker.
            "worker_processes 1;",
            "user %s;" % WEB_USER if _is_root() else "",
            "pid %s/nginx.pid;" % w,
            "error_log %s/nginx-error.log info;" % w,
            "events { worker_connections 512; }",
            "http {",
            "    %s" % types,
            "    default_type application/octet-stream;",
            # A server-wide log with the whole request line, as Debian's
            # nginx.conf has: the site's own access_log must replace it.
            "    access_log %s/nginx-access.log;" % w,
            "    client_body_temp_path %s/nginx-body;" % w,
            "    fastcgi_temp_path %s/nginx-fastcgi;" % w,
            "    proxy_temp_path %s/nginx-proxy;" % w,
            "    uwsgi_temp_path %s/nginx-uwsgi;" % w,
            "    scgi_temp_path %s/nginx-scgi;" % w,
            "    include %s;" % site_path,
            "}",
            "",
        ])
        conf = self._path("nginx.conf")
        with open(conf, "w") as f:
            f.write(main)
        argv = [NGINX, "-p", w + "/", "-e", self._path("nginx-error.log"), "-c", conf]
        return argv, dict(os.environ)


class _Apache(_WebServer):
    """Apache httpd (mpm_event) in the foreground with a generated main config
    that includes one of conf/apache/*.conf after substitution."""

    name = "apache"
    site = None        # file name under conf/apache/
    modules = ()       # extra modules to load

    def _logs(self):
        return [self._path("apache-error.log"), self.log_path]

    def _site_replacements(self):
        return [("*:80", "127.0.0.1:%d" % self.port),
                ("/usr/local/share/tessera/www", self.www),
                ("${APACHE_LOG_DIR}/tessera-access.log", self._path("tessera-access.log"))]

    def _edit_site(self, text):
        return text

    def _extra_main(self):
        return []

    def _prepare(self):
        src = os.path.join(CONF, "apache", self.site)
        with open(src) as f:
            site = self._edit_site(_substitute(f.read(), self._site_replacements(), src))
        site_path = self._path("apache-site.conf")
        with open(site_path, "w") as f:
            f.write(site)
        w = self.workdir
        mods = ["mpm_event", "authz_core", "alias", "mime", "headers"] + list(self.modules)
        lines = ["# generated by tests/http/servers.py",
                 "ServerRoot /etc/apache2",
                 "ServerName 127.0.0.1",
                 "Listen 127.0.0.1:%d" % self.port,
                 "PidFile %s/apache.pid" % w,
                 "DefaultRuntimeDir %s" % w,
                 "ErrorLog %s/apache-error.log" % w,
                 "LogLevel warn",
                 # A server-wide log with the whole request line (Debian's
                 # other_vhosts_access.log): the site's own CustomLog must
                 # replace it.
                 'LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" tessera',
                 "CustomLog %s/apache-access.log tessera" % w,
                 "TypesConfig /etc/mime.types",
                 "StartServers 1",
                 "ServerLimit 2",
                 "ThreadsPerChild 16",
                 "MaxRequestWorkers 32",
                 "Timeout 60"]
        # Apache will not serve as root: it switches its children to User.
        if _is_root():
            lines += ["User %s" % WEB_USER, "Group %s" % WEB_USER]
        lines += ["LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m) for m in mods]
        lines += ["<Directory />",
                  "    AllowOverride None",
                  "    Require all denied",
                  "</Directory>"]
        lines += self._extra_main()
        lines += ["Include %s" % site_path, ""]
        conf = self._path("apache.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines))
        env = dict(os.environ)
        env["LANG"] = "C"
        return [APACHE, "-DFOREGROUND", "-f", conf], env


class ApacheProxyFcgi(_Apache):
    """Apache mod_proxy_fcgi in front of a running FastCGI unix socket (mode B),
    from conf/apache/tessera-proxy-fcgi.conf."""

    name = "apache-proxy-fcgi"
    site = "tessera-proxy-fcgi.conf"
    modules = ("proxy", "proxy_fcgi")

    def __init__(self, workdir, port, socket_path, www=None):
        super().__init__(workdir, port, www)
        self.socket_path = os.path.abspath(socket_path)

    def _web_user_paths(self):
        return [self.workdir, self.socket_path, self.www]

    def _site_replacements(self):
        return super()._site_replacements() + [
            ("/run/tessera/tessera.sock", self.socket_path)]


# mod_fcgid copies at most 127 bytes of each FcgidInitialEnv value and
# drops the rest without a word (a checkout path of 55 characters already
# cut TESSERA_LUA_DIR short), and keeps at most 64 of them.
FCGID_ENV_VALUE_MAX = 127
FCGID_ENV_MAX = 64


class ApacheFcgid(_Apache):
    """Apache mod_fcgid spawning tessera_bin (mode A), from
    conf/apache/tessera-fcgid.conf.  The TESSERA_* settings of env go into
    a config file in the work directory (tessera.conf; a TESSERA_CONFIG of
    env is copied into it first), and only its path reaches the app, as
    FcgidInitialEnv TESSERA_CONFIG: mod_fcgid cuts longer values short.
    The other variables of env (sanitizer options) become FcgidInitialEnv
    lines of their own, and any value mod_fcgid would cut is an error here
    (the app processes see only those, plus what mod_fcgid sets itself).
    When run as root the app runs as www-data: the work dir and
    TESSERA_DATA (if set) are chowned to it."""

    name = "apache-fcgid"
    site = "tessera-fcgid.conf"
    modules = ("fcgid",)

    def __init__(self, workdir, port, tessera_bin, env=None, www=None):
        super().__init__(workdir, port, www)
        self.tessera_bin = os.path.abspath(tessera_bin)
        self.env = dict(env or {})
        self.settings = {}    # config key -> value, for tessera.conf
        self.initial_env = {"TESSERA_CONFIG": self._path("tessera.conf")}
        for key, value in self.env.items():
            value = str(value)
            if key.startswith("TESSERA_") and key != "TESSERA_CONFIG":
                if "\n" in value or "\r" in value:
                    raise ValueError("%s: a config value cannot hold a newline" % key)
                name = "data_dir" if key == "TESSERA_DATA" else key[8:].lower()
                self.settings[name] = value
            elif key != "TESSERA_CONFIG":
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or re.search(r'[\s"\\]', value):
                    raise ValueError("cannot pass %s=%r through FcgidInitialEnv" % (key, value))
                self.initial_env[key] = value
        for key, value in self.initial_env.items():
            if len(value.encode()) > FCGID_ENV_VALUE_MAX:
                raise ValueError("%s is %d bytes: mod_fcgid would cut it at %d"
                                 % (key, len(value.encode()), FCGID_ENV_VALUE_MAX))
        if len(self.initial_env) > FCGID_ENV_MAX:
            raise ValueError("mod_fcgid passes at most %d FcgidInitialEnv variables"
                             % FCGID_ENV_MAX)

    def _write_config(self):
        """tessera.conf: the caller's TESSERA_CONFIG, then env's settings
        (later lines win, as the environment would have)."""
        text = ["# generated by tests/http/servers.py"]
        if self.env.get("TESSERA_CONFIG"):
            with open(self.env["TESSERA_CONFIG"]) as f:
                text.append(f.read())
        for name, value in self.settings.items():
            text.append('%s = "%s"' % (name, value))
        with open(self.initial_env["TESSERA_CONFIG"], "w") as f:
            f.write("\n".join(text) + "\n")

    def _web_user_paths(self):
        return [self.workdir, self.tessera_bin, self.www,
                self.env.get("TESSERA_DATA"), self.env.get("TESSERA_CONFIG")]

    def _site_replacements(self):
        return super()._site_replacements() + [
            ("/usr/local/bin/tessera", self.tessera_bin)]

    def _edit_site(self, text):
        lines = text.splitlines(keepends=True)
        marked = [i for i, l in enumerate(lines) if l.lstrip().startswith("FcgidInitialEnv TESSERA_")]
        if not marked:
            raise ServerError("%s: no FcgidInitialEnv TESSERA_ lines" % self.site)
        indent = lines[marked[0]][:len(lines[marked[0]]) - len(lines[marked[0]].lstrip())]
        ours = ["%sFcgidInitialEnv %s %s\n" % (indent, k, v) for k, v in self.initial_env.items()]
        for i in reversed(marked):
            del lines[i]
        lines[marked[0]:marked[0]] = ours
        return "".join(lines)

    def _extra_main(self):
        return ["FcgidIPCDir %s/fcgid" % self.workdir,
                "FcgidProcessTableFile %s/fcgid-shm" % self.workdir]

    def _prepare(self):
        # mod_fcgid would only fail at the first request.
        if not os.access(self.tessera_bin, os.X_OK):
            raise ServerError("%s: %s is not an executable" % (self.name, self.tessera_bin))
        self._write_config()
        # The spawned app runs as www-data when we are root.
        give_to_web_user(self.workdir, self.env.get("TESSERA_DATA"))
        return super()._prepare()


class TesseraServe(_Server):
    """`tessera serve --listen unix:SOCKET --workers N` (mode B).

    env is merged over os.environ; TESSERA_SOCKET_MODE defaults to 0666 so
    the web servers' www-data workers can connect.
    """

    name = "tessera"

    def __init__(self, workdir, tessera_bin, socket_path, workers=2, env=None, args=()):
        super().__init__(workdir)
        self.tessera_bin = os.path.abspath(tessera_bin)
        self.socket_path = os.path.abspath(socket_path)
        self.workers = workers
        self.env = dict(env or {})
        self.args = list(args)

    def _prepare(self):
        env = dict(os.environ)
        env.setdefault("TESSERA_SOCKET_MODE", "0666")
        env.update(self.env)
        argv = [self.tessera_bin, "serve", "--listen", "unix:" + self.socket_path,
                "--workers", str(self.workers)] + self.args
        return argv, env

    def _ready(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(self.socket_path)
            return True

    def _address(self):
        return self.socket_path

    def reload(self):
        """SIGHUP the supervisor (new workers; old ones finish their request)."""
        self.proc.send_signal(signal.SIGHUP)
