# librespan: plain GNU make, explicit object lists.
#
#   make                      build/librespan.so and build/respan
#   make check                unit tests, end-to-end tests, then the unit tests
#                             again under ASan+UBSan
#   make CC=clang check       the same with clang
#   make SANITIZER=address,undefined   a sanitizer build in $(OUT)/san-*
#   make OUT=build/clang CC=clang      keep another compiler's objects apart
#   make fuzz                 every fuzz target for FUZZ_SECONDS (clang libFuzzer)
#   make fuzz-check           every fuzz target for FUZZ_CHECK_SECONDS, from its seeds
#   make e2e-valgrind         the C clients through the library under valgrind memcheck
#   make tsan                 the threaded end-to-end tests on a ThreadSanitizer build
#   make valgrind             the unit tests under valgrind
#   make install PREFIX=/usr/local DESTDIR=      (and make uninstall, the same way)
#   make deb                  $(OUT)/librespan_VERSION_ARCH.deb
#   make clean                removes $(OUT)

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
PYTHON   ?= /usr/bin/python3
WERROR   ?= 1
SANITIZER ?=
FUZZ_SECONDS ?= 60

OUT      ?= build
comma    := ,
ifeq ($(SANITIZER),)
BUILD    := $(OUT)
SANFLAGS :=
else
BUILD    := $(OUT)/san-$(subst $(comma),-,$(SANITIZER))
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# A preloaded library needs the shared sanitizer runtime (gcc's default).
SAN_SHARED := $(if $(and $(SANITIZER),$(findstring clang,$(CC))),-shared-libasan)
# respan too: the library starts it (the relay, the interception CA) with the
# program's LD_PRELOAD, the shared runtime first; clang's static one would
# refuse to start beside it. The runtime is found through an rpath.
SAN_EXE = $(if $(SAN_SHARED),$(SAN_SHARED) -Wl$(comma)-rpath$(comma)$(dir $(SAN_RUNTIME)))

WARN := -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion \
	-Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings \
	-Wformat=2 -Wundef -Wpointer-arith -Wcast-align -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif

CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) \
	$(SANFLAGS) $(CFLAGS) -Ipreload
LDLIBS_ENGINE := -lcjson -lz -lbrotlidec -lzstd -lpthread

ENGINE_SRCS := \
	preload/buf.c \
	preload/http.c \
	preload/b64.c \
	preload/config.c \
	preload/route.c \
	preload/reqhead.c \
	preload/chunked.c \
	preload/rewriter.c \
	preload/decode.c \
	preload/response.c \
	preload/sse.c \
	preload/usage.c \
	preload/redact.c \
	preload/record.c \
	preload/logfile.c \
	preload/mkdirs.c \
	preload/pembundle.c \
	preload/urlnote.c \
	preload/exchange.c \
	preload/envlayer.c \
	preload/clienthello.c \
	preload/readfile.c \
	preload/envget.c \
	preload/inaddr.c \
	preload/relayname.c \
	preload/proxyurl.c \
	preload/routertls.c \
	preload/tlsdecision.c \
	preload/tunnel.c

HOOK_SRCS := \
	hooks/init.c \
	hooks/environ.c \
	hooks/real.c \
	hooks/dlopen.c \
	hooks/deps.c \
	hooks/lazyrelay.c \
	hooks/routeraddr.c \
	hooks/reportonce.c \
	hooks/freshfd.c \
	hooks/resolver.c \
	hooks/socket.c \
	hooks/sslapi.c \
	hooks/routertrust.c \
	hooks/tlsconn.c \
	hooks/tls.c \
	hooks/tlsio.c \
	hooks/openssl.c \
	hooks/certname.c \
	hooks/gnutlsapi.c \
	hooks/gtlstrust.c \
	hooks/gtls.c \
	hooks/gtlsio.c \
	hooks/gnutls.c \
	hooks/curl.c

UNIT_TESTS := \
	buf http b64 config route reqhead chunked rewriter decode response sse usage \
	redact record logfile urlnote exchange envlayer clienthello peer ldpreload \
	readfile envget inaddr routertls tlsdecision tunnel elfinfo relayname pembundle \
	cassette logfilter quote proxyurl

# elfinfo is respan doctor's ELF reader (cli/elf/elfinfo.c); relay and
# logread are respan's relay checks and log reader (cli/relay, cli/log).
FUZZ_TARGETS := rewriter response sse clienthello elfinfo config route relay logread

