/*
 * impair: userspace network-impairment UDP relay (the kernel here has no netem),
 * standing in for a bad "bridge" link in mprelay's tests and demo. It owns the
 * listen socket, the socket connected to the target, per-direction loss, burst
 * loss, delay, jitter, reorder, rate/queue and duplication, blackholing (SIGUSR1
 * or scheduled) and the stats lines. Payloads are untrusted and never parsed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

/* recvmmsg/sendmmsg batch size. */
#define BATCH 32
/* Immediate path may emit two copies (dup) per received datagram. */
#define OUT_BATCH (2 * BATCH)
/* Any UDP payload fits (max 65527 over IPv6); MSG_TRUNC still checked. */
#define MAX_DGRAM 65536
/* Receive batches drained per wakeup before yielding to timers/other socket. */
#define RX_ROUNDS_PER_WAKEUP 8

/*
 * Queue storage (only allocated for a direction that delays or rate-limits).
 * Two preallocated size classes, no malloc per packet:
 *   SMALL_SLOTS slots of SMALL_SLOT_BYTES for ordinary MTU-sized datagrams, and
 *   LARGE_SLOTS slots of MAX_DGRAM for jumbo datagrams (a small datagram may
 *   borrow a large slot when the small class is exhausted).
 * That is 16 MiB + 4 MiB of virtual memory per queued direction; pages are only
 * touched when used. When both classes are exhausted the packet is dropped and
 * counted as queue_drop, like a full bottleneck queue.
 */
#define SMALL_SLOT_BYTES 2048
#define SMALL_SLOTS 8192
#define LARGE_SLOTS 64
#define TOTAL_SLOTS (SMALL_SLOTS + LARGE_SLOTS)

/* Release packets due within this many seconds: the event loop wakes at ms
 * granularity, so waiting for the last few microseconds would only spin. */
#define EGRESS_SLACK_S 0.0002

#define DEFAULT_QUEUE_BYTES 65536.0
#define DEFAULT_REORDER_GAP_MS 5.0
#define SOCKET_BUF_BYTES (4 * 1024 * 1024)

enum { DIR_UP, DIR_DOWN, DIR_COUNT };

enum impairment {
    IMP_LOSS,
    IMP_BURST,
    IMP_DELAY,
    IMP_JITTER,
    IMP_REORDER,
    IMP_REORDER_GAP,
    IMP_RATE,
    IMP_QUEUE,
    IMP_DUP,
    IMP_MAX_SIZE,
    IMP_COUNT
};

static const char *const imp_names[IMP_COUNT] = {
    "loss", "burst-loss", "delay", "jitter", "reorder",
    "reorder-gap", "rate", "queue", "dup", "max-size",
};

enum { VARIANT_BOTH, VARIANT_UP, VARIANT_DOWN, VARIANT_COUNT };

enum {
    OPT_BIND = 256,
    OPT_BH_AFTER,
    OPT_BH_FOR,
    OPT_SEED,
    OPT_DURATION,
    OPT_IMP_BASE = 512, /* + imp * VARIANT_COUNT + variant */
};

struct dir_cfg {
    double loss_pct;
    double burst_gb_pct; /* GOOD -> BAD transition probability */
    double burst_bg_pct; /* BAD -> GOOD transition probability */
    double delay_ms;
    double jitter_ms;
    double reorder_pct;
    double reorder_gap_ms;
    double rate_bps; /* 0 = unlimited */
    double queue_bytes;
    double dup_pct;
    double max_size; /* 0 = any; larger datagrams vanish (an MTU black hole) */
};

struct dir_stats {
    uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
    uint64_t lost, burst_lost, queue_drop, blackholed;
    uint64_t dup, reordered, truncated, tx_err, too_big;
};

struct qpkt {
    double due_s;
    uint64_t seq; /* tie-break so equal due times keep arrival order */
    uint32_t slot;
    uint32_t len;
};

struct pool {
    uint8_t *small_mem;
    uint8_t *large_mem;
    uint32_t small_free[SMALL_SLOTS];
    uint32_t large_free[LARGE_SLOTS];
    uint32_t n_small_free;
    uint32_t n_large_free;
};

/* Min-heap on (due_s, seq). Used for every queued direction: when due times
 * are monotonic (fixed delay, or jitter clamped to FIFO) it behaves as a FIFO. */
struct heap {
    struct qpkt *v;
    size_t n;
};

struct out_batch {
    unsigned n;
    struct mmsghdr msgs[OUT_BATCH];
    struct iovec iov[OUT_BATCH];
};

struct direction {
    const char *name;
    bool is_down;
    bool queued; /* delay/jitter/reorder/rate configured: packets go via heap */
    struct dir_cfg cfg;
    struct dir_stats st;
    bool ge_bad;         /* Gilbert-Elliott state */
    double link_free_s;  /* rate limiter: when the bottleneck drains */
    double last_due_s;   /* FIFO clamp when jitter must not reorder */
    uint64_t next_seq;
    uint64_t rng[4]; /* per direction, so one direction's draws do not depend
                        on how its packets interleave with the other's */
    int rx_fd;
    int tx_fd;
    struct pool pool;
    struct heap heap;
    ev_io rx_watcher;
    ev_timer egress_timer;
    uint8_t *rx_bufs; /* BATCH * MAX_DGRAM */
    struct mmsghdr rx_msgs[BATCH];
    struct iovec rx_iov[BATCH];
    struct sockaddr_storage rx_addr[BATCH];
    struct out_batch out;
    struct app *app;
};

