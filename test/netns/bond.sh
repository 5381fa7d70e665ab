#!/usr/bin/env bash
# Bonding, measured as issue 11 ("Bonding that adds up") states its targets:
# WireGuard through mprelay over three uplinks of unequal rate and delay, each
# with its own bottleneck queue, TCP cubic inside, each direction, against the
# sum of the uplinks' rates and against WireGuard over the fastest uplink
# alone, in the same run; ping through the tunnel while TCP saturates it; the
# fastest uplink's rate halved in the middle of a transfer.
#
#   client namespace mbc-PID   router mbr-PID: the bottlenecks     server mbs-PID
#
#   ping, iperf3 -c                                                   iperf3 -s
#   wgc 10.9.0.1 (wireguard-go)                         wgs 10.9.0.2 :51820 (wireguard-go)
#      | to 127.0.0.1:4000                                                ^
#   mpclient :4000                                                        |
#      -- c1 ==== rc1 [16 Mbit/s, 60 ms queue] rs1 ==== s1 impair :4001  -+  5 ms -+
#      -- c2 ==== rc2 [ 8 Mbit/s, 60 ms queue] rs2 ==== s2 impair :4001  -+ 15 ms -+- mpserver :2000
#      -- c3 ==== rc3 [ 4 Mbit/s, 60 ms queue] rs3 ==== s3 impair :4001  -+ 30 ms -+
#                                                         (delays one way, each way)
#   fastest alone, no relay: wgc's endpoint is s1 impair :4002 (5 ms), straight to :51820
#
# Each uplink is a tbf on each of the router's two interfaces (one per
# direction): a rate counted in IP bytes and a tail-drop queue of QUEUE_MS
# at that rate, like the buffer of a real uplink, and no part of the
# sender's host (see build_topology in lib.sh). impair adds the delay.
# Halving an uplink's rate keeps its queue's size in bytes, as a modem's.
#
# Usage: test/netns/bond.sh BUILD_DIR [JSON_FILE]   (builds nothing)
#   BUILD_DIR holds mpclient, mpserver and impair (the optimized build: the
#   figures are throughput; MP_BIN=DIR takes mpclient and mpserver from DIR).
#   JSON_FILE (default BUILD_DIR/bond.json, or BOND_JSON) gets every figure,
#   for bench/run.py. The table goes to stdout.
#   MODES="bond adaptive ..." the relay's modes (default "bond"), each run
#     with steady TCP each way, then with the rate halved each way;
#   RATE_MODES the modes run once more with each path's true rates in
#     mpclient's config, rate= up and down= down (default: those of MODES
#     that read rates, bond and weighted; "" for none);
#   ASSERT_MODES the modes held to the floors below (default "bond"), and
#     with BOND_TARGETS=1 to the issue's targets too; the others' figures
#     are set against them and printed, not asserted;
#   BOND_ASSERT=0 prints the figures and asserts nothing (experiments);
#   BOND_RATES="16 8 4" (Mbit/s; 0: no limit), BOND_DELAYS="5 15 30" (ms),
#   BOND_QUEUE_MS=60, BOND_LOSS="0 0 0" (random loss each way, %, after
#   the bottleneck, the fastest alone's included) change the uplinks (with
#   loss, bond's bound is issue 12's 0.7 of the sum, and its floor 0.6);
#   MPRELAY_EXTRA_ARGS adds options to mpclient and mpserver; KEEP=1 keeps
#   the logs.
# Exit status: 0 passed (or nothing asserted); 1 a failure; 75 a failure
# during a measured host stall (STALL_STEAL_PCT: make bond runs it again, at
# most twice, the last time with BOND_RERUN=1, and that run stands); 2 a usage or
# setup error; 77 skipped (not root, or no /dev/net/tun). With MP_REQUIRE_ALL=1
# (CI=true implies it) a skip, or BOND_ASSERT=0, fails instead.
# About 70 s with the defaults (MODES=bond: bond, then bond with rates), 40 s
# more per mode in MODES, 20 s per mode in RATE_MODES.
set -euo pipefail

BUILD=$(readlink -f "${1:?usage: $0 BUILD_DIR [JSON_FILE]}")
JSON=${2:-${BOND_JSON:-$BUILD/bond.json}}
ME=bond
# shellcheck source=test/netns/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

ASSERT=${BOND_ASSERT:-1}
if [[ ${MP_REQUIRE_ALL:-0} != 0 || ${CI:-} == true ]] && [[ $ASSERT == 0 ]]; then
	echo "bond: BOND_ASSERT=0 asserts nothing: not with MP_REQUIRE_ALL" >&2
	exit 2
fi
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, tun devices)"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun (wireguard-go needs it)"
MP_BIN=$(readlink -f "${MP_BIN:-$BUILD}")
for bin in "$MP_BIN/mpclient" "$MP_BIN/mpserver" "$BUILD/impair"; do
	[[ -x $bin ]] || { echo "bond: not built: $bin" >&2; exit 2; }
done
for tool in ip tc wg wireguard-go iperf3 ping jq; do
	command -v "$tool" >/dev/null ||
		{ echo "bond: missing $tool (scripts/deps.sh installs it)" >&2; exit 2; }
done