ENGINE_OBJS := $(ENGINE_SRCS:%.c=$(BUILD)/%.o)
HOOK_OBJS   := $(HOOK_SRCS:%.c=$(BUILD)/%.o)
ENGINE_LIB  := $(BUILD)/libengine.a
PRELOAD_LIB := $(BUILD)/librespan.so
UNIT_BINS   := $(UNIT_TESTS:%=$(BUILD)/tests/unit/test_%)

# The test clients (not installed).
E2E_CLIENTS := $(BUILD)/tests/clients/ossl_client $(BUILD)/tests/clients/curl_client \
	       $(BUILD)/tests/clients/curl_gnutls_client $(BUILD)/tests/clients/edge_client

# respan: main.c and what its commands share (the version, LD_PRELOAD, the
# PATH search, re-running itself, a child's environment, the router
# connection), then a folder for each command and one for the ELF reader.
# Headers are included relative to cli/ ("elf/elfinfo.h") or, within one
# folder and for the shared ones, by their bare name.
CLI_SRCS := \
	cli/main.c \
	cli/execenv.c \
	cli/ldpreload.c \
	cli/pathsearch.c \
	cli/reexec.c \
	cli/upstream.c \
	cli/run/run.c \
	cli/run/child.c \
	cli/replay/replay.c \
	cli/replay/replayserve.c \
	cli/replay/cassette.c \
	cli/relay/relay.c \
	cli/relay/pump.c \
	cli/relay/peer.c \
	cli/relay/serve.c \
	cli/relay/intercept.c \
	cli/relay/proxy.c \
	cli/ca/ca.c \
	cli/ca/cacmd.c \
	cli/log/log.c \
	cli/log/log_show.c \
	cli/log/log_har.c \
	cli/log/log_summary.c \
	cli/log/logread.c \
	cli/log/logpair.c \
	cli/log/logfilter.c \
	cli/log/log_curl.c \
	cli/log/quote.c \
	cli/doctor/doctor.c \
	cli/doctor/doctor_setup.c \
	cli/doctor/progcheck.c \
	cli/doctor/assess.c \
	cli/elf/elfinfo.c \
	cli/elf/libdeps.c
CLI_BIN := $(BUILD)/respan

.PHONY: all check unit e2e e2e-san sanitize tsan fuzz fuzz-check valgrind e2e-valgrind install uninstall deb clean demo bench
# Keep test objects between runs (they are intermediates of the pattern rules).
.SECONDARY:
all: $(PRELOAD_LIB) $(CLI_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(ENGINE_LIB): $(ENGINE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# Only libc at load time: cJSON, zlib, brotli and zstd are dlopen()ed on
# first need (hooks/deps.c defines their functions for the engine). Lazy
# binding, not -z now: binding all ~90 imports at load cost every process
# about 60,000 instructions, most of them for functions it never calls.
# --sort-section=name puts the big tables marked RESPAN_COLD (.bss.~cold)
# after every other .bss, so start-up touches as few pages as it can
# (preload/cold.h).
$(PRELOAD_LIB): $(HOOK_OBJS) $(ENGINE_LIB) hooks/librespan.map
	$(CC) -shared $(SANFLAGS) $(SAN_SHARED) -Wl,--version-script=hooks/librespan.map \
		-Wl,-z,relro -Wl,--no-undefined -Wl,--sort-section=name \
		-o $@ $(HOOK_OBJS) $(ENGINE_LIB)

$(BUILD)/cli/%.o: ALL_CFLAGS += -Icli

$(CLI_BIN): $(CLI_SRCS:%.c=$(BUILD)/%.o) $(ENGINE_LIB)
	$(CC) $(SANFLAGS) $(SAN_EXE) -o $@ $^ $(LDLIBS_ENGINE) -lssl -lcrypto

# Tests of respan's pure parts: the relay's peer checks, the LD_PRELOAD
# composer, doctor's ELF reader, replay's cassette.
$(BUILD)/tests/unit/test_peer: $(BUILD)/cli/relay/peer.o
$(BUILD)/tests/unit/test_ldpreload: $(BUILD)/cli/ldpreload.o
$(BUILD)/tests/unit/test_elfinfo: $(BUILD)/cli/elf/elfinfo.o
$(BUILD)/tests/unit/test_cassette: $(BUILD)/cli/replay/cassette.o $(BUILD)/cli/log/logread.o \
	$(BUILD)/cli/log/logpair.o
# After the cli objects (listed after the archive in $^): the engine again.
$(BUILD)/tests/unit/test_cassette: LDLIBS_TEST := $(ENGINE_LIB) -lcrypto
# respan log's filters (they read records with logread) and its quoting.
$(BUILD)/tests/unit/test_logfilter: $(BUILD)/cli/log/logfilter.o $(BUILD)/cli/log/logread.o
$(BUILD)/tests/unit/test_logfilter: LDLIBS_TEST := $(ENGINE_LIB)
$(BUILD)/tests/unit/test_quote: $(BUILD)/cli/log/quote.o
$(BUILD)/tests/unit/test_logfilter.o $(BUILD)/tests/unit/test_quote.o: ALL_CFLAGS += -Icli
$(BUILD)/tests/unit/test_peer.o $(BUILD)/tests/unit/test_ldpreload.o \
$(BUILD)/tests/unit/test_elfinfo.o $(BUILD)/tests/unit/test_cassette.o: ALL_CFLAGS += -Icli

# Two helpers every unit test may use: pageguard (input ending at an unmapped
# page) and jsonlines (a log read back).
UNIT_HELPERS := $(BUILD)/tests/unit/pageguard.o $(BUILD)/tests/unit/jsonlines.o

$(BUILD)/tests/unit/test_%: $(BUILD)/tests/unit/test_%.o $(UNIT_HELPERS) $(ENGINE_LIB)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ENGINE) $(LDLIBS_TEST) -lbrotlienc -lcmocka

$(BUILD)/tests/unit/test_clienthello: LDLIBS_TEST := -lssl -lcrypto

$(BUILD)/tests/unit/%.o: ALL_CFLAGS += -Wno-conversion -Wno-sign-conversion -Itests/unit

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# The C test clients: the project's warning set too, no sanitizer (they are
# the programs the library is loaded into).
CLIENT_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN)

