# rds-bpf: `make` builds everything into build/, `make test` runs the suite,
# `make demo` runs two namespace hosts exchanging datagrams,
# `make install PREFIX=/usr/local` installs.
.DELETE_ON_ERROR:
.SECONDARY:

# make SAN=1: the engine, library, shim and tools built with ASan+UBSan into
# build-san/ (make test runs tests/bats/core.bats on it)
ifeq ($(SAN),1)
B        := build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
else
B        := build
endif
PREFIX   ?= /usr/local
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
SONAME   := librdsb.so.0
VERSION  := 0.1.0

CFLAGS   ?= -O2 -g
CFLAGS   += $(SAN_FLAGS) -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -Iinclude -I$(B)/bpf -D_GNU_SOURCE
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -I$(B)/bpf \
              -I/usr/include/$(shell uname -m)-linux-gnu -Wall -Werror -fno-stack-protector

COMMON_SRC := user/common/wire.c user/common/addr.c user/common/log.c user/common/sysctl.c
ENGINE_SRC := $(wildcard user/engine/*.c) $(wildcard transports/tcp/*.c) $(wildcard transports/xdp/*.c)
LIB_SRC    := $(wildcard user/lib/*.c) user/common/wire.c user/common/addr.c user/common/sysctl.c
BPF_SRC    := $(wildcard bpf/*.bpf.c)
BPF_OBJ    := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
SKELS      := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.skel.h,$(BPF_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
HEADERS    := $(wildcard include/rds-bpf/*.h user/*/*.h tools/*.h transports/*/*.h)

# libFuzzer harnesses, one per parser (tests/fuzz/fuzz_NAME.c, seeds in
# tests/fuzz/corpus/NAME): `make fuzz` runs each FUZZ_SECONDS
FUZZERS    := $(patsubst tests/fuzz/fuzz_%.c,$(B)/fuzz/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -Iinclude -I$(B)/bpf -D_GNU_SOURCE
FUZZ_SECONDS ?= 60

EXAMPLES   := $(B)/examples/reqresp-server $(B)/examples/reqresp-client $(B)/examples/fanout-sender

TARGETS := $(B)/sbin/rds-bpf $(B)/sbin/rds-dissect $(B)/lib/$(SONAME) $(B)/lib/librdsb.so $(B)/lib/librdsb-preload.so \
           $(B)/tests/rds-xfer $(B)/tests/rds-rawstream $(B)/tests/rds-txraw $(B)/tests/rds-mapwrite $(B)/tests/rds-errno $(B)/tests/rds-transport $(B)/tests/tcp-pingpong $(B)/tests/tcp-sockmap-pingpong $(B)/tests/rdsx-loss $(UNIT_BIN) \
           $(if $(filter 1,$(SAN)),,$(EXAMPLES) $(FUZZERS))

all: $(TARGETS)

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) $(B)/bpf/vmlinux.h $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@

