#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Datagrams left unread in a socket when its engine dies, and the call that
finds the next engine first. Python's own socket.AF_RDS, under the shim.

  rds-unread.py send LADDR PORT DEST N DIR
      sends N datagrams "old <i>" to each DEST (ADDR:PORT,ADDR:PORT,...),
      creates DIR/sent, then, once DIR/new exists, one "new" to each (no
      call on the socket between the two: it only looks for the file); it
      keeps its socket open until DIR/done exists (a close drops what is
      not sent yet, as the kernel's rds_release); its CPU time stays under
      1 s
  rds-unread.py recv LADDR PORT PEER N DIR MODE
      binds, creates DIR/ready.PORT, and calls on the socket no more until
      DIR/go exists (the test kills the engine and loads the next one
      meanwhile); then its first call is MODE: "send" (a datagram to PEER,
      ADDR:PORT), "poll" (select.poll for POLLIN), "epoll" (select.epoll,
      EPOLLIN) or "setsockopt" (SO_RCVBUF 300000: getsockopt then says
      600000, as the kernel's doubled value), "recv" (nothing: a recv),
      "peek" (a blocking socket, no
      timeout: a recv with MSG_PEEK before every recv, which must take what it
      showed, at the end of the dead engine's stream too, where it waits
      for the next engine's; the process's CPU time stays under 1 s), or
      "backlog" (nothing: a recv;
      before DIR/ready.PORT it shrinks the kernel's receive buffer of the
      socket's stream to its least, past the shim, so that on the BPF receive
      path what the verdict redirects waits in the psock's backlog, moved into
      the socket's queue one record at a time as it is read), after which it creates
      DIR/first.PORT; then it reads until it has the N "old" datagrams and the
      "new" one, all from PEER (the sender's bound address). Prints "ok N+1"
      if they came whole, once, in order.
  RDS_UNREAD_PAD=BYTES (for both): each "old <i>" padded with dots to BYTES."""
import ctypes
import os
import resource
import select
import socket
import sys
import time


def addr(s):
    a, p = s.rsplit(":", 1)
    return (a, int(p))


PAD = int(os.environ.get("RDS_UNREAD_PAD", "0"))


def old(i):
    return (b"old %d" % i).ljust(PAD, b".")


def wait_file(path, secs=30):
    for _ in range(secs * 20):
        if os.path.exists(path):
            return
        time.sleep(0.05)
    sys.exit("FAIL no %s" % path)


def sender(laddr, port, dests, n, d):
    s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
    s.bind((laddr, port))
    for i in range(n):
        for dst in dests:
            s.sendto(old(i), dst)
    open(os.path.join(d, "sent"), "w").close()
    wait_file(os.path.join(d, "new"))
    for dst in dests:
        s.sendto(b"new", dst)
    print("sent %d" % (n + 1))
    wait_file(os.path.join(d, "done"), 60)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    if ru.ru_utime + ru.ru_stime >= 1.0:
        sys.exit("FAIL send: %.2f s of CPU" % (ru.ru_utime + ru.ru_stime))


def first_call(s, mode, peer):
    if mode == "send":
        s.sendto(b"first", peer)
    elif mode == "poll":
        p = select.poll()
        p.register(s, select.POLLIN)
        if not p.poll(20000):
            sys.exit("FAIL poll: nothing readable")
    elif mode == "setsockopt":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 300000)
        got = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if got != 600000:
            sys.exit("FAIL setsockopt: SO_RCVBUF %d, not 600000" % got)
    elif mode in ("backlog", "peek", "recv"):
        pass
    elif mode == "epoll":
        e = select.epoll()
        e.register(s.fileno(), select.EPOLLIN)
        if not e.poll(20):
            sys.exit("FAIL epoll: nothing readable")
        e.close()
    else:
        sys.exit("FAIL mode %s" % mode)


def receiver(laddr, port, peer, n, d, mode):
    s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
    s.bind((laddr, port))
    if mode == "backlog":
        libc = ctypes.CDLL(None, use_errno=True)
        one = ctypes.c_int(1)
        # setsockopt(fd, SOL_SOCKET, SO_RCVBUF) as a system call: the shim
        # would take it for the RDS socket's
        nr = {"x86_64": 54, "aarch64": 208}[os.uname().machine]
        if libc.syscall(nr, s.fileno(), socket.SOL_SOCKET, socket.SO_RCVBUF, ctypes.byref(one), 4):
            sys.exit("FAIL raw setsockopt: errno %d" % ctypes.get_errno())
    open(os.path.join(d, "ready.%d" % port), "w").close()
    wait_file(os.path.join(d, "go"))
    first_call(s, mode, peer)
    open(os.path.join(d, "first.%d" % port), "w").close()
    s.settimeout(None if mode == "peek" else 20)
    want = [old(i) for i in range(n)] + [b"new"]
    for i, w in enumerate(want):
        try:
            if mode == "peek":
                shown = s.recvfrom(PAD + 100, socket.MSG_PEEK)
            got, frm = s.recvfrom(PAD + 100)
        except OSError as e:
            sys.exit("FAIL %s: %d of %d, then %r" % (mode, i, len(want), e))
        if got != w or frm != peer:
            # padded datagrams told apart by their start
            sys.exit("FAIL %s: datagram %d is %r from %r, not %r from %r" % (mode, i, got[:16], frm, w[:16], peer))
        if mode == "peek" and shown != (got, frm):
            sys.exit("FAIL peek: datagram %d showed %r, then read %r" % (i, shown, (got, frm)))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    if mode == "peek" and ru.ru_utime + ru.ru_stime >= 1.0:
        sys.exit("FAIL peek: %.2f s of CPU" % (ru.ru_utime + ru.ru_stime))
    print("ok %d" % len(want))


def main():
    if sys.argv[1] == "send":
        _, _, laddr, port, dests, n, d = sys.argv
        sender(laddr, int(port), [addr(x) for x in dests.split(",")], int(n), d)
    else:
        _, _, laddr, port, peer, n, d, mode = sys.argv
        receiver(laddr, int(port), addr(peer), int(n), d, mode)


main()