$(BUILD)/tests/clients/ossl_client: tests/e2e/clients/ossl_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -o $@ $< -lssl -lcrypto

$(BUILD)/tests/clients/curl_client: tests/e2e/clients/curl_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -o $@ $< -lcurl

$(BUILD)/tests/clients/edge_client: tests/e2e/clients/edge_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -o $@ $< -lssl -lcrypto -lcurl

# The same program on Debian's libcurl built with GnuTLS (libcurl3-gnutls,
# the same API and headers): a libcurl whose TLS the library cannot see.
$(BUILD)/tests/clients/curl_gnutls_client: tests/e2e/clients/curl_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -o $@ $< -l:libcurl-gnutls.so.4

e2e: all $(E2E_CLIENTS)
	@if ls tests/e2e/test_*.py >/dev/null 2>&1; then \
		cd tests/e2e && RESPAN_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider; \
	else echo "e2e: no end-to-end tests yet"; fi

# The sanitizer build of librespan.so runs inside real programs: the ASan
# runtime is preloaded first (clang's must be the shared one), leak checks
# are off (the host programs' own leaks are not ours), and any report fails
# the client, so the test fails. Left out: node (ASan's allocator under a
# JIT is its own project) and the curl command, which hangs in setlocale()
# at start-up with any ASan runtime preloaded, librespan or not (the C
# libcurl client covers libcurl).
SAN_RUNTIME = $(shell $(CC) -print-file-name=$(if $(findstring clang,$(CC)),libclang_rt.$(SAN_RT)-x86_64.so,lib$(SAN_RT).so))
SAN_RT = $(if $(findstring thread,$(SANITIZER)),tsan,asan)
E2E_SAN_TESTS := $(notdir $(wildcard $(addprefix tests/e2e/,test_openssl_clients.py \
	test_python_clients.py test_routing_matrix.py test_layer1_audit.py test_refusals.py \
	test_threads_fork.py test_capture_and_safety.py test_edge_arguments.py \
	test_trust_scope.py)))
