"""Secret scanning: the gitleaks rule (conf/gitleaks.toml) and the GitHub
custom pattern (conf/github-secret-scanning.yml) find real tokens the CLI
made and no near miss; `tessera token check` tells a well-formed token
from a malformed one offline (the checksum catches one changed
character), and with --data a live one from a revoked, expired, unknown or
disabled user's one, with distinct exit statuses, and never prints the
string it was given. gitleaks itself is not in Debian 12: its rule's
regex runs here with Python's re (the same syntax for this expression)."""

import math
import os
import random
import re
import subprocess
import sys
import time
import tomllib
import zlib

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import BIN, REPO, Tap, add_user, data_env, init_data, scratch  # noqa: E402

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(n, digits):
    out = []
    for _ in range(digits):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(reversed(out))


def forge(body=None):
    """A well-formed secret no service made: the format of token.c
    (tsr_ + 43 base62 + base62 CRC-32 of the 47 before)."""
    body = body or b62(random.getrandbits(256), 43)
    head = "tsr_" + body
    return head + b62(zlib.crc32(head.encode()), 6)


def entropy(s):
    """Shannon entropy a character, as gitleaks computes it."""
    return -sum(c / len(s) * math.log2(c / len(s))
                for c in (s.count(ch) for ch in set(s)))


def run(data, args, stdin=b"", env=None, online=True):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("TESSERA_") or k == "TESSERA_TEST_TMP"}
    if online:      # offline: no --data, no configuration, no database
        e = data_env(data, e)
    e.update(env or {})
    argv = [BIN] + args + (["--data", data] if online else [])
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=60, env=e)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def make_token(t, data, email, *more):
    rc, out = run(data, ["token", "add", "--email", email, "--description", "scan"] +
                  list(more))
    m = re.search(r"Token Key: (\S+)\nToken: +(\S+)", out)
    t.ok(rc == 0 and m, "the CLI makes a token %s" % " ".join(more), out)
    return m.group(1), m.group(2)


def check(t, data, secret, want_rc, want_text, name, online=True, env=None):
    rc, out = run(data, ["token", "check"], (secret + "\n").encode(), env, online)
    t.eq(rc, want_rc, "token check: %s: exit status %d" % (name, want_rc))
    t.has(out, want_text, "token check: %s: says %r" % (name, want_text))
    # Neither the string nor any 12 characters of it after the prefix.
    leaks = [secret[i:i + 12] for i in range(4, max(5, len(secret) - 11))
             if secret[i:i + 12] in out] if len(secret) > 16 else []
    t.ok(secret not in out and not leaks, "token check: %s: the output "
         "quotes none of it" % name, out)
    return out


def scanners(t, tokens, keys):
    with open(os.path.join(REPO, "conf", "gitleaks.toml"), "rb") as f:
        rule = [r for r in tomllib.load(f)["rules"] if r["id"] == "tessera-api-token"][0]
    gl = re.compile(rule["regex"])
    with open(os.path.join(REPO, "conf", "github-secret-scanning.yml")) as f:
        gh = yaml.safe_load(f)
    ghre = re.compile("(?:%s)(%s)(?=%s)" % (
        gh["before_secret"].replace(r"\A", "^"), gh["secret_format"],
        gh["after_secret"].replace(r"\z", "$")))

    def gitleaks(text):
        found = [m.group(rule["secretGroup"]) for m in gl.finditer(text)]
        return [s for s in found if entropy(s) >= rule["entropy"]]

    def github(text):
        return [m.group(1) for m in ghre.finditer(text)
                if all(re.search(r, m.group(1)) for r in gh.get("must_match", []))]

    tok = tokens[0]
    contexts = {
        "alone": "%s",
        "in curl -u KEY:TOKEN": "curl -u %s:%%s https://h/api/me" % keys[0],
        "in an env file": 'TESSERA_TOKEN="%s"\n',
        "in JSON": '{"token":"%s"}',
        "in a URL query": "https://h/webhook?token=%s&pipeline_id=1",
        "after a Bearer": "Authorization: Bearer %s",
    }
    for name, fmt in contexts.items():
        text = fmt % tok
        t.eq(gitleaks(text), [tok], "gitleaks rule finds a CLI token %s" % name)
        t.eq(github(text), [tok], "GitHub pattern finds a CLI token %s" % name)
    every = "\n".join("line %d: %s" % (i, s) for i, s in enumerate(tokens))
    t.eq(gitleaks(every), tokens, "gitleaks rule finds every one of %d tokens" % len(tokens))
    t.eq(github(every), tokens, "GitHub pattern finds every one of %d tokens" % len(tokens))
    near = {
        "one character short": tok[:-1],
        "one character long": tok + "Q",
        "a word character before": "x" + tok,
        "an underscore before": "_" + tok,
        "TSR_ in capitals": "TSR_" + tok[4:],
        "tsr- with a hyphen": "tsr-" + tok[4:],
        "a hyphen inside": tok[:20] + "-" + tok[21:],
        "the key (a UUID)": keys[0],
        "a placeholder": "tsr_" + "0" * 49,
    }
    for name, s in near.items():
        if name == "a placeholder":
            t.eq(gitleaks(s), [], "gitleaks rule skips %s (entropy)" % name)
            continue
        t.eq(gitleaks(s), [], "gitleaks rule skips %s" % name)
        t.eq(github(s), [], "GitHub pattern skips %s" % name)
    for s in gh["test_strings"]["match"]:
        t.eq(len(github(s)), 1, "GitHub pattern: its test string matches: %s..." % s[:24])
        t.eq(len(gitleaks(s)), 1, "gitleaks rule: the same string matches")
    for s in gh["test_strings"]["no_match"]:
        t.eq(github(s), [], "GitHub pattern: its no-match string does not: %s..." % s[:24])
        t.eq(gitleaks(s), [], "gitleaks rule: nor does it")
    t.ok(all(entropy(s) > rule["entropy"] for s in tokens),
         "every CLI token is above the rule's entropy floor",
         [round(entropy(s), 2) for s in tokens])
    return [m for s in gh["test_strings"]["match"] for m in github(s)]


