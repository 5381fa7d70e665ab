#!/usr/bin/env bash
# make install into a scratch DESTDIR, then make uninstall: every file the
# packager expects is in place with its mode, no unit keeps an @PLACEHOLDER@,
# and uninstall leaves no file behind. Then, without building, that the
# packager's CPPFLAGS and LDFLAGS reach every compile and link line of the
# programs and that WERROR=0 drops -Werror (and only then).
# Run from the repository root (make install-test); the programs are built.
set -euo pipefail
# Its own make runs: a caller's `make check WERROR=0` must not reach them
# (make passes command-line variables on in MAKEFLAGS and the environment).
unset MAKEFLAGS MFLAGS WERROR

dest=$(mktemp -d /tmp/mprelay-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "== install-test FAILED: $*" >&2; exit 1; }

vars=(PREFIX=/usr SYSCONFDIR=/etc SYSTEMDUNITDIR=/lib/systemd/system DESTDIR="$dest")
make -s install "${vars[@]}" >/dev/null

want=(
	"755 usr/sbin/mpclient" "755 usr/sbin/mpserver"
	"755 usr/sbin/mpstat" "755 usr/sbin/mprelay-routes"
	"644 usr/share/man/man5/mprelay.conf.5"
	"644 usr/share/man/man8/mpclient.8" "644 usr/share/man/man8/mpserver.8"
	"644 usr/share/man/man8/mpstat.8" "644 usr/share/man/man8/mprelay-routes.8"
	"644 lib/systemd/system/mpclient@.service" "644 lib/systemd/system/mpserver@.service"
	"644 etc/mprelay/mpclient.conf.sample"
)
for w in "${want[@]}"; do
	mode=${w%% *} f=${w#* }
	[ -f "$dest/$f" ] || fail "make install did not install /$f"
	got=$(stat -c %a "$dest/$f")
	[ "$got" = "$mode" ] || fail "/$f is mode $got, not $mode"
done
nfiles=$(find "$dest" -type f | wc -l)
for u in "$dest"/lib/systemd/system/*; do
	if grep -n '@[A-Z_]*@' "$u"; then
		fail "$(basename "$u") keeps a placeholder that make install does not fill in"
	fi
	grep -q '/usr/sbin/mp' "$u" || fail "$(basename "$u") does not run /usr/sbin/mp..."
done
"$dest/usr/sbin/mpclient" --version >/dev/null || fail "the installed mpclient does not run"

make -s uninstall "${vars[@]}" >/dev/null
left=$(find "$dest" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
[ ! -e "$dest/etc/mprelay" ] || fail "make uninstall left /etc/mprelay"
echo "== install-test: $nfiles files installed, all removed by uninstall"

# The flags: a dry run of a full rebuild of both programs.
dry=$(make -n -B V=1 CPPFLAGS=-DMP_PKG_CPP LDFLAGS=-Wl,-z,mp-pkg-ld WERROR=0 \
	build/mpclient build/mpserver)
compiles=$(grep -E -- ' -c [^ ]+\.c' <<<"$dry" || true)
links=$(grep -E -- '-o build/mp(client|server)( |$)' <<<"$dry" || true)
[ -n "$compiles" ] && [ "$(wc -l <<<"$links")" -eq 2 ] || fail "make -n shows no compile or link lines"
if grep -v -- '-DMP_PKG_CPP' <<<"$compiles"; then fail "CPPFLAGS missing above"; fi
if grep -v -- '-Wl,-z,mp-pkg-ld' <<<"$links"; then fail "LDFLAGS missing above"; fi
if grep -- '-Werror' <<<"$compiles"; then fail "WERROR=0 left -Werror above"; fi
if grep -v -- '-MMD -MP' <<<"$compiles"; then fail "-MMD -MP missing above"; fi
dry=$(make -n -B V=1 build/mpclient)
# (no `| grep -q` under pipefail: the first grep's SIGPIPE would fail it)
grep -E -- ' -c [^ ]+\.c' <<<"$dry" | grep -c -- '-Werror' >/dev/null || fail "-Werror is not on by default"
echo "== install-test: CPPFLAGS and LDFLAGS reach $(wc -l <<<"$compiles") compile and 2 link lines; WERROR=0 drops -Werror"
