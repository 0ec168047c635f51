#!/usr/bin/env python3
"""tests/bench/ab.py -- two builds of tessera, A and B, side by side on one
path, measured in short interleaved rounds (A B A B ...), so that a shared,
noisy machine's slow drifts fall on both alike.

    python3 tests/bench/ab.py A_BINARY B_BINARY [--path /api/me]
        [--rounds 10] [--seconds 3] [--connections 16] [--workers 4]

Each binary serves a data directory of its own (made by itself: tessera
init, one user, one token; the bench's bulk of 100,000 tokens is not needed
for one path that reads one row) through its own nginx, with rate limits
off. A
round runs wrk on A, then on B (the order alternating), and reads the CPU
time every process of each side used (nginx, supervisor and workers, and
wrk). It prints each round and the medians: requests per second, and CPU
microseconds per request of the app's processes and of everything, with
B / A for each.
"""

import argparse
import base64
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
sys.path.insert(0, HERE)
import bench  # noqa: E402
from bench import wrk  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402

NO_LIMITS = {"TESSERA_RATE_LIMIT_API_KEY": "0", "TESSERA_RATE_LIMIT_API_IP": "0",
             "TESSERA_LOG_REQUESTS": "0", "TESSERA_RUN_POLL_MS": "0"}
TICK = os.sysconf("SC_CLK_TCK")


def tree_pids(pid):
    """pid and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
        except OSError:
            pass
    return total


class Side:
    def __init__(self, name, binary, work, workers):
        self.name = name
        data = os.path.join(work, "data-" + name)
        bench.BIN = binary
        key, tok = bench.first_token(data)
        self.auth = "Authorization: Basic " + base64.b64encode(
            ("%s:%s" % (key, tok)).encode()).decode()
        sock = os.path.join(work, name, "t.sock")
        os.makedirs(os.path.dirname(sock))
        env = dict(NO_LIMITS, TESSERA_DATA=data)
        self.app = TesseraServe(os.path.join(work, name), binary, sock,
                                workers=workers, env=env)
        self.web = Nginx(os.path.join(work, name + "-nginx"), free_port(), sock)
        self.rps, self.app_us, self.all_us = [], [], []

    def pids(self):
        return tree_pids(self.app.pid), tree_pids(self.web.pid)

    def round(self, url, seconds, conns):
        app, web = self.pids()
        a0, w0 = ticks(app), ticks(web)
        r = wrk(url.replace("PORT", str(self.web.port)), seconds, conns,
                headers=[self.auth])
        a1, w1 = ticks(app), ticks(web)
        n = max(r["requests"], 1)
        app_us = (a1 - a0) / TICK / n * 1e6
        all_us = ((a1 - a0 + w1 - w0) / TICK + r["wrk_cpu"]) / n * 1e6
        self.rps.append(r["rps"])
        self.app_us.append(app_us)
        self.all_us.append(all_us)
        return r["rps"], app_us, all_us, r["non2xx"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--path", default="/api/me")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tessera-ab-")
    sides = []
    try:
        for name, binary in (("A", args.a), ("B", args.b)):
            sides.append(Side(name, os.path.abspath(binary), work, args.workers))
        for s in sides:
            s.app.start()
            s.web.start()
        url = "http://127.0.0.1:PORT" + args.path
        for s in sides:            # warm up
            s.round(url, 1, args.connections)
            s.rps.clear(), s.app_us.clear(), s.all_us.clear()
        print("round  side  req/s   app us/req  all us/req  non-2xx")
        for i in range(args.rounds):
            order = sides if i % 2 == 0 else sides[::-1]
            for s in order:
                rps, app_us, all_us, bad = s.round(url, args.seconds,
                                                   args.connections)
                print("%5d  %s  %8.0f  %10.1f  %10.1f  %d" % (
                    i + 1, s.name, rps, app_us, all_us, bad), flush=True)
        a, b = sides
        med = statistics.median
        print("\nmedians of %d rounds of %ds, %s:" % (args.rounds, args.seconds,
                                                       args.path))
        for label, av, bv in (("req/s", a.rps, b.rps),
                              ("app CPU us/req", a.app_us, b.app_us),
                              ("all CPU us/req", a.all_us, b.all_us)):
            print("  %-15s A %9.1f  B %9.1f  B/A %.3f" % (label, med(av), med(bv),
                                                         med(bv) / med(av)))
        pairs = [bv / av for av, bv in zip(a.rps, b.rps)]
        print("  req/s B/A per round: median %.3f, min %.3f, max %.3f" % (
            med(pairs), min(pairs), max(pairs)))
    finally:
        for s in sides:
            s.web.stop()
            s.app.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
