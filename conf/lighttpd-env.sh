#!/bin/sh
# Turns the TESSERA_* environment into lighttpd variables, with defaults, for
# conf/lighttpd.conf (which runs this through include_shell, in conf/).
# Prints lines like:  var.tessera_port = 8080
# Exits non-zero on a bad value, which stops lighttpd before it starts.
set -eu

here=$(pwd)
root=${TESSERA_ROOT:-$(cd "$here/.." && pwd)}

fail() { # var-name message
	echo "conf/lighttpd-env.sh: $(echo "$1" | tr a-z A-Z) $2" >&2
	exit 1
}

str() { # name value: a quoted lighttpd string
	case $2 in
	*\"*|*\\*|*"
"*) fail "$1" "must not contain quotes, backslashes or newlines: $2" ;;
	esac
	printf 'var.%s = "%s"\n' "$1" "$2"
}

int() { # name value: a positive integer (no leading 0: printf reads octal)
	case $2 in
	''|*[!0-9]*|0*) fail "$1" "must be a positive number: $2" ;;
	esac
	printf 'var.%s = %d\n' "$1" "$2"
}

rundir=${TESSERA_RUNDIR:-${TMPDIR:-/tmp}}
port=${TESSERA_PORT:-8080}
user=${TESSERA_WEB_USER:-}
# After switching users lighttpd can no longer reopen /dev/stderr.
if [ -n "$user" ]; then
	access=${TESSERA_ACCESS_LOG:-$rundir/tessera-access-$port.log}
else
	access=${TESSERA_ACCESS_LOG:-/dev/stderr}
fi

str tessera_root       "$root"
str tessera_bin        "${TESSERA_BIN:-$root/tessera}"
str tessera_rundir     "$rundir"
str tessera_bind       "${TESSERA_BIND:-127.0.0.1}"
str tessera_web_user   "$user"
str tessera_access_log "$access"
int tessera_port       "$port"
int tessera_procs      "${TESSERA_PROCS:-2}"
