# test/fuzz/fuzz.mk: libFuzzer harnesses for the parsers in common/.
# Included by the top-level Makefile (after B, WARN, Q and say are defined):
#
#   make fuzz-regress       replay the committed corpora once (seconds; part
#                           of `make check`); fails on any crash
#   make fuzz-check         fuzz each target FUZZ_CHECK_SECONDS (default 20)
#                           from a fresh copy of its committed corpus (part of
#                           `make check`: a harness that no longer fits the
#                           protocol, or a parser that breaks, fails CI, which
#                           replaying known inputs alone would not show)
#   make fuzz               fuzz each target FUZZ_SECONDS (default 60) on a
#                           scratch corpus under $(B)/fuzz/ that grows from
#                           run to run
#   make fuzz FUZZ_SECONDS=600 FUZZ_FLAGS=-fork=4   (longer, on 4 cores)
#
# Needs clang with its libFuzzer runtime (Debian: clang, libclang-rt-dev or
# libclang-rt-14-dev). Crash inputs land in $(B)/fuzz/artifacts/; replay one
# with `$(B)/fuzz/fuzz_wire FILE`. The committed corpora are only ever read.
# Every path is relative to the repository root, where make runs.

CLANG ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 20
FUZZ_FLAGS ?=

FUZZ_DIR := test/fuzz
FUZZ_OUT := $(B)/fuzz
# The project's warnings apply, minus one clang-only complaint: clang flags
# vsnprintf(fmt, ap) inside a function without a format attribute
# (log.c's emit), which gcc's -Wformat=2 accepts. common/ is searched for
# "quoted" includes only, as in ALL_CFLAGS: common/sched.h must not stand
# in for <sched.h>.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -iquote common -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer $(WARN) -Wno-format-nonliteral
FUZZ_ENV := ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Each harness is compiled together with the common/ sources it needs
# (clang, instrumented; the gcc objects under $(B)/obj are not reused).
FUZZ_wire_SRC := $(addprefix common/,wire.c crc32c.c seq.c window.c rand.c log.c ratelimit.c health.c pmtu.c)
FUZZ_wire_LIBS := -lm
FUZZ_config_SRC := $(addprefix common/,config.c line.c log.c ratelimit.c)
FUZZ_sealed_SRC := $(addprefix common/,wire.c crc32c.c crypto.c handshake.c rand.c log.c ratelimit.c health.c pmtu.c)
FUZZ_ip_SRC := $(addprefix common/,ip.c)
FUZZ_optfile_SRC := $(addprefix common/,optfile.c line.c log.c ratelimit.c peers.c ip.c noise.c crypto.c rand.c)
FUZZ_optfile_LIBS := $(CRYPTO_LIBS)
FUZZ_http_SRC := common/http_parse.c
FUZZ_fec_SRC := common/fec.c
FUZZ_recover_SRC := $(addprefix common/,wire.c crc32c.c rescue.c parity.c fec.c)
FUZZ_noise_SRC := $(addprefix common/,noise.c rand.c log.c ratelimit.c)
FUZZ_hsnoise_SRC := $(addprefix common/,hsnoise.c noise.c wire.c crc32c.c rand.c log.c ratelimit.c)
FUZZ_wire_MAXLEN := 70000
FUZZ_config_MAXLEN := 4096
FUZZ_sealed_MAXLEN := 70000
FUZZ_ip_MAXLEN := 9000
FUZZ_optfile_MAXLEN := 4096
FUZZ_http_MAXLEN := 5000
FUZZ_fec_MAXLEN := 4096
FUZZ_recover_MAXLEN := 2100
# A mode byte and a message 1 (160 bytes at most), with room to go past it.
FUZZ_noise_MAXLEN := 256
# An initiation (164 bytes) and a mask byte, with room to go past it.
FUZZ_hsnoise_MAXLEN := 256
FUZZ_sealed_LIBS := $(CRYPTO_LIBS) -lm
FUZZ_fec_LIBS := $(ISAL_LIBS)
FUZZ_recover_LIBS := $(ISAL_LIBS)
FUZZ_noise_LIBS := $(CRYPTO_LIBS)
FUZZ_hsnoise_LIBS := $(CRYPTO_LIBS)

FUZZ_NAMES := wire config sealed ip optfile http fec recover noise hsnoise
FUZZERS := $(foreach n,$(FUZZ_NAMES),$(FUZZ_OUT)/fuzz_$(n))

.PHONY: fuzzers fuzz fuzz-regress fuzz-check
fuzzers: $(FUZZERS)