$(B)/obj/%.o: %.c $(HEADERS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/pic/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -DRDSB_EXPORT -c $< -o $@

# the CLI: the engine, and the library for the tools that are RDS applications
CLI_SRC    := tools/rds-bpf.c tools/ping.c tools/info.c tools/features.c tools/cli.c tools/out.c $(wildcard tools/stress*.c)
$(B)/sbin/rds-bpf: $(patsubst %.c,$(B)/obj/%.o,$(CLI_SRC) $(ENGINE_SRC) $(COMMON_SRC)) \
		$(patsubst %.c,$(B)/pic/%.o,$(wildcard user/lib/*.c))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ -lxdp -lbpf -lelf -lz -lpthread

$(patsubst %.c,$(B)/obj/%.o,$(wildcard tools/stress*.c)): tools/stress.h

# the capture dissector: RDS/TCP records in a tcpdump file
$(B)/sbin/rds-dissect: $(patsubst %.c,$(B)/obj/%.o,tools/rds-dissect.c tools/pcap.c tools/tcp_reasm.c user/common/wire.c)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^

$(B)/lib/$(SONAME): $(patsubst %.c,$(B)/pic/%.o,$(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ -lpthread

$(B)/lib/librdsb.so: $(B)/lib/$(SONAME)
	ln -sf $(SONAME) $@

# The shim carries the library inside, so LD_PRELOAD needs nothing else.
$(B)/lib/librdsb-preload.so: $(patsubst %.c,$(B)/pic/%.o,user/preload/preload.c $(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ -ldl -lpthread

$(B)/tests/%: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -o $@ $<
$(B)/tests/rds-errno $(B)/tests/rds-transport: tests/tools/expect.h
$(B)/tests/rds-xfer: tests/tools/msggen.h
$(B)/tests/rds-rawstream: tests/tools/msggen.h tests/tools/addrarg.h $(HEADERS)
$(B)/tests/rds-txraw: tests/tools/addrarg.h user/common/ctl_proto.h $(HEADERS)
$(B)/tests/rds-mapwrite: $(HEADERS)
$(B)/tests/tcp-pingpong: tests/tools/pingpong.h

# the ping-pong with both ends receiving through a sockmap redirect
$(B)/tests/tcp-sockmap-pingpong: tests/tools/tcp-sockmap-pingpong.c tests/tools/pingpong.h \
		$(B)/bpf/pingpong_redirect.skel.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lbpf -lelf -lz -lpthread

# examples: plain AF_RDS programs (run through the shim), and the fan-out
# sender linked with -lrdsb as an application would be
$(B)/examples/reqresp-%: examples/reqresp-%.c examples/addr.h
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -o $@ $<

$(B)/examples/fanout-sender: examples/fanout-sender.c examples/addr.h $(B)/lib/librdsb.so
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -Iinclude -o $@ $< -L$(B)/lib -lrdsb -Wl,-rpath,'$$ORIGIN/../lib'

$(B)/tests/test_%: tests/unit/test_%.c $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC)) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC))

# The XDP program's test loads it (root) and needs an AF_XDP socket.
$(B)/tests/test_xdp_prog: tests/unit/test_xdp_prog.c $(B)/obj/transports/xdp/frame.o $(B)/bpf/rdsx_xdp.skel.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/obj/transports/xdp/frame.o -lxdp -lbpf -lelf -lz

$(B)/tests/rdsx-loss: tests/tools/rdsx-loss.c $(B)/bpf/rdsx_loss.skel.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lbpf -lelf -lz

# the stress tool's messages and histogram, tested without sockets
$(B)/tests/test_stress: tools/stress_msg.c tools/stress_report.c tools/stress.h

# each harness with the sources it parses with
$(B)/fuzz/fuzz_wire: user/common/wire.c
$(B)/fuzz/fuzz_xdp_frame: transports/xdp/frame.c
$(B)/fuzz/fuzz_pcap: tools/pcap.c tools/tcp_reasm.c tests/fuzz/reasm_count.h
$(B)/fuzz/fuzz_tcp_reasm: tools/tcp_reasm.c tests/fuzz/reasm_count.h
$(B)/fuzz/fuzz_path_rx: user/engine/path_rx.c user/common/wire.c
# fuzz_app includes sock.c (its stream parser is static)
FUZZ_INCLUDED := user/engine/sock.c
$(B)/fuzz/fuzz_app: user/engine/ctl.c user/common/wire.c user/common/addr.c $(FUZZ_INCLUDED)
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter-out $(FUZZ_INCLUDED),$(filter %.c,$^))

fuzz: $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_SECONDS)

$(B)/bpf/vmlinux.h:
	vmlinux.h-gen/gen.sh $@

deps:
	tools/install-deps.sh

san:
	$(MAKE) SAN=1 all

test: deps all san
	tools/run-tests.sh

demo: deps all
	tools/demo.sh

bench: deps all
	tools/bench.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/rds-bpf
	install -m 755 $(B)/sbin/rds-bpf $(DESTDIR)$(PREFIX)/sbin/rds-bpf
	install -m 755 $(B)/lib/$(SONAME) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/librdsb.so
	install -m 755 $(B)/lib/librdsb-preload.so $(DESTDIR)$(PREFIX)/lib/librdsb-preload.so
	install -m 644 include/rds-bpf/*.h $(DESTDIR)$(PREFIX)/include/rds-bpf/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' rds-bpf.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/rds-bpf.pc
	install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	install -m 644 docs/man/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 docs/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' dist/rds-bpf.service > $(DESTDIR)$(UNITDIR)/rds-bpf.service

clean:
	rm -rf $(B) build-san

.PHONY: all deps test demo bench install clean fuzz san
