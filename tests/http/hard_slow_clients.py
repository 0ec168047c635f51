"""Slow clients: slowhttptest holds about 200 connections to nginx in front
of `tessera serve`, first sending headers slowly (-H, slowloris), then a
body slowly (-B, R-U-Dead-Yet), about 20 s each.  Meanwhile a loop of
legitimate GET /healthz must keep being served: at least 95% answered 200
in under 2 s.  (nginx reads whole requests before it passes them on, so no
tessera worker should be tied to a slow client.)"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import BIN, Tap, app_env, init_data, scratch  # noqa: E402

CONNS = 200
SECONDS = 20
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def slowhttptest(mode, url, out_path):
    """Runs one slowhttptest; returns (figures dict, text)."""
    argv = ["slowhttptest", mode, "-c", str(CONNS), "-r", "100", "-i", "5",
            "-l", str(SECONDS), "-p", "3", "-u", url]
    if mode == "-B":
        argv += ["-t", "POST", "-s", "65536", "-f", "application/json"]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=SECONDS + 40)
        text = r.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode("utf-8", "replace") + "\n(timed out)"
    text = ANSI.sub("", text)
    with open(out_path, "w") as f:
        f.write(text)

    def nums(label):
        return [int(x) for x in re.findall(r"^%s:\s+(\d+)" % label, text, re.M)]
    avail = re.findall(r"^service available:\s+(\w+)", text, re.M)
    exit_status = re.findall(r"^Exit status:\s*(.*)$", text, re.M)
    return {
        "max_connected": max(nums("connected") or [0]),
        "closed": (nums("closed") or [0])[-1],
        "error": (nums("error") or [0])[-1],
        "unavailable_ticks": avail.count("NO"),
        "ticks": len(avail),
        "exit": exit_status[-1].strip() if exit_status else "?",
    }, text


def legit_loop(base, stop, results):
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            st = http("GET", base + "/healthz", timeout=2)[0]
        except OSError:
            st = 0
        results.append((st, time.monotonic() - t0))
        time.sleep(0.02)


def main():
    t = Tap()
    if not shutil.which("slowhttptest"):
        t.skip("slow clients", "slowhttptest not installed")
        return t.done()
    work = scratch("hard-slow-clients")
    data = init_data(os.path.join(work, "data"))
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data)
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        t.eq(http("GET", base + "/healthz")[0], 200, "serving through nginx")
        for mode, name, path in (("-H", "slow headers", "/healthz"),
                                 ("-B", "slow body", "/webhook?pipeline_id=1")):
            results, stop = [], threading.Event()
            threads = [threading.Thread(target=legit_loop,
                                        args=(base, stop, results))
                       for _ in range(2)]
            for th in threads:
                th.start()
            figs, text = slowhttptest(mode, base + path,
                                      os.path.join(work, "slow%s.txt" % mode))
            stop.set()
            for th in threads:
                th.join(10)
            good = [lat for st, lat in results if st == 200 and lat < 2]
            lats = sorted(lat for _, lat in results)
            worst = lats[-1] if lats else 0
            p50 = lats[len(lats) // 2] if lats else 0
            share = len(good) / len(results) if results else 0
            print("# %s (%s): slowhttptest held up to %d connections, %d "
                  "closed, %d errors, service unavailable in %d of %d ticks, "
                  "exit: %s" % (name, mode, figs["max_connected"], figs["closed"],
                                figs["error"], figs["unavailable_ticks"],
                                figs["ticks"], figs["exit"]))
            print("# %s: legitimate GET /healthz: %d sent, %d (%.1f%%) 200 in "
                  "< 2 s; p50 %.1f ms, worst %.1f ms"
                  % (name, len(results), len(good), 100 * share, p50 * 1000,
                     worst * 1000))
            t.ok(figs["max_connected"] >= CONNS * 0.75,
                 "%s: slowhttptest held its connections (%d of %d)"
                 % (name, figs["max_connected"], CONNS), text[-1500:])
            t.ok(len(results) >= 100, "%s: the legitimate loop ran (%d "
                 "requests)" % (name, len(results)))
            t.ok(share >= 0.95, "%s: >= 95%% of legitimate requests answered "
                 "200 in < 2 s (%.1f%%)" % (name, 100 * share),
                 "statuses: %s" % sorted(set(st for st, _ in results)))
        t.eq(http("GET", base + "/healthz")[0], 200, "serving afterwards")
    return t.done()


if __name__ == "__main__":
    # A runner's timeout (SIGTERM) still stops the servers, by the with-blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
