#!/usr/bin/env bash
# scripts/mprelay-routes in a network namespace of its own:
#
#     namespace h-units-routes-PID (alone: no traffic, only routing state)
#   +------------------------------------------------------------------+
#   | u0  192.0.2.2/24, 2001:db8::2/64   main: default via 192.0.2.1,  |
#   |     (veth to u0p)                         default via 2001:db8::1 |
#   | u1  198.51.100.2/24, no gateway   (veth to u1p: point-to-point)  |
#   +------------------------------------------------------------------+
#
# One config with every kind of path (bind=, dev= with and without a
# gateway, mark= with dev=, mark= alone, nothing, IPv6 bind=). `up` twice:
# both succeed and leave exactly one rule and one default route per path,
# and the kernel's own route lookups (ip route get from/mark/oif) go out of
# the right uplink; a stale rule at one of our priorities is replaced.
# `down` twice: both succeed, nothing of ours is left. The namespace is
# gone at the end. Needs root (namespaces): otherwise "SKIPPED", exit 77
# (a failure under MP_REQUIRE_ALL=1).
#
#   test/routes/test_mprelay_routes.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUTES=$ROOT/scripts/mprelay-routes
NS=h-units-routes-$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_routes.XXXXXX")
fails=0

skip() {
	echo "== routes SKIPPED: $1"
	[ "${MP_REQUIRE_ALL:-0}" != 0 ] || [ "${CI:-}" = true ] && exit 1
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root for a network namespace"
command -v ip >/dev/null || skip "no ip (Debian package iproute2)"

cleanup() {
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

in_ns() { ip netns exec "$NS" "$@"; }
check() {	# check WHAT EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1"
		echo "  expected: $(printf '%s' "$2" | sed -n '1h;1!H;${x;s/\n/ | /g;p}')"
		echo "  got:      $(printf '%s' "$3" | sed -n '1h;1!H;${x;s/\n/ | /g;p}')"
		fails=$((fails + 1))
	fi
}

ip netns add "$NS" || skip "cannot make a network namespace"
in_ns ip link set lo up
in_ns ip link add u0 type veth peer name u0p
in_ns ip link add u1 type veth peer name u1p
for l in u0 u0p u1 u1p; do in_ns ip link set "$l" up; done
in_ns ip addr add 192.0.2.2/24 dev u0
in_ns ip addr add 2001:db8::2/64 dev u0 nodad
in_ns ip addr add 198.51.100.2/24 dev u1
in_ns ip route add default via 192.0.2.1 dev u0
in_ns ip -6 route add default via 2001:db8::1 dev u0

cat >"$TMP/mpclient.conf" <<'CONF'
# path: table, priority
192.0.2.10 4001 name=bound bind=192.0.2.2           # 100, 10000
192.0.2.10 4002 name=p2p dev=u1                     # 101, 10001
192.0.2.10 4003 name=eth dev=u0                     # 102, 10002
192.0.2.10 4004 name=marked mark=0x10 dev=u1        # 103, 10003
192.0.2.10 4005 name=markonly mark=0x11             # 104, 10004: not ours
192.0.2.10 4006 name=plain                          # 105, 10005: nothing
[2001:db8::10] 4007 name=bound6 bind=2001:db8::2    # 106, 10006
CONF

# Our state: the rules at our priorities, and our tables' routes.
state() {
	local p t
	for p in 10000 10001 10002 10003 10004 10005 10006; do
		in_ns ip -4 rule show priority "$p"
		in_ns ip -6 rule show priority "$p"
	done
	for t in 100 101 102 103 104 105 106; do
		in_ns ip -4 route show table "$t" 2>/dev/null | sed "s/^/table $t: /"
		in_ns ip -6 route show table "$t" 2>/dev/null | sed "s/^/table $t: /"
	done
	return 0
}

WANT_UP=$(printf '%s\n' \
	"10000:	from 192.0.2.2 lookup 100" \
	"10001:	from all oif u1 lookup 101" \
	"10002:	from all oif u0 lookup 102" \
	"10003:	from all fwmark 0x10 lookup 103" \
	"10006:	from 2001:db8::2 lookup 106" \
	"table 100: default via 192.0.2.1 dev u0 " \
	"table 101: default dev u1 scope link " \
	"table 102: default via 192.0.2.1 dev u0 " \
	"table 103: default dev u1 scope link " \
	"table 106: default via 2001:db8::1 dev u0 metric 1024 pref medium")

# A rule an older config left at priority 10001: up must replace it.
in_ns ip rule add from 203.0.113.9 lookup 101 priority 10001

for round in 1 2; do
	out=$(in_ns "$ROUTES" up "$TMP/mpclient.conf" 2>&1) && rc=0 || rc=$?
	check "up, run $round: exit status" 0 "$rc"
	check "up, run $round: mark= alone is left to the admin, said once" 1 \
		"$(printf '%s\n' "$out" | grep -c 'markonly: mark=0x11 names no uplink')"
	check "up, run $round: one rule and one default route per routed path" "$WANT_UP" "$(state)"
done

# What the kernel does with it: each path's traffic leaves by its uplink
# (the main table alone would send all of it out of u0 via 192.0.2.1).
get() { in_ns ip "$@" | sed -n '1 { s/ uid.*//; s/ *$//; p; }'; }	# reads all: no SIGPIPE
check "from bind= leaves u0 via the gateway" "198.51.100.99 from 192.0.2.2 via 192.0.2.1 dev u0 table 100" \
	"$(get route get 198.51.100.99 from 192.0.2.2)"
check "a socket bound to u1 (dev=) leaves u1 straight" "203.0.113.7 dev u1 table 101 src 198.51.100.2" \
	"$(get route get 203.0.113.7 oif u1)"
check "mark 0x10 leaves u1" "203.0.113.7 dev u1 table 103 src 198.51.100.2 mark 0x10" \
	"$(get route get 203.0.113.7 mark 0x10)"
check "IPv6 from bind= leaves u0 via the gateway" \
	"2001:db8:1::1 from 2001:db8::2 via 2001:db8::1 dev u0 table 106 src 2001:db8::2 metric 1024 pref medium" \
	"$(get -6 route get 2001:db8:1::1 from 2001:db8::2)"

for round in 1 2; do
	out=$(in_ns "$ROUTES" down "$TMP/mpclient.conf" 2>&1) && rc=0 || rc=$?
	check "down, run $round: exit status" 0 "$rc"
	check "down, run $round: nothing of ours left" "" "$(state)"
done
check "down leaves the main table alone" "default via 192.0.2.1 dev u0 " \
	"$(in_ns ip -4 route show default)"

ip netns del "$NS"
check "namespace gone" "" "$(ip netns list | grep -w "$NS" || true)"

if [ $fails = 0 ]; then
	echo "== routes: all passed"
else
	echo "== routes: $fails FAILED"
	exit 1
fi
