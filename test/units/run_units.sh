#!/usr/bin/env bash
# The systemd units run by a real systemd: this machine's own systemd
# booted as PID 1 of new namespaces (mount, PID, network, UTS, IPC) on an
# overlay of / whose writes vanish with it, so nothing on the host changes.
#
#   systemd (PID 1 here, network namespace of its own, only lo)
#     mpclient@wg       PORT=4000, key          -> mpserver@2000 -> echo on 127.0.0.1:5555
#                       paths: plain, and dev=lo mark=0x5 (needs its capabilities)
#     mpserver@2001     KEY= : no key, runs
#     mpserver@2002     no key file, no KEY= : refused (the stand-in is not a key)
#     mpclient-tun@mprc0 -> mpserver-tun@mprt0 (port 2010, key): a session between them
#   The servers' settings are in NAME.conf (mpserver -c); only 2001 has a .env.
#
# Checked: each unit reaches "active" only through READY=1 (Type=notify),
# 20 of 20 datagrams echo through the keyed pair, the status sockets answer
# in /run/mprelay/UNIT/, the tun devices have their addresses, the keyless
# instance runs and the one without a key is refused with the reason, and
# the sandbox lets all of it work. Then `systemctl reload mpserver@2000`
# after 2000.conf changed its mode: the same process, active throughout,
# runs the new mode (its status document says so) and still echoes; a
# broken 2000.conf is refused at the next reload, the service active and
# its mode unchanged. Needs root, unshare and systemd: else
# "SKIPPED" (exit 77; a failure under MP_REQUIRE_ALL=1).
#
#   test/units/run_units.sh RENDERED_UNITS_DIR     (make units-run)
set -euo pipefail