struct options {
    const char *bind_addr;
    const char *listen_port;
    const char *target_host;
    const char *target_port;
    struct dir_cfg cfg[DIR_COUNT];
    double bh_after_s; /* < 0: not given */
    double bh_for_s;   /* < 0: not given */
    uint64_t seed;
    bool seed_given;
    double duration_s; /* 0: run forever */
    bool quiet;
};

struct app {
    struct ev_loop *loop;
    struct options opt;
    struct direction dir[DIR_COUNT];
    int listen_fd;
    int target_fd;
    struct sockaddr_storage client;
    socklen_t client_len;
    bool have_client;
    bool blackhole;
    ev_signal sig_usr1, sig_usr2, sig_int, sig_term;
    ev_timer duration_timer, bh_on_timer, bh_off_timer;
};

/* Static because it holds ~100 KiB of slot and batch bookkeeping; callbacks
 * reach it through watcher->data, never through this name. */
static struct app g_app;

/* ---------------------------------------------------------------- PRNG */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t rng[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng[i] = splitmix64(&seed);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: fast, good quality, reproducible across runs for --seed. */
static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* Draws only when the probability is non-zero, so unrelated options do not
 * shift the random sequence of a seeded run. */
static bool chance(struct direction *d, double pct)
{
    return pct > 0 && rng_unit(d->rng) * 100.0 < pct;
}

/* ---------------------------------------------------------------- pool */

static bool pool_init(struct pool *p)
{
    p->small_mem = malloc((size_t)SMALL_SLOTS * SMALL_SLOT_BYTES);
    p->large_mem = malloc((size_t)LARGE_SLOTS * MAX_DGRAM);
    if (!p->small_mem || !p->large_mem)
        return false;
    for (uint32_t i = 0; i < SMALL_SLOTS; i++)
        p->small_free[i] = SMALL_SLOTS - 1 - i;
    for (uint32_t i = 0; i < LARGE_SLOTS; i++)
        p->large_free[i] = SMALL_SLOTS + LARGE_SLOTS - 1 - i;
    p->n_small_free = SMALL_SLOTS;
    p->n_large_free = LARGE_SLOTS;
    return true;
}

static void pool_free(struct pool *p)
{
    free(p->small_mem);
    free(p->large_mem);
    p->small_mem = p->large_mem = NULL;
}

static bool pool_get(struct pool *p, uint32_t len, uint32_t *slot)
{
    if (len <= SMALL_SLOT_BYTES && p->n_small_free > 0) {
        *slot = p->small_free[--p->n_small_free];
        return true;
    }
    if (p->n_large_free > 0) {
        *slot = p->large_free[--p->n_large_free];
        return true;
    }
    return false;
}

static void pool_put(struct pool *p, uint32_t slot)
{
    if (slot < SMALL_SLOTS)
        p->small_free[p->n_small_free++] = slot;
    else
        p->large_free[p->n_large_free++] = slot;
}

static uint8_t *pool_buf(struct pool *p, uint32_t slot)
{
    if (slot < SMALL_SLOTS)
        return p->small_mem + (size_t)slot * SMALL_SLOT_BYTES;
    return p->large_mem + (size_t)(slot - SMALL_SLOTS) * MAX_DGRAM;
}

/* ---------------------------------------------------------------- heap */

static bool qpkt_before(const struct qpkt *x, const struct qpkt *y)
{
    return x->due_s < y->due_s || (x->due_s == y->due_s && x->seq < y->seq);
}

/* Capacity is TOTAL_SLOTS and every entry holds a slot, so it cannot overflow. */
static void heap_push(struct heap *h, struct qpkt p)
{
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!qpkt_before(&p, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
}

static struct qpkt heap_pop(struct heap *h)
{
    struct qpkt top = h->v[0];
    struct qpkt last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && qpkt_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!qpkt_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

/* ---------------------------------------------------------------- stats */

static void print_dir_stats(const struct direction *d)
{
    const struct dir_stats *s = &d->st;
    char line[512];
    int n = snprintf(line, sizeof line,
                     "impair stats dir=%s rx_pkts=%" PRIu64 " rx_bytes=%" PRIu64
                     " tx_pkts=%" PRIu64 " tx_bytes=%" PRIu64 " lost=%" PRIu64
                     " burst_lost=%" PRIu64 " queue_drop=%" PRIu64
                     " blackholed=%" PRIu64 " dup=%" PRIu64 " reordered=%" PRIu64
                     " truncated=%" PRIu64 " tx_err=%" PRIu64 " too_big=%" PRIu64 "\n",
                     d->name, s->rx_pkts, s->rx_bytes, s->tx_pkts, s->tx_bytes,
                     s->lost, s->burst_lost, s->queue_drop, s->blackholed, s->dup,
                     s->reordered, s->truncated, s->tx_err, s->too_big);
    /* One write per line so concurrent readers never see a torn line. */
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

static void print_stats(const struct app *a)
{
    for (int i = 0; i < DIR_COUNT; i++)
        print_dir_stats(&a->dir[i]);
}

static void info(const struct app *a, const char *msg)
{
    if (!a->opt.quiet)
        fprintf(stderr, "impair: %s\n", msg);
}

/* ---------------------------------------------------------------- egress */

static void send_batch(struct app *a, struct direction *d)
{
    struct out_batch *ob = &d->out;
    if (ob->n == 0)
        return;
    if (d->is_down && !a->have_client) {
        /* Nowhere to send yet: counted as a transmit error. */
        d->st.tx_err += ob->n;
        ob->n = 0;
        return;
    }
    for (unsigned i = 0; i < ob->n; i++) {
        struct msghdr *h = &ob->msgs[i].msg_hdr;
        h->msg_name = d->is_down ? &a->client : NULL;
        h->msg_namelen = d->is_down ? a->client_len : 0;
    }
    unsigned i = 0;
    while (i < ob->n) {
        int r = sendmmsg(d->tx_fd, &ob->msgs[i], ob->n - i, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* The datagram at i failed (full socket buffer, ICMP-reported
             * refusal, ...): a relay drops rather than blocks. */
            d->st.tx_err++;
            i++;
            continue;
        }
        for (unsigned k = i; k < i + (unsigned)r; k++) {
            d->st.tx_pkts++;
            d->st.tx_bytes += ob->msgs[k].msg_len;
        }
        i += (unsigned)r;
    }
    ob->n = 0;
}

/* Buffers referenced here must stay valid until send_batch() ran. */
static void out_add(struct app *a, struct direction *d, uint8_t *buf, uint32_t len)
{
    struct out_batch *ob = &d->out;
    if (ob->n == OUT_BATCH)
        send_batch(a, d);
    struct iovec *iov = &ob->iov[ob->n];
    struct mmsghdr *m = &ob->msgs[ob->n];
    iov->iov_base = buf;
    iov->iov_len = len;
    memset(m, 0, sizeof *m);
    m->msg_hdr.msg_iov = iov;
    m->msg_hdr.msg_iovlen = 1;
    ob->n++;
}

static void rearm_timer(struct app *a, struct direction *d)
{
    ev_timer_stop(a->loop, &d->egress_timer);
    if (d->heap.n == 0)
        return;
    double wait_s = d->heap.v[0].due_s - ev_now(a->loop);
    ev_timer_set(&d->egress_timer, wait_s > 0 ? wait_s : 0.0, 0.0);
    ev_timer_start(a->loop, &d->egress_timer);
}

static void flush_due(struct app *a, struct direction *d, double now_s)
{
    while (d->heap.n > 0 && d->heap.v[0].due_s <= now_s + EGRESS_SLACK_S) {
        uint32_t slots[BATCH];
        unsigned n = 0;
        while (n < BATCH && d->heap.n > 0 &&
               d->heap.v[0].due_s <= now_s + EGRESS_SLACK_S) {
            struct qpkt p = heap_pop(&d->heap);
            slots[n++] = p.slot;
            /* A dead link also swallows what was already in flight on it. */
            if (a->blackhole)
                d->st.blackholed++;
            else
                out_add(a, d, pool_buf(&d->pool, p.slot), p.len);
        }
        send_batch(a, d);
        for (unsigned i = 0; i < n; i++)
            pool_put(&d->pool, slots[i]);
    }
}

static void egress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct direction *d = w->data;
    flush_due(d->app, d, ev_now(loop));
    rearm_timer(d->app, d);
}

/* ---------------------------------------------------------------- ingress */

/*
 * Rate limit: a token bucket without burst allowance, i.e. the bottleneck
 * serialises at rate_bps and a packet leaves once its last bit would have been
 * sent. The backlog in bytes follows from how far link_free_s is ahead of now,
 * so the tail-drop queue needs no per-packet bookkeeping.
 */
static bool rate_admit(struct direction *d, uint32_t len, double now_s,
                       double *depart_s)
{
    double rate_bytes_per_s = d->cfg.rate_bps / 8.0;
    double start_s = d->link_free_s > now_s ? d->link_free_s : now_s;
    double backlog_bytes = (start_s - now_s) * rate_bytes_per_s;
    if (backlog_bytes + len > d->cfg.queue_bytes)
        return false;
    d->link_free_s = start_s + len / rate_bytes_per_s;
    *depart_s = d->link_free_s;
    return true;
}

static double due_time(struct direction *d, double base_s)
{
    const struct dir_cfg *c = &d->cfg;
    double due_s = base_s + c->delay_ms / 1000.0;
    if (c->jitter_ms > 0)
        due_s += rng_unit(d->rng) * c->jitter_ms / 1000.0;
    if (c->reorder_pct <= 0) {
        /* Jitter alone must not reorder: never overtake the previous packet. */
        if (due_s < d->last_due_s)
            due_s = d->last_due_s;
        d->last_due_s = due_s;
    } else if (chance(d, c->reorder_pct)) {
        due_s += c->reorder_gap_ms / 1000.0;
        d->st.reordered++;
    }
    return due_s;
}

static void enqueue(struct direction *d, const uint8_t *buf, uint32_t len,
                    double now_s)
{
    uint32_t slot;
    if (!pool_get(&d->pool, len, &slot)) {
        d->st.queue_drop++;
        return;
    }
    double base_s = now_s;
    if (d->cfg.rate_bps > 0 && !rate_admit(d, len, now_s, &base_s)) {
        pool_put(&d->pool, slot);
        d->st.queue_drop++;
        return;
    }
    memcpy(pool_buf(&d->pool, slot), buf, len);
    struct qpkt p = {
        .due_s = due_time(d, base_s),
        .seq = d->next_seq++,
        .slot = slot,
        .len = len,
    };
    heap_push(&d->heap, p);
}

/* Gilbert-Elliott first (its chain advances on every packet), then
 * independent random loss. */
static bool survives_loss(struct direction *d)
{
    const struct dir_cfg *c = &d->cfg;
    if (c->burst_gb_pct > 0) {
        if (d->ge_bad)
            d->ge_bad = !chance(d, c->burst_bg_pct);
        else
            d->ge_bad = chance(d, c->burst_gb_pct);
        if (d->ge_bad) {
            d->st.burst_lost++;
            return false;
        }
    }
    if (chance(d, c->loss_pct)) {
        d->st.lost++;
        return false;
    }
    return true;
}

/* The most recent sender on the listen socket is where "down" goes. */
static void note_client(struct app *a, const struct msghdr *h)
{
    if (h->msg_namelen == 0 || h->msg_namelen > sizeof a->client)
        return;
    memcpy(&a->client, h->msg_name, h->msg_namelen);
    a->client_len = h->msg_namelen;
    a->have_client = true;
}

static void handle_datagram(struct app *a, struct direction *d, unsigned i,
                            double now_s)
{
    const struct msghdr *h = &d->rx_msgs[i].msg_hdr;
    uint32_t len = d->rx_msgs[i].msg_len;
    uint8_t *buf = d->rx_bufs + (size_t)i * MAX_DGRAM;

    d->st.rx_pkts++;
    d->st.rx_bytes += len;
    if (!d->is_down)
        note_client(a, h);
    if (h->msg_flags & MSG_TRUNC) {
        d->st.truncated++;
        return;
    }
    if (a->blackhole) {
        d->st.blackholed++;
        return;
    }
    if (d->cfg.max_size > 0 && len > d->cfg.max_size) {
        d->st.too_big++;
        return;
    }
    if (!survives_loss(d))
        return;
    unsigned copies = 1;
    if (chance(d, d->cfg.dup_pct)) {
        copies = 2;
        d->st.dup++;
    }
    for (unsigned c = 0; c < copies; c++) {
        if (d->queued)
            enqueue(d, buf, len, now_s);
        else
            out_add(a, d, buf, len);
    }
}

static void reset_rx_msgs(struct direction *d)
{
    for (unsigned i = 0; i < BATCH; i++) {
        struct msghdr *h = &d->rx_msgs[i].msg_hdr;
        h->msg_namelen = d->is_down ? 0 : sizeof d->rx_addr[i];
        h->msg_flags = 0;
        d->rx_iov[i].iov_len = MAX_DGRAM;
    }
}

static void rx_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct direction *d = w->data;
    struct app *a = d->app;
    for (int round = 0; round < RX_ROUNDS_PER_WAKEUP; round++) {
        reset_rx_msgs(d);
        int n = recvmmsg(d->rx_fd, d->rx_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* EINTR, or a soft error such as ECONNREFUSED left by an ICMP for
             * an earlier send: reading it clears it, so just try again. */
            continue;
        }
        double now_s = ev_now(loop);
        for (unsigned i = 0; i < (unsigned)n; i++)
            handle_datagram(a, d, i, now_s);
        if (d->queued)
            rearm_timer(a, d);
        else
            send_batch(a, d); /* zero queueing: straight from the rx buffers */
        if (n < BATCH)
            return;
    }
}

/* ---------------------------------------------------------------- signals */

static void set_blackhole(struct app *a, bool on)
{
    a->blackhole = on;
    info(a, on ? "blackhole on" : "blackhole off");
}

static void sig_usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct app *a = w->data;
    set_blackhole(a, !a->blackhole);
}

static void sig_usr2_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    print_stats(w->data);
}

