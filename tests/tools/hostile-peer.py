#!/usr/bin/env python3
"""hostile-peer: a raw RDS/TCP peer (python3 stdlib only) for robustness tests.

It connects to DST:16385 like the smaller address of an RDS/TCP connection
would, and writes what a well-behaved kernel never writes:

  garbage       4096 seeded random bytes (h_len forced above 1 MiB)
  huge-len      a header with h_len = 0x7fffffff
  truncated     a header with h_len 1000, 500 payload bytes, then close
  bad-cong-map  a congestion map (h_flags 0x01) with h_len 100
  datagrams     --msgs [-]SEQ:IDX[:FLAGS[:DPORT]],... : data records from
                --sport to --dport (or DPORT) whose payloads are message IDX
                of an rds-xfer sender bound to --sport (same generator:
                --seed, --size MIN:MAX), so an rds-xfer receiver can check
                them (FLAGS 0x04 is RDS_FLAG_RETRANSMITTED, 0x02
                RDS_FLAG_ACK_REQUIRED); with --chunk N the stream is
                written N bytes at a time, 2 ms apart, so that records
                and headers straddle TCP segments; prints the rds-xfer style
                "sent N msgs B bytes hash H" over the records to --dport not
                marked with a leading '-' (those the receiver must not get),
                and "port P sent N msgs B bytes hash H" over those to each
                other DPORT; with --then-huge a header with h_len
                0x7fffffff follows them in the same write; with
                --cong-maps N, N congestion maps (8 KiB, all clear) go
                before them (a flood of events for the receiver's BPF);
                with --lane-first, path 0 connects and stays silent, a
                second connection (lane 1) writes the datagrams, and only
                then (0.5 s later) does path 0 send the probe with NPATHS 2:
                a lane that comes before the path count is known
  lanes         path 0 connects and stays silent (no probe), then --count
                more connections; prints "lanes open O reset R" once B had
                0.5 s (or --hold) to answer them, resets them all, and
                does it again
  late-pong     path 0 connects, leaves B's probe unanswered (B settles on
                one path) and reads the datagrams of B's senders on --ports
                to --dport (--per-port each, rds-xfer's generator); after
                --before of them it stops reading path 0 for --stall s, then
                sends the pong with NPATHS 8 and opens lanes 1..7; path 0
                stays unread until --until exists or a lane brings a
                datagram, then is read --trickle bytes each 10 ms (all it
                can, without). It reads as a kernel's receiver delivers:
                what reached A's receive buffer has arrived, so before
                datagrams read from a lane come all that path 0 held when
                they were read. Per port the index of each must rise by
                one (--size MIN at least 8: each is known by its size and
                first 8 bytes); prints "received N msgs, out of order K,
                lanes used L, ports P", a line per port
                "from port P msgs N bytes B paths I,J", and
                "result in-order|out-of-order|missing" (exit 1 unless in-order)
  larger        only connect (from --src, a larger address than DST); with
                --listen, then wait for DST to connect back to --src:16385 and
                print the first frames it sends

Output, one fact per line:
  connected SRC:PORT -> DST:16385
  result reset|closed|open      how DST ended the connection (open: 5 s passed)
  connect-back from ADDR:PORT   (larger --listen)
  frame seq S len L sport P dport D flags 0xF ext HEX
"""
import argparse
import fcntl
import os
import random
import select
import socket
import struct
import sys
import termios
import time

RDS_TCP_PORT = 16385
RDS_MPATH_WORKERS = 8
RDS_CONG_MAP_BYTES = 8192  # 65536 ports, one bit each
HDR = struct.Struct(">QQIHHBB4sH16s")  # struct rds_header, 48 bytes, big-endian
assert HDR.size == 48
M64 = (1 << 64) - 1
FNV_INIT = 0xCBF29CE484222325


def header(seq=0, length=0, sport=0, dport=0, flags=0, ext=b""):
    return HDR.pack(seq, 0, length, sport, dport, flags, 0, b"\0" * 4, 0, ext.ljust(16, b"\0"))


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def gen_head(seed, port, idx, lo, hi, upto):
    """The size of rds-xfer's message idx of the sender bound to port, and
    its first upto bytes."""
    s = (seed ^ (port << 48) ^ (idx * 0xD1B54A32D192ED03)) & M64
    s, v = splitmix64(s)
    size = lo + v % (hi - lo + 1)
    n = min(size, upto)
    out = bytearray()
    while len(out) < n:
        s, v = splitmix64(s)
        out += v.to_bytes(8, "little")
    return size, bytes(out[:n])


def gen_msg(seed, port, idx, lo, hi):
    """rds-xfer's gen_msg(): message idx of the sender bound to port."""
    return gen_head(seed, port, idx, lo, hi, hi)[1]


