/* --up/--down: the user's program, run with the tun device's name, MTU and
 * addresses so that it can add routes, firewall rules, DNS. */
#ifndef MP_UPDOWN_H
#define MP_UPDOWN_H

/* Runs prog as "prog DEV MTU [ADDR/PREFIX...]" with the same in the
 * environment (MPRELAY_EVENT=event, MPRELAY_DEV, MPRELAY_MTU,
 * MPRELAY_ADDRS) and waits for it. Returns 0 if it exited 0, else -1
 * (logged). */
int updown_run(const char *prog, const char *event, const char *dev, unsigned mtu,
	     const char *const *addrs, unsigned naddrs);

#endif