static void sig_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void duration_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void bh_on_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    set_blackhole(w->data, true);
}

static void bh_off_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    set_blackhole(w->data, false);
}

/* ---------------------------------------------------------------- options */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: impair [options] LISTEN_PORT TARGET_HOST TARGET_PORT\n"
        "Relays UDP between LISTEN_PORT (\"up\": towards the target) and\n"
        "TARGET_HOST:TARGET_PORT (\"down\": back to the most recent client).\n"
        "Impairments apply to both directions; append -up or -down to the\n"
        "option name (e.g. --loss-up 5) for one direction, which overrides.\n"
        "  --loss PCT              random independent loss (percent)\n"
        "  --burst-loss PGB,PBG    Gilbert-Elliott loss: GOOD->BAD PGB%%,\n"
        "                          BAD->GOOD PBG%% per packet; BAD is lost\n"
        "  --delay MS              fixed one-way delay\n"
        "  --jitter MS             extra uniform delay in [0, MS]; keeps FIFO\n"
        "                          order unless --reorder is given\n"
        "  --reorder PCT           hold a packet back by --reorder-gap\n"
        "  --reorder-gap MS        default 5\n"
        "  --rate RATE             rate limit, e.g. 8mbit, 500kbit, 2000000 (bit/s)\n"
        "  --queue BYTES           bottleneck queue for --rate (default 65536;\n"
        "                          k/m suffixes are KiB/MiB); tail drop\n"
        "  --dup PCT               duplicate a packet\n"
        "  --max-size BYTES        drop datagrams larger than BYTES, silently\n"
        "                          (a path MTU black hole)\n"
        "  --bind ADDR             listen address (default 127.0.0.1)\n"
        "  --blackhole-after SEC   start a blackhole SEC after start\n"
        "  --blackhole-for SEC     blackhole lasts SEC (from start if no -after)\n"
        "  --seed N                PRNG seed (default from time and pid)\n"
        "  --duration SEC          exit after SEC\n"
        "  -q, --quiet             no informational messages\n"
        "  -h, --help              this help\n"
        "Signals: SIGUSR1 toggles blackhole, SIGUSR2 prints stats,\n"
        "SIGINT/SIGTERM print stats and exit 0. LISTEN_PORT 0 picks a port.\n");
}

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < min ||
        v > max)
        return false;
    *out = v;
    return true;
}