UNITS=$(readlink -f "${1:?usage: $0 RENDERED_UNITS_DIR}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SYSTEMD=/lib/systemd/systemd
fails=0

skip() {
	echo "== units-run SKIPPED: $1"
	[ "${MP_REQUIRE_ALL:-0}" != 0 ] || [ "${CI:-}" = true ] && exit 1
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$SYSTEMD" ] || skip "no $SYSTEMD (Debian package systemd)"
command -v unshare >/dev/null && command -v nsenter >/dev/null || skip "no unshare/nsenter"
# The rendered units name the programs by absolute path: they must be there.
BIN=$(sed -n 's|^ExecStart=\(/[^ ]*\)/mpclient .*|\1|p' "$UNITS/mpclient@.service")
[ -x "$BIN/mpclient" ] && [ -x "$BIN/mpserver" ] || { echo "no programs in '$BIN'" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/run_units.XXXXXX")
IN_BIN=/opt/mprelay-test/bin IN_SCRIPTS=/opt/mprelay-test/scripts
SD_PID=
cleanup() {
	# PID 1 of its namespace: killing it ends every process in there.
	[ -n "$SD_PID" ] && kill -9 "$SD_PID" 2>/dev/null || true
	[ -n "${UNSHARE_PID:-}" ] && wait "$UNSHARE_PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

check() {	# check WHAT COMMAND...: passes if COMMAND succeeds
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		fails=$((fails + 1))
	fi
}

# ---- the instances' files ------------------------------------------------
mkdir -p "$TMP/etc" "$TMP/ov"
"$BIN/mpclient" --genkey - >"$TMP/key"
for k in wg 2000 mprc0 mprt0; do cp "$TMP/key" "$TMP/etc/$k.key"; done
echo 'PORT=4000' >"$TMP/etc/wg.env"
printf '127.0.0.1 2000 name=plain\n127.0.0.1 2000 name=lo dev=lo mark=0x5\n' >"$TMP/etc/wg.conf"
printf 'listen 2000\ntarget 127.0.0.1 5555\nmode weighted\n' >"$TMP/etc/2000.conf"
printf 'listen 2001\ntarget 127.0.0.1 5556\n' >"$TMP/etc/2001.conf"
echo 'KEY=' >"$TMP/etc/2001.env"
printf 'listen 2002\ntarget 127.0.0.1 5557\n' >"$TMP/etc/2002.conf"
printf 'listen 2010\ntun-addr 10.99.0.1/24\n' >"$TMP/etc/mprt0.conf"
echo '127.0.0.1 2010' >"$TMP/etc/mprc0.conf"
echo 'OPTS=--tun-addr 10.99.0.2/24' >"$TMP/etc/mprc0.env"
INSTANCES="mpclient@wg mpserver@2000 mpserver@2001 mpserver@2002 mpserver-tun@mprt0 mpclient-tun@mprc0"

# ---- PID 1 of the namespaces: an overlay root, then systemd in it --------
cat >"$TMP/init.sh" <<INIT
#!/bin/bash
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs "$TMP/ov"
mkdir -p "$TMP/ov/upper" "$TMP/ov/work" "$TMP/ov/root"
mount -t overlay overlay -o lowerdir=/,upperdir="$TMP/ov/upper",workdir="$TMP/ov/work" "$TMP/ov/root"
R="$TMP/ov/root"
mount --rbind /dev "\$R/dev"
mount -t proc proc "\$R/proc"
mount --rbind /sys "\$R/sys"
mount -t tmpfs tmpfs "\$R/run"
mount -t tmpfs tmpfs "\$R/tmp"
# The programs and scripts where the services can see them: not under
# /tmp, which their PrivateTmp= hides (a clone under /tmp is CI's case).
mkdir -p "\$R$IN_BIN" "\$R$IN_SCRIPTS"
mount --bind "$BIN" "\$R$IN_BIN"
mount --bind "$ROOT/scripts" "\$R$IN_SCRIPTS"
# /dev/net/tun as Debian's udev makes it (0666), whatever the host has
mount -t tmpfs tmpfs "\$R/dev/net"
mknod -m 0666 "\$R/dev/net/tun" c 10 200
mkdir -p "\$R/etc/mprelay"
cp "$TMP/etc/"* "\$R/etc/mprelay/"
# As an admin leaves them: the settings readable by the services' dynamic
# users, the keys root's only (systemd hands them over).
chmod 644 "\$R/etc/mprelay/"*.conf "\$R/etc/mprelay/"*.env
chmod 600 "\$R/etc/mprelay/"*.key
for u in "$UNITS/"*.service; do
	sed "s|$BIN/|$IN_BIN/|g" "\$u" >"\$R/etc/systemd/system/\${u##*/}"
done
printf '[Unit]\nDescription=mprelay units under test\nWants=%s\n' \
	"$(for i in $INSTANCES; do printf '%s.service ' "$i"; done)" \
	>"\$R/etc/systemd/system/mprelay-test.target"
: >"\$R/etc/machine-id"
# systemd, in a container, leaves propagation as it finds it: its
# credentials are mounted in a child namespace and must propagate back.
mount --make-rshared "\$R"
exec chroot "\$R" /usr/bin/env container=mprelay-test $SYSTEMD --unit=mprelay-test.target
INIT
chmod +x "$TMP/init.sh"
unshare --mount --pid --net --uts --ipc --fork --mount-proc "$TMP/init.sh" \
	>"$TMP/boot.log" 2>&1 &
UNSHARE_PID=$!
for _ in $(seq 50); do
	SD_PID=$(cat /proc/$UNSHARE_PID/task/*/children 2>/dev/null | awk '{ print $1 }') || true
	[ -n "$SD_PID" ] && break
	sleep 0.1
done
[ -n "$SD_PID" ] || { cat "$TMP/boot.log"; skip "could not start systemd in namespaces"; }
in_sd() { nsenter -t "$SD_PID" -a -r -w "$@"; }

# Up when its start jobs are done; a unit that never says READY=1 keeps it
# "starting" (and fails the checks below), one that never answers is a skip.
state=
for _ in $(seq 100); do
	state=$(in_sd systemctl is-system-running 2>/dev/null) || true
	case "$state" in running|degraded) break ;; esac
	sleep 0.2
done
case "$state" in initializing|starting|running|degraded) ;; *)
	cat "$TMP/boot.log"
	skip "systemd did not answer in namespaces (state '$state')" ;;
esac
echo "units-run: systemd $(in_sd systemctl --version | awk 'NR == 1 { print $2 }') up as PID 1 of its namespaces"

status_answers() {
	in_sd /usr/bin/python3 "$IN_SCRIPTS/mpstat" --json "/run/mprelay/$1/status.sock" >/dev/null
}

# Type=notify: "active" is reached only once READY=1 came.
for u in mpclient@wg mpserver@2000 mpserver@2001 mpserver-tun@mprt0 mpclient-tun@mprc0; do
	check "$u active (READY=1 received)" in_sd systemctl is-active --quiet "$u"
	check "$u: status socket answers" status_answers "$u"
done
check "mpserver@2000 keyed through its credential" \
	in_sd sh -c 'journalctl -u mpserver@2000 | grep -q "listening on .*AES-256-GCM"'
check "mpserver@2000 may hold its 4096 sessions (no open-file limit warning)" \
	in_sd sh -c '! journalctl -u mpserver@2000 | grep -q "open-file limit"'
check "mpserver@2001 (KEY=) runs without a key" \
	in_sd sh -c 'journalctl -u mpserver@2001 | grep -q "warn: no --key-file"'
check "mpserver@2002 (no key file) refused, with the reason" \
	in_sd sh -c '! systemctl is-active --quiet mpserver@2002 &&
		journalctl -u mpserver@2002 | grep -q "key file /run/credentials/mpserver@2002.service/key: expected 44 characters"'

echo_through() {
	in_sd /usr/bin/python3 - <<'PY'
import socket, sys, threading
e = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
e.bind(("127.0.0.1", 5555))
def serve():
    while True:
        d, a = e.recvfrom(65536)
        e.sendto(d, a)
threading.Thread(target=serve, daemon=True).start()
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(2)
ok = 0
for i in range(20):
    c.sendto(b"datagram %d" % i, ("127.0.0.1", 4000))
    try:
        ok += c.recv(100) == b"datagram %d" % i
    except socket.timeout:
        pass
print(f"units-run: {ok} of 20 datagrams echoed through mpclient@wg and mpserver@2000")
sys.exit(ok != 20)
PY
}
check "20 of 20 through mpclient@wg -> mpserver@2000 (2 paths, one dev=lo mark=0x5)" echo_through
check "both paths of mpclient@wg carried them" in_sd sh -c \
	"/usr/bin/python3 $IN_SCRIPTS/mpstat --json /run/mprelay/mpclient@wg/status.sock |
	 /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(not all(p[\"tx_pkts\"] >= 20 for p in d[\"paths\"]))'"
check "tun devices up with their addresses" in_sd sh -c \
	'ip -br addr show mprt0 | grep -q 10.99.0.1/24 && ip -br addr show mprc0 | grep -q 10.99.0.2/24'
check "a tun session between mpclient-tun@mprc0 and mpserver-tun@mprt0" in_sd sh -c \
	'for i in $(seq 50); do journalctl -u mpclient-tun@mprc0 | grep -q "keys agreed" && exit 0; sleep 0.1; done; exit 1'
server_mode() {
	in_sd /usr/bin/python3 "$IN_SCRIPTS/mpstat" --json /run/mprelay/mpserver@2000/status.sock |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["mode"])'
}
# A reload is asynchronous to systemctl (systemd 252 waits for kill only):
# the new mode is waited for, 5 s at most (it takes a few milliseconds).
mode_becomes() {
	for _ in $(seq 50); do
		[ "$(server_mode)" = "$1" ] && return 0
		sleep 0.1
	done
	echo "mpserver@2000 runs mode '$(server_mode)', not '$1'" >&2
	return 1
}
main_pid() { in_sd systemctl show -P MainPID mpserver@2000; }
pid_before=$(main_pid)
same_process() {	# active, and the process that started (not a restart)
	in_sd systemctl is-active --quiet mpserver@2000 && [ "$(main_pid)" = "$pid_before" ]
}
reload_to() {	# reload_to SED_SCRIPT: 2000.conf edited, then systemctl reload
	in_sd sed -i "$1" /etc/mprelay/2000.conf && in_sd systemctl reload mpserver@2000
}
journal_says() {
	for _ in $(seq 50); do
		grep -q "$1" <<<"$(in_sd journalctl -u mpserver@2000)" && return 0
		sleep 0.1
	done
	return 1
}
check "mpserver@2000 runs 2000.conf's mode (weighted)" mode_becomes weighted
check "systemctl reload mpserver@2000 after 2000.conf changed to 'mode roundrobin'" \
	reload_to 's/^mode weighted$/mode roundrobin/'
check "the reload applied the file's new mode (status document: roundrobin)" mode_becomes roundrobin
check "mpserver@2000 active through the reload, the same process" same_process
check "20 of 20 still echo after the reload" echo_through
broken_refused() {
	reload_to 's/^mode roundrobin$/mode nonsense/' && journal_says 'reload refused'
}
check "a broken 2000.conf ('mode nonsense'): the reload is refused with the reason" broken_refused
check "... and mpserver@2000 runs on, the same process, its mode unchanged" \
	eval 'same_process && [ "$(server_mode)" = roundrobin ]'
check "systemctl stop: a clean exit, the runtime directory gone" in_sd sh -c \
	'systemctl stop mpserver@2001 && ! systemctl is-failed --quiet mpserver@2001 && [ ! -e /run/mprelay/mpserver@2001 ]'

if [ $fails = 0 ]; then
	echo "== units-run: all passed"
else
	echo "== units-run: $fails FAILED; the journal:"
	in_sd journalctl --no-pager -b | grep -E "mp(client|server)" | tail -60 || true
	exit 1
fi
