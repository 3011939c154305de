# launcher/launcher.mk — the in-container launcher, included by the top Makefile.
# A static binary with no library but libc, so it can be copied into any image, even FROM scratch.

LAUNCHER_CC := gcc
LAUNCHER_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -static
LAUNCHER_SRCS := $(wildcard launcher/*.c)
LAUNCHER_HDRS := $(wildcard launcher/*.h)
LAUNCHER_OBJS := $(patsubst launcher/%.c,build/launcher/%.o,$(LAUNCHER_SRCS))
# The framing and path code the unit test exercises, without the loop.
LAUNCHER_TEST_OBJS := build/launcher/frame.o build/launcher/lbuf.o build/launcher/xalloc.o build/launcher/paths.o \
                      build/launcher/outbox.o build/launcher/util.o

# The reset against a temporary directory (no container: the working directory only).
LAUNCHER_RESET_TEST_OBJS := build/launcher/reset.o build/launcher/rootattr.o build/launcher/memcg.o \
                            build/launcher/lbuf.o build/launcher/xalloc.o build/launcher/util.o

LAUNCHER_UNIT_TESTS := build/test_launcher_frame build/test_launcher_reset

launcher/cloudcode-launcher: $(LAUNCHER_OBJS)
	$(LAUNCHER_CC) $(LAUNCHER_CFLAGS) -o $@ $^

build/launcher/%.o: launcher/%.c $(LAUNCHER_HDRS)
	@mkdir -p $(@D)
	$(LAUNCHER_CC) $(LAUNCHER_CFLAGS) -c -o $@ $<

build/test_launcher_frame: tests/unit/test_launcher_frame.c $(LAUNCHER_TEST_OBJS) $(LAUNCHER_HDRS)
	@mkdir -p $(@D)
	$(LAUNCHER_CC) $(LAUNCHER_CFLAGS) -Ilauncher -o $@ $< $(LAUNCHER_TEST_OBJS)

build/test_launcher_reset: tests/unit/test_launcher_reset.c $(LAUNCHER_RESET_TEST_OBJS) $(LAUNCHER_HDRS)
	@mkdir -p $(@D)
	$(LAUNCHER_CC) $(LAUNCHER_CFLAGS) -Ilauncher -Itests/unit -o $@ $< $(LAUNCHER_RESET_TEST_OBJS)

.PHONY: launcher launcher-clean
launcher: launcher/cloudcode-launcher

launcher-clean:
	rm -rf build/launcher build/test_launcher_frame build/test_launcher_reset launcher/cloudcode-launcher
