/* Every tunable and limit of mprelay, once, with its unit in its name (or a
 * count of what its name says) and why it has its value. The wire format's
 * own sizes are in wire.h; the option parser's ranges in cli.h and config.h.
 * Nothing here is per packet: each bound is what memory or work is allowed
 * to grow to. */
#ifndef MP_TUNABLES_H
#define MP_TUNABLES_H

#include "wire.h"

/* ... or after this many packets in one direction and space under one key:
 * far below the 48-bit sequence and AES-GCM's per-key bound. Keys that
 * reach REJECT_AFTER_PACKETS sent are no longer used (a rekey first): the
 * sequence (2^48 - 1) is never reached under one key. */
#define REKEY_AFTER_PACKETS (1ull << 40)
#define REJECT_AFTER_PACKETS (1ull << 47)

enum limits {
	/* ---- batched I/O (net.c) ------------------------------------------ */
	NET_BATCH = 32,			/* datagrams per recvmmsg */
	/* Batches drained per wakeup before yielding to other sockets, so one
	 * busy socket cannot starve the rest. */
	DRAIN_BATCHES = 8,
	/* SO_RCVBUF/SO_SNDBUF asked for (the kernel doubles it): enough
	 * queue to ride out ~50 ms without a CPU under a 150,000/s junk
	 * flood on a shared machine; memory only while it is used. */
	NET_SOCKBUF_BYTES = 8 << 20,
	NET_ADDRSTR = 64,		/* "[v6%zone]:port" fits */
	/* A send list holds a whole batch sent on every path. */
	NET_SENDLIST_MAX = NET_BATCH * MP_MAX_PATHS,
	/* UDP GSO: at most 64 segments (the kernel's UDP_MAX_SEGMENTS) and
	 * 65,000 bytes (below the 65,507 an IPv4 UDP datagram can hold) per
	 * send. */
	NET_GSO_SEGMENTS_MAX = 64,
	NET_GSO_BYTES_MAX = 65000,
	/* Copies of released datagrams awaiting a flush (struct stage). */
	NET_STAGE_SLOTS = 64,
	NET_STAGE_BYTES = 2048,

	/* ---- options: defaults and ranges (cli.c, main.c) ------------------- */
	CLI_IDLE_TIMEOUT_S_DEFAULT = 120,	/* forget an idle session */
	CLI_IDLE_TIMEOUT_S_MAX = 86400,
	CLI_MAX_SESSIONS_LIMIT = 65536,	/* memory: ~10 KiB each, plus tables */
	CLIENT_MAX_SESSIONS_DEFAULT = 1024,	/* applications on one client */
	/* mpserver: clients x applications; each is a socket toward the
	 * target, so the fd limit is raised to fit (less FDS_RESERVED). */
	SERVER_MAX_SESSIONS_DEFAULT = 4096,
	FDS_RESERVED = 32,		/* listening socket, stdio, libev, logs */
	CLI_SMALL_BYTES_DEFAULT = 160,	/* a TCP ACK inside WireGuard fits */
	CLI_REORDER_MS_MAX = 2000,	/* longer only adds latency to a stall */
	CLI_TARGET_LOSS_PPM_DEFAULT = 10000,	/* 1 %: what TCP shrugs off */
	/* Probes every 50 ms while busy: a dead path is seen in ~100 ms, for
	 * 20 probes/s (16 kbit/s) a path; 10 ms at most, 10 s at least. */
	CLI_PROBE_MS_DEFAULT = 50,
	/* In bond mode every 20 ms (up to 40 kbit/s a path, each way): the probes
	 * and their answers carry the capacity reports both ways, and
	 * mpserver's delay samples wait for mpclient's next probe to echo
	 * its answer (up to an interval later than mpclient's). At 50 ms,
	 * TCP down a 16/8/4 Mbit/s bond carried 0.85-0.87 of the sum against
	 * 0.88-0.89 up; at 20 ms 0.87-0.89 down, 0.89-0.90 up
	 * (docs/PERFORMANCE.md). A capacity sample spans at least
	 * RATE_SAMPLE_MIN_US: one every second report. */
	CLI_PROBE_MS_BOND_DEFAULT = 20,
	CLI_PROBE_MS_MIN = 10,
	CLI_PROBE_MS_MAX = 10000,
	CUTOFF_MS_MAX = 60000,		/* --rtt-cutoff: a minute is no cut-off */

