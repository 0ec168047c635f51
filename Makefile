# Tessera -- build, run, test, install.
#
#   make run     install what is missing, build, serve on 127.0.0.1:$(PORT)
#   make test    install what is missing, build, run every test
#
PREFIX	?= /usr/local
DESTDIR	?=
PORT	?= 8080
SHAREDIR = $(PREFIX)/share/tessera

PKGS	 = fcgi lua5.4 sqlite3 libsodium jansson libpq libcurl
CC	?= cc
CFLAGS	?= -O2 -g
WARN	 = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
SAN_OPTS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all
SAN_FLAGS = $(if $(SANITIZE),$(SAN_OPTS))
XCFLAGS	 = -std=c17 -D_GNU_SOURCE -Ifcgi $(WARN) $(SAN_FLAGS) \
	   -DTESSERA_SHAREDIR='"$(SHAREDIR)"' \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS	 = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
XLDFLAGS = $(SAN_FLAGS) $(LDFLAGS)

# Debian packages for building, serving and testing. "make deps" installs
# the missing ones (root, or sudo).
DEB_BUILD = gcc make pkg-config libfcgi-dev liblua5.4-dev libsqlite3-dev \
	    libsodium-dev libjansson-dev libpq-dev libcurl4-openssl-dev
DEB_RUN   = lighttpd
DEB_TEST  = libcmocka-dev nginx-light apache2 libapache2-mod-fcgid \
	    spawn-fcgi python3 python3-yaml curl sqlite3 procps chromium strace \
	    valgrind libpq-dev postgresql-15 openapi-specification \
	    python3-jsonschema python3-prometheus-client $(DEB_PKG)