/* Accepts an optional unit from the table; multiplier 1 when none. */
struct unit {
    const char *suffix;
    double mult;
};

static bool parse_with_unit(const char *s, const struct unit *units,
                            size_t n_units, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0)
        return false;
    double mult = 0;
    for (size_t i = 0; i < n_units; i++)
        if (strcasecmp(end, units[i].suffix) == 0)
            mult = units[i].mult;
    if (mult == 0 || v * mult > max)
        return false;
    *out = v * mult;
    return true;
}

static bool parse_rate_bps(const char *s, double *out)
{
    static const struct unit units[] = {
        {"", 1}, {"bit", 1}, {"k", 1e3}, {"kbit", 1e3}, {"m", 1e6},
        {"mbit", 1e6}, {"g", 1e9}, {"gbit", 1e9},
    };
    return parse_with_unit(s, units, sizeof units / sizeof units[0], 1e12, out);
}

static bool parse_queue_bytes(const char *s, double *out)
{
    static const struct unit units[] = {
        {"", 1}, {"b", 1}, {"k", 1024}, {"kb", 1024}, {"kib", 1024},
        {"m", 1048576}, {"mb", 1048576}, {"mib", 1048576},
    };
    if (!parse_with_unit(s, units, sizeof units / sizeof units[0],
                         1024.0 * 1048576, out) || *out < 1)
        return false;
    *out = floor(*out);
    return true;
}