# ------------------------------------------------------------ the links
# Rates near 4:2:1, one-way delays tens of ms apart, queues of 50-100 ms
# (the issue's suggestion). The sum is kept low enough that the machine is
# not the bottleneck: with no rate limit, WireGuard-go through mpclient,
# the bridges and mpserver carries about 10 times this sum on the 2-core VM.
read -r -a RATE_MBIT <<<"${BOND_RATES:-16 8 4}"
read -r -a DELAY_MS <<<"${BOND_DELAYS:-5 15 30}"
read -r -a LOSS_PCT <<<"${BOND_LOSS:-0 0 0}"
QUEUE_MS=${BOND_QUEUE_MS:-60}
((${#RATE_MBIT[@]} == 3 && ${#DELAY_MS[@]} == 3 && ${#LOSS_PCT[@]} == 3)) ||
	{ echo "bond: BOND_RATES, BOND_DELAYS and BOND_LOSS take 3 numbers each" >&2; exit 2; }
if [[ ${MP_REQUIRE_ALL:-0} != 0 || ${CI:-} == true ]] && [[ " ${RATE_MBIT[*]} " == *" 0 "* ]]; then
	echo "bond: an uplink without a rate limit asserts nothing: not with MP_REQUIRE_ALL" >&2
	exit 2
fi
BEST=0				# the fastest uplink (the highest rate, the shortest delay)
HALVED=0			# the uplink whose rate is halved mid-transfer

read -r -a MODES <<<"${MODES:-bond}"
if [[ -z ${RATE_MODES+set} ]]; then
	RATE_MODES=()
	for m in "${MODES[@]}"; do
		[[ $m != bond && $m != weighted ]] || RATE_MODES+=("$m")
	done
else
	# shellcheck disable=SC2128	# the environment's string becomes the array
	read -r -a RATE_MODES <<<"$RATE_MODES"
fi
read -r -a ASSERT_MODES <<<"${ASSERT_MODES:-bond}"

TCP_CC=cubic			# Debian's default, loss-based: what fills a queue
TCP_SECONDS=4			# measured, each way,
TCP_OMIT_SECONDS=3		# after this long: slow start, and the relay's
				# estimates (a fresh session's first transfer ramps
				# over ~3 s: cubic grows slowly after HyStart ends
				# slow start at the bond's longer RTT)
PING_INTERVAL_S=0.01
IDLE_PINGS=100
# While TCP saturates the tunnel: over the measured seconds, less half a second.
LOADED_PINGS=$((TCP_SECONDS * 100 - 50))
HALVED_SECONDS=9		# the rate-halved transfer: the rate halves
HALVE_AT_S=4			# this far into it (iperf3's clock), for the rest
INTERVAL_S=0.5			# throughput per interval
RELAY_PORT=4000
SERVER_PORT=2000
BRIDGE_PORT=4001
BASELINE_PORT=4002
WG_PORT=51820
# mprelay adds 20 bytes, the IPv4 paths 28, WireGuard 32: 1500-28-20-32.
WG_MTU=1420
READY_TIMEOUT_S=20

# ------------------------------------------------------------ the bounds
# The targets of issue 11 (its "Targets" section: WireGuard inside, TCP cubic,
# each direction), for the modes in ASSERT_MODES:
#   "clean unequal paths, no rate=: TCP >= 0.85 of the sum of the rates"
MIN_OF_SUM=0.85
#   "with rate= given: >= 0.9" (rate= and down=, each path's true rates)
MIN_OF_SUM_WITH_RATE=0.9
#   "ping during a saturating transfer: no loss, RTT within 25 ms of the idle
#   RTT of the fastest path": every ping sent while TCP saturates the tunnel
#   answered, and their p95 within 25 ms of the p50 of idle pings over the
#   fastest uplink alone (p95, not the maximum: one ping delayed by the host
#   not running us is not the relay's queue)
MAX_LOADED_PING_LOSS_PCT=0
MAX_LOADED_RTT_OVER_IDLE_MS=25
#   "one path's rate halved mid-transfer: throughput back to >= 0.8 of the new
#   sum within 3 s": every INTERVAL_S of TCP from 3 s after the change on
#   carries at least 0.8 of the new sum
HALVED_MIN_OF_NEW_SUM=0.8
HALVED_MAX_RECOVERY_S=3
# The targets are asserted only with BOND_TARGETS=1: today's bond does not
# meet all of them (issue 11's closing note says by how much and why). What
# make check asserts for the modes in ASSERT_MODES are floors that catch a
# regression of what bonding does now, each from the runs measured when it
# was set, with margin:
#   TCP through the bond, each way, over the fastest uplink alone: measured
#   1.26-1.62 up and 1.29-1.34 down (2-CPU VM, other jobs running); at or
#   under 1.0 the bond would not be bonding at all
MIN_OF_FASTEST=1.1
#   ping p95 under a saturating transfer over the fastest's idle RTT:
#   measured 12-23 ms; 42 ms before latency-critical datagrams passed the
#   receiver's hold
MAX_LOADED_RTT_FLOOR_MS=35
# Over uplinks that also lose at random (BOND_LOSS, `make bond` runs
# "1 2 3" after the clean run), issue 12's target, asserted with
# BOND_TARGETS=1 (make bench's recovery stage reports it):
#   "unequal rate-limited paths with 1-3 % random loss: TCP >= 0.7 of the
#   sum of the rates" (for bond; the fastest alone carries about 0.5 of
#   its rate there, so the instrument's check of it below is not asserted)
MIN_OF_SUM_LOSSY=0.7
#   and the floor make check holds bond to there: measured 0.71-0.74 on a
#   quiet host, 0.64-0.68 with 3-21 % steal; every spreading mode carried
#   0.05-0.1 of the sum there before loss recovery (issue 12)
MIN_OF_SUM_LOSSY_FLOOR=0.6
TARGETS=${BOND_TARGETS:-0}
# The instrument's own sanity, asserted in every run (BOND_ASSERT=0 aside):
#   the fastest uplink alone carries TCP at >= 0.8 of its rate each way (the
#   headers leave at most 0.92, see CEILING below): the rate limit is what
#   limits, not the machine;
MIN_ALONE_OF_RATE=0.8
#   idle, its RTT is twice its delay, give or take the programs' own time;
MAX_IDLE_RTT_OVER_DELAY_MS=3
#   loaded, its queue shows: cubic keeps at least 0.7 of the buffer full
#   (it backs off to 0.7 of the window), so the pings wait at least half of
#   QUEUE_MS more than idle.
MIN_ALONE_QUEUE_SHOWN=0.5
# A run whose bounds fail while the hypervisor took this share of the CPUs
# (steal, /proc/stat) is run again (exit 75 to make bond): on a quiet
# host steal is under 1 %, and the host that took 50 % for minutes turned
# the same binary's 0.88 of the sum into 0.44.
STALL_STEAL_PCT=10

NSC=mbc-$$
NSS=mbs-$$
NSR=mbr-$$
WGC=wgc$$ WGS=wgs$$		# also the names of wireguard-go's sockets in /run/wireguard
DEVICES=("$WGC" "$WGS")
umask 077			# the keys live in TMP
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mprelay-bond.XXXXXX")
PIDS=()				# every process started, so cleanup ends exactly those
FAILS=0
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ arithmetic
# calc EXPR [VAR=VALUE...]: awk arithmetic; "-" if a VALUE is "-" or the
# result is not finite (a division by zero).
calc() {
	local expr=$1 v args=()
	shift
	for v in "$@"; do
		[[ ${v#*=} != - && -n ${v#*=} ]] || { echo -; return; }
		args+=(-v "$v")
	done
	awk "${args[@]}" "BEGIN { x = $expr; if (x == x + 1 && x != 0) print \"-\"; else printf \"%.4g\n\", x }" 2>/dev/null ||
		echo -
}

SUM_MBIT=$(calc 'a + b + c' a="${RATE_MBIT[0]}" b="${RATE_MBIT[1]}" c="${RATE_MBIT[2]}")
LOSSY=
for l in "${LOSS_PCT[@]}"; do
	[[ $l == 0 ]] || LOSSY=1
done
UNLIMITED=
for r in "${RATE_MBIT[@]}"; do
	[[ $r != 0 ]] || UNLIMITED=1
done
[[ -z $UNLIMITED ]] || SUM_MBIT=-
# What TCP can carry at most of an uplink's rate: its payload per packet
# (the MTU less IPv4, TCP and the timestamp option) over the IP packet on
# the uplink (WireGuard 32 bytes, mprelay 20, UDP/IPv4 28).
TCP_PAYLOAD=$((WG_MTU - 20 - 20 - 12))
CEILING=$(calc 'p / (m + 32 + 20 + 28)' p=$TCP_PAYLOAD m=$WG_MTU)
CEILING_ALONE=$(calc 'p / (m + 32 + 28)' p=$TCP_PAYLOAD m=$WG_MTU)

# ------------------------------------------------------------ the uplinks
# burst: two full packets, or 2 ms at the rate, whichever is more (a link
# sends packets back to back, not in bursts).
shape() {
	local i=$1 rate=$2 full=${RATE_MBIT[$1]} burst limit dev
	burst=$(awk -v r="$rate" 'BEGIN { b = r * 1e6 / 8 * 0.002; print (b < 3000 ? 3000 : int(b)) }')
	# the queue: QUEUE_MS at the configured rate, in bytes, kept when the rate changes
	limit=$(awk -v r="$full" -v q="$QUEUE_MS" 'BEGIN { print int(r * 1e6 / 8 * q / 1000) }')
	for dev in "rs$((i + 1))" "rc$((i + 1))"; do
		if [[ $rate == 0 ]]; then
			tc -n "$NSR" qdisc del dev "$dev" root 2>/dev/null || true
		else
			# The rate counts IP bytes: less the 14 of the veth's Ethernet header.
			tc -n "$NSR" qdisc replace dev "$dev" root stab overhead -14 \
				tbf rate "${rate}mbit" burst "$burst" limit "$limit"
		fi
	done
}

impair_args() {
	local loss=
	[[ ${LOSS_PCT[$1]} == 0 ]] || loss=" --loss ${LOSS_PCT[$1]} --seed $((100 + $1))"
	echo "-q --delay ${DELAY_MS[$1]}$loss"
}

# ------------------------------------------------------------ figures
# FIG[KEY]: every figure, KEY a dotted path in the JSON ("runs.bond.up.mbps");
# "-" for what failed.
declare -A FIG
ORDER=()			# the runs, in order

# ping_run KEY COUNT LOGNAME: COUNT pings every PING_INTERVAL_S through the
# tunnel. FIG[KEY.loss_pct|p50_ms|p95_ms|max_ms|count].
ping_run() {
	local key=$1 out loss p50 p95 max n
	out=$(ip netns exec "$NSC" ping -n -i "$PING_INTERVAL_S" -c "$2" -W 1 10.9.0.2 2>&1 || true)
	echo "$out" >"$(logf "$3")"
	loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$out")
	read -r p50 p95 max n < <(grep -o 'time=[0-9.]*' <<<"$out" | cut -c6- | sort -n | awk '
		{ v[NR] = $1 }
		function q(f,  i) { i = int(f * NR); if (i < f * NR) i++; return v[i < 1 ? 1 : i] }
		END { if (NR) print q(0.5), q(0.95), v[NR], NR; else print "- - - 0" }')
	FIG[$key.loss_pct]=${loss:--}
	FIG[$key.p50_ms]=$p50
	FIG[$key.p95_ms]=$p95
	FIG[$key.max_ms]=$max
	FIG[$key.count]=$n
}

# tcp_run KEY up|down: iperf3 TCP through the tunnel (up: the client
# namespace sends), and pings through it over the measured seconds.
# FIG[KEY.DIR.mbps|retrans|per_s_mbps], FIG[KEY.DIR.ping.*].
tcp_run() {
	local key=$1 dir=$2 rev=() pid f
	[[ $dir == down ]] && rev=(-R)
	# The sender's congestion control is the one that matters: -C sets it on
	# both ends.
	start "$NSC" "iperf3-$dir" timeout $((TCP_OMIT_SECONDS + TCP_SECONDS + 20)) \
		iperf3 -c 10.9.0.2 -p 5201 "${rev[@]}" -C "$TCP_CC" -t "$TCP_SECONDS" \
		-O "$TCP_OMIT_SECONDS" -J
	pid=$LAST_PID
	sleep "$TCP_OMIT_SECONDS"
	ping_run "$key.$dir.ping" "$LOADED_PINGS" "ping-$dir"
	reap "$pid" || true
	f=$(logf "iperf3-$dir")
	if jq -e '.end.sum_received.bits_per_second' "$f" >/dev/null 2>&1; then
		FIG[$key.$dir.mbps]=$(jq -r '.end.sum_received.bits_per_second / 1e6 * 1000 | round / 1000' "$f")
		FIG[$key.$dir.retrans]=$(jq -r '.end.sum_sent.retransmits' "$f")
		# each second, the omitted ones first: how fast it got there
		FIG[$key.$dir.per_s_mbps]=$(jq -c '[.intervals[].sum.bits_per_second / 1e6 * 10 | round / 10]' "$f")
	else
		fail "$key: iperf3 $dir: $(jq -r '.error // "no result"' "$f" 2>/dev/null || echo "no JSON")"
		FIG[$key.$dir.mbps]=- FIG[$key.$dir.retrans]=-
	fi
}

# intervals LOG DIR: "start end kbit/s" per interval of the receiving side
# of an iperf3 text log: the client's lines when it receives (down), the
# server's (after "Server output:", --get-server-output) when it sends (up).
intervals() {
	local part
	if [[ $2 == down ]]; then part='/^Server output:/ { exit } { print }'; else part='f; /^Server output:/ { f = 1 }'; fi
	awk "$part" "$1" | grep -vE 'sender|receiver' |
		sed -nE 's/^\[ *[0-9]+\] +([0-9.]+)-([0-9.]+) +sec +[0-9.]+ [KMGT]?Bytes +([0-9.]+) Kbits\/sec.*/\1 \2 \3/p'
}

# halved_run KEY up|down: HALVED_SECONDS of TCP; when iperf3 reports its
# interval ending at HALVE_AT_S, uplink HALVED's rate is halved (both ways),
# and restored after. FIG[KEY.halved.DIR.*]: the intervals, the change's
# time, the new sum, the recovery time (from the change to the end of the
# last interval under HALVED_MIN_OF_NEW_SUM of the new sum; "-" if the last
# one is), throughput before the change and from HALVED_MAX_RECOVERY_S after.
halved_run() {
	local key=$1.halved.$2 dir=$2 rev=() line log at="" t0 mark half
	[[ $dir == down ]] && rev=(-R)
	log=$(logf "halved-$dir")
	: >"$log"
	mark=$(printf '%.2f-%.2f' "$(calc 's - i' s=$HALVE_AT_S i=$INTERVAL_S)" "$HALVE_AT_S")
	half=$(calc 'r / 2' r="${RATE_MBIT[$HALVED]}")
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$log"
		if [[ -z $at && $line =~ ^\[\ *[0-9]+\]\ +$mark\  ]]; then
			t0=$EPOCHREALTIME
			shape "$HALVED" "$half"
			at=$(calc 'h + n - t' h=$HALVE_AT_S n="$EPOCHREALTIME" t="$t0")
		fi
	done < <(timeout $((HALVED_SECONDS + 20)) ip netns exec "$NSC" iperf3 -c 10.9.0.2 -p 5201 \
		"${rev[@]}" -C "$TCP_CC" -t "$HALVED_SECONDS" -i "$INTERVAL_S" -f k --forceflush \
		--get-server-output 2>&1)
	shape "$HALVED" "${RATE_MBIT[$HALVED]}"
	FIG[$key.change_s]=${at:--}
	FIG[$key.new_sum_mbit]=$(calc 's - r + h' s="$SUM_MBIT" r="${RATE_MBIT[$HALVED]}" h="$half")
	if [[ -z $at ]]; then
		fail "$1: iperf3 $dir (rate halved) never reported ${mark} s: $(tail -n 1 "$log")"
		at=-
	fi
	read -r "FIG[$key.intervals]" "FIG[$key.recovery_s]" "FIG[$key.before_mbps]" \
		"FIG[$key.after_mbps]" < <(
		intervals "$log" "$dir" | awk -v at="$at" -v halve="$HALVE_AT_S" \
			-v settle="$HALVED_MAX_RECOVERY_S" -v step="$INTERVAL_S" \
			-v bound="$(calc 'f * s' f=$HALVED_MIN_OF_NEW_SUM s="${FIG[$key.new_sum_mbit]}")" '
		$2 - $1 >= 0.8 * step { n++; s[n] = $1; e[n] = $2; m[n] = $3 / 1000 }
		END {
			js = "["
			for (i = 1; i <= n; i++)
				js = js (i > 1 ? "," : "") sprintf("[%.2f,%.2f,%.3f]", s[i], e[i], m[i])
			js = js "]"
			if (at == "-" || bound == "-" || !n) { print js, "-", "-", "-"; exit }
			low = 0
			for (i = 1; i <= n; i++) {
				if (s[i] >= 1 && e[i] <= halve + 0.01) { b += m[i]; nb++ }
				if (s[i] >= at + settle - step / 2) { a += m[i]; na++ }
				if (s[i] >= halve - 0.01 && m[i] < bound) low = i
			}
			rec = low == n ? "-" : low ? sprintf("%.2f", e[low] - at) : 0
			print js, rec, nb ? sprintf("%.3f", b / nb) : "-", na ? sprintf("%.3f", a / na) : "-"
		}')
	FIG[$key.recovered]=-
	[[ $at == - ]] || FIG[$key.recovered]=$([[ ${FIG[$key.recovery_s]} != - ]] && echo true || echo false)
}

# shares LOG FIELD: each path's share of FIELD (tx_bytes, rx_bytes) in a
# stopped mpclient's counters, in percent, as a JSON array.
shares() {
	sed -n "s/.* stats path .* $2=\([0-9]*\) .*/\1/p" "$(logf "$1")" | awk '
		{ v[NR] = $1; t += $1 }
		END { printf "["; for (i = 1; i <= NR; i++) printf "%s%.1f", (i > 1 ? "," : ""), t ? 100 * v[i] / t : 0; print "]" }'
}

# ratios KEY: each direction's TCP over the sum of the rates and over the
# fastest uplink alone.
ratios() {
	local dir
	for dir in up down; do
		FIG[$1.$dir.of_sum]=$(calc 'm / s' m="${FIG[$1.$dir.mbps]}" s="$SUM_MBIT")
		FIG[$1.$dir.of_fastest]=$(calc 'm / f' m="${FIG[$1.$dir.mbps]}" f="${FIG[runs.alone.$dir.mbps]:--}")
	done
}

# ------------------------------------------------------------ scenarios
wait_tunnel() {
	wait_for "$READY_TIMEOUT_S" ip netns exec "$NSC" ping -c 1 -W 1 -q 10.9.0.2 ||
		die "no ping through the tunnel in $READY_TIMEOUT_S s"
}

# run_alone: WireGuard over the fastest uplink alone, no relay.
run_alone() {
	local key=runs.alone
	say "WireGuard over the fastest uplink alone (${RATE_MBIT[$BEST]} Mbit/s," \
		"${DELAY_MS[$BEST]} ms), no relay"
	TAG=alone.
	ORDER+=(alone)
	FIG[$key.label]="fastest uplink alone"
	FIG[$key.mode]=-
	baseline_up "$WG_PORT"
	wg_endpoint "10.0.$((BEST + 1)).2:$BASELINE_PORT"
	wait_tunnel
	ping_run "$key.idle_ping" "$IDLE_PINGS" ping-idle
	tcp_run "$key" up
	tcp_run "$key" down
	wg_endpoint "127.0.0.1:$RELAY_PORT"
	baseline_down
	local dir
	for dir in up down; do
		FIG[$key.$dir.of_rate]=$(calc 'm / r' m="${FIG[$key.$dir.mbps]}" r="${RATE_MBIT[$BEST]}")
	done
	ratios "$key"
	TAG=
}

# run_mode MODE [rate]: WireGuard through mprelay in MODE, steady TCP each
# way; with "rate", each path's true rates in mpclient's config: rate= for
# what mpclient sends, down= for what mpserver sends (mpclient tells it in
# its probes; bond takes both as caps, weighted only rate=, as weights);
# without, then the rate-halved transfer each way.
run_mode() {
	local mode=$1 with_rate=${2:-} tag key i smode=$1
	tag=$mode${with_rate:++rate}
	key=runs.$tag
	ORDER+=("$tag")
	FIG[$key.label]="$mode${with_rate:+, rate= down=}"
	FIG[$key.mode]=$mode
	FIG[$key.rate_opts]=$([[ -n $with_rate ]] && echo true || echo false)
	say "WireGuard through mprelay (${FIG[$key.label]})"
	TAG=$tag.
	PATH_OPTS=()
	if [[ -n $with_rate ]]; then
		for i in 0 1 2; do PATH_OPTS[i]="rate=${RATE_MBIT[$i]}mbit down=${RATE_MBIT[$i]}mbit"; done
	fi
	# In bond mode mpserver follows the client (issue 11, point 5): no --mode.
	[[ $mode != bond ]] || smode=-
	relay_up "$mode" "$WG_PORT" "$smode"
	wait_tunnel
	ping_run "$key.idle_ping" "$IDLE_PINGS" ping-idle
	tcp_run "$key" up
	tcp_run "$key" down
	if [[ -z $with_rate && -z $UNLIMITED ]]; then
		halved_run "$key" up
		sleep 1			# the restored rate, before the next transfer
		halved_run "$key" down
	fi
	relay_down
	PATH_OPTS=()
	FIG[$key.share_up_pct]=$(shares mpclient tx_bytes)
	FIG[$key.share_down_pct]=$(shares mpclient rx_bytes)
	ratios "$key"
	TAG=
}

# ------------------------------------------------------------ checks
CHECKS=()			# JSON objects, one per bound
# check NAME VALUE le|ge LIMIT ASSERTED: one bound; asserted ones count.
check() {
	local name=$1 v=$2 op=$3 lim=$4 asserted=$5 met
	if [[ $op == le ]]; then num_le "$v" "$lim" && met=true || met=false
	else num_ge "$v" "$lim" && met=true || met=false; fi
	CHECKS+=("$(jq -cn --arg n "$name" --arg v "$v" --arg op "$op" --argjson l "$lim" \
		--argjson m "$met" --argjson a "$asserted" \
		'{name: $n, value: ($v | tonumber? // null), op: $op, limit: $l, met: $m, asserted: $a}')")
	if [[ $asserted == true ]]; then
		if [[ $op == le ]]; then assert_le "$name" "$v" "$lim"; else assert_ge "$name" "$v" "$lim"; fi
	else
		say "(not asserted) $name: $v, target $([[ $op == le ]] && echo "<=" || echo ">=") $lim:" \
			"$([[ $met == true ]] && echo met || echo missed)"
	fi
}

check_all() {
	local tag key dir asserted floor min idle filled
	asserted=$([[ $ASSERT != 0 && -z $UNLIMITED ]] && echo true || echo false)
	# a lossy uplink alone is not filled by TCP: only its idle RTT is checked
	filled=$([[ -z $LOSSY ]] && echo "$asserted" || echo false)
	idle=${FIG[runs.alone.idle_ping.p50_ms]}
	for dir in up down; do
		check "fastest alone: TCP $dir / its rate (the rate limit limits)" \
			"${FIG[runs.alone.$dir.of_rate]}" ge "$MIN_ALONE_OF_RATE" "$filled"
		check "fastest alone: ping under TCP $dir, p50 over idle, ms (the queue is there)" \
			"$(calc 'l - i' l="${FIG[runs.alone.$dir.ping.p50_ms]}" i="$idle")" ge \
			"$(calc 'f * q' f=$MIN_ALONE_QUEUE_SHOWN q="$QUEUE_MS")" "$filled"
	done
	check "fastest alone: idle RTT over twice its delay, ms" \
		"$(calc 'i - 2 * d' i="$idle" d="${DELAY_MS[$BEST]}")" le "$MAX_IDLE_RTT_OVER_DELAY_MS" "$asserted"
	check "fastest alone: idle RTT under twice its delay, ms" \
		"$(calc '2 * d - i' i="$idle" d="${DELAY_MS[$BEST]}")" le 0 "$asserted"
	for tag in "${ORDER[@]}"; do
		[[ $tag != alone ]] || continue
		key=runs.$tag
		floor=false
		[[ $ASSERT == 0 || -n $UNLIMITED || " ${ASSERT_MODES[*]} " != *" ${FIG[$key.mode]} "* ]] ||
			floor=true
		asserted=false
		[[ $TARGETS == 0 ]] || asserted=$floor
		min=$MIN_OF_SUM
		[[ ${FIG[$key.rate_opts]} == false ]] || min=$MIN_OF_SUM_WITH_RATE
		[[ -z $LOSSY ]] || min=$MIN_OF_SUM_LOSSY
		for dir in up down; do
			check "$tag: TCP $dir / sum of the rates" "${FIG[$key.$dir.of_sum]}" ge "$min" "$asserted"
			[[ -z $LOSSY ]] ||
				check "$tag: TCP $dir / sum of the rates, uplinks losing ${LOSS_PCT[*]} % (floor)" \
					"${FIG[$key.$dir.of_sum]}" ge "$MIN_OF_SUM_LOSSY_FLOOR" "$floor"
			check "$tag: TCP $dir / the fastest alone (floor)" "${FIG[$key.$dir.of_fastest]}" ge \
				"$MIN_OF_FASTEST" "$floor"
			check "$tag: ping loss under TCP $dir, %" "${FIG[$key.$dir.ping.loss_pct]}" le \
				"$MAX_LOADED_PING_LOSS_PCT" "$floor"
			check "$tag: ping p95 under TCP $dir over the fastest's idle RTT, ms" \
				"$(calc 'p - i' p="${FIG[$key.$dir.ping.p95_ms]}" i="$idle")" le \
				"$MAX_LOADED_RTT_OVER_IDLE_MS" "$asserted"
			check "$tag: ping p95 under TCP $dir over the fastest's idle RTT, ms (floor)" \
				"$(calc 'p - i' p="${FIG[$key.$dir.ping.p95_ms]}" i="$idle")" le \
				"$MAX_LOADED_RTT_FLOOR_MS" "$floor"
			[[ -n ${FIG[$key.halved.$dir.recovery_s]+set} ]] || continue
			check "$tag: rate halved, TCP $dir back to $HALVED_MIN_OF_NEW_SUM of the new sum after, s" \
				"${FIG[$key.halved.$dir.recovery_s]}" le "$HALVED_MAX_RECOVERY_S" "$asserted"
		done
	done
}

# ------------------------------------------------------------ output
# cell V [FORMAT]: V formatted, or "-".
# shellcheck disable=SC2059
cell() { [[ $1 == - || -z $1 ]] && echo - || printf "${2:-%.2f}" "$1"; }

table() {
	local tag key dir c fmt='%-20s %6s %6s  %5s %5s  %5s %5s  %5s %-14s %5s %-14s  %10s %10s  %s\n'
	echo "uplinks ${RATE_MBIT[*]} Mbit/s (sum $SUM_MBIT), one-way ${DELAY_MS[*]} ms, queues $QUEUE_MS ms;" \
		"WireGuard (MTU $WG_MTU), TCP $TCP_CC $TCP_SECONDS s after $TCP_OMIT_SECONDS s, each way"
	echo "TCP carries at most $CEILING of a rate through mprelay, $CEILING_ALONE without (headers);" \
		"idle RTT over the fastest uplink alone: $(cell "${FIG[runs.alone.idle_ping.p50_ms]}" %.1f) ms (p50)"
	echo "machine: $(nproc) CPUs, load average ${FIG[meta.loadavg_start]} at the start," \
		"${FIG[meta.loadavg_end]} at the end; CPU taken by the hypervisor (steal)" \
		"$(cell "${FIG[meta.steal_pct]}" %.0f) %; ${FIG[meta.duration_s]} s"
	echo
	printf '%-20s %13s  %11s  %11s  %-20s %-20s  %21s  %s\n' "" "TCP Mbit/s" "/ sum" "/ fastest" \
		"ping under TCP up" "ping under TCP down" "halved: s, after/new" "data per path %"
	# shellcheck disable=SC2059
	printf "$fmt" run up down up down up down "loss%" "p50/p95/max ms" "loss%" "p50/p95/max ms" \
		up down "up / down"
	for tag in "${ORDER[@]}"; do
		key=runs.$tag
		c=()
		for dir in up down; do
			c+=("$(cell "${FIG[$key.$dir.ping.loss_pct]}" %.1f)")
			c+=("$(cell "${FIG[$key.$dir.ping.p50_ms]}" %.0f)/$(cell "${FIG[$key.$dir.ping.p95_ms]}" %.0f)/$(cell "${FIG[$key.$dir.ping.max_ms]}" %.0f)")
		done
		for dir in up down; do
			if [[ -z ${FIG[$key.halved.$dir.intervals]+set} ]]; then c+=(""); continue; fi
			c+=("$(cell "${FIG[$key.halved.$dir.recovery_s]}" %.1f | sed 's/^-$/never/')/$(cell \
				"$(calc 'a / s' a="${FIG[$key.halved.$dir.after_mbps]}" \
					s="${FIG[$key.halved.$dir.new_sum_mbit]}")")")
		done
		# shellcheck disable=SC2059
		printf "$fmt" "${FIG[$key.label]}" \
			"$(cell "${FIG[$key.up.mbps]}" %.1f)" "$(cell "${FIG[$key.down.mbps]}" %.1f)" \
			"$(cell "${FIG[$key.up.of_sum]}")" "$(cell "${FIG[$key.down.of_sum]}")" \
			"$(cell "${FIG[$key.up.of_fastest]}")" "$(cell "${FIG[$key.down.of_fastest]}")" \
			"${c[@]}" \
			"$(tr -d '[]' <<<"${FIG[$key.share_up_pct]:-}") / $(tr -d '[]' <<<"${FIG[$key.share_down_pct]:-}")"
	done
	[[ ${#ORDER[@]} -gt 1 && -n ${FIG[runs.${ORDER[1]}.halved.up.new_sum_mbit]+set} ]] || return 0
	echo
	echo "rate halved: uplink $((HALVED + 1)) from ${RATE_MBIT[$HALVED]} Mbit/s at ${HALVE_AT_S} s (|)," \
		"new sum ${FIG[runs.${ORDER[1]}.halved.up.new_sum_mbit]} Mbit/s; TCP Mbit/s per $INTERVAL_S s," \
		"before the change, then after:"
	for tag in "${ORDER[@]}"; do
		for dir in up down; do
			[[ -n ${FIG[runs.$tag.halved.$dir.intervals]+set} ]] || continue
			printf '  %-16s %-4s %s\n' "$tag" "$dir" \
				"$(jq -r --argjson at "$HALVE_AT_S" '(map(select(.[1] <= $at + 0.01)), map(select(.[1] > $at + 0.01)))
					| map(.[2] | . * 10 | round / 10 | tostring) | join(" ")' \
					<<<"${FIG[runs.$tag.halved.$dir.intervals]}" 2>/dev/null | paste -sd '|' | sed 's/|/ | /' || echo -)"
		done
	done
}

# write_json FILE: FIG as nested objects ("-" is null; "[...]" is JSON),
# the runs' order and the checks.
write_json() {
	local k
	for k in "${!FIG[@]}"; do printf '%s\t%s\n' "$k" "${FIG[$k]}"; done |
		jq -R -n --argjson order "$(printf '%s\n' "${ORDER[@]}" | jq -R . | jq -s .)" \
			--argjson checks "$(printf '%s\n' "${CHECKS[@]}" | jq -s .)" '
		reduce (inputs | split("\t")) as [$k, $v] ({};
			setpath($k | split("."); if $v == "-" or $v == "" then null
				elif $v == "true" then true elif $v == "false" then false
				elif ($v | test("^\\[")) then ($v | fromjson)
				else ($v | tonumber? // $v) end))
		| .order = $order | .checks = $checks' >"$1.new"
	mv "$1.new" "$1"
}

# cpu_ticks: "STEAL TOTAL" of all CPUs from /proc/stat, in clock ticks.
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit }' /proc/stat; }

# ------------------------------------------------------------ the run
START_S=$SECONDS
read -r STEAL0 TOTAL0 < <(cpu_ticks)
FIG[meta.date]=$(date -u '+%Y-%m-%dT%H:%M:%SZ')
FIG[meta.cpus]=$(nproc)
FIG[meta.loadavg_start]=$(cut -d' ' -f1 /proc/loadavg)
FIG[meta.git]=$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo -)
FIG[meta.rates_mbit]="[${RATE_MBIT[0]},${RATE_MBIT[1]},${RATE_MBIT[2]}]"
FIG[meta.delays_ms]="[${DELAY_MS[0]},${DELAY_MS[1]},${DELAY_MS[2]}]"
FIG[meta.queue_ms]=$QUEUE_MS
FIG[meta.loss_pct]="[${LOSS_PCT[0]},${LOSS_PCT[1]},${LOSS_PCT[2]}]"
FIG[meta.sum_mbit]=$SUM_MBIT
FIG[meta.tcp_ceiling_of_rate]=$CEILING
FIG[meta.tcp_ceiling_of_rate_alone]=$CEILING_ALONE
FIG[meta.tcp_cc]=$TCP_CC
FIG[meta.tcp_seconds]=$TCP_SECONDS
FIG[meta.tcp_omit_seconds]=$TCP_OMIT_SECONDS
FIG[meta.wg_mtu]=$WG_MTU
FIG[meta.halved_path]=$HALVED
FIG[meta.halve_at_s]=$HALVE_AT_S
FIG[meta.halved_seconds]=$HALVED_SECONDS
FIG[meta.interval_s]=$INTERVAL_S
FIG[meta.extra_args]=${MPRELAY_EXTRA_ARGS:--}
FIG[meta.asserted]=$([[ $ASSERT != 0 ]] && echo true || echo false)

say "uplinks ${RATE_MBIT[*]} Mbit/s, ${DELAY_MS[*]} ms, queues $QUEUE_MS ms, loss ${LOSS_PCT[*]} %; modes: ${MODES[*]};" \
	"with rate=: ${RATE_MODES[*]:-none}"
build_topology
for i in 0 1 2; do shape "$i" "${RATE_MBIT[$i]}"; done
start_wireguard
start_iperf_server -i "$INTERVAL_S" -f k
run_alone
for m in "${MODES[@]}"; do run_mode "$m"; done
for m in "${RATE_MODES[@]}"; do run_mode "$m" rate; done

FIG[meta.loadavg_end]=$(cut -d' ' -f1 /proc/loadavg)
# The time a hypervisor took from this VM's CPUs: a host stall that no
# figure of ours can rise above (seen: 50 % for minutes).
read -r STEAL1 TOTAL1 < <(cpu_ticks)
FIG[meta.steal_pct]=$(calc '100 * s / t' s=$((STEAL1 - STEAL0)) t=$((TOTAL1 - TOTAL0 > 0 ? TOTAL1 - TOTAL0 : 1)))
FIG[meta.duration_s]=$((SECONDS - START_S))
check_all
if [[ $ASSERT == 0 ]]; then
	RESULT="NOT ASSERTED (BOND_ASSERT=0)"
	((FAILS == 0)) || RESULT="FAIL ($FAILS)"
elif [[ -n $UNLIMITED ]]; then
	RESULT="NOT ASSERTED (an uplink without a rate limit)"
	((FAILS == 0)) || RESULT="FAIL ($FAILS)"
else
	RESULT=$([[ $FAILS -eq 0 ]] && echo PASS || echo "FAIL ($FAILS)")
fi
FIG[result]=$RESULT
echo
table
echo "result: $RESULT"
write_json "$JSON"
say "figures in $JSON"

# Bounds missed while the hypervisor took a measured share of the CPU: the
# run said nothing about the relay. Exit 75 asks the caller (make bond) to
# run it again (at most twice: a stall of minutes, 26-33 % steal, has met
# two runs in a row); the last run's result stands, whatever the host does.
if ((FAILS > 0)) && [[ $ASSERT != 0 && -z ${BOND_RERUN:-} ]] &&
	num_ge "${FIG[meta.steal_pct]}" "$STALL_STEAL_PCT"; then
	say "$FAILS bounds missed while the hypervisor took ${FIG[meta.steal_pct]} % of the CPU" \
		"(at least $STALL_STEAL_PCT % is a host stall): to be run once more"
	exit 75
fi
((FAILS == 0))
