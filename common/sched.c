/* Path choice per datagram; O(paths) per call, no allocation. Path health
 * is not decided here: the caller passes the usable set and what it has
 * measured; the ranking and the adaptive weights are computed once per
 * change in sched_view_build, not per datagram. */
#include "sched.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {
	[SCHED_DUPLICATE] = "duplicate",
	[SCHED_ROUNDROBIN] = "roundrobin",
	[SCHED_WEIGHTED] = "weighted",
	[SCHED_ADAPTIVE] = "adaptive",
	[SCHED_BOND] = "bond",
};

int sched_mode_parse(const char *s, enum sched_mode *out)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum sched_mode)i;
			return 0;
		}
	return -1;
}

const char *sched_mode_name(enum sched_mode m)
{
	return names[m];
}

void sched_init(struct sched *s, enum sched_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->copies = 1;
}

static uint32_t pick_roundrobin(struct sched *s, uint32_t usable)
{
	for (unsigned k = 0; k < MP_MAX_PATHS; k++) {
		unsigned i = (s->rr_next + k) % MP_MAX_PATHS;
		if (usable & 1u << i) {
			s->rr_next = i + 1;
			return 1u << i;
		}
	}
	return 0;
}

static uint32_t pick_weighted(struct sched *s, uint32_t usable,
			      const unsigned weight[static MP_MAX_PATHS])
{
	int64_t total = 0;
	int best = -1;

	for (int i = 0; i < MP_MAX_PATHS; i++) {
		if (!(usable & 1u << i))
			continue;
		s->credit[i] += weight[i];
		total += weight[i];
		if (best < 0 || s->credit[i] > s->credit[best])
			best = i;
	}
	if (best < 0)
		return 0;
	s->credit[best] -= total;
	return 1u << best;
}

uint32_t sched_pick(struct sched *s, uint32_t usable,
		    const unsigned weight[static MP_MAX_PATHS])
{
	switch (s->mode) {
	case SCHED_ROUNDROBIN:
		return pick_roundrobin(s, usable);
	case SCHED_WEIGHTED:
	case SCHED_ADAPTIVE:
	case SCHED_BOND:		/* only when send.c has no estimate to go by */
		return pick_weighted(s, usable, weight);
	case SCHED_DUPLICATE:
	case SCHED_MODE_COUNT:
		break;
	}
	return usable;
}

static double rtt_s(const struct sched_path *p)
{
	return (p->srtt_us ? p->srtt_us : SCHED_RTT_UNKNOWN_US) / 1e6;
}

/* What a path is worth: the throughput a TCP flow could get over it alone,
 * after Mathis et al. (1997), ~ 1 / (RTT * sqrt(loss)), with floors so a
 * clean or very short path is not worth infinity (5 ms, 0.5 %), times the
 * share cap that shrinks while the path is saturated. Only ratios matter. */
static double quality(const struct sched_path *p)
{
	double q = 1.0 / ((rtt_s(p) + 0.005) * sqrt(p->loss_ppm / 1e6 + 0.005));

	return q * (p->cap_ppm ? p->cap_ppm : 1000000) / 1e6;
}

static void sort_by(uint8_t *order, unsigned n, const double *key)
{
	for (unsigned i = 1; i < n; i++)	/* n <= 16: insertion sort */
		for (unsigned j = i; j > 0 && key[order[j]] < key[order[j - 1]]; j--) {
			uint8_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
}

void sched_view_build(struct sched_view *v, const struct sched *s, uint32_t usable,
		      uint32_t spare, const struct sched_path p[static MP_MAX_PATHS])
{
	double neg_q[MP_MAX_PATHS], rtt[MP_MAX_PATHS], best = 0;

	memset(v, 0, sizeof(*v));
	v->usable = usable;
	v->spare = spare & ~usable;
	for (unsigned i = 0; i < MP_MAX_PATHS; i++) {
		neg_q[i] = -quality(&p[i]);
		rtt[i] = rtt_s(&p[i]);
		v->loss_ppm[i] = p[i].loss_ppm;
		v->weight[i] = p[i].weight ? p[i].weight : 1;
		if ((usable | spare) & 1u << i)
			v->by_quality[v->n_quality++] = (uint8_t)i;
		if (usable & 1u << i) {
			v->by_rtt[v->n_rtt++] = (uint8_t)i;
			if (-neg_q[i] > best)
				best = -neg_q[i];
		}
	}
	sort_by(v->by_quality, v->n_quality, neg_q);
	sort_by(v->by_rtt, v->n_rtt, rtt);
	if (s->mode != SCHED_ADAPTIVE && s->mode != SCHED_BOND)
		return;
	for (unsigned i = 0; i < MP_MAX_PATHS; i++) {
		double w = best > 0 ? -neg_q[i] / best * SCHED_WEIGHT_SCALE : 1;
		v->weight[i] = w < 1 ? 1 : (unsigned)(w + 0.5);
	}
}

uint32_t sched_loss_ppm(const struct sched_view *v, uint32_t mask)
{
	double loss = 1;

	for (unsigned i = 0; i < MP_MAX_PATHS; i++)
		if (mask & 1u << i)
			loss *= v->loss_ppm[i] / 1e6;
	return mask ? (uint32_t)(loss * 1e6 + 0.5) : 1000000;
}

/* Adds the best paths not yet in mask, spares included: `copies` in all,
 * or with SCHED_COPIES_AUTO until the expected loss is under the target. */
static uint32_t add_copies(const struct sched *s, const struct sched_view *v, uint32_t mask)
{
	unsigned have = (unsigned)__builtin_popcount(mask);

	for (unsigned k = 0; k < v->n_quality; k++) {
		if (s->copies == SCHED_COPIES_AUTO) {
			if (sched_loss_ppm(v, mask) <= s->target_loss_ppm)
				break;
		} else if (have >= s->copies) {
			break;
		}
		uint32_t bit = 1u << v->by_quality[k];
		if (!(mask & bit)) {
			mask |= bit;
			have++;
		}
	}
	return mask;
}

int sched_fastest(const struct sched_view *v, uint32_t exclude)
{
	for (unsigned k = 0; k < v->n_rtt; k++)
		if (!(exclude & 1u << v->by_rtt[k]))
			return v->by_rtt[k];
	return -1;
}

uint32_t sched_choose(struct sched *s, const struct sched_view *v, int critical)
{
	uint32_t mask;

	if (s->mode == SCHED_DUPLICATE || !v->usable)
		return v->usable;
	if (critical)
		mask = 1u << v->by_rtt[0];
	else
		mask = sched_pick(s, v->usable, v->weight);
	return s->copies == 1 ? mask : add_copies(s, v, mask);
}