static bool parse_burst(const char *s, double *gb_pct, double *bg_pct)
{
    char buf[64];
    const char *comma = strchr(s, ',');
    size_t head = comma ? (size_t)(comma - s) : 0;
    if (!comma || head >= sizeof buf)
        return false;
    memcpy(buf, s, head);
    buf[head] = '\0';
    return parse_double(buf, 0, 100, gb_pct) &&
           parse_double(comma + 1, 0, 100, bg_pct);
}

/* Reads one impairment's value into a scratch config's matching field(s). */
static bool parse_impairment(enum impairment imp, const char *arg,
                             struct dir_cfg *v)
{
    const double max_ms = 3600e3;
    switch (imp) {
    case IMP_LOSS: return parse_double(arg, 0, 100, &v->loss_pct);
    case IMP_BURST: return parse_burst(arg, &v->burst_gb_pct, &v->burst_bg_pct);
    case IMP_DELAY: return parse_double(arg, 0, max_ms, &v->delay_ms);
    case IMP_JITTER: return parse_double(arg, 0, max_ms, &v->jitter_ms);
    case IMP_REORDER: return parse_double(arg, 0, 100, &v->reorder_pct);
    case IMP_REORDER_GAP: return parse_double(arg, 0, max_ms, &v->reorder_gap_ms);
    case IMP_RATE: return parse_rate_bps(arg, &v->rate_bps);
    case IMP_QUEUE: return parse_queue_bytes(arg, &v->queue_bytes);
    case IMP_DUP: return parse_double(arg, 0, 100, &v->dup_pct);
    case IMP_MAX_SIZE: return parse_double(arg, 1, 65535, &v->max_size);
    case IMP_COUNT: break;
    }
    return false;
}