def main():
    t = Tap()
    work = scratch("secretscan")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", "correct horse battery", role="admin")
    add_user(data, "bo@example.com", "correct horse battery")
    made = [make_token(t, data, "ana@example.com") for _ in range(5)]
    keys, tokens = [k for k, _ in made], [s for _, s in made]

    samples = scanners(t, tokens, keys)

    live_key, live = made[0]
    t.eq(forge(live[4:47]), live, "the format is the documented one (CRC-32 in base62)")
    # Offline: no --data, no configuration.
    check(t, data, live, 0, "well-formed", "a CLI token, offline", online=False)
    i = 20
    changed = live[:i] + ("a" if live[i] != "a" else "b") + live[i + 1:]
    check(t, data, changed, 1, "checksum does not match",
          "one character changed, offline", online=False)
    check(t, data, live[:i] + live[i + 1] + live[i] + live[i + 2:]
          if live[i] != live[i + 1] else changed, 1, "checksum",
          "two characters swapped, offline", online=False)
    check(t, data, live[:-1], 1, "too short", "one character short", online=False)
    check(t, data, "tsr-" + live[4:], 1, "does not start with tsr_", "a wrong prefix",
          online=False)
    check(t, data, live[:30] + "-" + live[31:], 1, "a character a token never has",
          "a hyphen inside", online=False)
    for s in samples:
        check(t, data, s, 1, "malformed", "the GitHub pattern's sample (not a real "
              "token)", online=False)
    rc, out = run(data, ["token", "check"], b"", online=False)
    t.eq(rc, 2, "token check: nothing on standard input: exit status 2")
    rc, out = run(data, ["token", "check"], ("x" * 5000 + "\n").encode(), online=False)
    t.eq(rc, 1, "token check: 5000 characters: malformed")

    # Live, with --data.
    out = check(t, data, live, 0, "live: token %s" % live_key, "a CLI token, with --data")
    check(t, data, forge(), 3, "no token has this secret", "a well-formed secret "
          "nobody made")
    check(t, data, changed, 1, "malformed", "one character changed, with --data")
    rev_key, revoked = made[1]
    rc, out = run(data, ["token", "deactivate", rev_key])
    t.eq(rc, 0, "token deactivate", )
    check(t, data, revoked, 3, "switched off", "a deactivated token")
    exp_key, expiring = make_token(t, data, "ana@example.com", "--expires-in-days", "1")
    check(t, data, expiring, 0, "live", "a token expiring tomorrow, today")
    clock = os.path.join(work, "clock")
    with open(clock, "w") as f:
        f.write("%d\n" % (int(time.time()) + 2 * 86400))
    check(t, data, expiring, 3, "expired", "the same token two days later",
          env={"TESSERA_TEST_CLOCK_FILE": clock})
    check(t, data, tokens[2], 0, "live", "a token without expiry two days later",
          env={"TESSERA_TEST_CLOCK_FILE": clock})
    bo_key, bo_tok = make_token(t, data, "bo@example.com")
    rc, out = run(data, ["user", "disable", "bo@example.com"])
    t.eq(rc, 0, "user disable")
    check(t, data, bo_tok, 3, "user is disabled", "a disabled user's token")
    rc, out = run(data, ["token", "rotate", keys[3], "--grace-seconds", "0"])
    t.eq(rc, 0, "token rotate without grace")
    check(t, data, tokens[3], 3, "no token has this secret", "a secret replaced by "
          "a rotation")
    # The token as an operand works, with a warning.
    e = data_env(data)
    p = subprocess.run([BIN, "token", "check", tokens[4], "--data", data],
                       capture_output=True, timeout=30,
                       env={k: v for k, v in e.items() if not k.startswith("TESSERA_")
                            or k == "TESSERA_DATABASE"})
    t.eq(p.returncode, 0, "token check TOKEN --data (an operand): live")
    t.has(p.stderr.decode(), "standard input", "... with a warning to use standard input")
    t.hasnt(p.stdout.decode() + p.stderr.decode(), tokens[4][4:20],
            "... and without quoting it")
    # The database unreadable: exit status 4.
    rc, out = run(os.path.join(work, "nowhere"), ["token", "check"],
                  (live + "\n").encode())
    t.eq(rc, 4, "token check --data DIR with no database: exit status 4")
    t.hasnt(out, live[4:20], "... and it quotes nothing of the token")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