# make deb: the Debian package's build (tests/http/test_deb.py builds it).
DEB_PKG   = debhelper dpkg-dev fakeroot lintian
SUDO	 = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# fcgi/ by layer (docs/ARCHITECTURE.md): lib, store, domain, http,
# bridge, process; each file includes others by their layer's path.
SRCS	 = $(filter-out fcgi/process/main.c,$(wildcard fcgi/*/*.c))
OBJS	 = $(SRCS:.c=.o)
HDRS	 = $(wildcard fcgi/*.h fcgi/*/*.h)

.PHONY: all deps deps-run deps-test deps-bench run test bench install \
	uninstall clean valgrind fuzz deps-hard check-hard deps-deb deb FORCE

all: tessera

tessera: fcgi/process/main.o fcgi/libtessera.a
	$(CC) $(XLDFLAGS) -o $@ fcgi/process/main.o fcgi/libtessera.a $(LIBS)

fcgi/libtessera.a: $(OBJS)
	rm -f $@
	ar rcs $@ $(OBJS)

# Objects are rebuilt when the flags change (make test SANITIZE=1 after a
# plain build, and back).
BUILD_FLAGS = $(CC) $(CPPFLAGS) $(CFLAGS) $(XCFLAGS) $(XLDFLAGS)
fcgi/.flags: FORCE
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@

fcgi/%.o: fcgi/%.c $(HDRS) fcgi/.flags
	$(CC) $(CPPFLAGS) $(CFLAGS) $(XCFLAGS) -c -o $@ $<

# Installs the listed Debian packages that are not installed yet.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
endef

deps: deps-run deps-test

deps-build:
	$(call install_missing,$(DEB_BUILD))

deps-run: deps-build
	$(call install_missing,$(DEB_RUN))

# The browser tests: Debian's chromium, driven by the npm package
# playwright-core, and axe-core for the accessibility checks (both pinned
# in tests/browser/package-lock.json; neither downloads a browser). Node.js comes from Debian when none is installed.
# Debian's postgresql-15 makes and starts a "main" cluster when it is
# installed. The tests start their own (tests/http/pg.py), so before the
# first install createcluster.conf says not to.
PG_CREATECLUSTER = /etc/postgresql-common/createcluster.conf

deps-test: deps-build
	@dpkg-query -W -f='$${Status}' postgresql-15 2>/dev/null | grep -q "ok installed" || \
	  grep -qsx 'create_main_cluster = false' $(PG_CREATECLUSTER) || { \
	  echo "make deps: no main cluster for postgresql-15 ($(PG_CREATECLUSTER))"; \
	  $(SUDO) mkdir -p $(dir $(PG_CREATECLUSTER)) && \
	  echo 'create_main_cluster = false' | $(SUDO) tee -a $(PG_CREATECLUSTER) >/dev/null; }
	$(call install_missing,$(DEB_TEST))
	@command -v npm >/dev/null 2>&1 || { \
	  echo "make deps: installing nodejs npm"; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends nodejs npm >/dev/null || exit 1; }
	@[ -f tests/browser/node_modules/playwright-core/package.json ] && \
	  [ -f tests/browser/node_modules/axe-core/package.json ] || \
	  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

# The demo: lighttpd on 127.0.0.1:$(PORT) spawning tessera (bin-path),
# scripts reloaded when edited, and the runner (token expiry hooks) beside
# it. Ctrl-C stops everything. The sockets go in conf/lighttpd-env.sh's
# default directory (/run/tessera-lighttpd as root), not under the
# checkout: its path may be longer than a unix socket's may be.
run: deps-run
	@$(MAKE) --no-print-directory tessera
	@./tessera init --data var >/dev/null 2>&1
	@if ./tessera user list --data var | grep -q '^admin@example.com '; then \
	  echo "Demo admin: admin@example.com (password shown on the first run;"; \
	  echo "  new one: ./tessera user passwd --data var admin@example.com)"; \
	else \
	  ./tessera user add --data var --email admin@example.com --role admin \
	    --account Demo </dev/null | sed -n 's/^password: /Demo admin: admin@example.com  password: /p'; \
	fi
	@echo "Tessera: http://127.0.0.1:$(PORT)/  (Ctrl-C stops)"
	@TESSERA_RELOAD=1 ./tessera runner --data var & runner=$$!; \
	 trap 'kill $$runner 2>/dev/null' EXIT INT TERM; \
	 TESSERA_ROOT=$(CURDIR) TESSERA_BIN=$(CURDIR)/tessera \
	 TESSERA_DATA=$(CURDIR)/var \
	 TESSERA_PORT=$(PORT) TESSERA_RELOAD=1 TESSERA_PROCS=2 \
	 lighttpd -D -f conf/lighttpd.conf

# SANITIZE=1: AddressSanitizer + UBSan everywhere; any report (written
# under tests/out/sanitizer/) fails the run.
test: deps
	@$(MAKE) --no-print-directory tessera tests-build
	@SANITIZE="$(SANITIZE)" tests/run

# The C unit tests under valgrind: no leak, no invalid access.
valgrind: deps
	@$(MAKE) --no-print-directory tessera tests-build SANITIZE=
	@for t in tests/c/test_*; do [ -x "$$t" ] && [ -f "$$t" ] || continue; \
	  echo "== $$t"; TESSERA_TEST_TMP=$$(mktemp -d) \
	  valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	    "$$t" >/dev/null || exit 1; done; echo "valgrind: no errors, no leaks"

tests-build: tessera
	@$(MAKE) --no-print-directory -C tests/c CC="$(CC)" \
	  SANITIZE="$(SANITIZE)"
	@$(MAKE) --no-print-directory -C tests/fuzz replay CC="$(CC)" \
	  SANITIZE="$(SANITIZE)"

# The benchmark (not part of make test): tessera against a hello-world
# libfcgi responder through one nginx, driven by wrk, and against the
# peers (the same /api/me check in plain C and in PHP-FPM 8.2, on 100,000
# tokens; and /api/me on 1,000 against 1,000,000 tokens). About 10-15
# minutes. BENCH_ARGS: --seconds N (5) --rounds N (3) --engines
# sqlite[,pg] (sqlite,pg) --peers c,php|none --big N (1000000; 0: no size
# cases) --small N (1000) --live N (10000 tokens rotated) --mmap MB (1024,
# the size cases' db_mmap_mb) --pin; see tests/bench/bench.py.
# Debian's mimalloc and jemalloc: the allocators preloaded by
# BENCH_ARGS=--allocators=glibc,mimalloc,jemalloc to measure against
# glibc's malloc.
DEB_BENCH = wrk valgrind libfcgi-bin libmimalloc2.0 libjemalloc2 \
	    php8.2-fpm php8.2-sqlite3 php8.2-opcache
deps-bench: deps-test
	$(call install_missing,$(DEB_BENCH))

bench: deps-bench
	@$(MAKE) --no-print-directory tessera
	@/usr/bin/python3 tests/bench/bench.py $(BENCH_ARGS)

# The longer fault tests (not in make test; a few minutes, as root):
# kill -9 under load, disk full, read-only database, malformed FastCGI,
# slow clients, runaway scripts, 256 connections.
DEB_HARD  = nginx-light python3 procps util-linux wrk slowhttptest
deps-hard: deps-build
	$(call install_missing,$(DEB_HARD))

check-hard: deps-hard
	@$(MAKE) --no-print-directory tessera
	@tests/hard/run

# libFuzzer over every parser, FUZZ_SECONDS (60) each; findings in
# tests/fuzz/findings/. make test replays the corpora without clang.
fuzz: deps-test
	$(call install_missing,clang-14 libclang-rt-14-dev)
	@$(MAKE) --no-print-directory tessera
	@$(MAKE) --no-print-directory -C tests/fuzz fuzz run-fuzz \
	  FUZZ_SECONDS="$(or $(FUZZ_SECONDS),60)"

install: tessera
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SHAREDIR)
	install -m 0755 tessera $(DESTDIR)$(PREFIX)/bin/tessera
	cp -R lua schema www conf $(DESTDIR)$(SHAREDIR)/
	install -D -m 0644 docs/openapi.json $(DESTDIR)$(SHAREDIR)/docs/openapi.json
	rm -rf $(DESTDIR)$(SHAREDIR)/conf/debian

