"""Malformed FastCGI on the unix socket: `tessera serve` (2 workers) behind
nginx gets raw connections carrying a wrong version byte, a truncated
header, PARAMS with huge name/value lengths, a record claiming more content
than sent, random bytes, a valid request sent one byte at a time, and
STDIN beyond CONTENT_LENGTH.  After each, 20 GETs of /healthz through
nginx must all succeed within a few seconds (a worker may die and be
respawned: the changed worker pids are reported)."""

import os
import random
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, Tap, app_env, children, init_data, scratch,  # noqa: E402
                 wait_for)

WORKERS = 2
BEGIN, ABORT, END, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6


def record(rtype, content, req_id=1, version=1, padding=0):
    return struct.pack(">BBHHBx", version, rtype, req_id, len(content),
                       padding) + content + b"\0" * padding


def nv_len(n):
    return struct.pack("B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def pairs(env):
    out = b""
    for k, v in env.items():
        k, v = k.encode(), v.encode()
        out += nv_len(len(k)) + nv_len(len(v)) + k + v
    return out


def begin(req_id=1, keep=0):
    return record(BEGIN, struct.pack(">HB5x", 1, keep), req_id)


def request(env, body=b""):
    """A complete FastCGI request: BEGIN, PARAMS, empty PARAMS, STDIN..."""
    out = begin() + record(PARAMS, pairs(env)) + record(PARAMS, b"")
    for i in range(0, len(body), 8192):
        out += record(STDIN, body[i:i + 8192])
    return out + record(STDIN, b"")


def healthz_env(method="GET", path="/healthz", length=None):
    env = {"REQUEST_METHOD": method, "REQUEST_URI": path, "SCRIPT_NAME": "",
           "PATH_INFO": path, "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
           "GATEWAY_INTERFACE": "CGI/1.1", "REMOTE_ADDR": "127.0.0.1",
           "SERVER_NAME": "localhost", "SERVER_PORT": "80", "HTTP_HOST": "localhost"}
    if length is not None:
        env["CONTENT_LENGTH"] = str(length)
        env["CONTENT_TYPE"] = "application/json"
    return env


def parse_stdout(data):
    """The STDOUT content of a FastCGI reply stream, and whether END came."""
    out, ended, i = b"", False, 0
    while i + 8 <= len(data):
        _, rtype, _, clen, plen = struct.unpack(">BBHHBx", data[i:i + 8])
        body = data[i + 8:i + 8 + clen]
        if rtype == STDOUT:
            out += body
        elif rtype == END:
            ended = True
        i += 8 + clen + plen
    return out, ended


def raw(path, chunks, linger=2.0, per_send_delay=0.0):
    """Sends chunks on a new connection to the socket, then reads what comes
    back until EOF or linger seconds of silence.  Returns (bytes, how)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    got, how = b"", "eof"
    try:
        for c in chunks:
            s.sendall(c)
            if per_send_delay:
                time.sleep(per_send_delay)
        s.settimeout(linger)
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        how = "still open after %.1fs" % linger
    except OSError as e:
        how = "error: %s" % e
    finally:
        s.close()
    return got, how


def cases(rng):
    """(name, chunks, per-send delay, linger)."""
    hdr = record(PARAMS, b"")[:4]
    huge = (nv_len(0x7fffffff) + nv_len(0x7ffffff0) + b"AB")
    yield ("wrong version byte",
           [record(BEGIN, struct.pack(">HB5x", 1, 0), version=2) +
            record(PARAMS, pairs(healthz_env()), version=2)], 0, 1.0)
    yield ("truncated header", [begin() + hdr], 0, 1.0)
    yield ("PARAMS with name/value lengths near 0x7fffffff",
           [begin() + record(PARAMS, huge) + record(PARAMS, b"")], 0, 1.0)
    yield ("PARAMS with lengths adding up just below 2 GiB",
           [begin() + record(PARAMS, nv_len(0x3fffffff) + nv_len(0x3ffffff0) +
                             b"AB") + record(PARAMS, b"")], 0, 1.0)
    yield ("PARAMS with 4-byte lengths 0xffffffff",
           [begin() + record(PARAMS, b"\xff\xff\xff\xff\xff\xff\xff\xffxy") +
            record(PARAMS, b"")], 0, 1.0)
    yield ("PARAMS claiming more content than sent, then close",
           [begin() + struct.pack(">BBHHBx", 1, PARAMS, 1, 4000, 0) +
            pairs(healthz_env())[:50]], 0, 0.3)
    yield ("random bytes", [bytes(rng.getrandbits(8) for _ in range(4096))], 0, 1.0)
    yield ("valid request one byte per send",
           [bytes([b]) for b in request(healthz_env())], 0.0005, 3.0)
    yield ("STDIN larger than CONTENT_LENGTH",
           [request(healthz_env("POST", "/_test/echo/x", length=10),
                    b'{"a": 1}' + b"x" * 5000)], 0, 3.0)
    yield ("unknown record type and a second request id",
           [begin() + record(11, b"??") + record(PARAMS, b"", req_id=7) +
            record(PARAMS, pairs(healthz_env())) + record(PARAMS, b"") +
            record(STDIN, b"")], 0, 3.0)


def main():
    t = Tap()
    work = scratch("hard-fcgi-garbage")
    data = init_data(os.path.join(work, "data"))
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data)
    rng = random.Random(7)
    changed_total = 0
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=WORKERS,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        t.eq(http("GET", base + "/healthz")[0], 200, "serving through nginx")
        time.sleep(1.1)       # workers past the young-death respawn delay
        for name, chunks, delay, linger in cases(rng):
            before = set(children(app.pid))
            t0 = time.monotonic()
            got, how = raw(sock, chunks, linger, delay)
            out, ended = parse_stdout(got)
            head = out.split(b"\r\n", 1)[0].decode("latin-1")
            # Through nginx: 20 GETs, all 200, within a few seconds.
            t1 = time.monotonic()
            statuses = []
            for _ in range(20):
                try:
                    statuses.append(http("GET", base + "/healthz", timeout=5)[0])
                except OSError:
                    statuses.append(0)
            took = time.monotonic() - t1
            wait_for(lambda: len(children(app.pid)) == WORKERS, 5)
            after = set(children(app.pid))
            changed = len(before - after)
            changed_total += changed
            print("# %s: server %s, %d bytes back%s; 20 GETs in %.2fs; worker "
                  "pids changed: %d"
                  % (name, how, len(got),
                     " (%s%s)" % (head or "no STDOUT", ", END" if ended else "")
                     if got else "", took, changed))
            t.ok(statuses.count(200) == 20 and took < 5,
                 "after %s: 20 GETs of /healthz all 200 within 5s" % name,
                 "statuses %s in %.2fs" % (statuses, took))
            if name.startswith("valid request"):
                t.ok(ended and out.startswith(b"Status: 200"),
                     "the byte-by-byte request is answered 200, in full",
                     out[:200])
            time.sleep(1.1 if changed else 0)   # let a respawned one age
        t.eq(len(children(app.pid)), WORKERS, "still %d workers" % WORKERS)
        print("# worker pids changed over all cases: %d" % changed_total)
    return t.done()


if __name__ == "__main__":
    # A runner's timeout (SIGTERM) still stops the servers, by the with-blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