static void copy_impairment(enum impairment imp, struct dir_cfg *dst,
                            const struct dir_cfg *src)
{
    switch (imp) {
    case IMP_LOSS: dst->loss_pct = src->loss_pct; break;
    case IMP_BURST:
        dst->burst_gb_pct = src->burst_gb_pct;
        dst->burst_bg_pct = src->burst_bg_pct;
        break;
    case IMP_DELAY: dst->delay_ms = src->delay_ms; break;
    case IMP_JITTER: dst->jitter_ms = src->jitter_ms; break;
    case IMP_REORDER: dst->reorder_pct = src->reorder_pct; break;
    case IMP_REORDER_GAP: dst->reorder_gap_ms = src->reorder_gap_ms; break;
    case IMP_RATE: dst->rate_bps = src->rate_bps; break;
    case IMP_QUEUE: dst->queue_bytes = src->queue_bytes; break;
    case IMP_DUP: dst->dup_pct = src->dup_pct; break;
    case IMP_MAX_SIZE: dst->max_size = src->max_size; break;
    case IMP_COUNT: break;
    }
}

/* A -up/-down option always wins over the both-directions one, whatever
 * their order on the command line. */
static bool apply_impairment(struct options *o, unsigned explicit_mask[DIR_COUNT],
                             int code, const char *arg)
{
    enum impairment imp = (enum impairment)(code / VARIANT_COUNT);
    int variant = code % VARIANT_COUNT;
    struct dir_cfg scratch;
    memset(&scratch, 0, sizeof scratch);
    if (!parse_impairment(imp, arg, &scratch)) {
        fprintf(stderr, "impair: bad value for --%s%s: '%s'\n", imp_names[imp],
                variant == VARIANT_UP ? "-up" : variant == VARIANT_DOWN ? "-down" : "",
                arg);
        return false;
    }
    for (int d = 0; d < DIR_COUNT; d++) {
        bool mine = variant == VARIANT_BOTH ||
                    (variant == VARIANT_UP) == (d == DIR_UP);
        if (!mine)
            continue;
        if (variant == VARIANT_BOTH && (explicit_mask[d] & (1u << imp)))
            continue;
        if (variant != VARIANT_BOTH)
            explicit_mask[d] |= 1u << imp;
        copy_impairment(imp, &o->cfg[d], &scratch);
    }
    return true;
}

/* Long option table: fixed options plus three spellings per impairment. */
static struct option *build_long_options(void)
{
    static char names[IMP_COUNT][VARIANT_COUNT][32];
    static struct option opts[IMP_COUNT * VARIANT_COUNT + 8];
    static const char *const suffix[VARIANT_COUNT] = {"", "-up", "-down"};
    size_t n = 0;
    for (int imp = 0; imp < IMP_COUNT; imp++) {
        for (int v = 0; v < VARIANT_COUNT; v++) {
            snprintf(names[imp][v], sizeof names[imp][v], "%s%s", imp_names[imp],
                     suffix[v]);
            opts[n++] = (struct option){names[imp][v], required_argument, NULL,
                                        OPT_IMP_BASE + imp * VARIANT_COUNT + v};
        }
    }
    opts[n++] = (struct option){"bind", required_argument, NULL, OPT_BIND};
    opts[n++] = (struct option){"blackhole-after", required_argument, NULL, OPT_BH_AFTER};
    opts[n++] = (struct option){"blackhole-for", required_argument, NULL, OPT_BH_FOR};
    opts[n++] = (struct option){"seed", required_argument, NULL, OPT_SEED};
    opts[n++] = (struct option){"duration", required_argument, NULL, OPT_DURATION};
    opts[n++] = (struct option){"quiet", no_argument, NULL, 'q'};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    return opts;
}

static void options_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->bind_addr = "127.0.0.1";
    o->bh_after_s = -1;
    o->bh_for_s = -1;
    for (int d = 0; d < DIR_COUNT; d++) {
        o->cfg[d].queue_bytes = DEFAULT_QUEUE_BYTES;
        o->cfg[d].reorder_gap_ms = DEFAULT_REORDER_GAP_MS;
    }
}

