#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""An application that lives through an engine restart, with Python's own
socket.AF_RDS under the shim. Usage: rds-restart.py LADDR PORT PEER PEERPORT DIR
Against an echo peer: one datagram before; then, once DIR/gone exists (the
test stopped an engine), a nonblocking send and recv while no engine runs
(errno printed), a blocking send that waits for the next engine (its wall
and CPU time printed), and the echo of datagrams sent after it, with the
socket's name and options as they were. Prints "ok" at the end."""
import errno
import os
import socket
import sys
import time

LADDR, PORT, PEER, PEERPORT, DIR = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
DST = (PEER, PEERPORT)


def fail(msg):
    print("FAIL %s" % msg)
    sys.exit(1)


def wait_file(name, secs=30):
    for _ in range(secs * 20):
        if os.path.exists(os.path.join(DIR, name)):
            return
        time.sleep(0.05)
    fail("no %s" % name)


def echo(s, data):
    s.sendto(data, DST)
    got, frm = s.recvfrom(65536)
    if got != data or frm != DST:
        fail("echo %r from %r, sent %r" % (got, frm, data))


def cpu():
    t = os.times()
    return t.user + t.system


s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
s.bind((LADDR, PORT))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 300000)
s.settimeout(None)
name, rcvbuf = s.getsockname(), s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
echo(s, b"before")
open(os.path.join(DIR, "ready"), "w").close()
wait_file("gone")
if os.path.exists(os.path.join(DIR, "local")):
    # this host's engine is gone: nonblocking calls fail at once
    for what, call in (("send", lambda: s.sendto(b"x", socket.MSG_DONTWAIT, DST)),
                       ("recv", lambda: s.recv(100, socket.MSG_DONTWAIT))):
        try:
            call()
            fail("nonblocking %s without an engine succeeded" % what)
        except OSError as e:
            print("nonblocking %s errno %s" % (what, errno.errorcode[e.errno]))
# blocks until an engine runs again (the test starts one after a while)
t0, c0 = time.monotonic(), cpu()
s.sendto(b"during", DST)
print("blocked send wall %.2f cpu %.3f" % (time.monotonic() - t0, cpu() - c0))
got = s.recv(65536)
if got != b"during":
    fail("echo %r, sent b'during'" % got)
for i in range(100):
    echo(s, b"after %d" % i)
if s.getsockname() != name or s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) != rcvbuf:
    fail("name %r rcvbuf %d, were %r %d" % (s.getsockname(), s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                                          name, rcvbuf))
print("ok")
