# CloudCode — build, set-up and tests.  `make` builds ./cloudcode and the launcher.
.DEFAULT_GOAL := all
SHELL := /bin/bash

CC      ?= gcc
PKGS    := lua5.4 libuv hiredis libcurl jansson libcrypto libarchive
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Icore -I. -I/usr/share/include/llhttp \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lwslay -lm
# lua-cjson is loaded into the policy's Lua state (policy.c): link Debian's Lua 5.4 build of it.
LDLIBS  += -l:liblua5.4-cjson.so.0

LLHTTP_SRC := $(wildcard /usr/share/llhttp/*.c)
# core/ is split into rooms (docs/architecture.md): every .c below it, at any depth.  A file
# includes a header of its own room by name, any other by its path under core/ ("base/buf.h").
rwildcard  = $(foreach d,$(wildcard $(1:=/*)),$(call rwildcard,$d,$2) $(filter $(subst *,%,$2),$d))
CORE_SRC   := $(call rwildcard,core,*.c)
CORE_HDRS  := $(call rwildcard,core,*.h)

# The flags above and llhttp's sources are read when make parses this file. On a fresh machine the
# packages are not installed yet, so `make deps all` (and `make test`, `make run`, which need deps)
# must not build with what was read: the build goals then run `deps` first and hand the build to a
# fresh make, which parses again with the packages in place.
BUILD_READY := $(if $(LLHTTP_SRC),$(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes))
BUILD_GOALS := all asan unit integration cloudcode cloudcode-asan launcher

OBJ_DIR      := build/obj
ASAN_DIR     := build/asan
LLHTTP_OBJ   := $(patsubst /usr/share/llhttp/%.c,build/llhttp/%.o,$(LLHTTP_SRC))
LLHTTP_ASAN  := $(patsubst /usr/share/llhttp/%.c,build/llhttp-asan/%.o,$(LLHTTP_SRC))
CORE_OBJ     := $(patsubst core/%.c,$(OBJ_DIR)/%.o,$(CORE_SRC))
CORE_ASAN    := $(patsubst core/%.c,$(ASAN_DIR)/%.o,$(CORE_SRC))
# The protocol's codec lives with the launcher (launcher/frame.h); the server links the same files.
CODEC_SRC    := launcher/frame.c launcher/lbuf.c launcher/xalloc.c
CODEC_OBJ    := $(patsubst launcher/%.c,$(OBJ_DIR)/launcher/%.o,$(CODEC_SRC))
CODEC_ASAN   := $(patsubst launcher/%.c,$(ASAN_DIR)/launcher/%.o,$(CODEC_SRC))
CODEC_HDRS   := $(CODEC_SRC:.c=.h) launcher/proto.h
LIB_OBJ      := $(filter-out $(OBJ_DIR)/main.o,$(CORE_OBJ)) $(CODEC_OBJ)
ASAN_FLAGS   := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

ifeq ($(BUILD_READY),yes)
include launcher/launcher.mk

all: cloudcode launcher/cloudcode-launcher

cloudcode: $(CORE_OBJ) $(CODEC_OBJ) $(LLHTTP_OBJ)
	$(CC) -o $@ $^ $(LDLIBS)

cloudcode-asan: $(CORE_ASAN) $(CODEC_ASAN) $(LLHTTP_ASAN)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

asan: cloudcode-asan

$(OBJ_DIR)/%.o: core/%.c $(CORE_HDRS) $(CODEC_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -c -o $@ $<

$(ASAN_DIR)/%.o: core/%.c $(CORE_HDRS) $(CODEC_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(ASAN_FLAGS) -c -o $@ $<

$(OBJ_DIR)/launcher/%.o: launcher/%.c $(CODEC_HDRS) | $(OBJ_DIR)/launcher
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -c -o $@ $<

$(ASAN_DIR)/launcher/%.o: launcher/%.c $(CODEC_HDRS) | $(ASAN_DIR)/launcher
	$(CC) $(CFLAGS_BASE) $(ASAN_FLAGS) -c -o $@ $<

# llhttp is not our code: Debian ships its C sources; compile them apart, warnings off.
build/llhttp/%.o: /usr/share/llhttp/%.c | build/llhttp
	$(CC) -O2 -g -w -I/usr/share/include/llhttp -c -o $@ $<

build/llhttp-asan/%.o: /usr/share/llhttp/%.c | build/llhttp-asan
	$(CC) $(ASAN_FLAGS) -w -I/usr/share/include/llhttp -c -o $@ $<

$(OBJ_DIR)/launcher $(ASAN_DIR)/launcher build/llhttp build/llhttp-asan build/unit build/integration:
	mkdir -p $@

# C unit tests: tests/unit/test_<room>.c linked against every core object but main.o.
UNIT_SRC   := $(filter-out tests/unit/test_launcher%,$(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(patsubst tests/unit/%.c,build/unit/%,$(UNIT_SRC))
build/unit/%: tests/unit/%.c $(LIB_OBJ) $(LLHTTP_OBJ) $(CORE_HDRS) $(wildcard tests/unit/*.h) | build/unit
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LLHTTP_OBJ) $(LDLIBS)

unit: $(UNIT_BIN) $(LAUNCHER_UNIT_TESTS)
	@set -e; for t in $^; do echo "== $$t"; ./$$t; done

# C integration tests: tests/integration/test_*.c, built as the unit tests are, but run against the
# running engine (/var/run/docker.sock) and the built images; `make unit` needs neither.
INTEGRATION_BIN := $(patsubst tests/integration/%.c,build/integration/%,$(wildcard tests/integration/test_*.c))
build/integration/%: tests/integration/%.c $(LIB_OBJ) $(LLHTTP_OBJ) $(CORE_HDRS) $(wildcard tests/unit/*.h) | build/integration
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LLHTTP_OBJ) $(LDLIBS)

integration: $(INTEGRATION_BIN)
	@set -e; for t in $^; do echo "== $$t"; ./$$t; done
else
$(BUILD_GOALS): deps
	$(MAKE) $@
endif

lua-test:
	lua5.4 tests/lua/run.lua

# ---- set-up: packages, engine, images ------------------------------------------------
deps:
	scripts/deps.sh

engine: deps
	scripts/dockerd.sh

images: all engine
	./cloudcode --print-images policies/backend.lua | CLOUDCODE_LANGS="$(LANGS)" scripts/images.sh

setup: deps engine images

run: setup
	./cloudcode policies/backend.lua

PYTEST := /usr/bin/python3 -m pytest
# Every end-to-end test runs once, against the ASan+UBSan binary: the same code as ./cloudcode with
# every memory error and undefined behaviour made fatal.  The optimised binary that `make run` serves
# then passes the core of the API (runs, sessions, HTTP) and the tests that measure the server's
# memory (ASan's allocator keeps freed memory, so only this binary shows growth), and valgrind
# watches the subset marked for it.  (Both binaries through the whole suite doubled the time for no
# behaviour tested twice.)
E2E_OPTIMISED := tests/e2e/test_run.py tests/e2e/test_sessions.py tests/e2e/test_http.py \
                 tests/e2e/test_growth.py tests/e2e/test_http_hardening.py
test: setup asan
	$(MAKE) unit lua-test integration
	CODECLOUD_TEST_BINARY=./cloudcode-asan $(PYTEST) -q tests/e2e -m "not valgrind_only"
	$(PYTEST) -q $(E2E_OPTIMISED)
	CODECLOUD_TEST_VALGRIND=1 CODECLOUD_TEST_SLOW=10 $(PYTEST) -q tests/e2e -m valgrind

# Every language of the default map, proven by programs (tests/e2e/test_languages.py; the default
# test run covers bash, c and python only).
test-languages: setup
	CODECLOUD_TEST_LANGUAGES=all $(PYTEST) -q tests/e2e/test_languages.py

clean:
	rm -rf build cloudcode cloudcode-asan launcher/cloudcode-launcher

.PHONY: all asan unit integration lua-test deps engine images setup run test test-languages clean