# Headers: common/, the harnesses' own, and test/unit/ip_ref.h (fuzz_ip).
FUZZ_DEPS := $(wildcard common/*.h $(FUZZ_DIR)/*.h) test/unit/ip_ref.h $(FUZZ_DIR)/fuzz.mk
$(FUZZ_OUT)/fuzz_%: $(FUZZ_DIR)/fuzz_%.c $(FUZZ_DEPS) $$(FUZZ_$$*_SRC)
	$(call say,FUZZ-LD,$@)
	@command -v $(CLANG) >/dev/null || { echo "fuzz: '$(CLANG)' not found:" \
		"install clang and its libFuzzer runtime (Debian 12: clang" \
		"libclang-rt-14-dev), or set CLANG=" >&2; exit 1; }
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@ $(FUZZ_$*_LIBS)

# One target's replay of its committed corpus (no mutation, nothing written
# there); its output goes to $(B)/fuzz/regress-NAME.log, shown on failure.
define fuzz_regress_one
	log=$(FUZZ_OUT)/regress-$(1).log; \
	if $(FUZZ_ENV) $(FUZZ_OUT)/fuzz_$(1) -runs=0 -max_len=$(FUZZ_$(1)_MAXLEN) \
		-timeout=10 -artifact_prefix=$(FUZZ_OUT)/artifacts/$(1)- \
		$(FUZZ_DIR)/corpus/$(1) >$$log 2>&1; then \
		echo "== fuzz-regress $(1): $$(ls $(FUZZ_DIR)/corpus/$(1) | wc -l) inputs ok"; \
	else \
		tail -n 60 $$log; echo "== fuzz-regress $(1): FAILED (log: $$log)"; rc=1; \
	fi;
endef

# One target fuzzed: $(1) name, $(2) seconds, $(3) its working corpus
# (seeded from the committed one), $(4) the label of the report lines. A
# crash prints the log's tail and sets rc.
define fuzz_run
	work=$(3); log=$(FUZZ_OUT)/$(4)-$(1).log; \
	mkdir -p $$work && cp -R $(FUZZ_DIR)/corpus/$(1)/. $$work/ || exit 1; \
	echo "== $(4) $(1): fuzzing $(2) s (log: $$log)"; \
	if $(FUZZ_ENV) $(FUZZ_OUT)/fuzz_$(1) $$work \
		-max_total_time=$(2) -max_len=$(FUZZ_$(1)_MAXLEN) \
		-timeout=10 -print_final_stats=1 \
		$(if $(wildcard $(FUZZ_DIR)/$(1).dict),-dict=$(FUZZ_DIR)/$(1).dict) \
		-artifact_prefix=$(FUZZ_OUT)/artifacts/$(1)- \
		$(FUZZ_FLAGS) >$$log 2>&1; then \
		runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
		per_s=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log); \
		new=$$(sed -n 's/^stat::new_units_added: *//p' $$log); \
		echo "== $(4) $(1): $(2) s, $$runs runs ($$per_s/s), $$new new units," \
			"no crash; $$(ls $$work | wc -l) files in $$work"; \
	else \
		tail -n 80 $$log; \
		echo "== $(4) $(1): CRASH, input in $(FUZZ_OUT)/artifacts/ (log: $$log)"; rc=1; \
	fi;
endef

fuzz-regress: $(FUZZERS)
	$(Q)mkdir -p $(FUZZ_OUT)/artifacts; rc=0; \
	$(foreach n,$(FUZZ_NAMES),$(call fuzz_regress_one,$(n))) exit $$rc

# The check's corpora start afresh from the committed ones every time, so
# that a run says the same of the same tree. FUZZ_CHECK_JOBS targets at
# once (each fuzzer takes one CPU; 2 halves the check on the 2-CPU VM);
# every one runs, and any crash fails the check.
FUZZ_CHECK_JOBS ?= 2
fuzz-check: $(FUZZERS)
	$(Q)mkdir -p $(FUZZ_OUT)/artifacts; rm -rf $(FUZZ_OUT)/check
	$(Q)$(MAKE) --no-print-directory -k -j$(FUZZ_CHECK_JOBS) $(addprefix fuzz-check-,$(FUZZ_NAMES))

.PHONY: $(addprefix fuzz-check-,$(FUZZ_NAMES))
$(addprefix fuzz-check-,$(FUZZ_NAMES)): fuzz-check-%: $(FUZZ_OUT)/fuzz_%
	$(Q)rc=0; $(call fuzz_run,$*,$(FUZZ_CHECK_SECONDS),$(FUZZ_OUT)/check/$*,fuzz-check) exit $$rc

fuzz: $(FUZZERS)
	$(Q)mkdir -p $(FUZZ_OUT)/artifacts; rc=0; \
	$(foreach n,$(FUZZ_NAMES),$(call fuzz_run,$(n),$(FUZZ_SECONDS),$(FUZZ_OUT)/corpus/$(n),fuzz)) \
	exit $$rc