static bool parse_seed(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || *end != '\0' || errno != 0 || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static bool bad_option(const char *name, const char *arg)
{
    fprintf(stderr, "impair: bad value for --%s: '%s'\n", name, arg);
    return false;
}

static bool parse_fixed_option(struct options *o, int c, const char *arg)
{
    switch (c) {
    case OPT_BIND: o->bind_addr = arg; return true;
    case OPT_BH_AFTER:
        return parse_double(arg, 0, 1e9, &o->bh_after_s) ||
               bad_option("blackhole-after", arg);
    case OPT_BH_FOR:
        return parse_double(arg, 0, 1e9, &o->bh_for_s) ||
               bad_option("blackhole-for", arg);
    case OPT_SEED:
        o->seed_given = true;
        return parse_seed(arg, &o->seed) || bad_option("seed", arg);
    case OPT_DURATION:
        return (parse_double(arg, 0, 1e9, &o->duration_s) && o->duration_s > 0) ||
               bad_option("duration", arg);
    case 'q': o->quiet = true; return true;
    default: return false;
    }
}

static bool valid_port(const char *s, bool allow_zero)
{
    size_t len = strlen(s);
    if (len == 0 || len > 5 || strspn(s, "0123456789") != len)
        return false;
    long port = strtol(s, NULL, 10);
    return port <= 65535 && (allow_zero || port > 0);
}

/* Returns 0 to run, 1 after --help, -1 on bad arguments (message printed). */
static int parse_args(int argc, char **argv, struct options *o)
{
    unsigned explicit_mask[DIR_COUNT] = {0, 0};
    const struct option *long_opts = build_long_options();
    options_defaults(o);
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "qh", long_opts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == '?')
            return -1;
        if (c >= OPT_IMP_BASE) {
            if (!apply_impairment(o, explicit_mask, c - OPT_IMP_BASE, optarg))
                return -1;
        } else if (!parse_fixed_option(o, c, optarg)) {
            return -1;
        }
    }
    if (argc - optind != 3) {
        fprintf(stderr, "impair: expected LISTEN_PORT TARGET_HOST TARGET_PORT\n");
        return -1;
    }
    o->listen_port = argv[optind];
    o->target_host = argv[optind + 1];
    o->target_port = argv[optind + 2];
    if (!valid_port(o->listen_port, true)) {
        fprintf(stderr, "impair: bad LISTEN_PORT '%s'\n", o->listen_port);
        return -1;
    }
    if (!valid_port(o->target_port, false)) {
        fprintf(stderr, "impair: bad TARGET_PORT '%s'\n", o->target_port);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- sockets */

/* Deep buffers absorb bursts while the loop is busy; FORCE variants bypass
 * rmem_max/wmem_max when we have CAP_NET_ADMIN, else fall back silently. */
static void set_socket_buffers(int fd)
{
    int bytes = SOCKET_BUF_BYTES;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

/* Strips [brackets] from an IPv6 literal into buf. */
static const char *strip_brackets(const char *s, char *buf, size_t size)
{
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']' && len - 2 < size) {
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        return buf;
    }
    return s;
}

/* Returns fd, -2 on a bad address (argument error), -1 on a system error. */
static int open_listen_socket(const struct options *o)
{
    char host_buf[256];
    const char *host = strip_brackets(o->bind_addr, host_buf, sizeof host_buf);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host, o->listen_port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "impair: bad --bind address '%s': %s\n", o->bind_addr,
                gai_strerror(rc));
        return -2;
    }
    int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        fprintf(stderr, "impair: cannot bind %s port %s: %s\n", o->bind_addr,
                o->listen_port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Resolved once; the first address we can connect to wins. */
static int open_target_socket(const struct options *o)
{
    char host_buf[256];
    const char *host = strip_brackets(o->target_host, host_buf, sizeof host_buf);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, o->target_port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "impair: cannot resolve target '%s': %s\n",
                o->target_host, gai_strerror(rc));
        return -2;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0)
        fprintf(stderr, "impair: cannot connect to %s port %s: %s\n",
                o->target_host, o->target_port, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static void print_listening(const struct app *a)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (a->opt.quiet)
        return;
    if (getsockname(a->listen_fd, (struct sockaddr *)&ss, &len) < 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port,
                    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(host, sizeof host, "%s", a->opt.bind_addr);
        snprintf(port, sizeof port, "%s", a->opt.listen_port);
    }
    bool v6 = ss.ss_family == AF_INET6;
    bool target_v6 = strchr(a->opt.target_host, ':') && a->opt.target_host[0] != '[';
    fprintf(stderr, "impair: listening on %s%s%s:%s -> %s%s%s:%s\n",
            v6 ? "[" : "", host, v6 ? "]" : "", port, target_v6 ? "[" : "",
            a->opt.target_host, target_v6 ? "]" : "", a->opt.target_port);
}

/* ---------------------------------------------------------------- setup */

static bool dir_init(struct app *a, int idx, int rx_fd, int tx_fd)
{
    struct direction *d = &a->dir[idx];
    d->app = a;
    d->name = idx == DIR_UP ? "up" : "down";
    d->is_down = idx == DIR_DOWN;
    d->cfg = a->opt.cfg[idx];
    d->queued = d->cfg.delay_ms > 0 || d->cfg.jitter_ms > 0 ||
                d->cfg.reorder_pct > 0 || d->cfg.rate_bps > 0;
    d->rx_fd = rx_fd;
    d->tx_fd = tx_fd;
    d->rx_bufs = malloc((size_t)BATCH * MAX_DGRAM);
    if (!d->rx_bufs)
        return false;
    for (unsigned i = 0; i < BATCH; i++) {
        d->rx_iov[i].iov_base = d->rx_bufs + (size_t)i * MAX_DGRAM;
        d->rx_iov[i].iov_len = MAX_DGRAM;
        struct msghdr *h = &d->rx_msgs[i].msg_hdr;
        memset(h, 0, sizeof *h);
        h->msg_iov = &d->rx_iov[i];
        h->msg_iovlen = 1;
        h->msg_name = d->is_down ? NULL : &d->rx_addr[i];
    }
    if (d->queued) {
        d->heap.v = malloc(sizeof *d->heap.v * TOTAL_SLOTS);
        if (!d->heap.v || !pool_init(&d->pool))
            return false;
    }
    ev_io_init(&d->rx_watcher, rx_cb, rx_fd, EV_READ);
    d->rx_watcher.data = d;
    ev_timer_init(&d->egress_timer, egress_cb, 0.0, 0.0);
    d->egress_timer.data = d;
    ev_io_start(a->loop, &d->rx_watcher);
    return true;
}