# The respan command under ASan+UBSan too: respan run and its relay, the
# library's relay-serve, replay, interception, log and doctor. A report from a
# process nobody reads (relay-serve's stderr is /dev/null) fails the test
# all the same (conftest.py). Left out for what the test itself does: an
# exact LD_PRELOAD value (a sanitizer build's respan run puts its runtime
# first, cli/ldpreload.h), librespan.so preloaded alone (a sanitizer build
# starts only behind its runtime), an environment without ASAN_OPTIONS
# (LeakSanitizer then reports Python's own leaks) and a bound on memory
# (ASan's shadow and quarantine count against it). The Codex CLI's tests run
# here too: its launcher is where the library starts its relay from the
# constructor and hands a static child the proxy (hooks/init.c). Claude Code
# is left out: Bun crashes at start with any ASan runtime preloaded.
E2E_SAN_CLI_TESTS := $(notdir $(wildcard $(addprefix tests/e2e/,test_respan_run.py \
	test_respan_log.py test_respan_doctor.py test_library_relay.py test_interception.py \
	test_interception_ca.py test_egress_proxy.py test_go_client.py test_replay.py \
	test_codex_cli.py)))
E2E_SAN_DESELECT := test_respan_run.py::test_ld_preload_is_prepended \
	test_respan_run.py::test_library_location \
	test_respan_run.py::test_relay_with_librespan_already_preloaded \
	test_respan_run.py::test_relay_to_router_by_address \
	test_respan_doctor.py::test_preloaded_into_doctor \
	test_respan_log.py::test_memory_is_bounded
# `make tsan`: the library and respan built with ThreadSanitizer (gcc's:
# clang 14's shared TSan runtime crashes an uninstrumented Python at
# start-up) in the threaded tests: 64 threads x 50 calls, a thousand
# threads, 16 processes into one log and a fork mid-stream (Python over
# libssl), libcurl's resolver thread (curl_client), and respan run's relay,
# a thread per connection. A report ends the process and fails the test
# (conftest.py). Node is left out: V8 has races of its own.
E2E_TSAN_TESTS := test_threads_fork.py test_openssl_clients.py::test_curl_client \
	test_respan_run.py::test_relay_parallel_connections
# TOOLS_CHECK=0: `make check` without the runs a second compiler's pass
# need not repeat (CI's clang pass): memcheck over the C clients, the TSan
# build and the respan command under ASan+UBSan.
TOOLS_CHECK ?= 1
E2E_SAN_RUN = $(if $(findstring thread,$(SANITIZER)),$(E2E_TSAN_TESTS),$(E2E_SAN_TESTS) \
	$(if $(filter 1,$(TOOLS_CHECK)),$(E2E_SAN_CLI_TESTS)))

sanitize:
	$(MAKE) SANITIZER=address,undefined unit e2e-san

tsan:
	$(MAKE) SANITIZER=thread e2e-san

e2e-san: $(PRELOAD_LIB) $(CLI_BIN) $(E2E_CLIENTS)
	@if [ -z "$(SANITIZER)" ]; then echo "e2e-san: run as make sanitize or make tsan"; exit 2; fi
	cd tests/e2e && RESPAN_BUILD=$(abspath $(BUILD)) RESPAN_SAN_RUNTIME=$(SAN_RUNTIME) \
		$(PYTHON) -m pytest -q -p no:cacheprovider -k "not node" \
		$(addprefix --deselect ,$(E2E_SAN_DESELECT)) $(E2E_SAN_RUN)

check: all unit e2e sanitize fuzz-check $(if $(filter 1,$(TOOLS_CHECK)),e2e-valgrind tsan)
	@echo "check: all green"

# libFuzzer needs clang. The engine (and respan's pure parts: doctor's ELF
# reader, the relay's checks, the log reader and its formats) is built once,
# instrumented, into one archive; each target links it. `make fuzz` runs each
# for FUZZ_SECONDS from its committed seeds, growing a corpus kept in
# $(FUZZ_DIR); `make fuzz-check` (part of `make check`) runs each for
# FUZZ_CHECK_SECONDS from a fresh copy of its seeds, FUZZ_CHECK_JOBS at a
# time, fails if any finds a crash, leak, timeout or broken invariant, and
# ends with each one's executions. FUZZ_CHECK_SECONDS=0 skips it (a second
# compiler's pass: the targets are always built with clang).
FUZZ_CC ?= clang
FUZZ_DIR := $(OUT)/fuzz
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Ipreload -Icli \
	-fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_SRCS := $(ENGINE_SRCS) cli/elf/elfinfo.c cli/relay/peer.c cli/relay/proxy.c \
	cli/log/log.c cli/log/log_show.c cli/log/log_har.c cli/log/log_summary.c \
	cli/log/logread.c cli/log/logpair.c cli/log/logfilter.c cli/log/log_curl.c \
	cli/log/quote.c