	/* ---- the status socket (status.c) ---------------------------------- */
	STATUS_MAX_CONNS = 8,		/* clients served at once; more are closed */
	/* A client that takes nothing for this long is dropped. */
	STATUS_TIMEOUT_MS = 2000,
	/* The document streams through one buffer of this size per client;
	 * one piece (the header, or a session with all its paths) must fit. */
	STATUS_CHUNK_BYTES = 64 * 1024,

	/* ---- timers of the two programs ------------------------------------ */
	/* mpclient looks at its sessions' timers (probe answers, probes,
	 * HELLO resends, expiry) this often: a fraction of the smallest RTO. */
	CLIENT_TICK_MS = 10,
	/* mpserver re-derives path states this often (a fraction of the
	 * client's probe interval) ... */
	SERVER_TICK_MS = 20,
	/* ... and expires sessions and re-weighs paths this often. */
	SERVER_SWEEP_MS = 1000,
	/* A session that carried data within BUSY_MS probes every path at
	 * --probe-interval; otherwise every PROBE_IDLE_MS, until it expires. */
	BUSY_MS = 1000,
	PROBE_IDLE_MS = 1000,
	/* Up to this many sessions probe at the full rate; beyond, each
	 * probes proportionally less often, so that probing a path costs at
	 * most this many times one session's rate however many there are. */
	PROBE_FULL_RATE_SESSIONS = 16,
	/* An idle session's paths are looked at this often (its probes go
	 * every PROBE_IDLE_MS anyway). */
	IDLE_TICK_MS = 100,
	/* A latency cut-off is left again below this share of it (%). */
	CUTOFF_LEAVE_PCT = 80,

	/* ---- mpclient's path sockets (mpclient/uplink.c) -------------------- */
	/* A path that cannot be opened is tried again after 1 s, doubling up
	 * to 30 s: a name that does not resolve is not asked for many times a
	 * second, one that comes back is seen within half a minute. */
	UPLINK_RETRY_MIN_MS = 1000,
	UPLINK_RETRY_MAX_MS = 30000,
	/* dev= and bind= are looked at this often (an interface index, a
	 * bind: a syscall or two), and every UPLINK_FAIL_CHECK_MS while sends
	 * fail: a re-created interface carries traffic again within 2 s. */
	UPLINK_CHECK_MS = 1000,
	UPLINK_FAIL_CHECK_MS = 100,
	/* Bridge names are resolved again this often (DNS changes), and while
	 * sends are refused or the path is down at most every
	 * UPLINK_RESOLVE_FAIL_MS. */
	UPLINK_RESOLVE_MS = 60000,
	UPLINK_RESOLVE_FAIL_MS = 5000,

	/* ---- path health (health.c) ---------------------------------------- */
	/* Retransmission timeout bounds (RFC 6298 computes it; these clamp
	 * it). The floor keeps a scheduling hiccup of a busy host from
	 * passing for a dead path; a path still needs two timeouts in a row
	 * before it is called down. */
	HEALTH_RTO_MIN_US = 20000,
	HEALTH_RTO_MAX_US = 2000000,
	HEALTH_RTO_INITIAL_US = 1000000,
	HEALTH_RING = 16,		/* probes remembered for timeouts */
	/* Probes lost in a row before a path is down: enough that its own
	 * random loss would do it by chance less than once in 10,000 probes
	 * (at 20 probes/s: once in 8 minutes). */
	HEALTH_DOWN_AFTER_MIN = 2,
	HEALTH_DOWN_AFTER_MAX = 12,
	/* ... and at least this long without an answer: a busy host that
	 * does not run us (or a bridge) for a moment is not an outage. The
	 * path is avoided from its first overdue answer anyway (suspect);
	 * down is what is logged and given to --path-script. */
	HEALTH_DOWN_SILENCE_MS = 250,
	/* Answers in a row before a down path is used again; doubled each
	 * time it goes down again within HEALTH_FLAP_WINDOW_MS of coming up
	 * (damping), and back to the minimum after a quiet window. */
	HEALTH_GOOD_MIN = 3,
	HEALTH_GOOD_MAX = 24,
	HEALTH_FLAP_WINDOW_MS = 10000,
	/* Degraded by loss: enters at 5 %, leaves below 2 % (hysteresis). */
	HEALTH_LOSS_ENTER_PPM = 50000,
	HEALTH_LOSS_LEAVE_PPM = 20000,
	/* Loss is an average over about this long (EWMA time constant), and
	 * a sample needs at least HEALTH_LOSS_MIN_PKTS sent or 500 ms. */
	HEALTH_LOSS_TAU_MS = 2000,
	HEALTH_LOSS_MIN_PKTS = 8,
	HEALTH_LOSS_MIN_MS = 500,
	HEALTH_REASON_MAX = 112,	/* bytes of a state change's reason */

