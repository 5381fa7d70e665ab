#!/usr/bin/env bash
# mprelay's speed as a ratio to a plain batched UDP relay, measured in one run
# on 127.0.0.1 (see bench/README.md).
#
#   reference:  send -> relay -> relay -> relay -> sink         (3 hops)
#   mprelay:    send -> mpclient -> bridge(s) -> mpserver -> sink
#               (1 bridge roundrobin, 3 bridges roundrobin, 3 bridges duplicate)
#
# The sender blasts for DURATION seconds; the figures are what reaches the
# sink, and the CPU time each process of the chain spent per delivered packet.
# Relays and bridges are `udpblast relay`; all of them, and the sender, share
# this machine's CPUs, which is why only ratios within one run mean much.
#
# Usage: bench/ratio.sh BUILD_DIR [SIZE_BYTES] [DURATION_S]
# Environment:
#   MPRELAY_EXTRA_ARGS  options for both mpclient and mpserver (word-split),
#                       e.g. "--key-file /tmp/k": plaintext vs encrypted
#   UDPBLAST            the udpblast binary (default BUILD_DIR/udpblast)
#   SCENARIOS           which to run (default "ref rr1 rr3 dup3")
#   SEND_RATE           pace the sender to this many packets/s (default: blast)
#   ROUNDS              repeat the chains, interleaved, and report medians
#                       (default 1)
#   KEEP=1              keep the logs (printed at the end)
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [SIZE_BYTES] [DURATION_S]" >&2
	exit 2
}

