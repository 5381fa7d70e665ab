# shellcheck shell=bash
# What the namespace tests share (sourced by netns.sh and bond.sh): their
# processes and the exit check, two namespaces joined by three veth uplinks
# (optionally through a router namespace that holds each uplink's bottleneck),
# WireGuard and iperf3 servers, the relay and its impair bridges, counters
# from the relay's logs, and the pass/fail lines. It runs nothing by itself.
#
# The sourcing script sets, before calling anything here:
#   ME        prefix of every line printed ("netns", "bond")
#   NSC, NSS  the client and server namespaces; NSR a router namespace, or empty
#   DEVICES   tun devices the run makes (the exit check looks for them)
#   TMP, PIDS=(), FAILS=0, BUILD, MP_BIN, and for the relay RELAY_PORT,
#   SERVER_PORT, BRIDGE_PORT, BASELINE_PORT, BEST, WG_PORT, WG_MTU
#   impair_args I  (a function: path I's impair options, both directions)
# and installs the exit check: trap cleanup EXIT; trap 'exit 130' INT TERM.

say() { printf '%s: %s\n' "$ME" "$*"; }
fail() { printf '%s: FAIL: %s\n' "$ME" "$*"; FAILS=$((FAILS + 1)); }
ok() { printf '%s: ok: %s\n' "$ME" "$*"; }
# die: setup failed; the exit shows the logs of the programs involved.
die() { printf '%s: FAIL: %s\n' "$ME" "$*"; exit 1; }

# skip WHY: this machine cannot run the stage. Reported as a skip (exit 77,
# which the Makefile does not count as a failure), never as a pass; with
# MP_REQUIRE_ALL=1 (or CI=true), where every stage must run, a failure.
# A SUMMARY file, if the script keeps one, says so: no summary of an earlier
# run may stand for this one.
skip() {
	if [[ ${MP_REQUIRE_ALL:-0} != 0 || ${CI:-} == true ]]; then
		echo "$ME: FAIL: cannot run ($*), and MP_REQUIRE_ALL wants every stage run"
		exit 1
	fi
	echo "$ME: SKIPPED: $*"
	if [[ -n ${SUMMARY:-} ]]; then
		{ echo "result: SKIPPED ($*)" >"$SUMMARY"; } 2>/dev/null || rm -f "$SUMMARY" 2>/dev/null || true
	fi
	exit 77
}

# ------------------------------------------------------------ processes
TAG=				# the running scenario's prefix for log names

# logf NAME: the log file of NAME in the running scenario.
logf() { echo "$TMP/$TAG$1.log"; }

# start NS LOGNAME CMD...: runs CMD in NS in the background; its pid in LAST_PID.
# `ip netns exec` execs CMD, so the pid is CMD's own.
start() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$(logf "$log")" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# forget PID...: drops them from PIDS (reaped: no later kill may reach a
# process that reuses the pid).
forget() {
	local pid left=()
	for pid in "${PIDS[@]}"; do
		[[ " $* " == *" $pid "* ]] || left+=("$pid")
	done
	PIDS=("${left[@]}")
}

