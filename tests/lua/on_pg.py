"""The Lua suites again, on PostgreSQL: one real PostgreSQL 15
(tests/http/pg.py), a fresh database and data directory for each
tests/lua/*_test.lua file, `tessera lua-test` with TESSERA_DATABASE set.
Prints their TAP, each test's name prefixed with its file's."""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "http"))
from pg import Postgres  # noqa: E402


def main():
    base = os.environ.get("TESSERA_TEST_TMP") or tempfile.gettempdir()
    work = tempfile.mkdtemp(prefix="lua-pg-", dir=base)
    files = sorted(f for f in os.listdir(HERE) if f.endswith("_test.lua"))
    failed = 0
    with Postgres(os.path.join(work, "pg")) as pg:
        for i, name in enumerate(files):
            uri = pg.createdb("lua%d" % i)
            data = os.path.join(work, "data%d" % i)
            env = dict(os.environ, TESSERA_DATABASE=uri, TESSERA_DATA=data,
                       TESSERA_LUA_DIR="%s:%s" % (os.path.join(HERE, "fixtures"),
                                                  os.path.join(REPO, "lua")),
                       TESSERA_EXTRA_ROUTES="fixture_routes")
            init = subprocess.run([os.path.join(REPO, "tessera"), "init", "--data", data],
                                  env=env, capture_output=True, text=True, timeout=60)
            if init.returncode != 0:
                print("not ok - %s: tessera init on PostgreSQL: %s" % (name, init.stderr))
                failed += 1
                continue
            r = subprocess.run([os.path.join(REPO, "tessera"), "lua-test",
                                os.path.join(HERE, name)], env=env, capture_output=True,
                               text=True, timeout=300)
            stem = name[:-len(".lua")]
            for line in r.stdout.splitlines():
                print(re.sub(r"^((?:not )?ok \d+) - ", r"\1 - %s: " % stem, line))
            if r.returncode != 0:
                failed += 1
                sys.stderr.write(r.stderr[-2000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
