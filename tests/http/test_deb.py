"""The Debian package: `make deb` builds tessera_VERSION_ARCH.deb (into a
scratch DEB_OUT), lintian finds no error in it, and the package unpacked
into a scratch root (dpkg -x) serves: its binary, run from that root with
a configuration made from its own /etc/tessera/tessera.conf, behind nginx
configured from its own /etc/tessera/nginx/tessera.conf, serves the login
page, the static files from its /usr/share/tessera/www, and /api/me to a
token its own command line made. postinst (the tessera user, the data
directory) needs a real installation as root and is checked as text here:
sh -n, and the commands it must run."""

import base64
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import REPO, Tap, data_env, engine, init_data, scratch  # noqa: E402


def version():
    with open(os.path.join(REPO, "fcgi", "process", "process.h")) as f:
        return re.search(r'#define TESSERA_VERSION "([^"]+)"', f.read()).group(1)


def build(t, out):
    """make deb DEB_OUT=out; the .deb's path (None when it failed)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SANITIZE", "CFLAGS", "LDFLAGS", "CPPFLAGS", "MAKEFLAGS",
                        "MAKELEVEL", "MFLAGS")}
    t0 = time.monotonic()
    p = subprocess.run(["make", "--no-print-directory", "-C", REPO, "deb",
                        "DEB_OUT=" + out], capture_output=True, env=env,
                       timeout=900)
    secs = time.monotonic() - t0
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True).stdout.strip()
    deb = os.path.join(out, "tessera_%s_%s.deb" % (version(), arch))
    print("# make deb: %.1f s" % secs)
    if not t.ok(p.returncode == 0 and os.path.isfile(deb),
                "make deb builds tessera_%s_%s.deb" % (version(), arch),
                (p.stdout + p.stderr).decode(errors="replace")[-3000:]):
        return None
    return deb


def check_lintian(t, deb):
    t0 = time.monotonic()
    p = subprocess.run(["lintian", "-I", "--no-tag-display-limit", deb],
                       capture_output=True, text=True, timeout=600)
    print("# lintian: %.1f s" % (time.monotonic() - t0))
    lines = [l for l in p.stdout.splitlines() if re.match(r"^[EWIPNXO]: ", l)]
    for l in lines:
        print("# " + l)
    t.eq([l for l in lines if l.startswith("E: ")], [], "lintian reports no error")
    t.eq(p.returncode, 0, "lintian ran and passed (exit status 0)")


def check_contents(t, deb, root):
    p = subprocess.run(["dpkg-deb", "-x", deb, root], capture_output=True)
    t.eq(p.returncode, 0, "dpkg -x unpacks it into a scratch root")
    for path in ("usr/bin/tessera", "usr/share/tessera/lua/app.lua",
                 "usr/share/tessera/schema/queries.sql",
                 "usr/share/tessera/schema/pg/queries.sql",
                 "usr/share/tessera/www", "etc/tessera/tessera.conf",
                 "etc/tessera/nginx/tessera.conf",
                 "lib/systemd/system/tessera.service",
                 "lib/systemd/system/tessera.socket",
                 "lib/systemd/system/tessera-runner.service",
                 "usr/share/man/man1/tessera.1.gz",
                 "usr/share/doc/tessera/copyright"):
        t.ok(os.path.exists(os.path.join(root, path)), "the package has /" + path)
    t.ok(os.path.isfile(os.path.join(root, "usr/share/tessera/docs/openapi.json")),
         "the package has /usr/share/tessera/docs/openapi.json")
    conffiles = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"],
                               capture_output=True, text=True).stdout.split()
    t.ok("/etc/tessera/tessera.conf" in conffiles and
         "/etc/tessera/nginx/tessera.conf" in conffiles,
         "/etc/tessera's files are conffiles", conffiles)
    stale = []
    for top in ("etc", "lib"):
        for base, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                with open(os.path.join(base, name), errors="replace") as f:
                    if "/usr/local" in f.read():
                        stale.append(os.path.join(base, name)[len(root):])
    t.eq(stale, [], "no unit or conffile points into /usr/local")
    with open(os.path.join(root, "lib/systemd/system/tessera.service")) as f:
        t.has(f.read(), "ExecStart=/usr/bin/tessera serve --config "
              "/etc/tessera/tessera.conf", "tessera.service runs /usr/bin/tessera")
    ctl = scratch("deb-control")
    subprocess.run(["dpkg-deb", "-e", deb, ctl], check=True)
    with open(os.path.join(ctl, "postinst")) as f:
        post = f.read()
    t.eq(subprocess.run(["sh", "-n", os.path.join(ctl, "postinst")]).returncode, 0,
         "postinst is valid sh")
    t.ok(re.search(r"adduser --system --group .*--home /var/lib/tessera", post,
                   re.S) is not None, "postinst makes the tessera system user")
    t.has(post, "install -d -o tessera -g tessera -m 0750 /var/lib/tessera",
          "postinst makes /var/lib/tessera 0750 tessera:tessera")
    t.has(post, "deb-systemd-helper", "postinst enables the units (debhelper)")
    with open(os.path.join(ctl, "control")) as f:
        control = f.read()
    t.ok(re.search(r"^Depends:.*\badduser\b", control, re.M) is not None,
         "the package depends on adduser", control)


def inst(root, conf, data, *args, stdin=b""):
    """Runs the unpacked package's tessera with its configuration, from /."""
    env = data_env(data, {k: v for k, v in os.environ.items()
                          if not k.startswith("TESSERA_") or k == "TESSERA_TEST_TMP"})
    env["TESSERA_CONFIG"] = conf
    return subprocess.run([os.path.join(root, "usr/bin/tessera")] + list(args),
                          input=stdin, capture_output=True, timeout=60, env=env,
                          cwd="/")


