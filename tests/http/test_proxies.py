"""The client's address (step 8, item 7): trusted_proxies and the IPv6 /64
buckets, through nginx on 127.0.0.1, the test standing in for a load
balancer in front of it with X-Forwarded-For.

    untrusted     without trusted_proxies, X-Forwarded-For is the
                  client's own word: allowed IPs, rate limits and the echo
                  of req.remote_addr all see the web server's peer
    trusted       with trusted_proxies = 127.0.0.1, the rightmost untrusted
                  X-Forwarded-For entry is the client: for allowed IPs, the
                  token's last_used_ip, req.remote_addr and X-Forwarded-Proto;
                  a forged entry on the left changes nothing
    buckets       per-address rate limits count an IPv6 /64 as one address
                  (a host walking its /64 gets no fresh bucket), an IPv4
                  address as itself; the login throttle's pair lock too
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Db, cli_token  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import BIN, Tap, add_user, app_env, init_data, scratch  # noqa: E402


def serve(work, name, data, **env):
    sock = os.path.join(work, name, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    app = TesseraServe(os.path.join(work, name, "app"), BIN, sock, workers=2,
                       env=app_env(data, **env))
    web = Nginx(os.path.join(work, name, "nginx"), free_port(), sock)
    return app, web


def call(base, path, tok, xff=None, extra=None):
    h = dict(tok.basic)
    if xff is not None:
        h["X-Forwarded-For"] = xff
    h.update(extra or {})
    s, hdrs, body = http("GET", base + path, h)
    return s


def echo(base, xff=None, xfp=None):
    h = {}
    if xff is not None:
        h["X-Forwarded-For"] = xff
    if xfp is not None:
        h["X-Forwarded-Proto"] = xfp
    s, _, body = http("GET", base + "/_test/echo/x", h)
    d = json.loads(body)["data"] if s == 200 else {}
    return d.get("remote_addr"), d.get("scheme")


def login(base, email, password, xff):
    c = Client(base)
    c.get("/login", headers={"X-Forwarded-For": xff})
    s, h, _ = c.post("/login", {"email": email, "password": password,
                                "csrf": c.csrf()}, headers={"X-Forwarded-For": xff})
    return s, h.get("Retry-After")


def main():
    t = Tap()
    work = scratch("proxies")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW)
    add_user(data, "bob@example.com", PW)
    db = Db(data)
    net = cli_token(data, "ana@example.com", "from 203.0.113.0/24",
                    "--allowed-ips", "203.0.113.0/24")
    anyip = cli_token(data, "ana@example.com", "from anywhere")
    # Per-address limits small, per-token ones off: only the address counts.
    limits = {"TESSERA_RATE_LIMIT_API_IP": 3, "TESSERA_RATE_LIMIT_API_KEY": 0,
              "TESSERA_LOGIN_MAX_FAILURES": 3}

    # -- untrusted: the default -------------------------------------------
    app, web = serve(work, "plain", data, **limits)
    with app, web:
        b = web.base_url
        t.eq(call(b, "/api/me", net, "203.0.113.9"), 401,
             "no trusted_proxies: X-Forwarded-For 203.0.113.9 does not pass the "
             "token's 203.0.113.0/24")
        t.eq(echo(b, "203.0.113.9", "https"), ("127.0.0.1", "http"),
             "... req.remote_addr and scheme are nginx's peer and scheme")
        # Burst 2 x 3: every X-Forwarded-For shares 127.0.0.1's bucket.
        got = [call(b, "/api/me", anyip, "198.51.100.%d" % i) for i in range(12)]
        t.ok(got.count(429) >= 4 and got[:5] == [200] * 5,
             "... and one rate-limit bucket whatever the header says", got)

    # -- trusted: 127.0.0.1 is our proxy ----------------------------------
    app, web = serve(work, "proxied", data, TESSERA_TRUSTED_PROXIES="127.0.0.1, ::1",
                     **limits)
    with app, web:
        b = web.base_url
        # The buckets live in the data directory: let 127.0.0.1's, emptied
        # above, fill again (3 a second, up to 6).
        time.sleep(2.2)
        t.eq(call(b, "/api/me", net, "203.0.113.9"), 200,
             "trusted_proxies = 127.0.0.1: X-Forwarded-For 203.0.113.9 passes "
             "203.0.113.0/24")
        t.eq(db.val("SELECT last_used_ip FROM tokens WHERE key = ?", net.key),
             "203.0.113.9", "... and is the token's last_used_ip")
        t.eq(call(b, "/api/me", net, "203.0.113.9, 198.51.100.1"), 401,
             "the client's address is the rightmost untrusted entry (198.51.100.1 "
             "here): 401")
        t.eq(call(b, "/api/me", net, "198.51.100.1, 203.0.113.10"), 200,
             "a forged entry on the left changes nothing: 200 for 203.0.113.10")
        t.eq(call(b, "/api/me", net, "203.0.113.11, 127.0.0.1"), 200,
             "trusted hops on the right are skipped")
        t.eq(call(b, "/api/me", net), 401,
             "no header: the client is nginx's peer, 127.0.0.1: 401")
        t.eq(call(b, "/api/me", net, "203.0.113.9:5000"), 401,
             "an entry that is not an address ends the walk (the peer stands): 401")
        t.eq(echo(b, "2001:DB8::0:7", "https"), ("2001:db8::7", "https"),
             "req.remote_addr is the client, written canonically; "
             "X-Forwarded-Proto https gives the scheme")

        # Buckets: an IPv6 /64 is one address.
        got = [call(b, "/api/me", anyip, "2001:db8:1:2::%x" % (i + 1)) for i in range(12)]
        t.ok(got.count(429) >= 4 and got[:5] == [200] * 5,
             "12 requests from 12 addresses of 2001:db8:1:2::/64 share one bucket "
             "(burst 6)", got)
        t.eq(call(b, "/api/me", anyip, "2001:db8:1:3::1"), 200,
             "the next /64 has its own bucket")
        got = [call(b, "/api/me", anyip, "198.51.100.%d" % (i + 1)) for i in range(12)]
        t.eq(got, [200] * 12, "IPv4 addresses are buckets of their own: 12 x 200")

        # The login throttle's pair lock counts the /64 too.
        got = [login(b, "bob@example.com", "wrong %d" % i, "2001:db8:5:5::%x" % (i + 1))[0]
               for i in range(3)]
        t.eq(got, [401] * 3, "three wrong passwords for bob from 2001:db8:5:5::1, ::2, ::3")
        s, ra = login(b, "bob@example.com", PW, "2001:db8:5:5::99")
        t.ok(s == 429 and ra and int(ra) > 60,
             "... the right one from ::99 of the same /64 is locked out (the pair)",
             (s, ra))
        s, ra = login(b, "bob@example.com", PW, "2001:db8:6::1")
        if s == 429 and ra and int(ra) <= 2:
            time.sleep(int(ra) + 0.1)
            s, ra = login(b, "bob@example.com", PW, "2001:db8:6::1")
        t.eq(s, 303, "from another /64 the right password gets in (at most slowed)")
        pairs = [r[0] for r in db.all(
            "SELECT DISTINCT key FROM login_failures WHERE scope = 'pair'")]
        t.ok(pairs and all(p.endswith("2001:db8:5:5::/64") for p in pairs),
             "the pair's failures are kept under the /64", pairs)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