	/* ---- scheduling and reordering ------------------------------------- */
	/* A path with no RTT sample yet ranks as if it had this one. */
	SCHED_RTT_UNKNOWN_US = 100000,
	/* Reorder buffer per session direction: slots of NET_STAGE_BYTES
	 * (larger datagrams pass it, in order with what is before them).
	 * Pages are touched only while the session actually reorders. */
	REORDER_SLOTS = 256,
	/* A hole held while more than the slots arrive behind it would force
	 * the oldest out early (overflow), out of order: a burst of what TCP
	 * takes for loss. The ring doubles instead, up to this many slots
	 * (4 MiB: 2048 datagrams are 100 ms at 230 Mbit/s, the longest hold
	 * of a bond over lossy paths), while the process's grown rings stay
	 * within REORDER_GROWN_MAX_BYTES; past that, overflow as before. */
	REORDER_SLOTS_MAX = 2048,
	REORDER_GROWN_MAX_BYTES = 64 << 20,
	/* Release pacing (receive.c): a run that a filled hole frees goes to
	 * the application this many at once, then this many more per datagram
	 * that arrives, and at this rate while none do (checked every tick). */
	RELEASE_BURST = 32,
	RELEASE_PER_ARRIVAL = 2,
	RELEASE_MIN_PPS = 10000,
	RELEASE_TICK_US = 1000,
	/* Bounds of the automatic hold (--reorder-ms auto). Below 1 ms the
	 * buffer would release before timer granularity lets it wait at all;
	 * above 500 ms TCP's own RTO (>= 200 ms min on Linux) fires anyway and
	 * holding longer only adds latency. */
	REORDER_AUTO_MIN_US = 1000,
	REORDER_AUTO_MAX_US = 500000,
	/* mpserver's weighted mode mirrors what arrives per path; a count is
	 * capped here, far from overflowing the scheduler's credits. */
	WEIGHT_MAX = 1 << 20,

