#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""An engine of another build, as far as its control socket goes: it listens
on the namespace's "rds-bpf/engine" and answers every request with success,
socket ABI ABI and, for OPEN and ATTACH, five descriptors as a real engine
sends them (/dev/null here), which a library that refuses it must close.

  rds-fake-engine.py ABI LOG
      writes "ready" to LOG once listening, then the op of every request,
      a line each; runs until killed."""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ctlraw = __import__("rds-ctlraw")

OPEN, ATTACH = 1, 10

abi, log = int(sys.argv[1], 0), sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind("\0rds-bpf/engine")
srv.listen(16)
with open(log, "a", buffering=1) as out:
    out.write("ready\n")
    while True:
        c, _ = srv.accept()
        req = c.recv(ctlraw.REQ.size)
        if len(req) == ctlraw.REQ.size:
            op = ctlraw.REQ.unpack(req)[0]
            out.write("%d\n" % op)
            rep = ctlraw.REP.pack(0, 0, 0, abi, 0, 1)
            fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(5)] if op in (OPEN, ATTACH) else []
            c.sendmsg([rep], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("5i", *fds))] if fds else [])
            for fd in fds:
                os.close(fd)
        c.close()