# stop PID...: SIGTERM, then SIGKILL after 3 s; reaps them and forgets them.
stop() {
	local pid i
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		for ((i = 0; i < 30; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	forget "$@"
}

# reap PID: waits for a process started with `start` to end by itself,
# then forgets it; returns its status.
reap() {
	local rc=0
	wait "$1" || rc=$?
	forget "$1"
	return "$rc"
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

cleanup() {
	local rc=$? leaks=() ns pid dev f
	set +e
	stop "${PIDS[@]}"
	# The exit check: nothing this run created may outlive it. A process
	# still in a namespace (one of ours, or one of theirs that forked) is a
	# leak; it is killed so the namespace can go.
	for ns in "$NSC" "$NSS" ${NSR:+"$NSR"}; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			leaks+=("process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null))")
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
		ip netns list | grep -qE "^$ns( |$)" && leaks+=("namespace $ns")
	done
	for dev in "${DEVICES[@]}"; do
		ip link show "$dev" >/dev/null 2>&1 && leaks+=("device $dev")
		[[ -e /run/wireguard/$dev.sock ]] && leaks+=("socket /run/wireguard/$dev.sock")
	done
	if ((rc != 0 && FAILS == 0)); then
		# Died before its figures: show what the last programs said.
		for f in "$TMP/$TAG"*.log; do
			[[ -s $f ]] && { echo "--- ${f##*/}"; tail -n 5 "$f"; }
		done
	fi
	if [[ -n ${KEEP:-} ]]; then
		say "logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	if ((${#leaks[@]})); then
		say "FAIL: left behind: ${leaks[*]}"
		exit 1
	fi
	say "cleanup: namespaces, devices, sockets and processes all gone"
	exit "$rc"
}

# ------------------------------------------------------------ topology
# build_topology: uplink I (1..3) joins the client's 10.0.I.1 and the
# server's 10.0.I.2. With NSR set, each uplink goes through that router
# namespace instead: client 10.1.I.1 - 10.1.I.2 router 10.0.I.1 - 10.0.I.2
# server (two veths, a route each side), so that a queue on the router's
# interfaces is no part of the sender's host, as on a real uplink (a
# veth's peer keeps the sender's socket charged for a packet until it is
# forwarded: a qdisc on the veth itself would push back on the sender).
build_topology() {
	local i ns
	for ns in "$NSC" "$NSS" ${NSR:+"$NSR"}; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	[[ -z ${NSR:-} ]] || ip netns exec "$NSR" sysctl -qw net.ipv4.ip_forward=1
	for i in 1 2 3; do
		if [[ -z ${NSR:-} ]]; then
			ip -n "$NSC" link add "c$i" type veth peer name "s$i" netns "$NSS"
			ip -n "$NSC" addr add "10.0.$i.1/24" dev "c$i"
		else
			ip -n "$NSC" link add "c$i" type veth peer name "rc$i" netns "$NSR"
			ip -n "$NSR" link add "rs$i" type veth peer name "s$i" netns "$NSS"
			ip -n "$NSC" addr add "10.1.$i.1/24" dev "c$i"
			ip -n "$NSR" addr add "10.1.$i.2/24" dev "rc$i"
			ip -n "$NSR" addr add "10.0.$i.1/24" dev "rs$i"
			ip -n "$NSR" link set "rc$i" up
			ip -n "$NSR" link set "rs$i" up
		fi
		ip -n "$NSS" addr add "10.0.$i.2/24" dev "s$i"
		ip -n "$NSC" link set "c$i" up
		ip -n "$NSS" link set "s$i" up
		if [[ -n ${NSR:-} ]]; then
			ip -n "$NSC" route add "10.0.$i.0/24" via "10.1.$i.2" dev "c$i"
			ip -n "$NSS" route add "10.1.$i.0/24" via "10.0.$i.1" dev "s$i"
		fi
	done
	# veths take a moment to leave "tentative"; IPv4 is usable at once.
	for i in 1 2 3; do
		wait_for 5 ip netns exec "$NSC" ping -c 1 -W 1 -q "10.0.$i.2" ||
			die "uplink $i does not carry pings"
	done
}

# The applications' servers stay up for the whole run: WireGuard and iperf3.
# wireguard-go's UDP sockets get WG_SOCKBUF bytes each way, what wireguard-go
# has set itself since 0.0.20230223 (7 MiB, SO_RCVBUFFORCE); Debian 12's
# 0.0.20220316 leaves the kernel default, 208 KiB, about 90 datagrams, which a
# 2-CPU host running both ends, iperf3 and the relay overflows when
# wireguard-go is not scheduled (docs/PERFORMANCE.md, "The application's
# socket"), and net.core.rmem_default cannot be set in a namespace.
# WG_SOCKBUF=0 keeps Debian's default.
WG_SOCKBUF=${WG_SOCKBUF:-$((7 << 20))}
WG_PIDS=()
start_wireguard() {
	wg genkey >"$TMP/wgc.key"
	wg genkey >"$TMP/wgs.key"
	local cpub spub ns dev pid
	cpub=$(wg pubkey <"$TMP/wgc.key")
	spub=$(wg pubkey <"$TMP/wgs.key")
	for ns in "$NSC" "$NSS"; do
		dev=$([[ $ns == "$NSC" ]] && echo "$WGC" || echo "$WGS")
		start "$ns" "$dev" env WG_PROCESS_FOREGROUND=1 wireguard-go "$dev"
		WG_PIDS+=("$LAST_PID")
		wait_for 5 ip -n "$ns" link show "$dev" || die "wireguard-go did not create $dev"
		wait_for 5 test -S "/run/wireguard/$dev.sock" ||
			die "wireguard-go did not open its socket for $dev"
	done
	ip netns exec "$NSS" wg set "$WGS" private-key "$TMP/wgs.key" listen-port "$WG_PORT" \
		peer "$cpub" allowed-ips 10.9.0.1/32
	ip netns exec "$NSC" wg set "$WGC" private-key "$TMP/wgc.key" \
		peer "$spub" allowed-ips 10.9.0.2/32 endpoint "127.0.0.1:$RELAY_PORT"
	WG_SERVER_PUB=$spub
	ip -n "$NSC" addr add 10.9.0.1/24 dev "$WGC"
	ip -n "$NSS" addr add 10.9.0.2/24 dev "$WGS"
	wg_mtu "$WG_MTU"
	ip -n "$NSC" link set "$WGC" up
	ip -n "$NSS" link set "$WGS" up
	((WG_SOCKBUF > 0)) || return 0
	# the device binds its socket once it is up, a moment after `link set up`
	for pid in "${WG_PIDS[@]}"; do
		wait_for 5 "$BUILD/sockbuf" "$pid" "$WG_SOCKBUF" ||
			die "wireguard-go's socket buffers: $("$BUILD/sockbuf" "$pid" "$WG_SOCKBUF" 2>&1)"
	done
}

# wg_drops: datagrams wireguard-go's UDP sockets have dropped so far, their
# receive queue full (the kernel's per-socket count), client and server: "C S".
wg_drops() {
	local ns
	for ns in "$NSC" "$NSS"; do
		ip netns exec "$ns" ss -uanmpH 2>/dev/null | paste - - | awk '
			/"wireguard-go"/ && match($0, /,d[0-9]+\)/) { n += substr($0, RSTART + 2, RLENGTH - 3) }
			END { printf "%d ", n }'
	done
}

wg_mtu() {
	ip -n "$NSC" link set "$WGC" mtu "$1"
	ip -n "$NSS" link set "$WGS" mtu "$1"
}

wg_endpoint() {
	ip netns exec "$NSC" wg set "$WGC" peer "$WG_SERVER_PUB" endpoint "$1"
}

# start_iperf_server [OPTION...]: iperf3 -s on 5201 in the server namespace.
start_iperf_server() {
	start "$NSS" iperf3-server iperf3 -s -p 5201 "$@"
	wait_for 5 ip netns exec "$NSS" sh -c 'ss -ltn | grep -q ":5201 "' || die "iperf3 -s did not start"
}

# ------------------------------------------------------------ bridges and relay
RELAY_ARGS=()			# extra options for mpclient and mpserver
PATH_OPTS=()			# more config options for path I (0..2), e.g. rate=8mbit
read -r -a EXTRA_ARGS <<<"${MPRELAY_EXTRA_ARGS:-}"

# relay_up MODE TARGET_PORT [SERVER_MODE]: three bridges, mpserver towards
# TARGET_PORT, mpclient on RELAY_PORT in MODE; mpserver in SERVER_MODE
# (default MODE; "-": no --mode, mpserver picks its own).
relay_up() {
	local mode=$1 target=$2 smode=${3:-$1} i
	local server_mode=(--mode "$smode")
	[[ $smode != - ]] || server_mode=()
	BRIDGE_PIDS=()
	: >"$TMP/mpclient.conf"
	for i in 0 1 2; do
		# shellcheck disable=SC2046
		start "$NSS" "bridge$i" "$BUILD/impair" $(impair_args "$i") --bind "10.0.$((i + 1)).2" \
			"$BRIDGE_PORT" 127.0.0.1 "$SERVER_PORT"
		BRIDGE_PIDS+=("$LAST_PID")
		echo "10.0.$((i + 1)).2 $BRIDGE_PORT name=uplink$((i + 1))${PATH_OPTS[$i]:+ ${PATH_OPTS[$i]}}" \
			>>"$TMP/mpclient.conf"
	done
	start "$NSS" mpserver "$MP_BIN/mpserver" "${RELAY_ARGS[@]}" "${EXTRA_ARGS[@]}" \
		"${server_mode[@]}" --bind 127.0.0.1 "$SERVER_PORT" 127.0.0.1 "$target"
	SERVER_PID=$LAST_PID
	start "$NSC" mpclient "$MP_BIN/mpclient" "${RELAY_ARGS[@]}" "${EXTRA_ARGS[@]}" \
		--mode "$mode" "$RELAY_PORT" "$TMP/mpclient.conf"
	CLIENT_PID=$LAST_PID
	wait_for 5 grep -q "listening on" "$(logf mpclient)" || die "mpclient did not start"
	wait_for 5 ip netns exec "$NSS" sh -c "ss -lun | grep -q '127.0.0.1:$SERVER_PORT '" ||
		die "mpserver did not start"
}

# relay_down: stops the relay and its bridges; their counters land in the
# logs. A sanitizer report in the relay's logs fails the run.
relay_down() {
	local log
	stop "$CLIENT_PID" "$SERVER_PID" "${BRIDGE_PIDS[@]}"
	for log in mpclient mpserver; do
		if grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' \
			"$(logf "$log")"; then
			fail "$log: sanitizer report in ${TAG}$log.log:"
			grep -m 5 -E 'Sanitizer|runtime error:' "$(logf "$log")"
		fi
	done
}

# baseline_up TARGET_PORT: one impair bridge on the best uplink, straight
# to TARGET_PORT (the application's server, no relay).
baseline_up() {
	local target=$1
	# shellcheck disable=SC2046
	start "$NSS" baseline "$BUILD/impair" $(impair_args "$BEST") --bind 10.0.$((BEST + 1)).2 \
		"$BASELINE_PORT" 127.0.0.1 "$target"
	BASELINE_PID=$LAST_PID
	wait_for 5 ip netns exec "$NSS" sh -c "ss -lun | grep -q ':$BASELINE_PORT '" ||
		die "the baseline bridge did not start"
}

baseline_down() {
	stop "$BASELINE_PID"
}

# ------------------------------------------------------------ counters
# stat NAME LOG: a counter from a stopped mpclient's or mpserver's "stats" line.
stat() {
	sed -n "s/.* stats mode=.* $1=\([0-9]*\).*/\1/p" "$(logf "$2")" | tail -n 1
}

# path_tx LOG: the data packets each path sent (tx_pkts less the path's own
# probes), space-separated.
path_tx() {
	sed -n 's/.* stats path .* tx_pkts=\([0-9]*\) .* probes=\([0-9]*\) .*/\1 \2/p' "$(logf "$1")" |
		awk '{ printf "%d ", $1 - $2 }'
}

# ------------------------------------------------------------ assertions
num_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && a + 0 <= b + 0) }'; }
num_ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && a + 0 >= b + 0) }'; }

assert_le() {
	if num_le "$2" "$3"; then ok "$1: $2 <= $3"; else fail "$1: $2, must be <= $3"; fi
}
assert_ge() {
	if num_ge "$2" "$3"; then ok "$1: $2 >= $3"; else fail "$1: $2, must be >= $3"; fi
}
