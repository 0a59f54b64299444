SHELL := /bin/bash
# onair — plain GNU make + pkg-config.
#   make            build/onair
#   make asan       build/asan/onair (AddressSanitizer + UBSan)
#   make unit       cmocka unit tests
#   make e2e        pytest end-to-end tests against build/onair
#   make fuzz       libFuzzer targets, each run briefly
#   make test       deps + all of the above + e2e under ASan
#   make run        deps + build + serve with defaults

CC      ?= cc
PKGS    := libuv jansson sqlite3 libssl libcrypto libcurl libavformat libavcodec libavutil libswscale libswresample srt zlib
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lpthread -lm
PYTHON  := /usr/bin/python3
# Tests wait on real-time encoders more than they compute: a few files run
# side by side (each file in one worker; every server picks its own ports).
E2E_JOBS ?= 3
E2E_ASAN_JOBS ?= 2
PYTEST  := $(PYTHON) -m pytest -q -p no:cacheprovider --dist loadfile

SRCS     := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS     := $(SRCS:%.c=build/obj/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=build/obj/%.o)
ASAN_OBJS:= $(SRCS:%.c=build/asan-obj/%.o)
UNIT_SRCS:= $(wildcard tests/unit/test_*.c)
UNIT_BINS:= $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
FUZZ_SRCS:= $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS:= $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all asan unit e2e e2e-asan fuzz test run deps clean
# keep every object (fuzz objects are otherwise "intermediate" and deleted)
.SECONDARY:

all: build/onair

deps:
	@scripts/install-deps.sh

build/onair: $(OBJS)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

asan: build/asan/onair

build/asan/onair: $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

build/asan-obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (asan)"
	@$(CC) $(CFLAGS) $(ASAN_FLAGS) -MMD -MP -c -o $@ $<

build/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	@$(CC) $(CFLAGS) -Wno-unused-parameter -o $@ $< $(LIB_OBJS) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t; done

e2e: build/onair
	ONAIR_BIN=$(CURDIR)/build/onair $(PYTEST) -n $(E2E_JOBS) tests/e2e

e2e-asan: build/asan/onair
	ONAIR_BIN=$(CURDIR)/build/asan/onair ONAIR_ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(PYTEST) -n $(E2E_ASAN_JOBS) tests/e2e

# libFuzzer: clang-14 instruments every library source once, then each
# target links against those objects.
FUZZ_CC    := clang-14
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Isrc -fsanitize=address,undefined -fno-sanitize-recover=undefined \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_OBJS  := $(LIB_SRCS:%.c=build/fuzz-obj/%.o)
FUZZ_SECONDS ?= 10

build/fuzz-obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (fuzz)"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build/fuzz/%: fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ  $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

# Each target is one process on one core: they run side by side, one per
# core (fuzz-run/NAME), so adding targets costs less wall time.
fuzz: $(FUZZ_BINS)
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) $(FUZZ_BINS:build/fuzz/%=fuzz-run/%)

fuzz-run/%: build/fuzz/%
	@mkdir -p build/fuzz-corpus/$*
	@seeds=""; [ -d fuzz/corpus/$* ] && seeds=fuzz/corpus/$*; \
	  build/fuzz/$* -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 build/fuzz-corpus/$* $$seeds \
	    > build/fuzz-corpus/$*.log 2>&1 || { echo "== $* FAILED"; tail -n 40 build/fuzz-corpus/$*.log; exit 1; }; \
	  echo "== $* ($(FUZZ_SECONDS)s): $$(tail -n 1 build/fuzz-corpus/$*.log)"

# Building is parallel (every core); running stays one suite at a time.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: deps
	$(MAKE) -j$(BUILD_JOBS) all asan $(UNIT_BINS) $(FUZZ_BINS)
	$(MAKE) unit
	$(MAKE) fuzz
	$(MAKE) e2e
	$(MAKE) e2e-asan

run: deps
	$(MAKE) all
	./build/onair serve

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