	/* ---- bonding: capacity (rate.c) and the scheduler (send.c) ---------- */
	/* The estimate is the largest delivery rate of the last 2 s (10
	 * buckets of 200 ms): long enough to span a probe cycle and TCP's
	 * own swings, short enough that a path whose capacity fell is
	 * followed within ~2 s even without a queue to show it. */
	RATE_BUCKETS = 10,
	RATE_BUCKET_MS = 200,
	/* A sample spans at least 40 ms of the peer's clock (two of its
	 * 20/s reports): shorter ones are mostly batching noise. */
	RATE_SAMPLE_MIN_US = 40000,
	RATE_SAMPLE_MAX_US = 2000000,	/* longer: the start is stale */
	/* A gain phase lasts an RTT, at least this. */
	RATE_PHASE_MIN_US = 40000,
	/* Startup ends after this many busy phases without 12.5 % growth; the
	 * gain cycle starts over (probe first) when a path turns busy after
	 * this long quiet. */
	RATE_STARTUP_FLAT_ROUNDS = 3,
	/* A drain phase lasts until the RTT is back near its floor, at most
	 * this many phases. */
	RATE_DRAIN_MAX_PHASES = 4,
	RATE_RESUME_IDLE_US = 1000000,
	/* RTT above its floor by more than max(this, floor/4) while we feed
	 * the path: a queue in the uplink's buffer, the estimate is cut. */
	RATE_QUEUE_MIN_US = 10000,
	/* Before any sample (no rate=), startup begins where BBR's does:
	 * what a new TCP connection sends in its first round trip (RFC 6928's
	 * ten segments) over the path's RTT floor, or over a nominal 1 ms
	 * before one is known (the first probe's answer, a round trip after
	 * the flow starts); at least RATE_INITIAL_BPS (a satellite's 600 ms
	 * would give 0.2 Mbit/s). It grows by half each report. Never paced
	 * below RATE_MIN_BPS. */
	RATE_INITIAL_WINDOW_BYTES = 10 * 1500,
	RATE_NOMINAL_RTT_US = 1000,
	RATE_INITIAL_BPS = 2000000,
	RATE_MIN_BPS = 64000,
	/* ...but the lead, the usable path that earliest arrival fills first
	 * (its RTT floor clearly under every other's: BOND_LEAD_MARGIN_US),
	 * is paced at no less than this in startup (a cap still bounds it):
	 * open. What the bond carries is another's congestion control, TCP
	 * inside, whose slow start doubles each round trip; a pacer that
	 * grows by half a report (50 ms) from ten segments is its bottleneck
	 * within 30 ms, and cubic's HyStart then ends slow start at a few
	 * dozen segments, which cubic grows by one a round trip (TCP down
	 * over test/netns's lossy paths after the upload: 16, 23, 30, 39
	 * Mbit/s; docs/PERFORMANCE.md). Open, the path's own queue ends
	 * startup. Only that path: the others take what overflows it, and
	 * one open would take all of it (its pacer never waits) however
	 * slow it is (with every path open, a 4 Mbit/s uplink took a 16
	 * Mbit/s one's overflow for 3 s of startup, and the bond lost up to
	 * half its rate); among paths of about the same delay none leads. */
	RATE_OPEN_BPS = 1000000000,
	/* A link is busy for the estimate if a datagram waited in its pacer
	 * this recently (two probe intervals). */
	RATE_BUSY_US = 100000,
	/* A busy path is being filled if it also sent at least this share of
	 * its pacing rate since the last report (below: the application, not
	 * the path, set the pace; such a round does not end startup). */
	RATE_BUSY_SHARE_PCT = 75,
	/* Bulk datagrams arrive at most this long after the slowest usable
	 * path's delay (beyond, they are dropped in mprelay: TCP's signal to
	 * slow down). Short: the queue TCP fills should cost little latency. */
	BOND_QUEUE_MAX_US = 40000,
	/* ... four times that while the path's capacity is still being found
	 * (startup): its pacing is below what it carries then. The bound
	 * counts from the slowest usable path's one-way delay, at most this
	 * much of it (a satellite path must not make every queue a second). */
	BOND_STARTUP_QUEUE_FACTOR = 4,
	/* ... and while the flow is application-limited: over the last
	 * RATE_BUSY_US it sent less than 1/BOND_APP_LIMITED_SHARE of what its
	 * paths are paced at. Its bursts (a run the peer's reorder buffer
	 * released at once, say) are not TCP filling the bond. */
	BOND_APP_LIMITED_SHARE = 2,
	/* A path with nothing waiting takes bulk it would deliver at most
	 * this long after the path of earliest arrival: half the queue
	 * bound, within the receiver's hold (which adds the whole bound). */
	BOND_IDLE_FILL_US = 20000,
	/* Latency-critical datagrams a session may send per second in bond
	 * mode (each goes on two paths, ahead of bulk), and in a burst;
	 * beyond, they are bulk. A call is 50/s, a game up to ~130/s, the
	 * ACKs of a 100 Mbit/s TCP download ~4,500/s. */
	BOND_CRITICAL_PPS = 10000,
	BOND_CRITICAL_BURST = 500,
	BOND_SLOWEST_OWD_MAX_US = 150000,
	/* The lead (rate.h: the path paced open in startup) has an RTT floor
	 * at least this much under every other usable path's (and under two
	 * thirds of it): closer, which one earliest arrival fills first is
	 * jitter (loopback's bridges differ by microseconds). */
	BOND_LEAD_MARGIN_US = 5000,

