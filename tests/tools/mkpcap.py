#!/usr/bin/env python3
"""Hand-made capture files for the rds-dissect tests:

    mkpcap.py CASE OUT.pcap

Each CASE writes one classic pcap (Ethernet) of RDS/TCP traffic between
10.0.0.1 and 10.0.0.2 (or fd00::1 and fd00::2), well formed or deliberately
broken; tests/bats/dissect.bats says what the dissector must print for each.
MKPCAP_PORT sets the RDS/TCP port (default 16385).
"""
import os
import random
import struct
import sys

RDS_PORT = int(os.environ.get("MKPCAP_PORT", "16385"))


def rds_hdr(seq, length, sport, dport, flags=0, ext=b"", ack=0, credit=0, csum=0):
    return struct.pack(">QQIHHBB4sH16s", seq, ack, length, sport, dport, flags, credit, b"\0" * 4, csum,
                       ext.ljust(16, b"\0"))


def record(seq, payload, sport=5000, dport=4000, **kw):
    return rds_hdr(seq, len(payload), sport, dport, **kw) + payload


class Capture:
    def __init__(self, v6=False, magic=0xA1B2C3D4, endian="<"):
        self.v6 = v6
        self.e = endian
        self.out = bytearray(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, 1))
        self.t = 1000.0

    def frame(self, src, dst, sport, dport, seq, flags, payload=b"", cut=0):
        tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, flags, 65535, 0, 0) + payload
        if self.v6:
            ip = struct.pack(">IHBB16s16s", 6 << 28, len(tcp), 6, 64, src, dst) + tcp
            eth = b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd"
        else:
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst) + tcp
            eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
        self.raw(eth + ip, cut)

    def raw(self, pkt, cut=0):
        """One record; cut > 0 keeps that many bytes fewer in the file (snaplen)."""
        self.t += 0.001
        sec, usec = int(self.t), int((self.t % 1) * 1e6)
        kept = pkt[:len(pkt) - cut]
        self.out += struct.pack(self.e + "IIII", sec, usec, len(kept), len(pkt)) + kept

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.out)


class Stream:
    """One direction of a TCP connection: a client port to RDS_PORT (or back)."""

    def __init__(self, cap, cport=40000, reverse=False, isn=1000):
        self.cap = cap
        if cap.v6:
            a, b = b"\xfd" + bytes(14) + b"\1", b"\xfd" + bytes(14) + b"\2"
        else:
            a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
        self.src, self.dst, self.sport, self.dport = (b, a, RDS_PORT, cport) if reverse else (a, b, cport, RDS_PORT)
        self.isn = isn
        self.off = 0  # bytes sent after the SYN

    def syn(self):
        self.cap.frame(self.src, self.dst, self.sport, self.dport, self.isn, 0x02)

    def send(self, data, at=None, flags=0x18, cut=0):
        off = self.off if at is None else at
        self.cap.frame(self.src, self.dst, self.sport, self.dport, self.isn + 1 + off, flags, data, cut)
        if at is None:
            self.off += len(data)

    def rst(self):
        self.cap.frame(self.src, self.dst, self.sport, self.dport, self.isn + 1 + self.off, 0x04)


def handshake_and_data(cap):
    """The opening of a path as the kernel does it, data split over segments,
    one segment retransmitted and one out of order."""
    c, s = Stream(cap), Stream(cap, reverse=True, isn=7000)
    c.syn()
    s.syn()
    cmap = bytearray(8192)
    for port in (9, 4002):  # little-endian bit order
        cmap[port >> 3] |= 1 << (port & 7)
    s.send(rds_hdr(0, 8192, 0, 0, flags=1) + bytes(cmap))
    c.send(rds_hdr(1, 0, 1, 0, ext=bytes.fromhex("05000806a1b2c3d40800")))
    s.send(rds_hdr(1, 0, 0, 1, ext=bytes.fromhex("050008")))
    data = record(2, bytes(range(100)), flags=4) + record(3, b"x" * 3000) + record(4, b"")
    c.send(data[:30])
    c.send(data[:30], at=0 + 48)           # the same bytes again (retransmission)
    later = data[1000:]
    c.send(later, at=48 + 1000)            # ahead of a hole ...
    c.send(data[30:1000], at=48 + 30)      # ... which this fills
    c.off += len(data) - 30
    c.send(record(5, b"pp", sport=7, dport=0))     # an rds ping
    s.send(record(2, b"", sport=0, dport=7))       # its pong


def main():
    case, path = sys.argv[1], sys.argv[2]
    cap = Capture(v6=case == "v6")
    if case in ("good", "v6"):
        handshake_and_data(cap)
    elif case == "swapped":  # written on a big-endian host, nanosecond stamps
        cap = Capture(magic=0xA1B23C4D, endian=">")
        handshake_and_data(cap)
    elif case == "truncated":  # the file ends inside a packet
        handshake_and_data(cap)
        cap.out = cap.out[:-10]
    elif case == "huge-caplen":
        handshake_and_data(cap)
        cap.out += struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 0x7FFFFFFF)
    elif case == "garbage":  # not RDS after the SYN
        c = Stream(cap)
        c.syn()
        rnd = random.Random(1)
        c.send(bytes(rnd.randrange(256) for _ in range(500)))
    elif case == "huge-len":
        c = Stream(cap)
        c.syn()
        c.send(record(1, b"ok") + rds_hdr(2, 0xFFFFFFFF, 5000, 4000) + b"more")
    elif case == "cong-bad-len":  # a map of the wrong size: the kernel frames it by h_len and ignores it
        c = Stream(cap)
        c.syn()
        c.send(rds_hdr(0, 100, 0, 0, flags=1) + bytes(100) + record(1, b"after"))
    elif case == "ext-stop":  # an extension type >= 16 ends the list
        c = Stream(cap)
        c.syn()
        c.send(rds_hdr(1, 0, 5000, 4000, ext=bytes.fromhex("0500021405")))
    elif case == "no-syn":  # the capture began mid-stream
        c = Stream(cap)
        c.send(record(9, b"abc"))
    elif case == "rst":  # a reset cuts a record
        c = Stream(cap)
        c.syn()
        c.send(record(1, b"a" * 10) + rds_hdr(2, 100, 5000, 4000) + b"b" * 10)
        c.rst()
        c.send(record(3, b"c"))  # after the RST: not part of the stream
    elif case == "hole":  # a segment never captured
        c = Stream(cap)
        c.syn()
        c.send(record(1, b"a" * 10))
        c.send(record(3, b"c"), at=200)
    elif case == "snaplen":  # the capture kept only part of a segment
        c = Stream(cap)
        c.syn()
        c.send(record(1, b"a" * 100), cut=50)
    elif case == "bad-ip":
        c = Stream(cap)
        c.syn()
        cap.raw(b"\x02" * 12 + b"\x08\x00" + b"\x43" + bytes(40))  # IHL 3
        c.send(record(1, b"z"))
    elif case == "pcapng":  # a section header and no interface: no packet can be read
        cap.out = bytearray(struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28))
    elif case == "bad-magic":
        cap.out = bytearray(b"GIF89a" + bytes(40))
    elif case == "empty":
        cap.out = bytearray()
    else:
        sys.exit("mkpcap.py: unknown case " + case)
    cap.write(path)


if __name__ == "__main__":
    main()