def serve(t, root, work):
    share = os.path.join(root, "usr/share/tessera")
    data = os.path.join(root, "var/lib/tessera")
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    # The shipped configuration, with the paths of the scratch root.
    conf = os.path.join(work, "tessera.conf")
    with open(os.path.join(root, "etc/tessera/tessera.conf")) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text + "\ndata_dir = %s\nlua_dir = %s/lua\nschema_dir = %s/schema\n"
                "www_dir = %s/www\nlisten = unix:%s\nworkers = 2\nsocket_mode = 0666\n"
                % (data, share, share, share, sock))
    if engine() == "postgresql":
        init_data(data)     # its database on the test's PostgreSQL
    p = inst(root, conf, data, "init")
    t.eq(p.returncode, 0, "the installed tessera init makes the data directory",
         ) or print("# " + p.stderr.decode(errors="replace"))
    # With no path in the configuration, the unpacked binary finds its
    # scripts beside it (BIN/../share/tessera), not in the checkout.
    env = {"PATH": os.environ.get("PATH", ""), "TESSERA_DATA": data}
    shown = subprocess.run([os.path.join(root, "usr/bin/tessera"), "config"],
                           capture_output=True, text=True, env=env, cwd="/").stdout
    t.has(shown, "lua_dir = %s/lua" % os.path.realpath(share),
          "the unpacked binary finds its scripts in its own root")
    p = inst(root, conf, data, "user", "add", "--email", "ana@example.com",
             "--role", "admin", "--account", "Acme", stdin=b"correct horse battery\n")
    t.eq(p.returncode, 0, "the installed CLI adds a user")
    p = inst(root, conf, data, "token", "add", "--email", "ana@example.com",
             "--description", "from the package")
    out = p.stdout.decode()
    m = re.search(r"Token Key: (\S+)\nToken: +(\S+)", out)
    if not t.ok(p.returncode == 0 and m, "the installed CLI makes a token",
                p.stderr.decode(errors="replace")):
        return
    key, tok = m.group(1), m.group(2)
    auth = {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key, tok)).encode()).decode()}
    env = data_env(data, {})
    env["TESSERA_CONFIG"] = conf
    with TesseraServe(os.path.join(work, "app"), os.path.join(root, "usr/bin/tessera"),
                      sock, workers=2, env=env), \
            Nginx(os.path.join(work, "nginx"), free_port(), sock,
                  www=os.path.join(share, "www"),
                  site=os.path.join(root, "etc/tessera/nginx/tessera.conf"),
                  site_www="/usr/share/tessera/www") as web:
        base = web.base_url
        st, _, body = http("GET", base + "/login")
        page = body.decode(errors="replace")
        t.eq(st, 200, "GET /login from the installed layout")
        t.has(page, 'name="password"', "the login page has its form")
        css = re.search(r'href="(/static/[^"]+\.css)"', page)
        st = http("GET", base + css.group(1))[0] if css else None
        t.eq(st, 200, "its stylesheet comes from the package's www")
        st, _, body = http("GET", base + "/api/me", auth)
        doc = json.loads(body) if st == 200 else {}
        t.eq(st, 200, "GET /api/me with the installed CLI's token")
        t.has(json.dumps(doc), key, "/api/me names the token")
        st = http("GET", base + "/api/me", {"Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (key, tok[:-1] + ("A" if tok[-1] != "A" else "B"))).encode()
        ).decode()})[0]
        t.eq(st, 401, "a wrong secret is refused")
        st, _, body = http("GET", base + "/api/openapi.json")
        with open(os.path.join(REPO, "docs", "openapi.json"), "rb") as f:
            t.ok(st == 200 and body == f.read(),
                 "GET /api/openapi.json serves the package's copy of docs/openapi.json", st)


def main():
    t = Tap()
    work = scratch("deb")
    deb = build(t, os.path.join(work, "build"))
    if deb is None:
        return t.done()
    if engine() == "postgresql":
        t.skip("lintian reports no error", "the same package: http/test_deb")
    else:
        check_lintian(t, deb)
    root = os.path.join(work, "root")
    os.makedirs(root)
    check_contents(t, deb, root)
    serve(t, root, work)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