	/* ---- rescue (rescue.c) --------------------------------------------- */
	/* The last datagrams sent on one path alone, any session: seconds at
	 * the rates where a user notices an outage, and enough for loss
	 * recovery's round trips at bulk rates (2048 datagrams are 230 ms at
	 * 100 Mbit/s of 1400-byte datagrams). */
	RESCUE_SLOTS = 2048,
	RESCUE_INDEX = 4 * RESCUE_SLOTS,	/* entries, in buckets of: */
	RESCUE_INDEX_WAYS = 4,
	RESCUE_SLOT_BYTES = 2048,	/* larger datagrams are not kept */

	/* ---- loss recovery (recover.c, bond mode) ---------------------------- */
	/* A hole is lost once something sent after it has waited as long as
	 * it may come later by another path: what the reorder hold allows for
	 * that (half the RTT spread of the usable paths and twice the largest
	 * rttvar, reorder_auto_hold_us; and BOND_QUEUE_MAX_US, the queue bond
	 * lets a path have), and this.
	 * (For a path that went quiet; the paths' own order says it sooner.
	 * Without the queue's share, the smoothed delays missed the queues of
	 * the moment: on clean 16/8/4 Mbit/s uplinks 11 % of the datagrams were
	 * asked for, nearly all in vain.) */
	RECOVER_WAIT_MIN_US = 2000,
	/* In bond mode that wait adapts, as TCP's RACK adapts its reordering
	 * window: it starts at the bound above and comes down towards what
	 * earliest-arrival alone allows (twice the largest rttvar and
	 * BOND_IDLE_FILL_US, the most a datagram may trail the ones sent
	 * after it), by half of what is left every RECOVER_ADAPT_ASKS holes
	 * asked for; a hole asked for that then comes twice (the datagram
	 * was late, not lost) takes it back up by a quarter of the way. The
	 * seqs asked for lately are kept, RECOVER_ASKED_SLOTS of them, to
	 * know a second copy of one. */
	RECOVER_ADAPT_ASKS = 16,
	RECOVER_ADAPT_STEPS = 16,	/* the wait's place between the two, in steps */
	RECOVER_ADAPT_UP = 4,
	RECOVER_ASKED_SLOTS = 128,
	/* The paths whose order counts: those that delivered bulk this lately. */
	RECOVER_ACTIVE_US = 100000,
	/* Asked again after two of the fastest path's RTTs and this. */
	RECOVER_REASK_MARGIN_US = 10000,
	/* NACKs at most this often per flow (a burst of holes goes in one). */
	RECOVER_NACK_GAP_US = 2000,
	/* A flow quiet this long sends its last datagram again (once). Long
	 * enough that a flow with gaps (a call, a paced stream) is not doubled. */
	RECOVER_TAIL_US = 100000,
	/* The reorder hold covers this many asks for a hole. */
	RECOVER_HOLD_ASKS = 2,
	/* Each datagram goes again at most this often: at 30 % loss on each
	 * try, 0.3^5 = 0.24 % of the first losses stay lost. */
	RECOVER_RESENDS_MAX = 4,
	/* What a flow may resend: this share of what it sent, this much at
	 * once. A peer asking for everything gets at most that. */
	RECOVER_BUDGET_PCT = 50,
	RECOVER_BUDGET_BURST = 64 * 1024,

	/* ---- erasure coding (fec.c) ---------------------------------------- */
	/* Data datagrams per group: a group of 16 spans ~50 ms at 300
	 * datagrams/s (recovery waits for the group), and a decode's matrix
	 * inversion grows as k^3. */
	FEC_MAX_DATA = 16,
	/* Parity shards per group: up to 4 losses in a group of 16 (25 %
	 * overhead at most); the decoder's present-shard mask is 32 bits. */
	FEC_MAX_PARITY = 4,
	/* Bytes of the longest datagram a coder can be sized for: any UDP
	 * payload, and what the 2-byte length prefix of a shard can say.
	 * Each coder's buffers are (16 + 4) x its own max_len. */
	FEC_DATAGRAM_BYTES_MAX = MP_MAX_DATAGRAM,

