#!/usr/bin/env bash
# A live loopback demo of mprelay's main job: one application flow carried
# over three bad links, duplicated on all of them, arriving whole.
#
#   udpflow send --> mpclient :PORT_C --+-- impair "lossy" (10% loss) --------+
#                                       +-- impair "slow"  (60 ms +-20 ms) ---+--> mpserver :PORT_S --> udpflow echo
#                                       +-- impair "dies"  (dead after 4 s) --+
#
# Runs on 127.0.0.1 only, ends by itself, cleans up after itself.
set -euo pipefail

B=${1:-build}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] && echo "logs kept in $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

COUNT=2000 RATE=200

# Starts everything on ports the kernel says are free; returns non-zero if
# a process died at once (a port taken between the asking and the binding).
start_all() {
	read -r ECHO SRV BR1 BR2 BR3 CLI < <($PY -c '
import socket
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
	$PY "$HERE/udpflow.py" echo "$ECHO" & PIDS+=($!)
	"$B/mpserver" --bind 127.0.0.1 "$SRV" 127.0.0.1 "$ECHO" 2>"$TMP/server.log" & PIDS+=($!)
	"$B/impair" -q --seed 1 --loss 10 "$BR1" 127.0.0.1 "$SRV" 2>"$TMP/lossy.log" & PIDS+=($!); LOSSY=$!
	"$B/impair" -q --seed 2 --delay 60 --jitter 20 "$BR2" 127.0.0.1 "$SRV" 2>"$TMP/slow.log" & PIDS+=($!); SLOW=$!
	"$B/impair" -q --seed 3 --blackhole-after 4 "$BR3" 127.0.0.1 "$SRV" 2>"$TMP/dies.log" & PIDS+=($!); DIES=$!
	cat >"$TMP/mpclient.conf" <<CONF
# host      port   options
127.0.0.1   $BR1   name=lossy
127.0.0.1   $BR2   name=slow
127.0.0.1   $BR3   name=dies
CONF
	"$B/mpclient" "$CLI" "$TMP/mpclient.conf" 2>"$TMP/client.log" & PIDS+=($!)
	sleep 0.3
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || return 1
	done
}

for attempt in 1 2 3; do
	start_all && break
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	PIDS=()
	if [ "$attempt" = 3 ]; then
		echo "demo: a process did not start three times over; its log:" >&2
		tail -n 3 "$TMP"/*.log >&2
		exit 1
	fi
done

echo "mprelay demo: $COUNT datagrams of 1200 bytes at $RATE/s, echoed back, over three bad links"
echo

$PY "$HERE/udpflow.py" send "$CLI" --count $COUNT --rate $RATE --size 1200 --settle 0.5 >"$TMP/flow.txt"

for p in $LOSSY $SLOW $DIES; do kill -TERM "$p"; done
sleep 0.2

# loss of one impair direction from its stats line
path_loss() { # file dir
	sed -n "s/.*dir=$2 rx_pkts=\([0-9]*\) rx_bytes=[0-9]* tx_pkts=\([0-9]*\).*/\1 \2/p" "$1" |
		awk '{ if ($1 > 0) printf "%5.1f%%", 100 * ($1 - $2) / $1; else printf "    -" }'
}
printf '%-8s %-34s %10s %10s\n' path impairment "loss up" "loss down"
printf '%-8s %-34s %10s %10s\n' lossy "10% random loss" "$(path_loss "$TMP/lossy.log" up)" "$(path_loss "$TMP/lossy.log" down)"
printf '%-8s %-34s %10s %10s\n' slow "60 ms delay, 0-20 ms jitter" "$(path_loss "$TMP/slow.log" up)" "$(path_loss "$TMP/slow.log" down)"
printf '%-8s %-34s %10s %10s\n' dies "dead after 4 s" "$(path_loss "$TMP/dies.log" up)" "$(path_loss "$TMP/dies.log" down)"
echo
eval "$(tr ' ' '\n' <"$TMP/flow.txt" | grep -E '^(sent|received|lost|loss_pct|duplicates|corrupt|rtt_p50_ms|rtt_p99_ms)=')"
printf 'delivered through mprelay (duplicate mode), round trip:\n'
printf '  %s of %s datagrams back, %s lost (%s%%), %s duplicates, %s corrupted\n' \
	"$received" "$sent" "$lost" "$loss_pct" "$duplicates" "$corrupt"
printf '  RTT p50 %s ms, p99 %s ms (the fastest live path wins)\n' "$rtt_p50_ms" "$rtt_p99_ms"
echo
echo "One link lost a tenth of everything, one was slow, one died halfway;"
echo "the application saw none of it. Try: --mode roundrobin, or kill -USR1 a bridge."
