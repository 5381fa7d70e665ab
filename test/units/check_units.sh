#!/usr/bin/env bash
# The systemd units in conf/, as `make install` renders them (make units
# renders them into DIR with the build directory as BINDIR, so that the
# programs they start exist): each must pass `systemd-analyze verify` with
# not one complaint, and `systemd-analyze security --offline=yes` must rate
# it at most 3.0 ("OK"). Figures go to stdout.
#
#   test/units/check_units.sh DIR
#
# No systemd-analyze: "== units SKIPPED: reason", exit 77 (a failure under
# MP_REQUIRE_ALL=1, as CI runs; scripts/deps.sh installs systemd).
set -euo pipefail

DIR=$(readlink -f "${1:?usage: $0 RENDERED_UNITS_DIR}")
MAX_EXPOSURE=3.0

skip() {
	echo "== units SKIPPED: $1"
	[ "${MP_REQUIRE_ALL:-0}" != 0 ] || [ "${CI:-}" = true ] && exit 1
	exit 77
}
command -v systemd-analyze >/dev/null || skip "no systemd-analyze (Debian package systemd)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/check_units.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail=0

# An instance of each template, named as an admin would (tun names fit IFNAMSIZ).
instance() {
	local t=$1 name=${1%@.service}
	cp "$DIR/$t" "$TMP/$name@check0.service"
	echo "$TMP/$name@check0.service"
}

# verify must say something about a unit it dislikes, or its silence proves
# nothing: a unit with an unknown key and a missing program must be called out.
printf '[Service]\nExecStart=%s/no-such-program\nNoSuchKey=1\n' "$TMP" >"$TMP/broken.service"
if [ -z "$(systemd-analyze verify --man=no "$TMP/broken.service" 2>&1)" ]; then
	echo "FAIL: systemd-analyze verify said nothing about a broken unit" >&2
	exit 1
fi

units=$(cd "$DIR" && ls -- *.service)
[ -n "$units" ] || { echo "FAIL: no units in $DIR" >&2; exit 1; }
for t in $units; do
	if grep -n '@[A-Z]*@' "$DIR/$t"; then
		echo "FAIL: $t: placeholders left after rendering" >&2
		fail=1
	fi
	u=$(instance "$t")
	# --man=no: the man pages are checked where they are built, not here.
	out=$(systemd-analyze verify --man=no "$u" 2>&1) || true
	if [ -n "$out" ]; then
		echo "FAIL: systemd-analyze verify $t:" >&2
		echo "$out" >&2
		fail=1
	fi
	sec=$(systemd-analyze security --offline=yes "$u" 2>&1) || true
	score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	if [ -z "$score" ]; then
		echo "FAIL: $t: no exposure level from systemd-analyze security:" >&2
		echo "$sec" >&2
		fail=1
	elif awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
		echo "FAIL: $t: exposure $score, above $MAX_EXPOSURE; what it lacks:" >&2
		printf '%s\n' "$sec" | grep '✗' >&2
		fail=1
	else
		echo "units: $t: verify clean, exposure $score (at most $MAX_EXPOSURE)"
	fi
done
[ $fail = 0 ] && echo "== units: all passed" || echo "== units: FAILED"
exit $fail
