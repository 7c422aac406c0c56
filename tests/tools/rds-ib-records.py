#!/usr/bin/env python3
"""RDS/IB messages in a RoCEv2 capture (udp port 4791), one line each.

    rds-ib-records.py FILE.pcap [--tail N]

Over IB every fragment of a message is its own SEND and starts with the
message's 48-byte RDS header (net/rds/ib_send.c rds_ib_xmit), so a message
is the SENDs of one direction carrying one sequence number. Each line:
first time, endpoints, seq, h_len, ports, flags, the fragments seen
against the fragments of one copy (more: a retransmission; fewer: cut off)
and the highest h_ack it carried. Ack-only frames and congestion maps are
summarised per direction. tshark (which knows RoCEv2) reads the capture.
"""
import subprocess
import sys

SEND_FIRST, SEND_ONLY = 0, 4
FLAG_ACK_REQUIRED, FLAG_RETRANSMITTED, FLAG_CONG_BITMAP = 0x02, 0x04, 0x01


def sends(path):
    out = subprocess.run(
        ["tshark", "-n", "-r", path, "-Y",
         f"infiniband.bth.opcode == {SEND_FIRST} || infiniband.bth.opcode == {SEND_ONLY}",
         "-T", "fields", "-e", "frame.time_relative", "-e", "ip.src", "-e", "ip.dst",
         "-e", "data.data"],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 4 or len(f[3]) < 96:
            continue
        h = bytes.fromhex(f[3][:96])
        yield (float(f[0]), f[1], f[2], int.from_bytes(h[0:8], "big"), int.from_bytes(h[8:16], "big"),
               int.from_bytes(h[16:20], "big"), int.from_bytes(h[20:22], "big"),
               int.from_bytes(h[22:24], "big"), h[24])


def main():
    if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--tail"):
        sys.exit("usage: rds-ib-records.py FILE.pcap [--tail N]")
    msgs, order, other = {}, [], {}
    for t, src, dst, seq, ack, hlen, sport, dport, flags in sends(sys.argv[1]):
        if seq == 0:	# ack-only frames, congestion maps
            kind = "cong-map" if flags & FLAG_CONG_BITMAP else "ack-only"
            o = other.setdefault((src, dst, kind), [0, 0])
            o[0] += 1
            o[1] = max(o[1], ack)
            continue
        key = (src, dst, seq)
        m = msgs.get(key)
        if m is None:
            m = msgs[key] = {"t": t, "len": hlen, "ports": f"{sport}->{dport}", "flags": 0, "frags": 0,
                             "ack": 0}
            order.append(key)
        m["flags"] |= flags
        m["frags"] += 1
        m["ack"] = max(m["ack"], ack)
    lines = []
    for key in order:
        m = msgs[key]
        lines.append(f"{m['t']:10.6f} {key[0]}>{key[1]} seq {key[2]} len {m['len']} ports {m['ports']} "
                     f"flags {m['flags']:#04x}{' RETRANSMITTED' if m['flags'] & FLAG_RETRANSMITTED else ''} "
                     f"frags {m['frags']}/{max(1, (m['len'] + 4095) // 4096)} ack {m['ack']}")
    if len(sys.argv) == 4:
        lines = lines[-int(sys.argv[3]):]
    print("\n".join(lines))
    for (src, dst, kind), (n, ack) in sorted(other.items()):
        print(f"{src}>{dst} {kind}: {n} frames, highest ack {ack}")


if __name__ == "__main__":
    main()
