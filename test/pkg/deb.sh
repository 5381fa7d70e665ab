#!/usr/bin/env bash
# The Debian package, as a packager and an admin meet it: built with
# `dpkg-buildpackage -us -uc -b` from a copy of the tree (it writes into the
# parent directory), checked by lintian (any E: fails), installed into this
# system with dpkg -i, its programs run, its units, man pages and conffile
# found where Debian puts them, then purged, leaving nothing behind.
# Needs root (dpkg -i); installs its tools with `scripts/deps.sh pkg`.
# Exit: 0 passed, 1 failed, 77 skipped ("== deb SKIPPED: why"); with
# MP_REQUIRE_ALL=1 (or CI=true) a skip fails. About 30 s.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The package builds as a packager's would: none of the calling make's
# flags or command-line variables (make passes them on) reach it.
unset MAKEFLAGS MFLAGS MAKELEVEL WERROR V CFLAGS CPPFLAGS LDFLAGS
cd "$ROOT"

fail() { echo "== deb FAILED: $*"; exit 1; }
skip() {
	if [[ ${MP_REQUIRE_ALL:-0} != 0 || ${CI:-} == true ]]; then
		fail "cannot run ($*), and MP_REQUIRE_ALL wants every stage run"
	fi
	echo "== deb SKIPPED: $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "not root (dpkg -i installs into this system)"
scripts/deps.sh pkg || true
for tool in dpkg-buildpackage dh lintian man readelf; do
	command -v "$tool" >/dev/null || skip "$tool missing and scripts/deps.sh pkg could not install it"
done
if [ "$(dpkg-query -W -f='${db:Status-Status}' mprelay 2>/dev/null)" = installed ]; then
	skip "a package mprelay is already installed here: not replacing it"
fi

version=$(dpkg-parsechangelog -S Version)
upstream=${version%%-*}
TMP=$(mktemp -d /tmp/mprelay-deb.XXXXXX)
installed=
cleanup() {
	[ -z "$installed" ] || dpkg -P mprelay >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---- build, from what git tracks (or would: untracked, not ignored) -------
src=$TMP/mprelay-$upstream
mkdir "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z -c -o --exclude-standard | tar -c --null -T - | tar -x -C "$src"
else
	tar -c --exclude=./build --exclude=./.git . | tar -x -C "$src"
fi
start=$(date +%s)
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b >"$TMP/build.log" 2>&1); then
	tail -n 40 "$TMP/build.log"
	fail "dpkg-buildpackage failed (log above)"
fi
deb=$TMP/mprelay_${version}_$(dpkg --print-architecture).deb
changes=${deb%.deb}.changes
[ -f "$deb" ] || fail "no $(basename "$deb") built"
echo "== deb: built $(basename "$deb") in $(($(date +%s) - start)) s"

# The hardening flags reached the compiler and the linker: BIND_NOW comes
# from LDFLAGS (-z now), the _chk functions from CPPFLAGS (_FORTIFY_SOURCE).
dpkg-deb -x "$deb" "$TMP/x"
# (Whole outputs are read: grep -q would leave readelf a broken pipe.)
for p in mpclient mpserver; do
	grep -q BIND_NOW <<<"$(readelf -d "$TMP/x/usr/sbin/$p")" ||
		fail "$p: no BIND_NOW (LDFLAGS lost)"
	grep -q '__[a-z_]*_chk' <<<"$(readelf -s --wide "$TMP/x/usr/sbin/$p")" ||
		fail "$p: no fortified calls (CPPFLAGS lost)"
done

# ---- lintian: errors fail, the rest is shown --------------------------------
lintian --pedantic -I "$changes" >"$TMP/lintian.log" 2>&1 || true
sed 's/^/  /' "$TMP/lintian.log" | grep -v 'running with root privileges' || true
if grep -q '^E: ' "$TMP/lintian.log"; then
	fail "lintian reports errors"
fi
echo "== deb: lintian: $(grep -c '^E: ' "$TMP/lintian.log") errors," \
	"$(grep -c '^W: ' "$TMP/lintian.log") warnings"

# ---- install, run, look, purge ----------------------------------------------
# --path-include: a minimal image may exclude /usr/share/man from dpkg.
installed=1
dpkg --path-include='/usr/share/man/*' -i "$deb" >"$TMP/dpkg.log" 2>&1 ||
	{ cat "$TMP/dpkg.log"; fail "dpkg -i failed"; }
for p in mpclient mpserver; do
	out=$("/usr/sbin/$p" --version) || fail "$p --version exits $?"
	[ "$out" = "$p $upstream" ] || fail "$p --version says '$out', not '$p $upstream'"
done
/usr/sbin/mpstat --help >/dev/null || fail "mpstat --help fails (python3?)"
/usr/sbin/mpclient -n 4000 /etc/mprelay/mpclient.conf.sample >/dev/null ||
	fail "the installed sample config does not pass mpclient -n"
/usr/sbin/mprelay-routes --dry-run up /etc/mprelay/mpclient.conf.sample >/dev/null ||
	fail "mprelay-routes --dry-run fails on the sample config"
grep -q ' /etc/mprelay/mpclient.conf.sample ' <<<"$(dpkg-query -W -f='${Conffiles}\n' mprelay)" ||
	fail "/etc/mprelay/mpclient.conf.sample is not a conffile"
for u in conf/*.service; do
	u=$(basename "$u")
	[ -f "/lib/systemd/system/$u" ] || [ -f "/usr/lib/systemd/system/$u" ] ||
		fail "unit $u not in /lib/systemd/system nor /usr/lib/systemd/system"
	if grep -n '@[A-Z_]*@' "/lib/systemd/system/$u" "/usr/lib/systemd/system/$u" 2>/dev/null; then
		fail "unit $u keeps a placeholder"
	fi
done
for page in 8:mpclient 8:mpserver 8:mpstat 8:mprelay-routes 5:mprelay.conf; do
	sec=${page%%:*} name=${page#*:}
	path=$(man -w "$sec" "$name" 2>/dev/null) || fail "man -w $sec $name finds nothing"
	case "$path" in /usr/share/man/man$sec/$name.$sec.gz) ;;
	*) fail "man -w $sec $name finds $path" ;; esac
	# Rendered by man-db's groff, the page has its title and no warning.
	text=$(MANWIDTH=80 man --warnings -P cat "$sec" "$name" 2>"$TMP/man.err") ||
		fail "man $sec $name fails: $(cat "$TMP/man.err")"
	[ ! -s "$TMP/man.err" ] || fail "man $sec $name warns: $(cat "$TMP/man.err")"
	grep -q "^NAME" <<<"$text" || fail "man $sec $name renders no NAME section"
done
files=$(dpkg -L mprelay | while read -r f; do [ -f "$f" ] && echo "$f"; done)
echo "== deb: installed $(wc -l <<<"$files") files; programs run, units, conffile and man pages in place"

dpkg -P mprelay >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log"; fail "dpkg -P failed"; }
installed=
left=$(while read -r f; do [ ! -e "$f" ] || echo "$f"; done <<<"$files")
[ -z "$left" ] || fail "dpkg -P left: $left"
[ ! -e /etc/mprelay ] || fail "dpkg -P left /etc/mprelay"
echo "== deb: purged, nothing left; $(($(date +%s) - start)) s in all"