[[ $# -ge 1 && $# -le 3 ]] || usage
BUILD=$1
SIZE_BYTES=${2:-1200}
DURATION_S=${3:-3}
[[ $SIZE_BYTES =~ ^[0-9]+$ ]] && ((SIZE_BYTES >= 16 && SIZE_BYTES <= 65000)) || usage
[[ $DURATION_S =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage
UDPBLAST=${UDPBLAST:-$BUILD/udpblast}
SCENARIOS=${SCENARIOS:-ref rr1 rr3 dup3}
ROUNDS=${ROUNDS:-1}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || usage
for s in $SCENARIOS; do
	[[ $s =~ ^(ref|rr1|rr3|dup3)$ ]] || { echo "$0: unknown scenario '$s' (ref rr1 rr3 dup3)" >&2; exit 2; }
done
read -r -a EXTRA_ARGS <<<"${MPRELAY_EXTRA_ARGS:-}"
for bin in "$UDPBLAST" "$BUILD/mpclient" "$BUILD/mpserver"; do
	[[ -x $bin ]] || { echo "$0: not built: $bin" >&2; exit 2; }
done

DRAIN_S=0.5		# after the sender stops, before the sink is stopped
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mprelay-ratio.XXXXXX")
PIDS=()			# every process we started and have not reaped

stop_pids() {
	local p
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
	stop_pids "${PIDS[@]}"
	if [[ -n ${KEEP:-} ]]; then echo "logs kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Copies: one run measures one build even if BUILD_DIR is rebuilt meanwhile.
mkdir "$TMP/bin"
cp "$UDPBLAST" "$TMP/bin/udpblast"
cp "$BUILD/mpclient" "$BUILD/mpserver" "$TMP/bin/"
UDPBLAST=$TMP/bin/udpblast
MPCLIENT=$TMP/bin/mpclient
MPSERVER=$TMP/bin/mpserver

# ---- ports and processes ----------------------------------------------------

# Hex ports of every UDP socket on this machine.
used_ports_hex() {
	awk 'FNR > 1 { split($2, a, ":"); print a[2] }' /proc/net/udp /proc/net/udp6
}

# Prints N distinct free ports, below the ephemeral range so that no socket
# the programs open by themselves can take one meanwhile.
pick_ports() {
	local n=$1 used port picked=" "
	used=" $(used_ports_hex | tr '\n' ' ') "
	while ((n > 0)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		[[ $used == *" $(printf %04X "$port") "* || $picked == *" $port "* ]] && continue
		picked+="$port "
		((n--))
	done
	echo $picked
}

# Waits until something listens on 127.0.0.1:PORT (UDP).
wait_bound() {
	local hex
	hex=$(printf '0100007F:%04X' "$1")
	for _ in $(seq 100); do
		grep -q " $hex " /proc/net/udp && return 0
		sleep 0.02
	done
	echo "$0: nothing bound to port $1; logs:" >&2
	tail -n 3 "$TMP"/*.err >&2
	exit 1
}

# start NAME CMD...: runs CMD in the background, output in $TMP/NAME.{out,err};
# its pid is left in STARTED.
start() {
	local name=$1
	shift
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	STARTED=$!
	PIDS+=("$STARTED")
}

forget_pids() {
	local keep=() p q gone
	for p in "${PIDS[@]}"; do
		gone=
		for q in "$@"; do [[ $p == "$q" ]] && gone=1; done
		[[ -n $gone ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# CPU time of a process so far, in ns: utime+stime from /proc/PID/stat, or
# the same on-CPU time from /proc/PID/schedstat with ns resolution instead of
# 10 ms ticks when the kernel keeps it (this shell's own is not zero).
CLK_TCK=$(getconf CLK_TCK)
CPU_CLOCK=stat
read -r own_ns _ </proc/$$/schedstat 2>/dev/null && [[ ${own_ns:-0} != 0 ]] && CPU_CLOCK=schedstat
cpu_ns() {
	local f rest
	if [[ $CPU_CLOCK == schedstat ]]; then
		read -r f _ <"/proc/$1/schedstat"
		echo "$f"
		return
	fi
	rest=$(<"/proc/$1/stat")
	read -r -a f <<<"${rest##*) }"		# fields from 3 (state) on
	echo $(((f[11] + f[12]) * 1000000000 / CLK_TCK))
}

# Percent of all CPUs busy (other programs) over 0.5 s before we start: the
# figures only compare well between runs on an otherwise idle machine.
background_busy_pct() {
	local a b
	read -r -a a < <(grep '^cpu ' /proc/stat)
	sleep 0.5
	read -r -a b < <(grep '^cpu ' /proc/stat)
	awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
		split(a, x); split(b, y); total = 0
		for (i = 2; i <= 9; i++) total += y[i] - x[i]
		idle = (y[5] - x[5]) + (y[6] - x[6])
		printf "%.0f\n", total ? 100 * (total - idle) / total : 0 }'
}

# The value of key=N in a "udpblast ..." line.
field() {
	sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p" <<<"$2"
}

# ---- one measurement ---------------------------------------------------------

# measure NAME SEND_PORT SINK_PID FIRST_PIDS MIDDLE_PIDS LAST_PIDS
# (each *_PIDS a space-separated list whose CPU times are summed).
# Sends, lets the chain drain, stops the sink, records a result line:
# round name sent sent_pps delivered_pps mbps dups delivered cpu_first cpu_mid
# cpu_last (packets, and CPU in ns).
measure() {
	local name=$1 port=$2 sink=$3 groups=("$4" "$5" "$6") before=() after=() g p sum
	for g in "${groups[@]}"; do
		sum=0
		for p in $g; do sum=$((sum + $(cpu_ns "$p"))); done
		before+=("$sum")
	done
	"$UDPBLAST" send "$port" --size "$SIZE_BYTES" --duration "$DURATION_S" \
		${SEND_RATE:+--rate "$SEND_RATE"} >"$TMP/$name-r$ROUND.send"
	sleep "$DRAIN_S"
	for p in $4 $5 $6 "$sink"; do
		kill -0 "$p" 2>/dev/null && continue
		echo "$0: $name: process $p died during the run; logs:" >&2
		tail -n 3 "$TMP"/"$name-r$ROUND"-*.err >&2
		exit 1
	done
	for g in "${groups[@]}"; do
		sum=0
		for p in $g; do sum=$((sum + $(cpu_ns "$p"))); done
		after+=("$sum")
	done
	kill -TERM "$sink"
	wait "$sink" || true
	forget_pids "$sink"
	local sent sunk
	sent=$(<"$TMP/$name-r$ROUND.send")
	sunk=$(head -n 1 "$TMP/$name-r$ROUND-sink.out")
	echo "$ROUND $name $(field pkts "$sent") $(field pps "$sent") $(field pps "$sunk")" \
	     "$(field mbps "$sunk") $(field dups "$sunk") $(field pkts "$sunk")" \
	     "$((after[0] - before[0])) $((after[1] - before[1])) $((after[2] - before[2]))" \
	     >>"$TMP/results"
}

# ---- the chains --------------------------------------------------------------

run_reference() {
	local ports sink r1 r2 r3
	read -r -a ports <<<"$(pick_ports 4)"	# sink, relay3, relay2, relay1
	start "ref-r$ROUND-sink" "$UDPBLAST" sink "${ports[0]}"; sink=$STARTED
	start "ref-r$ROUND-relay3" "$UDPBLAST" relay "${ports[1]}" "${ports[0]}"; r3=$STARTED
	start "ref-r$ROUND-relay2" "$UDPBLAST" relay "${ports[2]}" "${ports[1]}"; r2=$STARTED
	start "ref-r$ROUND-relay1" "$UDPBLAST" relay "${ports[3]}" "${ports[2]}"; r1=$STARTED
	for p in "${ports[@]}"; do wait_bound "$p"; done
	measure ref "${ports[3]}" "$sink" "$r1" "$r2" "$r3"
	stop_pids "$r1" "$r2" "$r3"
	forget_pids "$r1" "$r2" "$r3"
}

# run_mprelay NAME MODE NBRIDGES
run_mprelay() {
	local name=$1 mode=$2 nbridges=$3 ports sink server client bridges=() i conf
	local tag=$1-r$ROUND
	read -r -a ports <<<"$(pick_ports $((3 + nbridges)))"	# sink, server, client, bridges
	conf=$TMP/$tag.conf
	: >"$conf"
	start "$tag-sink" "$UDPBLAST" sink "${ports[0]}"; sink=$STARTED
	start "$tag-server" "$MPSERVER" --mode "$mode" --bind 127.0.0.1 \
		"${EXTRA_ARGS[@]}" "${ports[1]}" 127.0.0.1 "${ports[0]}"; server=$STARTED
	for ((i = 0; i < nbridges; i++)); do
		start "$tag-bridge$i" "$UDPBLAST" relay "${ports[3 + i]}" "${ports[1]}"
		bridges+=("$STARTED")
		echo "127.0.0.1 ${ports[3 + i]}" >>"$conf"
	done
	start "$tag-client" "$MPCLIENT" --mode "$mode" "${EXTRA_ARGS[@]}" \
		"${ports[2]}" "$conf"; client=$STARTED
	for p in "${ports[@]}"; do wait_bound "$p"; done
	measure "$name" "${ports[2]}" "$sink" "$client" "${bridges[*]}" "$server"
	stop_pids "$client" "${bridges[@]}" "$server"
	forget_pids "$client" "${bridges[@]}" "$server"
}

# ---- report ------------------------------------------------------------------

# Medians over the rounds; each round's ratio is against that round's
# reference, measured seconds apart.
report() {
	awk -v size="$SIZE_BYTES" -v dur="$DURATION_S" -v clock="$CPU_CLOCK" \
	    -v extra="${MPRELAY_EXTRA_ARGS:-}" -v cpus="$(nproc)" -v rate="${SEND_RATE:-}" \
	    -v busy="$BUSY_PCT" -v rounds="$ROUNDS" '
	function us(ns, pkts) { return pkts ? ns / 1e3 / pkts : 0 }
	function add(key, v) { val[key, ++cnt[key]] = v }
	function median(key,   n, i, j, t, a) {
		n = cnt[key]
		for (i = 1; i <= n; i++) a[i] = val[key, i]
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : 0
	}
	function extreme(key, want_max,   i, e) {
		e = val[key, 1]
		for (i = 2; i <= cnt[key]; i++)
			if (want_max ? val[key, i] > e : val[key, i] < e) e = val[key, i]
		return e
	}
	{
		r = $1; m = $2
		if (!(m in seen)) { seen[m] = 1; order[++n] = m }
		lost = $3 - ($8 - $7)
		add(m SUBSEP "sent", $4); add(m SUBSEP "pps", $5); add(m SUBSEP "mbps", $6)
		add(m SUBSEP "lostpct", $3 ? 100 * lost / $3 : 0)
		add(m SUBSEP "c1", us($9, $8)); add(m SUBSEP "c2", us($10, $8))
		add(m SUBSEP "c3", us($11, $8)); add(m SUBSEP "total", us($9 + $10 + $11, $8))
		lost_sum[m] += lost; dups_sum[m] += $7; delivered_sum[m] += $8
		pps_of[r, m] = $5
	}
	END {
		for (k in pps_of) {
			split(k, rk, SUBSEP)
			refkey = rk[1] SUBSEP "ref"
			if (refkey in pps_of && pps_of[refkey])
				add(rk[2] SUBSEP "ratio", pps_of[k] / pps_of[refkey])
		}
		label["ref"] = "reference: 3 relays"
		label["rr1"] = "mprelay rr, 1 bridge"
		label["rr3"] = "mprelay rr, 3 bridges"
		label["dup3"] = "mprelay dup, 3 bridges"
		printf "mprelay vs a plain batched UDP relay: %d-byte datagrams, %s s x %d " \
		       "round%s, 127.0.0.1, %d CPUs, sender %s, cpu from %s%s\n", size, dur,
		       rounds, (rounds > 1 ? "s (medians)" : ""), cpus,
		       (rate == "" ? "blasting" : "paced to " rate " pps"), clock,
		       (extra == "" ? ", plaintext" : ", extra args: " extra)
		if (busy > 10)
			printf "warning: %d%% of the CPUs were busy with other programs " \
			       "before the run: expect noisy figures\n", busy
		printf "%-24s %9s %9s %8s %6s %6s | %-28s\n", "", "sent", "delivered",
		       "", "", "ratio", "CPU us per delivered packet"
		printf "%-24s %9s %9s %8s %6s %6s | %6s %6s %6s %7s%s\n", "chain", "pps",
		       "pps", "Mbit/s", "lost%", "vs ref", "first", "middle", "last",
		       "total", (rounds > 1 ? "  ratio min-max" : "")
		refhop = median("ref" SUBSEP "total") / 3
		gsub(/[\\"]/, "\\\\&", extra)
		json = sprintf("{\"bench\":\"mprelay-ratio\",\"size_bytes\":%d," \
			       "\"duration_s\":%s,\"rounds\":%d,\"cpus\":%d,\"cpu_clock\":\"%s\"," \
			       "\"send_rate_pps\":%s,\"background_busy_pct\":%d," \
			       "\"extra_args\":\"%s\",\"chains\":[", size, dur, rounds, cpus,
			       clock, rate == "" ? "null" : rate, busy, extra)
		for (i = 1; i <= n; i++) {
			m = order[i]
			ratio = median(m SUBSEP "ratio")
			rmin = extreme(m SUBSEP "ratio", 0); rmax = extreme(m SUBSEP "ratio", 1)
			c1 = median(m SUBSEP "c1"); c2 = median(m SUBSEP "c2")
			c3 = median(m SUBSEP "c3"); total = median(m SUBSEP "total")
			printf "%-24s %9.0f %9.0f %8.1f %6.2f %6.3f | %6.2f %6.2f %6.2f %7.2f",
			       label[m], median(m SUBSEP "sent"), median(m SUBSEP "pps"),
			       median(m SUBSEP "mbps"), median(m SUBSEP "lostpct"), ratio,
			       c1, c2, c3, total
			printf "%s", (rounds > 1 ? sprintf("  %.3f-%.3f\n", rmin, rmax) : "\n")
			json = json sprintf("%s{\"name\":\"%s\",\"sent_pps\":%.0f," \
				"\"delivered_pps\":%.0f,\"mbps\":%.1f,\"lost\":%d,\"dups\":%d," \
				"\"delivered\":%d,\"ratio\":%.4f,\"ratio_min\":%.4f,\"ratio_max\":%.4f," \
				"\"cpu_us_per_pkt\":{\"first\":%.3f,\"middle\":%.3f,\"last\":%.3f," \
				"\"total\":%.3f},\"cpu_vs_ref_hop\":{\"first\":%.3f,\"last\":%.3f}}",
				i > 1 ? "," : "", m, median(m SUBSEP "sent"),
				median(m SUBSEP "pps"), median(m SUBSEP "mbps"), lost_sum[m],
				dups_sum[m], delivered_sum[m], ratio, rmin, rmax, c1, c2, c3,
				total, refhop ? c1 / refhop : 0, refhop ? c3 / refhop : 0)
		}
		printf "first/middle/last: relay 1/2/3, or mpclient / bridge(s) / mpserver;" \
		       " reference relay: %.2f us per packet per hop\n", refhop
		print json "]}"
	}' "$TMP/results"
}

: >"$TMP/results"
BUSY_PCT=$(background_busy_pct)
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	for s in $SCENARIOS; do
		case $s in
		ref) run_reference ;;
		rr1) run_mprelay rr1 roundrobin 1 ;;
		rr3) run_mprelay rr3 roundrobin 3 ;;
		dup3) run_mprelay dup3 duplicate 3 ;;
		esac
	done
done
report