# The Debian package: build/tessera_VERSION_amd64.deb. The packaging is
# conf/debian; the source and it are copied into a scratch tree,
# build/deb/tessera-VERSION, and dpkg-buildpackage builds there (what else
# it makes, .buildinfo, .changes and the -dbgsym package, stays in
# build/deb). DEB_OUT=DIR builds in DIR instead of build/ (the test does).
# The version is TESSERA_VERSION and must match conf/debian/changelog's.
VERSION	 = $(shell sed -n 's/^\#define TESSERA_VERSION "\(.*\)"/\1/p' \
	   fcgi/process/process.h)
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
DEB_OUT	?= build
DEB_TREE = $(DEB_OUT)/deb/tessera-$(VERSION)
DEB_FILE = $(DEB_OUT)/tessera_$(VERSION)_$(DEB_ARCH).deb

deps-deb: deps-build
	$(call install_missing,$(DEB_PKG))

deb: deps-deb
	@v=$$(dpkg-parsechangelog -l conf/debian/changelog -S Version); \
	 [ "$$v" = "$(VERSION)" ] || { echo "make deb: conf/debian/changelog \
	 is at $$v, TESSERA_VERSION at $(VERSION)" >&2; exit 1; }
	rm -rf $(DEB_OUT)/deb && mkdir -p $(DEB_TREE)
	tar -cf - --exclude='*.o' --exclude='*.a' --exclude=.flags \
	  Makefile README.md SECURITY.md fcgi lua schema www docs conf \
	  | tar -xf - -C $(DEB_TREE)
	rm -rf $(DEB_TREE)/conf/debian && cp -R conf/debian $(DEB_TREE)/debian
	cd $(DEB_TREE) && DEB_BUILD_OPTIONS="parallel=2 $(DEB_BUILD_OPTIONS)" \
	  dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
	  { tail -n 40 ../build.log; exit 1; }
	cp $(DEB_OUT)/deb/tessera_$(VERSION)_$(DEB_ARCH).deb $(DEB_FILE)
	@echo "make deb: $(DEB_FILE)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/tessera
	rm -rf $(DESTDIR)$(SHAREDIR)

clean:
	rm -f tessera fcgi/*/*.o fcgi/libtessera.a fcgi/.flags
	rm -rf build
	-$(MAKE) --no-print-directory -C tests/c clean
	-$(MAKE) --no-print-directory -C tests/fuzz clean