FUZZ_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_LIB := $(FUZZ_DIR)/libengine-fuzz.a
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(FUZZ_LIB) $(LDLIBS_ENGINE)

FUZZ_CHECK_SECONDS ?= 20
FUZZ_CHECK_JOBS ?= 2

ifeq ($(FUZZ_CHECK_SECONDS),0)
fuzz-check:
	@echo "fuzz-check: skipped (FUZZ_CHECK_SECONDS=0)"
else
fuzz-check: $(FUZZ_BINS)
	@echo "== fuzz-check: $(words $(FUZZ_TARGETS)) targets for $(FUZZ_CHECK_SECONDS)s each, $(FUZZ_CHECK_JOBS) at a time"
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_CHECK_JOBS) -I{} \
		sh tests/fuzz/check-one $(FUZZ_DIR)/fuzz_{} tests/fuzz/seeds/{} \
		$(FUZZ_DIR)/check/{} $(FUZZ_CHECK_SECONDS)
	@echo "fuzz-check: all $(words $(FUZZ_TARGETS)) targets passed; executions in $(FUZZ_CHECK_SECONDS)s:"
	@cat $(FUZZ_TARGETS:%=$(FUZZ_DIR)/check/%/summary)
endif

fuzz: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus_$$t; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS)s"; \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
			-print_final_stats=1 $(FUZZ_DIR)/corpus_$$t tests/fuzz/seeds/$$t; \
	done

valgrind: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do \
		valgrind -q --error-exitcode=1 --leak-check=full $$t; done

# memcheck over the C clients (OpenSSL, libcurl) through librespan.so against
# the stand-in router, end to end: tests/e2e/test_valgrind.py, which skips
# without valgrind and outside this target.
e2e-valgrind: $(PRELOAD_LIB) $(BUILD)/tests/clients/ossl_client $(BUILD)/tests/clients/curl_client
	cd tests/e2e && RESPAN_BUILD=$(abspath $(BUILD)) E2E_VALGRIND=1 \
		$(PYTHON) -m pytest -q -p no:cacheprovider test_valgrind.py

demo: all
	scripts/demo

# bench/fast (nginx as the server) says "skipped" when nginx is not installed.
bench: all
	BUILD=$(BUILD) bench/run
	BUILD=$(BUILD) bench/fast

# The library in a directory of its own, as Debian keeps preload libraries
# (it has no SONAME: nothing links it, programs get it through LD_PRELOAD).
LIBDIR ?= $(PREFIX)/lib/respan
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/librespan
DOCS := README.md $(wildcard docs/*.md)

# The library, respan, the two manuals (compressed, as Debian ships them) and
# the docs.
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(DOCDIR)
	install -m 0644 $(PRELOAD_LIB) $(DESTDIR)$(LIBDIR)/librespan.so
	install -m 0755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/respan
	gzip -9n < man/respan.1 > $(DESTDIR)$(MANDIR)/man1/respan.1.gz
	gzip -9n < man/librespan.7 > $(DESTDIR)$(MANDIR)/man7/librespan.7.gz
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/respan.1.gz $(DESTDIR)$(MANDIR)/man7/librespan.7.gz
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/

# Removes exactly what install put there, nothing else (the doc directory
# only when it is then empty).
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/librespan.so $(DESTDIR)$(PREFIX)/bin/respan \
		$(DESTDIR)$(MANDIR)/man1/respan.1.gz $(DESTDIR)$(MANDIR)/man7/librespan.7.gz \
		$(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(LIBDIR) 2>/dev/null

# The Debian package, in $(OUT): librespan_VERSION_ARCH.deb (scripts/make-deb).
deb: all
	rm -rf $(OUT)/deb-root
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(OUT)/deb-root) PREFIX=/usr
	scripts/make-deb $(abspath $(OUT)/deb-root) $(abspath $(OUT))
	rm -rf $(OUT)/deb-root

# Everything built with this OUT (make OUT=build/clang clean for clang's).
clean:
	rm -rf $(OUT)

# Every object's header dependencies, the unit tests' too: editing a header
# must rebuild whatever includes it.
-include $(ENGINE_OBJS:.o=.d) $(HOOK_OBJS:.o=.d) $(CLI_SRCS:%.c=$(BUILD)/%.d) \
	$(UNIT_BINS:%=%.d) $(UNIT_HELPERS:.o=.d) $(FUZZ_OBJS:.o=.d) \
	$(FUZZ_BINS:%=%.d)