static void dir_free(struct direction *d)
{
    free(d->rx_bufs);
    free(d->heap.v);
    pool_free(&d->pool);
}

static void start_signal(struct app *a, ev_signal *w,
                         void (*cb)(struct ev_loop *, ev_signal *, int), int signum)
{
    ev_signal_init(w, cb, signum);
    w->data = a;
    ev_signal_start(a->loop, w);
}

static void start_timer(struct app *a, ev_timer *w,
                        void (*cb)(struct ev_loop *, ev_timer *, int), double after_s)
{
    ev_timer_init(w, cb, after_s, 0.0);
    w->data = a;
    ev_timer_start(a->loop, w);
}

static void setup_schedule(struct app *a)
{
    const struct options *o = &a->opt;
    if (o->duration_s > 0)
        start_timer(a, &a->duration_timer, duration_cb, o->duration_s);
    if (o->bh_after_s < 0 && o->bh_for_s < 0)
        return;
    double on_s = o->bh_after_s < 0 ? 0 : o->bh_after_s;
    if (on_s == 0)
        a->blackhole = true; /* from the very first packet */
    else
        start_timer(a, &a->bh_on_timer, bh_on_cb, on_s);
    if (o->bh_for_s >= 0)
        start_timer(a, &a->bh_off_timer, bh_off_cb, on_s + o->bh_for_s);
}

static uint64_t default_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mix = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    mix ^= (uint64_t)getpid() << 32;
    return splitmix64(&mix);
}

static int open_sockets(struct app *a)
{
    a->listen_fd = open_listen_socket(&a->opt);
    if (a->listen_fd < 0)
        return a->listen_fd == -2 ? 2 : 1;
    a->target_fd = open_target_socket(&a->opt);
    if (a->target_fd < 0)
        return a->target_fd == -2 ? 2 : 1;
    set_socket_buffers(a->listen_fd);
    set_socket_buffers(a->target_fd);
    return 0;
}

static int run(struct app *a)
{
    int rc = open_sockets(a);
    if (rc == 2)
        usage(stderr);
    if (rc != 0)
        return rc;
    a->loop = ev_default_loop(EVFLAG_AUTO);
    if (!a->loop) {
        fprintf(stderr, "impair: cannot create event loop\n");
        return 1;
    }
    if (!dir_init(a, DIR_UP, a->listen_fd, a->target_fd) ||
        !dir_init(a, DIR_DOWN, a->target_fd, a->listen_fd)) {
        fprintf(stderr, "impair: out of memory\n");
        return 1;
    }
    uint64_t seed = a->opt.seed_given ? a->opt.seed : default_seed();
    for (int i = 0; i < DIR_COUNT; i++)
        rng_seed(a->dir[i].rng, seed + (uint64_t)i); /* splitmix spreads them */
    start_signal(a, &a->sig_usr1, sig_usr1_cb, SIGUSR1);
    start_signal(a, &a->sig_usr2, sig_usr2_cb, SIGUSR2);
    start_signal(a, &a->sig_int, sig_stop_cb, SIGINT);
    start_signal(a, &a->sig_term, sig_stop_cb, SIGTERM);
    setup_schedule(a);
    /* Printed only once signals are handled, so a reader may signal at once. */
    print_listening(a);
    if (!a->opt.quiet)
        fprintf(stderr, "impair: seed=%" PRIu64 "%s\n", seed,
                a->blackhole ? " (blackhole on)" : "");
    ev_run(a->loop, 0);
    print_stats(a);
    return 0;
}

static void cleanup(struct app *a)
{
    for (int i = 0; i < DIR_COUNT; i++)
        dir_free(&a->dir[i]);
    if (a->loop)
        ev_loop_destroy(a->loop);
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    if (a->target_fd >= 0)
        close(a->target_fd);
}

int main(int argc, char **argv)
{
    struct app *a = &g_app;
    a->listen_fd = a->target_fd = -1;
    int prc = parse_args(argc, argv, &a->opt);
    if (prc == 1) {
        usage(stdout);
        return 0;
    }
    if (prc < 0) {
        usage(stderr);
        return 2;
    }
    int rc = run(a);
    cleanup(a);
    return rc;
}