def fnv(h, data):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def say(*a):
    print(*a, flush=True)


def connect(args, rcvbuf=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if args.src:
        s.bind((args.src, 0))
    s.settimeout(5)
    s.connect((args.dst, RDS_TCP_PORT))
    la, lp = s.getsockname()
    say(f"connected {la}:{lp} -> {args.dst}:{RDS_TCP_PORT}")
    return s


def probe(npaths, gen, pong=False):
    """A legacy kernel's probe ping (sport RDS_FLAG_PROBE_PORT) or its pong
    (dport RDS_FLAG_PROBE_PORT), with NPATHS and GEN_NUM."""
    ext = bytes([5]) + npaths.to_bytes(2, "big") + bytes([6]) + gen.to_bytes(4, "big")
    return header(seq=1, dport=1, ext=ext) if pong else header(sport=1, ext=ext)


def result(s, timeout=5.0):
    """Read (and discard) what the peer sends until it ends the connection."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return "closed"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "open"


def send_then_result(s, data):
    try:
        s.sendall(data)
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    return result(s)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf


def print_frames(c, count, timeout):
    c.settimeout(timeout)
    try:
        for _ in range(count):
            seq, _ack, length, sport, dport, flags, _cr, _pad, _cs, ext = HDR.unpack(recv_exact(c, 48))
            recv_exact(c, length)
            say(f"frame seq {seq} len {length} sport {sport} dport {dport} flags {flags:#04x} ext {ext.hex()}")
    except (EOFError, OSError) as e:
        say(f"frames ended: {e.__class__.__name__}")


class Stream:
    """The records of one connection, as they are read: path 0 or a lane."""

    def __init__(self, sock, path):
        self.sock, self.path, self.buf, self.eof = sock, path, bytearray(), False

    def read(self, most=1 << 20):
        """What the socket has, up to most bytes (waiting for it or not, as
        the socket is set): how many bytes, 0 if none or at its end."""
        try:
            d = self.sock.recv(most)
        except (BlockingIOError, socket.timeout):
            return 0
        except ConnectionResetError:
            d = b""
        self.buf += d
        self.eof = not d
        return len(d)

    def records(self):
        """The complete records read: (sport, dport, flags, length, first 8 payload bytes)."""
        out, off = [], 0
        while len(self.buf) - off >= HDR.size:
            _seq, _ack, length, sport, dport, flags = HDR.unpack_from(self.buf, off)[:6]
            if len(self.buf) - off - HDR.size < length:
                break
            p = off + HDR.size
            out.append((sport, dport, flags, length, bytes(self.buf[p:p + 8])))
            off = p + length
        del self.buf[:off]
        return out


class Order:
    """The datagrams to --dport of B's senders on --ports, each sending
    --per-port messages of rds-xfer's generator: the index of each is known
    by its size and first 8 bytes, and per port it must rise by one."""

    def __init__(self, args):
        lo, hi = (int(x) for x in args.size.split(":"))
        self.dport = args.dport
        self.index = {}
        for port in (int(p) for p in args.ports.split(",")):
            self.index[port] = {gen_head(args.seed, port, i, lo, hi, 8): i for i in range(args.per_port)}
            assert len(self.index[port]) == args.per_port, "messages of one port alike: raise --size"
        self.next = dict.fromkeys(self.index, 0)
        self.msgs = dict.fromkeys(self.index, 0)
        self.bytes = dict.fromkeys(self.index, 0)
        self.paths = {port: set() for port in self.index}
        self.total = self.late = self.unknown = 0

    def is_data(self, rec):
        """Not a congestion map, a probe or a ping."""
        return not rec[2] & 0x01 and rec[1] == self.dport

    def record(self, path, rec):
        sport, _dport, _flags, length, head = rec
        if not self.is_data(rec):
            return
        idx = self.index.get(sport, {}).get((length, head))
        if idx is None:
            self.unknown += 1
            if self.unknown <= 5:
                say(f"unknown datagram from port {sport} len {length} on path {path}")
            return
        if idx != self.next[sport]:
            self.late += 1
            if self.late <= 5:
                say(f"out of order: port {sport} index {idx} on path {path}, expected {self.next[sport]}")
        self.next[sport] = idx + 1
        self.total += 1
        self.msgs[sport] += 1
        self.bytes[sport] += length
        self.paths[sport].add(path)


def late_pong(args):
    """Path 0 unread while B sends, then the pong with NPATHS 8 and 7 lanes:
    in what order would a kernel's receiver deliver each port's datagrams?"""
    order = Order(args)
    want = len(order.index) * args.per_port
    path0 = Stream(connect(args, args.rcvbuf), 0)
    path0.sock.settimeout(20)
    while order.total < args.before:
        if not path0.read():
            say("result no-data")
            return 1
        for rec in path0.records():
            order.record(0, rec)
    say(f"path 0 unread after {order.total} msgs")
    time.sleep(args.stall)
    path0.sock.sendall(probe(RDS_MPATH_WORKERS, 0x1234, pong=True))
    lanes = [Stream(connect(args), i) for i in range(1, RDS_MPATH_WORKERS)]
    say(f"pong sent with NPATHS {RDS_MPATH_WORKERS}, lanes {len(lanes)}")
    for st in [path0] + lanes:
        st.sock.setblocking(False)

    def read_path0(most):
        """Up to most bytes of what path 0 has, and the records they complete."""
        while most > 0:
            n = path0.read(most)
            if not n:
                break
            most -= n
        for rec in path0.records():
            order.record(0, rec)

    # Path 0 stays unread until B has the lanes up (--until, at most 10 s)
    # or one of them brings a datagram; then it is read --trickle bytes
    # every 10 ms (a slow network), so that its backlog is acknowledged a
    # little at a time while the lanes are open.
    held, held_until = True, time.monotonic() + 10
    idle_until = time.monotonic() + args.idle
    path0_at = 0
    while order.total < want and time.monotonic() < idle_until:
        now = time.monotonic()
        if held and (now > held_until or (args.until and os.path.exists(args.until))):
            held = False
            say(f"path 0 read again after {order.total} msgs")
        live = [st for st in ([] if held or now < path0_at else [path0]) + lanes if not st.eof]
        if not live and path0.eof:
            break
        wait = 0.05 if held or now >= path0_at else path0_at - now
        ready, _, _ = select.select([st.sock for st in live], [], [], wait)
        before = order.total
        for st in live:
            if st.sock not in ready:
                continue
            if st is path0:
                read_path0(args.trickle or 1 << 20)
                path0_at = time.monotonic() + 0.01 if args.trickle else 0
                continue
            st.read()
            # What path 0 has now reached A before (or with) what was
            # just read from the lane: a kernel's receiver delivers it first.
            earlier = struct.unpack("i", fcntl.ioctl(path0.sock, termios.FIONREAD, bytes(4)))[0]
            recs = st.records()
            if any(order.is_data(rec) for rec in recs):
                if held:
                    held = False
                    say(f"path 0 read again after {order.total} msgs: a datagram on lane {st.path}")
                read_path0(earlier)
            for rec in recs:
                order.record(st.path, rec)
        if order.total > before:
            idle_until = time.monotonic() + args.idle
    lanes_used = len({p for ps in order.paths.values() for p in ps if p > 0})
    say(f"received {order.total} msgs, out of order {order.late}, lanes used {lanes_used}, "
        f"ports {sum(1 for n in order.msgs.values() if n)}")
    for port in order.index:
        say(f"from port {port} msgs {order.msgs[port]} bytes {order.bytes[port]} "
            f"paths {','.join(map(str, sorted(order.paths[port])))}")
    for st in [path0] + lanes:
        st.sock.close()
    res = "out-of-order" if order.late else "missing" if order.total < want or order.unknown else "in-order"
    say(f"result {res}")
    return 0 if res == "in-order" else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", choices=["garbage", "huge-len", "truncated", "bad-cong-map", "datagrams", "lanes",
                                     "late-pong", "larger"])
    ap.add_argument("--dst", required=True)
    ap.add_argument("--src")
    ap.add_argument("--listen", action="store_true")
    ap.add_argument("--sport", type=int, default=5000)
    ap.add_argument("--dport", type=int, default=4000)
    ap.add_argument("--seed", type=lambda v: int(v, 0), default=0)
    ap.add_argument("--size", default="0:1024")
    ap.add_argument("--msgs", default="1:0")
    ap.add_argument("--chunk", type=int, default=0, help="datagrams: write N bytes at a time")
    ap.add_argument("--hold", type=float, default=0.0, help="seconds to stay connected and silent first")
    ap.add_argument("--until", help="end the --hold (late-pong: path 0 unread) early once this file exists")
    ap.add_argument("--count", type=int, default=20, help="lanes: connections per round")
    ap.add_argument("--lane-first", action="store_true", help="datagrams: on lane 1, before the probe")
    ap.add_argument("--then-huge", action="store_true", help="datagrams: then a header with h_len 0x7fffffff")
    ap.add_argument("--cong-maps", type=int, default=0, help="datagrams: so many congestion maps first")
    ap.add_argument("--ports", default="5000", help="late-pong: B's sender ports")
    ap.add_argument("--per-port", type=int, default=1000, help="late-pong: messages each sends")
    ap.add_argument("--before", type=int, default=200, help="late-pong: messages read before path 0 stalls")
    ap.add_argument("--stall", type=float, default=1.0, help="late-pong: seconds path 0 is unread before the pong")
    ap.add_argument("--trickle", type=int, default=0, help="late-pong: path 0 read this much each 10 ms")
    ap.add_argument("--rcvbuf", type=int, default=65536, help="late-pong: path 0's SO_RCVBUF")
    ap.add_argument("--idle", type=float, default=5.0, help="late-pong: give up after this long with no datagram")
    args = ap.parse_args()

    if args.case == "larger":
        ls = None
        if args.listen:
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((args.src, RDS_TCP_PORT))
            ls.listen(4)
        try:
            s = connect(args)
            res = result(s)
            s.close()
        except ConnectionResetError:
            res = "reset"  # the reset came before connect() returned
        say(f"result {res}")
        if ls:
            ls.settimeout(5)
            try:
                c, (fa, fp) = ls.accept()
            except socket.timeout:
                say("no connect-back")
                return 1
            say(f"connect-back from {fa}:{fp}")
            print_frames(c, 2, 5)
            c.close()
            ls.close()
        return 0

    if args.case == "late-pong":
        return late_pong(args)

    if args.case == "lanes":
        path0 = connect(args)
        for _ in range(2):
            lanes, states = [], []
            for _ in range(args.count):
                try:
                    lanes.append(connect(args))
                except ConnectionResetError:
                    states.append("reset")  # reset before connect() returned
            time.sleep(max(0.5, args.hold))
            states += [result(c, 0.01) for c in lanes]
            say(f"lanes open {states.count('open')} reset {states.count('reset')}")
            for c in lanes:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            time.sleep(0.2)
        path0.close()
        return 0

    s = connect(args)
    end = time.monotonic() + args.hold
    while time.monotonic() < end and not (args.until and os.path.exists(args.until)):
        time.sleep(0.05)
    if args.case == "garbage":
        rnd = random.Random(args.seed)
        data = bytearray(rnd.getrandbits(8) for _ in range(4096))
        data[16] = 0xFF  # h_len >= 0xff000000: far above 1 MiB
        data[24] = 0x00  # h_flags: not a congestion map
        say(f"result {send_then_result(s, bytes(data))}")
    elif args.case == "huge-len":
        say(f"result {send_then_result(s, header(seq=1, length=0x7FFFFFFF, sport=args.sport, dport=args.dport))}")
    elif args.case == "bad-cong-map":
        say(f"result {send_then_result(s, header(length=100, flags=0x01) + bytes(100))}")
    elif args.case == "truncated":
        s.sendall(header(seq=1, length=1000, sport=args.sport, dport=args.dport) + bytes(500))
        s.close()
        say("result sent-and-closed")
    elif args.case == "datagrams":
        lo, hi = (int(x) for x in args.size.split(":"))
        sent = {}  # dport: [hash, msgs, bytes]
        out = b""
        for item in args.msgs.split(","):
            dropped = item.startswith("-")
            f = [int(x, 0) for x in item.lstrip("-").split(":")]
            seq, idx, flags = f[0], f[1], f[2] if len(f) > 2 else 0
            dport = f[3] if len(f) > 3 else args.dport
            payload = gen_msg(args.seed, args.sport, idx, lo, hi)
            out += header(seq=seq, length=len(payload), sport=args.sport, dport=dport, flags=flags) + payload
            if not dropped:
                h, n, total = sent.get(dport, [FNV_INIT, 0, 0])
                sent[dport] = [fnv(fnv(h, len(payload).to_bytes(4, "little")), payload), n + 1, total + len(payload)]
        if args.then_huge:
            out += header(seq=0, length=0x7FFFFFFF, sport=args.sport, dport=args.dport)
        out = (header(length=RDS_CONG_MAP_BYTES, flags=0x01) + bytes(RDS_CONG_MAP_BYTES)) * args.cong_maps + out
        path0 = None
        if args.lane_first:
            path0, s = s, connect(args)
        if args.chunk > 0:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(out), args.chunk):
                s.sendall(out[i:i + args.chunk])
                time.sleep(0.002)
        else:
            s.sendall(out)
        h, n, total = sent.pop(args.dport, [FNV_INIT, 0, 0])
        say(f"sent {n} msgs {total} bytes hash {h:016x}")
        for dport, (h, n, total) in sorted(sent.items()):
            say(f"port {dport} sent {n} msgs {total} bytes hash {h:016x}")
        if path0:
            time.sleep(0.5)
            path0.sendall(probe(2, 0x1234))
        try:
            s.shutdown(socket.SHUT_WR)
            res = result(s)
        except OSError:
            res = "reset"  # already reset: shutdown finds no connection
        say(f"result {res}")
        if path0:
            path0.close()
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
