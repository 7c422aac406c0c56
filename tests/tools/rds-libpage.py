#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""RDSB_CTL_LIB_PAGE (user/common/ctl_proto.h) from a program past the
library: on a socket's control connection (OPEN first), the request with
what a hostile or broken library could pass along. Prints one line a case,
"CASE err ERRNO", then "engine answers" if a second socket still opens."""
import mmap
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ctlraw = __import__("rds-ctlraw")

OPEN, LIB_PAGE = 1, 14
ABI = ctlraw.rdsb_abi()


def opened():
    """A control connection that OPENed a socket (its fds closed)"""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.settimeout(5)
    c.connect("\0rds-bpf/engine")
    c.send(ctlraw.REQ.pack(OPEN, 0, bytes(16), 0, 0, ABI, 0))
    _, fds, _, _ = socket.recv_fds(c, ctlraw.REP.size, 16)
    for fd in fds:
        os.close(fd)
    return c


def lib_page(c, fds):
    req = ctlraw.REQ.pack(LIB_PAGE, 0, bytes(16), 0, 0, ABI, 0)
    if fds:
        c.sendmsg([req], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))])
    else:
        c.send(req)
    return ctlraw.REP.unpack_from(c.recv(64))[0]


def memfd(size, seal):
    fd = os.memfd_create("page", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if seal:
        import fcntl
        fcntl.fcntl(fd, 1033, 1 | 2 | 4)	# F_ADD_SEALS: SEAL, SHRINK, GROW
    return fd


c = opened()
r, w = os.pipe()
cases = [("none", []), ("pipe", [r]), ("devnull", [os.open("/dev/null", os.O_RDONLY)]),
         ("unsealed-memfd", [memfd(4096, False)]), ("small-sealed-memfd", [memfd(100, True)]),
         ("two-fds", [memfd(4096, True), memfd(4096, True)]),
         ("three-fds", [memfd(4096, True), memfd(4096, True), memfd(4096, True)]), ("sealed-memfd", [memfd(8192, True)]),
         ("again", [memfd(8192, True)])]
for name, fds in cases:
    print("%s err %d" % (name, lib_page(c, fds)))
c.close()
opened().close()
print("engine answers")
