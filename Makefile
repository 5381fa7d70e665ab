# mprelay: one plain Makefile. `make` builds, `make check` tests, `make demo`
# shows it working; both install missing Debian packages first (as root).
# Quiet by default; V=1 shows the commands.
# Packagers: CPPFLAGS, CFLAGS and LDFLAGS are honoured; WERROR=0 keeps a new
# compiler's new warning from failing a build (developers keep -Werror).

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=
WERROR ?= 1
CC ?= cc
PYTHON ?= /usr/bin/python3

B := build
# Debian's libev ships no .pc file: ask pkg-config, fall back to -lev.
EV_CFLAGS := $(shell pkg-config --cflags libev 2>/dev/null)
EV_LIBS := $(shell pkg-config --libs libev 2>/dev/null || echo -lev)
CRYPTO_CFLAGS := $(shell pkg-config --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
# ISA-L (erasure coding, fec.c): Debian ships its .pc file; -lisal without.
ISAL_LIBS := $(shell pkg-config --libs libisal 2>/dev/null || echo -lisal)
LIBS := $(EV_LIBS) $(CRYPTO_LIBS) $(ISAL_LIBS) -lm

WARN := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wcast-qual -Wformat=2 -Wvla
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -iquote common $(EV_CFLAGS) $(CRYPTO_CFLAGS) \
	$(CPPFLAGS) $(CFLAGS) -MMD -MP
# The sanitized builds are the test builds: they also carry the test-only
# hooks (MP_TEST_HOOKS: mpclient/noisekeys.c's key log), which release
# builds never have.
SAN := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -DMP_TEST_HOOKS

Q := $(if $(V),,@)
say = $(if $(V),,@printf '  %-6s %s\n' $(1) $(2);)

COMMON_SRC := $(wildcard common/*.c)
CLIENT_SRC := $(COMMON_SRC) $(wildcard mpclient/*.c)
SERVER_SRC := $(COMMON_SRC) $(wildcard mpserver/*.c)
UNIT_TESTS := $(patsubst test/unit/%.c,%,$(wildcard test/unit/test_*.c))

obj = $(patsubst %.c,$(1)/obj/%.o,$(2))

# The systemd units, rendered for a BINDIR ($(1)) and SYSCONFDIR ($(2)) for
# the check of what `make install` installs (install renders them itself).
UNIT_NAMES := $(notdir $(wildcard conf/*.service))
render_unit = sed 's|@BINDIR@|$(1)|g; s|@SBINDIR@|$(1)|g; s|@SYSCONFDIR@|$(2)|g'

.PHONY: all deps check unit tools-test units units-run routes integration netns bond demo bench \
	bench-readme install uninstall install-test man-lint deb clean
all: $(B)/mpclient $(B)/mpserver $(B)/impair $(B)/udpblast $(B)/noise_peer $(B)/sockbuf

.SECONDEXPANSION:

# ---- programs, normal and sanitized ---------------------------------------
$(B)/obj/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/asan/obj/%.o: %.c
	$(call say,CC-SAN,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) -c $< -o $@

$(B)/mpclient: $(call obj,$(B),$(CLIENT_SRC))
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)
$(B)/mpserver: $(call obj,$(B),$(SERVER_SRC))
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)
$(B)/impair: $(B)/obj/test/tools/impair.o
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(EV_LIBS) -lm

$(B)/udpblast: $(B)/obj/test/tools/udpblast.o
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@

$(B)/sockbuf: $(B)/obj/test/tools/sockbuf.o
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@

# One side of a Noise handshake over stdin/stdout, for test_noise.py.
$(B)/noise_peer: $(B)/obj/test/tools/noise_peer.o $(call obj,$(B),$(COMMON_SRC))
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(B)/micro: $(B)/obj/bench/micro.o $(call obj,$(B),$(COMMON_SRC))
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(B)/asan/mpclient: $(call obj,$(B)/asan,$(CLIENT_SRC))
	$(call say,LD-SAN,$@)
	$(Q)$(CC) $(SAN) $(LDFLAGS) $^ -o $@ $(LIBS)
$(B)/asan/mpserver: $(call obj,$(B)/asan,$(SERVER_SRC))
	$(call say,LD-SAN,$@)
	$(Q)$(CC) $(SAN) $(LDFLAGS) $^ -o $@ $(LIBS)

# ---- unit tests (cmocka), plain and under ASan/UBSan ----------------------
$(B)/unit/%: test/unit/%.c $(call obj,$(B),$(COMMON_SRC))
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ -lcmocka $(LIBS)
$(B)/asan/unit/%: test/unit/%.c $(call obj,$(B)/asan,$(COMMON_SRC))
	$(call say,LD-SAN,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) $(LDFLAGS) $^ -o $@ -lcmocka $(LIBS)

# Unit tests of mpserver's own files link them too.
$(B)/unit/test_route: $(B)/obj/mpserver/route.o
$(B)/asan/unit/test_route: $(B)/asan/obj/mpserver/route.o
$(B)/unit/test_route $(B)/asan/unit/test_route: ALL_CFLAGS += -iquote mpserver
$(B)/unit/test_cookie: $(B)/obj/mpserver/cookie.o
$(B)/asan/unit/test_cookie: $(B)/asan/obj/mpserver/cookie.o
$(B)/unit/test_cookie $(B)/asan/unit/test_cookie: ALL_CFLAGS += -iquote mpserver

# ---- targets people run ----------------------------------------------------
deps:
	$(Q)scripts/deps.sh

unit: deps $(addprefix $(B)/unit/,$(UNIT_TESTS)) $(addprefix $(B)/asan/unit/,$(UNIT_TESTS))
	$(Q)set -e; for t in $(UNIT_TESTS); do \
		echo "== unit $$t"; $(B)/unit/$$t; \
		echo "== unit $$t (ASan/UBSan)"; $(B)/asan/unit/$$t; \
	done

# The integration tests run the sanitized programs: a crash, a leak or
# undefined behaviour under junk input fails the run. Skipped tests (no root
# or /dev/net/tun) are listed with their reason; MP_REQUIRE_ALL=1 (CI) makes
# a skip, here and in netns, a failure.
integration: deps all $(B)/asan/mpclient $(B)/asan/mpserver
	$(Q)MP_BIN=$(CURDIR)/$(B)/asan MP_TOOLS=$(CURDIR)/$(B) \
		$(PYTHON) -m pytest -q -rfEs -p no:cacheprovider test/integration

# The impairing relay and sockbuf are test instruments: tested before they
# are trusted (sockbuf skips, exit 77, unless root: as netns).
tools-test: deps $(B)/impair $(B)/sockbuf
	$(Q)test/tools/test_impair.sh $(CURDIR)/$(B)/impair
	$(Q)test/tools/test_sockbuf.sh $(CURDIR)/$(B)/sockbuf || \
		{ rc=$$?; [ $$rc -eq 77 ] && echo "== sockbuf test SKIPPED: make check did not run it" \
			|| exit $$rc; }

# WireGuard and OpenVPN through the relay, in network namespaces, with ping
# and iperf3 figures against the best path alone (test/netns/netns.sh).
# The optimized programs: the figures include throughput. Skips unless root
# with /dev/net/tun: it says SKIPPED (exit 77, not a failure here).
netns: deps all
	$(Q)test/netns/netns.sh $(CURDIR)/$(B) $(CURDIR)/$(B)/netns-summary.txt || \
		{ rc=$$?; [ $$rc -eq 77 ] && echo "== netns SKIPPED: make check did not run it" \
			|| exit $$rc; }

# The systemd units as installed, run on the programs just built:
# `systemd-analyze verify` without a complaint and a security exposure of
# at most 3.0 each (test/units/check_units.sh).
units: deps all
	$(Q)rm -rf $(B)/units && mkdir -p $(B)/units
	$(Q)for u in $(UNIT_NAMES); do \
		$(call render_unit,$(CURDIR)/$(B),/etc) conf/$$u >$(B)/units/$$u || exit 1; done
	$(Q)test/units/check_units.sh $(B)/units || { rc=$$?; [ $$rc -eq 77 ] || exit $$rc; }

# The same units run by this machine's systemd, booted as PID 1 of new
# namespaces on a throwaway overlay of / (test/units/run_units.sh): readiness,
# keys as credentials, status sockets, tun, traffic. Root only; else SKIPPED.
units-run: units
	$(Q)test/units/run_units.sh $(B)/units || { rc=$$?; [ $$rc -eq 77 ] || exit $$rc; }

# scripts/mprelay-routes up and down, each twice, in a namespace of its own
# (test/routes/test_mprelay_routes.sh). Skips unless root: it says SKIPPED
# (exit 77, not a failure here; MP_REQUIRE_ALL=1 makes it one).
routes: deps
	$(Q)test/routes/test_mprelay_routes.sh || { rc=$$?; [ $$rc -eq 77 ] || exit $$rc; }

check: unit tools-test units units-run routes fuzz-regress fuzz-check integration netns bond \
	man-lint install-test deb

# Bonding: WireGuard through mprelay over three uplinks of unequal rate and
# delay, against the sum of their rates and the fastest uplink alone, with
# issue 11's targets as bounds (test/netns/bond.sh; MODES="bond adaptive"
# chooses the modes, BOND_ASSERT=0 only prints); then bond alone over the
# same uplinks losing 1/2/3 % (issue 12). The optimized programs.
# Skips unless root with /dev/net/tun: it says SKIPPED (exit 77, not a
# failure here).
bond: deps all
	$(Q)run() { test/netns/bond.sh $(CURDIR)/$(B) "$$1"; }; \
	pass() { rc=0; run "$$1" || rc=$$?; \
		for again in 1 2; do [ $$rc -eq 75 ] || break; \
			echo "== bond: run again (host stall, above)"; rc=0; \
			if [ $$again -eq 2 ]; then BOND_RERUN=1 run "$$1" || rc=$$?; \
			else run "$$1" || rc=$$?; fi; \
		done; \
		[ $$rc -eq 0 ] || { [ $$rc -eq 77 ] && echo "== bond SKIPPED: not run" || return $$rc; }; }; \
	pass $(CURDIR)/$(B)/bond.json || exit $$?; \
	echo "== bond: over the same uplinks losing 1/2/3 %"; \
	BOND_LOSS="1 2 3" MODES=bond RATE_MODES= ASSERT_MODES=bond; \
	export BOND_LOSS MODES RATE_MODES ASSERT_MODES; \
	pass $(CURDIR)/$(B)/bond-lossy.json

demo: deps all
	$(Q)scripts/demo.sh $(B)

# Throughput, CPU per packet, latency and memory against a chain of plain
# batched relays, plaintext and with a key (bench/README.md). Each run goes
# to $(B)/bench/<UTC date>/, $(B)/bench/latest the newest; nothing tracked
# changes. ROUNDS=N and DURATION_S=S tune it, BENCH_ARGS adds run.py options.
bench: all $(B)/micro
	$(Q)scripts/deps.sh bench
	$(Q)$(PYTHON) bench/run.py $(B) $(BENCH_ARGS)

# The README's tables and docs/bench.png from the latest run, to be
# reviewed and committed: its figures change only on purpose.
bench-readme:
	$(Q)$(PYTHON) bench/run.py $(B) --readme

# ---- install ---------------------------------------------------------------
# The programs and scripts are administration tools (section 8): sbin. The
# units come from conf/ with their @DIR@ placeholders filled in; every sample
# config conf/NAME.conf goes to $(SYSCONFDIR)/mprelay/NAME.conf.sample.
# `make uninstall` removes exactly INSTALLED (and the mprelay directory in
# $(SYSCONFDIR) if that leaves it empty); make install-test checks it.
PROGRAMS := mpclient mpserver
SCRIPTS := scripts/mpstat scripts/mprelay-routes
MAN5 := $(wildcard man/*.5)
MAN8 := $(wildcard man/*.8)
UNITS := $(wildcard conf/*.service)
SAMPLES := $(wildcard conf/*.conf)
UNIT_SUBST := s|@BINDIR@|$(SBINDIR)|g; s|@SBINDIR@|$(SBINDIR)|g; \
	s|@SYSCONFDIR@|$(SYSCONFDIR)|g
INSTALLED := $(addprefix $(SBINDIR)/,$(PROGRAMS) $(notdir $(SCRIPTS))) \
	$(addprefix $(MANDIR)/man5/,$(notdir $(MAN5))) \
	$(addprefix $(MANDIR)/man8/,$(notdir $(MAN8))) \
	$(addprefix $(SYSTEMDUNITDIR)/,$(notdir $(UNITS))) \
	$(patsubst conf/%,$(SYSCONFDIR)/mprelay/%.sample,$(SAMPLES))

install: $(addprefix $(B)/,$(PROGRAMS))
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/mprelay
	install -m 755 $(addprefix $(B)/,$(PROGRAMS)) $(SCRIPTS) $(DESTDIR)$(SBINDIR)/
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(foreach u,$(UNITS),sed '$(UNIT_SUBST)' $(u) > $(DESTDIR)$(SYSTEMDUNITDIR)/$(notdir $(u)) && \
		chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$(notdir $(u)) &&) true
	$(foreach c,$(SAMPLES),install -m 644 $(c) $(DESTDIR)$(SYSCONFDIR)/mprelay/$(notdir $(c)).sample &&) true

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	[ ! -d $(DESTDIR)$(SYSCONFDIR)/mprelay ] || \
		rmdir --ignore-fail-on-non-empty $(DESTDIR)$(SYSCONFDIR)/mprelay

# Install into a scratch DESTDIR and uninstall: every file in place, no
# placeholder left in a unit, nothing left behind; and the packager's
# CPPFLAGS, LDFLAGS and WERROR=0 reach the compile and link lines.
install-test: $(addprefix $(B)/,$(PROGRAMS))
	$(Q)test/pkg/install.sh

# The man pages: any mandoc warning (bad macro, bad date, missing
# argument...) fails, and so does an option of a program's --help, or a key
# of the config parser, without its entry in the page.
man-lint: deps $(addprefix $(B)/,$(PROGRAMS))
	$(Q)mandoc -T lint -W warning $(MAN5) $(MAN8) && \
		echo "== man-lint: $(words $(MAN5) $(MAN8)) pages clean"
	$(Q)test/pkg/man-options.sh $(B)

# The Debian package built from a copy of the tree, checked by lintian,
# installed, run and purged (test/pkg/deb.sh; it installs its tools with
# scripts/deps.sh pkg). Skips unless root: it says SKIPPED (exit 77, not a
# failure here; MP_REQUIRE_ALL=1 makes it one).
deb:
	$(Q)test/pkg/deb.sh || \
		{ rc=$$?; [ $$rc -eq 77 ] && echo "== deb SKIPPED: make check did not run it" \
			|| exit $$rc; }

clean:
	rm -rf $(B)

include test/fuzz/fuzz.mk
fuzz-regress fuzz-check fuzz: deps

-include $(shell find $(B) -name '*.d' 2>/dev/null)