	/* ---- parity (parity.c, send.c, receive.c; bond mode) --------------- */
	/* No parity while every path in use loses less than this: on clean
	 * paths FEC costs nothing (issue 12: <= 2 % extra bytes), and the
	 * rare loss is resent. */
	PARITY_LOSS_MIN_PPM = 5000,
	/* A group gets the fewest parity shards that leave at most this share
	 * of groups undecodable at the paths' loss (the rest is resent)... */
	PARITY_RESIDUAL_PPM = 1000,
	/* ...but at most this share of its datagrams (at least one shard):
	 * FEC takes the common losses at once, resends the rest, and
	 * both together stay under issue 12's 1.6 datagrams per datagram. */
	PARITY_SHARE_MAX_PCT = 25,
	/* Parity a flow may send: this share of what it sent, this much at
	 * once (a small group's one shard costs as much as its data). */
	PARITY_BUDGET_PCT = 50,
	PARITY_BUDGET_BURST = 32 * 1024,
	/* A group closes when full or when its first datagram has waited a
	 * quarter of the bound of the time the receiver waits before it asks
	 * for a hole (recover.h's wait_ceil_us: the paths' delay spread and
	 * bond's queue; the adapted wait is at least PARITY_AGE_MAX_US),
	 * within these bounds: its parity then comes before a NACK would. */
	PARITY_AGE_SHARE = 4,
	PARITY_AGE_MIN_US = 2000,
	PARITY_AGE_MAX_US = 20000,
	/* A shard goes on the path that would deliver it first, or on one the
	 * group did not go on if that delivers it at most this much later:
	 * under the 4 ms rise of the RTT that ends a cubic slow start
	 * (HyStart), which the wait for a shard shows TCP inside. */
	PARITY_SPREAD_US = 2000,
	/* The receiver keeps the last this many sealed DATA of a flow (any
	 * group's data, while its parity may still come: 8 groups of 16) and
	 * the parity of this many groups. */
	PARITY_RING_SLOTS = 128,
	PARITY_GROUPS = 4,
	/* Flows that may hold a coder at once, engine-wide: a sender's is
	 * ~45 KB, a receiver's state ~340 KB (the ring of full-size DATA). */
	PARITY_TX_FLOWS_MAX = 64,
	PARITY_RX_FLOWS_MAX = 16,

	/* ---- pacing (pace.c, rate=) ---------------------------------------- */
	PACE_SLOT_BYTES = 2048,		/* a datagram larger than this is not kept */
	PACE_PRIO_SLOTS = 64,		/* latency-critical datagrams waiting */
	PACE_BULK_SLOTS_MIN = 16,
	PACE_BULK_SLOTS_MAX = 1024,
	/* The bulk queue is sized for datagrams this long on average: bulk
	 * is mostly full-size, but a queue that fills by count before it
	 * fills by time would drop what the time bound would keep. */
	PACE_SLOT_AVG_BYTES = 512,
	/* The bulk queue holds about this much time at the rate: enough to
	 * ride out a burst, short enough that waiting here stays cheaper than
	 * the operator's queue we are trying to keep empty. */
	PACE_QUEUE_MS = 50,
	/* The bucket holds this much time at the rate (at least 2 datagrams
	 * of 1500 bytes): a short burst. */
	PACE_BURST_MS = 5,
	PACE_BURST_MIN_BYTES = 3000,
	/* What a datagram costs on the link beyond its UDP payload (IPv4 and
	 * UDP headers): rates are link rates. */
	PACE_IP_UDP_BYTES = 28,

	/* ---- path MTU discovery (pmtu.c) ----------------------------------- */
	/* What every IPv4 path carries (576 - IP - UDP): assumed, not probed. */
	PMTU_FLOOR = 548,
	PMTU_GRAIN = 16,		/* bytes: the search stops this close */
	PMTU_TRIES = 3,			/* unanswered attempts before "too big" */
	PMTU_WAIT_MIN_US = 200000,	/* an attempt's answer is awaited at least this */
	PMTU_RECHECK_MS = 10000,
	/* Every this many re-checks, look above again (the MTU may grow). */
	PMTU_REGROW_EVERY = 6,

