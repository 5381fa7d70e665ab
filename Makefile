# mprelay: one plain Makefile. `make` builds, `make check` tests, `make demo`
# shows it working; both install missing Debian packages first (as root).
# Quiet by default; V=1 shows the commands.

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
CC ?= cc
PYTHON ?= /usr/bin/python3

B := build
# Debian's libev ships no .pc file: ask pkg-config, fall back to -lev.
EV_CFLAGS := $(shell pkg-config --cflags libev 2>/dev/null)
EV_LIBS := $(shell pkg-config --libs libev 2>/dev/null || echo -lev)
CRYPTO_CFLAGS := $(shell pkg-config --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
LIBS := $(EV_LIBS) $(CRYPTO_LIBS) -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wcast-qual -Wformat=2 -Wvla
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -iquote common $(EV_CFLAGS) $(CRYPTO_CFLAGS) $(CFLAGS) -MMD -MP
SAN := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

Q := $(if $(V),,@)
say = $(if $(V),,@printf '  %-6s %s\n' $(1) $(2);)

COMMON_SRC := $(wildcard common/*.c)
CLIENT_SRC := $(COMMON_SRC) $(wildcard mpclient/*.c)
SERVER_SRC := $(COMMON_SRC) $(wildcard mpserver/*.c)
UNIT_TESTS := $(patsubst test/unit/%.c,%,$(wildcard test/unit/test_*.c))

obj = $(patsubst %.c,$(1)/obj/%.o,$(2))

.PHONY: all deps check unit tools-test integration netns bond demo bench bench-readme \
	install uninstall clean
all: $(B)/mpclient $(B)/mpserver $(B)/impair $(B)/udpblast

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
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LIBS)
$(B)/mpserver: $(call obj,$(B),$(SERVER_SRC))
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LIBS)
$(B)/impair: $(B)/obj/test/tools/impair.o
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(EV_LIBS) -lm

$(B)/udpblast: $(B)/obj/test/tools/udpblast.o
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(B)/micro: $(B)/obj/bench/micro.o $(call obj,$(B),$(COMMON_SRC))
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LIBS)

$(B)/asan/mpclient: $(call obj,$(B)/asan,$(CLIENT_SRC))
	$(call say,LD-SAN,$@)
	$(Q)$(CC) $(SAN) $^ -o $@ $(LIBS)
$(B)/asan/mpserver: $(call obj,$(B)/asan,$(SERVER_SRC))
	$(call say,LD-SAN,$@)
	$(Q)$(CC) $(SAN) $^ -o $@ $(LIBS)

# ---- unit tests (cmocka), plain and under ASan/UBSan ----------------------
$(B)/unit/%: test/unit/%.c $(call obj,$(B),$(COMMON_SRC))
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ -o $@ -lcmocka $(LIBS)
$(B)/asan/unit/%: test/unit/%.c $(call obj,$(B)/asan,$(COMMON_SRC))
	$(call say,LD-SAN,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) $^ -o $@ -lcmocka $(LIBS)

# Unit tests of mpserver's own files link them too.
$(B)/unit/test_route: $(B)/obj/mpserver/route.o
$(B)/asan/unit/test_route: $(B)/asan/obj/mpserver/route.o
$(B)/unit/test_route $(B)/asan/unit/test_route: ALL_CFLAGS += -iquote mpserver

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

# The impairing relay is a test instrument: it is tested before it is trusted.
tools-test: deps $(B)/impair
	$(Q)test/tools/test_impair.sh $(CURDIR)/$(B)/impair

# WireGuard and OpenVPN through the relay, in network namespaces, with ping
# and iperf3 figures against the best path alone (test/netns/netns.sh).
# The optimized programs: the figures include throughput. Skips unless root
# with /dev/net/tun: it says SKIPPED (exit 77, not a failure here).
netns: deps all
	$(Q)test/netns/netns.sh $(CURDIR)/$(B) $(CURDIR)/$(B)/netns-summary.txt || \
		{ rc=$$?; [ $$rc -eq 77 ] && echo "== netns SKIPPED: make check did not run it" \
			|| exit $$rc; }

check: unit tools-test fuzz-regress fuzz-check integration netns bond

# Bonding: WireGuard through mprelay over three uplinks of unequal rate and
# delay, against the sum of their rates and the fastest uplink alone, with
# issue 11's targets as bounds (test/netns/bond.sh; MODES="bond adaptive"
# chooses the modes, BOND_ASSERT=0 only prints). The optimized programs.
# Skips unless root with /dev/net/tun: it says SKIPPED (exit 77, not a
# failure here).
bond: deps all
	$(Q)test/netns/bond.sh $(CURDIR)/$(B) $(CURDIR)/$(B)/bond.json || \
		{ rc=$$?; [ $$rc -eq 77 ] && echo "== bond SKIPPED: not run" || exit $$rc; }

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

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/mprelay \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(B)/mpclient $(B)/mpserver $(DESTDIR)$(PREFIX)/bin/
	install -m 644 conf/mpclient.conf $(DESTDIR)$(SYSCONFDIR)/mprelay/mpclient.conf.sample
	install -m 644 conf/mpserver.conf $(DESTDIR)$(SYSCONFDIR)/mprelay/mpserver.conf.sample
	sed 's|@BINDIR@|$(PREFIX)/bin|; s|@SYSCONFDIR@|$(SYSCONFDIR)|' conf/mpclient@.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/mpclient@.service
	sed 's|@BINDIR@|$(PREFIX)/bin|; s|@SYSCONFDIR@|$(SYSCONFDIR)|' conf/mpserver@.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/mpserver@.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/mpclient $(DESTDIR)$(PREFIX)/bin/mpserver \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/mpclient@.service \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/mpserver@.service

clean:
	rm -rf $(B)

include test/fuzz/fuzz.mk
fuzz-regress fuzz-check fuzz: deps

-include $(shell find $(B) -name '*.d' 2>/dev/null)
