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

# The FastCGI sockets' directory.  lighttpd connects to whatever listens at
# a socket's path, so anyone who can create, replace or rename an entry on
# the way to it receives every login and every API credential: the
# directory must belong to the user who creates the sockets (lighttpd, or
# TESSERA_WEB_USER once lighttpd switched to it when started as root) and
# be writable by nobody else, and so must every directory above it (unless
# sticky, like /tmp: nobody else can then rename what is in it).  Missing,
# it is made, mode 0700.  The default is private to this user, never a
# shared temp directory itself.
me=$(id -u)
user=${TESSERA_WEB_USER:-}
owner=$me
owner_name=$(id -un)
if [ "$me" -eq 0 ] && [ -n "$user" ]; then
	owner=$(id -u "$user" 2>/dev/null) ||
	    fail tessera_web_user "$user: no such user"
	owner_name=$user
fi
if [ -n "${TESSERA_RUNDIR:-}" ]; then
	rundir=$TESSERA_RUNDIR
elif [ "$me" -eq 0 ]; then
	rundir=/run/tessera-lighttpd
elif [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ]; then
	rundir=$XDG_RUNTIME_DIR/tessera-lighttpd
else
	rundir=${TMPDIR:-/tmp}/tessera-lighttpd-$me
fi
case $rundir in
/*) ;;
*) fail tessera_rundir "must be an absolute path: $rundir" ;;
esac

refuse() { # directory why
	fail tessera_rundir "$rundir: $1 $2; whoever else can write there can put a socket in lighttpd's way and receive every request. Use a directory only $owner_name can write (mkdir -m 700 DIR; chown $owner_name DIR), or leave TESSERA_RUNDIR unset for the default."
}

if mkdir -m 0700 "$rundir" 2>/dev/null; then
	[ "$owner" -eq "$me" ] || chown "$owner" "$rundir" ||
	    fail tessera_rundir "$rundir: cannot give it to $owner_name"
elif [ ! -d "$rundir" ]; then
	fail tessera_rundir "$rundir: cannot create it (does its parent exist?)"
fi
# Checked and used as the real path, so no symbolic link on the way can be
# pointed elsewhere afterwards.
real=$(cd "$rundir" && pwd -P) ||
    fail tessera_rundir "$rundir: cannot enter it"
st=$(stat -c '%u %a' "$real") || fail tessera_rundir "$real: cannot stat it"
set -- $st
if [ "$1" -ne "$owner" ]; then
	refuse "$real" "belongs to uid $1, not to $owner_name (who creates the sockets)"
fi
if [ $((0$2 & 022)) -ne 0 ]; then
	refuse "$real" "is writable by its group or by everyone (mode $2)"
fi
if [ $((0$2 & 0300)) -ne $((0300)) ]; then
	fail tessera_rundir "$real: $owner_name cannot create sockets in it (mode $2)"
fi
dir=$real
while [ "$dir" != / ]; do
	dir=$(dirname "$dir")
	st=$(stat -c '%u %a' "$dir") || fail tessera_rundir "$dir: cannot stat it"
	set -- $st
	if [ "$1" -ne 0 ] && [ "$1" -ne "$me" ] && [ "$1" -ne "$owner" ]; then
		refuse "$dir" "(above it) belongs to uid $1"
	fi
	if [ $((0$2 & 022)) -ne 0 ] && [ $((0$2 & 01000)) -eq 0 ]; then
		refuse "$dir" "(above it) is writable by others and not sticky (mode $2)"
	fi
done
rundir=$real

port=${TESSERA_PORT:-8080}
procs=${TESSERA_PROCS:-2}
# lighttpd names the sockets DIR/tessera-fcgi-PORT.sock-N, and a unix
# socket's path holds at most 107 bytes; lighttpd itself only says
# "unixsocket is too long".
sock="$rundir/tessera-fcgi-$port.sock-$procs"
if [ ${#sock} -gt 107 ]; then
	fail tessera_rundir "$rundir: too long for the sockets in it ($sock is ${#sock} bytes, a unix socket's path at most 107). Use a shorter directory, or leave TESSERA_RUNDIR unset for the default."
fi
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
int tessera_procs      "$procs"