	/* ---- keys (keying.c of each program) ------------------------------- */
	/* HELLO is resent after HELLO_RETRY_MS, doubling up to
	 * HELLO_RETRY_MAX_MS, for as long as the session lives. */
	HELLO_RETRY_MS = 250,
	HELLO_RETRY_MAX_MS = 2000,
	/* After this many unanswered HELLOs (about 5 s), say so once. */
	HELLO_WARN_AFTER = 6,
	/* What an application sends while its session's keys are being agreed
	 * waits here (a WireGuard handshake initiation, typically), up to
	 * HOLD_SLOTS datagrams of up to HOLD_SLOT_BYTES each. */
	HOLD_SLOTS = 8,
	HOLD_SLOT_BYTES = 2048,
	/* A RESET is believed only if it echoes one of the last
	 * RESET_SEQ_WINDOW sequence numbers we sent. */
	RESET_SEQ_WINDOW = 1 << 16,
	/* A keyed session that has not carried one authenticated packet this
	 * long after its HELLO (a replayed HELLO, or a client gone) is freed
	 * well before the idle timeout. */
	UNCONFIRMED_TIMEOUT_MS = 10000,
	/* What unauthenticated input may cost: HELLOs checked (a MAC each,
	 * and a key derivation for a new session) and RESETs sent. */
	HELLO_PER_S = 2000,
	HELLO_BURST = 200,
	RESET_PER_S = 200,
	RESET_BURST = 50,
	/* Per-client keys, under load (the HELLO bucket empty): the cookie
	 * secret is replaced this often (and the previous one still checks, so
	 * a cookie lives 120..240 s); the client keeps a cookie this long
	 * (WireGuard's values). */
	/* Per-client keys: the client starts a new handshake in the same
	 * session after this long under one key (forward secrecy: no key
	 * lives long; WireGuard's value) ... */
	REKEY_AFTER_S = 120,
	/* Keys older than this are neither used nor accepted: a rekey first. */
	REJECT_AFTER_S = 180,
	/* ... and the receiver still opens packets under the previous key this
	 * long after the switch (what was in flight). */
	PREV_KEYS_KEEP_S = 10,
	COOKIE_SECRET_S = 120,
	/* The latest initiation's copies (the same bytes over the client's
	 * other paths) get its stored response this long, while its session
	 * has seen no packet under the keys; later, or once it has, they are
	 * replays and get no answer. */
	HANDSHAKE_COPY_MS = 1000,
	/* Once the HELLO bucket has run empty, mpserver stays "under load"
	 * this long (every initiation needs a cookie), as WireGuard does: a
	 * flood then costs no DH at all, rather than the bucket's 2,000 a
	 * second, and a new client one extra round trip. */
	UNDER_LOAD_MS = 1000,
	COOKIE_KEEP_S = 120,
	/* ... and initiations with a valid cookie (mac2) are limited per
	 * source address, in this many buckets (one per address, hashed by the
	 * cookie itself: keyed, so nobody can aim at another's bucket; a
	 * collision only starts that bucket afresh), each this rate. */
	COOKIE_BUCKETS = 1024,
	COOKIE_SOURCE_PER_S = 20,
	COOKIE_SOURCE_BURST = 10,

	/* ---- logs ---------------------------------------------------------- */
	/* Log lines that a packet from the network can cause (a new session,
	 * a path heard or moved, a peer restart) are limited to this many a
	 * second with this burst; what is held back is counted and said. */
	LOG_NET_PER_S = 20,
	LOG_NET_BURST = 100,
	/* Failed handshakes and route conflicts are summed up in the log at
	 * most this often (always counted). */
	REPORT_INTERVAL_MS = 10000,

	/* ---- tun mode (mpserver's route.c) --------------------------------- */
	/* Addresses a session is expected to use (IPv4, IPv6, link-local);
	 * the table holds this many per allowed session. */
	ROUTES_PER_SESSION = 4,
	/* An address stays with the session that holds it while that session
	 * has sent from it within this long; see route_claim. */
	ROUTE_HOLD_MS = 3000,

	/* ---- event scripts (hook.c) ---------------------------------------- */
	/* A script that hangs must not pile up processes. */
	HOOK_MAX_RUNNING = 8,
	HOOK_MAX_ARGS = 8,
};

/* A group's parity goes before the receiver's adapted wait for a hole runs
 * out, however far down the wait has come (PARITY_AGE_SHARE above). */
_Static_assert(BOND_IDLE_FILL_US + RECOVER_WAIT_MIN_US > PARITY_AGE_MAX_US,
	       "parity waits less than the shortest NACK wait");

#endif
