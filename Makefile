# rds-bpf: `make` builds everything into build/, `make test` runs the suite,
# `make demo` runs two namespace hosts exchanging datagrams,
# `make install PREFIX=/usr/local` installs, `make deb` builds the Debian packages.
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
SBINDIR  ?= $(PREFIX)/sbin
LIBDIR   ?= $(PREFIX)/lib
PRELOADDIR ?= $(LIBDIR)
INCLUDEDIR ?= $(PREFIX)/include
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
# Wireshark's global Lua plugin directory (tshark -G folders)
LUADIR   ?= $(PREFIX)/lib/wireshark/plugins
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
SONAME   := librdsb.so.0
# the one version: the CLI, pkg-config, the man pages and the packages take it from here
VERSION  := $(shell cat VERSION)

CFLAGS   ?= -O2 -g
CFLAGS   += $(SAN_FLAGS) -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -Iinclude -I$(B)/bpf -D_GNU_SOURCE
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf -I$(B)/bpf \
              -I/usr/include/$(shell uname -m)-linux-gnu -Wall -Werror -fno-stack-protector

COMMON_SRC := user/common/wire.c user/common/addr.c user/common/log.c user/common/sysctl.c
ENGINE_SRC := $(filter-out %.bpf.c,$(wildcard user/engine/*.c transports/*/*.c))
LIB_SRC    := $(wildcard user/lib/*.c) user/common/wire.c user/common/addr.c user/common/sysctl.c
# BPF objects: the core's maps (bpf/), each transport's programs beside their
# C halves, test-only programs (tests/bpf/); objects and skeletons in build/bpf
BPF_DIRS   := bpf transports/tcp transports/xdp tests/bpf
BPF_SRC    := $(foreach d,$(BPF_DIRS),$(wildcard $(d)/*.bpf.c))
BPF_OBJ    := $(addprefix $(B)/bpf/,$(notdir $(BPF_SRC:.bpf.c=.bpf.o)))
SKELS      := $(BPF_OBJ:.bpf.o=.skel.h)
vpath %.bpf.c $(BPF_DIRS)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
HEADERS    := $(wildcard include/rds-bpf/*.h user/*/*.h tools/*.h transports/*/*.h tests/unit/*.h)

# libFuzzer harnesses, one per parser (tests/fuzz/fuzz_NAME.c, seeds in
# tests/fuzz/corpus/NAME): `make fuzz` runs each FUZZ_SECONDS
FUZZERS    := $(patsubst tests/fuzz/fuzz_%.c,$(B)/fuzz/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -Iinclude -I$(B)/bpf -D_GNU_SOURCE
FUZZ_SECONDS ?= 60

EXAMPLES   := $(B)/examples/reqresp-server $(B)/examples/reqresp-client $(B)/examples/fanout-sender

TARGETS := $(B)/sbin/rds-bpf $(B)/sbin/rds-dissect $(B)/lib/$(SONAME) $(B)/lib/librdsb.so $(B)/lib/librdsb-preload.so \
           $(B)/tests/rds-xfer $(B)/tests/rds-rawstream $(B)/tests/rds-txraw $(B)/tests/rds-mapwrite $(B)/tests/rds-errno $(B)/tests/rds-congprobe $(B)/tests/rds-pollloop $(B)/tests/rds-transport $(B)/tests/tcp-pingpong $(B)/tests/tcp-sockmap-pingpong $(B)/tests/tcp-records $(B)/tests/rds-stress-sock $(B)/tests/rdsx-loss $(B)/tests/ib-hostile-peer $(UNIT_BIN) \
           $(if $(filter 1,$(SAN)),,$(EXAMPLES) $(FUZZERS))

all: $(TARGETS)

$(B)/bpf/%.bpf.o: %.bpf.c $(foreach d,$(BPF_DIRS),$(wildcard $(d)/*.bpf.h $(d)/*.h)) $(B)/bpf/vmlinux.h $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# rdsb_txmsg hands out sequence numbers with atomic fetch-and-add (Linux 5.12+)
$(B)/bpf/skmsg_tx.bpf.o: BPF_CFLAGS += -mcpu=v3
# and the verdict's hand-over gate is a compare-and-swap
$(B)/bpf/sockmap_rx.bpf.o: BPF_CFLAGS += -mcpu=v3

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@

$(B)/obj/%.o: %.c $(HEADERS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/obj/tools/cli.o: CFLAGS += -DRDSB_VERSION='"$(VERSION)"'
$(B)/obj/tools/cli.o: VERSION

$(B)/pic/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -DRDSB_EXPORT -c $< -o $@

# the CLI: the engine, and the library for the tools that are RDS applications
CLI_SRC    := tools/rds-bpf.c tools/ping.c tools/info.c tools/features.c tools/cli.c tools/out.c $(wildcard tools/stress*.c)
$(B)/sbin/rds-bpf: $(patsubst %.c,$(B)/obj/%.o,$(CLI_SRC) $(ENGINE_SRC) $(COMMON_SRC)) \
		$(patsubst %.c,$(B)/pic/%.o,$(wildcard user/lib/*.c))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lxdp -lbpf -lelf -lz -lpthread -libverbs -lrdmacm

$(patsubst %.c,$(B)/obj/%.o,$(wildcard tools/stress*.c)): tools/stress.h

# the capture dissector: RDS/TCP records in a pcap or pcapng file, or live
$(B)/sbin/rds-dissect: $(patsubst %.c,$(B)/obj/%.o,tools/rds-dissect.c tools/pcap.c tools/tcp_reasm.c user/common/wire.c)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lpcap

$(B)/lib/$(SONAME): $(patsubst %.c,$(B)/pic/%.o,$(LIB_SRC)) user/lib/librdsb.map
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script,user/lib/librdsb.map -o $@ \
		$(filter %.o,$^) -lpthread

$(B)/lib/librdsb.so: $(B)/lib/$(SONAME)
	ln -sf $(SONAME) $@

# The shim carries the library inside, so LD_PRELOAD needs nothing else.
$(B)/lib/librdsb-preload.so: $(patsubst %.c,$(B)/pic/%.o,user/preload/preload.c $(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -shared -o $@ $^ -ldl -lpthread

$(B)/tests/%: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -o $@ $<
$(B)/tests/rds-errno $(B)/tests/rds-transport: tests/tools/expect.h
$(B)/tests/rds-xfer: tests/tools/msggen.h
$(B)/tests/rds-rawstream: tests/tools/msggen.h tests/tools/addrarg.h $(HEADERS)
$(B)/tests/rds-txraw: tests/tools/addrarg.h user/common/ctl_proto.h $(HEADERS)
$(B)/tests/rds-mapwrite: $(HEADERS)
$(B)/tests/tcp-pingpong: tests/tools/pingpong.h

# the 64 B message rate's baseline: one write per record, threads per flow
$(B)/tests/tcp-records: tests/tools/tcp-records.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -o $@ $< -lpthread

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

# The engine's connection and path logic against a mock transport, with the
# sockets, address slots and epoll it calls replaced by --wrap mocks (cmocka).
CONN_TEST_OBJ := $(patsubst %,$(B)/obj/user/engine/%.o,conn send recv seqstate) $(B)/obj/transports/tcp/tcp_stream.o \
                 $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC))
CONN_TEST_WRAPS := rdsb_sock_by_port rdsb_sock_deliver rdsb_rx_before rdsb_hold_unbound rdsb_hold_local rdsb_sock_req_done \
                   rdsb_port_hold_find rdsb_port_hold_full rdsb_heldlog_msg_free \
                   rdsb_sock_sent rdsb_sock_req_acked rdsb_sock_req_numbered \
                   rdsb_addr_slot rdsb_addr_put rdsb_addr_is_local rdsb_cong_apply_peer \
                   rdsb_paths_info_forget rdsb_ev_set rdsb_ev_del tcp_sockmap_inbox_read \
                   tcp_skmsg_begin tcp_skmsg_end
$(B)/tests/test_conn: tests/unit/test_conn.c $(CONN_TEST_OBJ) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(CONN_TEST_OBJ) $(foreach w,$(CONN_TEST_WRAPS),-Wl,--wrap=$(w)) -lcmocka

# An application socket with its real delivery stream, the same mocks but for
# the sockets (and the control requests and local congestion bits).
SOCK_TEST_OBJ := $(CONN_TEST_OBJ) $(patsubst %,$(B)/obj/user/engine/%.o,sock ports heldlog)
SOCK_TEST_WRAPS := rdsb_ctl_handle rdsb_addr_slot rdsb_addr_put rdsb_addr_is_local rdsb_cong_set_local \
                   rdsb_cong_apply_peer rdsb_paths_info_forget rdsb_ev_set rdsb_ev_del tcp_sockmap_inbox_read \
                   tcp_skmsg_begin tcp_skmsg_end
$(B)/tests/test_sock: tests/unit/test_sock.c $(SOCK_TEST_OBJ) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(SOCK_TEST_OBJ) $(foreach w,$(SOCK_TEST_WRAPS),-Wl,--wrap=$(w)) -lcmocka

# the RDS/IB private data and checksum, without verbs
$(B)/tests/test_ib_wire: tests/unit/test_ib_wire.c $(B)/obj/transports/ib/ib_wire.o $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC)) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/obj/transports/ib/ib_wire.o $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC))

# the library's ring of copies, writing to a buffer instead of an engine
$(B)/tests/test_copies: tests/unit/test_copies.c $(B)/pic/user/lib/copies.o $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/pic/user/lib/copies.o

# the library's check for a next engine's copies of what it read
$(B)/tests/test_rx_again: tests/unit/test_rx_again.c $(B)/pic/user/lib/rx_again.o $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/pic/user/lib/rx_again.o

# the XDP transport's frames and checksums, without a network
$(B)/tests/test_xdp_frame: tests/unit/test_xdp_frame.c $(B)/obj/transports/xdp/frame.o $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/obj/transports/xdp/frame.o

# The XDP program's test loads it (root) and needs an AF_XDP socket.
$(B)/tests/test_xdp_prog: tests/unit/test_xdp_prog.c $(B)/obj/transports/xdp/frame.o $(B)/bpf/rdsx_xdp.skel.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/obj/transports/xdp/frame.o -lxdp -lbpf -lelf -lz

# The wire's rules run through BPF_PROG_TEST_RUN (root), in a test-only program.
$(B)/tests/test_rules_bpf: tests/unit/test_rules_bpf.c tests/bpf/rules_io.h $(B)/bpf/rules.skel.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lbpf -lelf -lz

$(B)/tests/rdsx-loss: tests/tools/rdsx-loss.c $(B)/bpf/rdsx_loss.skel.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lbpf -lelf -lz

# rds-bpf stress on the BSD socket calls: the kernel's AF_RDS, or rds-bpf
# under the shim, with one loop (the VM suite's kbench scenario)
$(B)/tests/rds-stress-sock: tests/tools/rds-stress-sock.c tests/tools/stress-sock.h $(wildcard tools/stress*.c) tools/cli.c \
		$(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC)) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DRDSB_VERSION='"$(VERSION)"' -include tests/tools/stress-sock.h -o $@ \
		$(filter %.c,$^) $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC)) -lbpf

# the stress tool's messages and histogram, tested without sockets
$(B)/tests/test_stress: tools/stress_msg.c tools/stress_report.c tools/stress.h

# a raw verbs RDS/IB peer that sends malformed frames (the VM suite's ib-hostile)
$(B)/tests/ib-hostile-peer: tests/tools/ib-hostile-peer.c $(B)/obj/transports/ib/ib_wire.o \
		$(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC)) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $(filter %.c %.o,$^) -libverbs -lrdmacm

# each harness with the sources it parses with
$(B)/fuzz/fuzz_wire: user/common/wire.c
$(B)/fuzz/fuzz_xdp_frame: transports/xdp/frame.c
$(B)/fuzz/fuzz_pcap: tools/pcap.c tools/tcp_reasm.c tests/fuzz/reasm_count.h
$(B)/fuzz/fuzz_tcp_reasm: tools/tcp_reasm.c tests/fuzz/reasm_count.h
$(B)/fuzz/fuzz_path_rx: transports/tcp/tcp_stream.c user/engine/recv.c user/common/wire.c tests/fuzz/engine_stubs.h
# fuzz_app includes sock.c (its stream parser is static), fuzz_ib ib_ring.c
# (its receive completion handler is)
FUZZ_INCLUDED := user/engine/sock.c transports/ib/ib_ring.c
$(B)/fuzz/fuzz_ib: transports/ib/ib_wire.c user/engine/recv.c user/common/wire.c user/common/addr.c $(FUZZ_INCLUDED) tests/fuzz/engine_stubs.h
$(B)/fuzz/fuzz_ib: FUZZ_LIBS := -libverbs -lrdmacm
$(B)/fuzz/fuzz_app: user/engine/ctl.c user/engine/ports.c user/engine/heldlog.c user/common/wire.c user/common/addr.c $(FUZZ_INCLUDED)
$(B)/fuzz/fuzz_pcap: FUZZ_LIBS := -lpcap
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter-out $(FUZZ_INCLUDED),$(filter %.c,$^)) $(FUZZ_LIBS)

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

# BENCH_VM=1: the qemu guests too, the kernel's RDS against rds-bpf in one
# guest (kbench.sh), and rds-bpf over soft-RoCE against RDS/TCP between two
# (ib-bench: build/bench/ib-bench.txt)
bench: deps all
	tools/bench.sh
	[ "$(BENCH_VM)" != 1 ] || tests/vm/kbench.sh
	[ "$(BENCH_VM)" != 1 ] || RDSB_VM_PEERS=netns RDSB_VM_SCENARIOS=ib-bench \
		RDSB_VM_IB_BENCH_OUT=$(or $(BENCH_OUT),$(B)/bench) tests/vm/run-suite.sh

# what install installs (debian/rules builds just these)
INSTALLED := $(B)/sbin/rds-bpf $(B)/sbin/rds-dissect $(B)/lib/$(SONAME) $(B)/lib/librdsb-preload.so
progs: $(INSTALLED)

# PREFIX, or each directory (SBINDIR LIBDIR PRELOADDIR INCLUDEDIR MANDIR
# UNITDIR LUADIR) as debian/rules sets them. The man pages and the
# pkg-config file get the version and the paths here.
install: $(INSTALLED)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PRELOADDIR) \
		$(DESTDIR)$(INCLUDEDIR)/rds-bpf $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(LUADIR)
	install -m 755 $(B)/sbin/rds-bpf $(B)/sbin/rds-dissect $(DESTDIR)$(SBINDIR)/
	install -m 644 $(B)/lib/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/librdsb.so
	install -m 644 $(B)/lib/librdsb-preload.so $(DESTDIR)$(PRELOADDIR)/librdsb-preload.so
	install -m 644 include/rds-bpf/*.h $(DESTDIR)$(INCLUDEDIR)/rds-bpf/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
		-e 's|@VERSION@|$(VERSION)|g' rds-bpf.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/rds-bpf.pc
	for m in docs/man/*.[38]; do \
		sed $(foreach v,VERSION PRELOADDIR UNITDIR LUADIR,-e 's|@$(v)@|$($(v))|g') $$m \
			> $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/} || exit 1; \
	done
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/rds-bpf.service > $(DESTDIR)$(UNITDIR)/rds-bpf.service
	install -m 644 tools/rds.lua $(DESTDIR)$(LUADIR)/rds.lua

# rds-bpf_VERSION_ARCH.deb, librdsb0 and librdsb-dev in DEBDIR (debian/,
# Debian's dpkg-buildpackage and debhelper; the source tree stays clean)
DEBDIR ?= $(B)/deb
deb: deps
	tools/build-deb.sh $(DEBDIR)

clean:
	rm -rf $(B) build-san

.PHONY: all deps test demo bench progs install deb clean fuzz san
