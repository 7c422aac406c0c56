#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Python's own socket.AF_RDS, run unmodified under the shim (LD_PRELOAD),
against what the kernel does. Usage: rds-shim.py CASE LADDR PORT [UNREACH]
Prints "ok CASE" and exits 0, or exits 1 with one line saying what differed."""
import errno
import hashlib
import os
import select
import socket
import struct
import sys
import threading
import time


def fail(msg):
    print("FAIL %s: %s" % (CASE, msg))
    sys.exit(1)


def rds_sock(port=None):
    s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
    if port is not None:
        s.bind((LADDR, port))
    return s


def close_while_recv():
    """close() from another thread while a thread blocks in recv: the fd goes,
    the socket stays until the recv returns (af_rds.c rds_release runs at the
    last reference), so the blocked reader gets the next datagram, and an fd
    opened after the close (reusing the number) is not read from."""
    r = rds_sock(PORT)
    got = []
    t = threading.Thread(target=lambda: got.append(r.recv(100)))
    t.start()
    time.sleep(0.3)
    fd = r.fileno()
    r.close()
    rd, wr = os.pipe()
    try:
        if fd in (rd, wr):
            os.write(wr, b"x" * 64)	# what a reader of the reused fd number would get
        s = rds_sock(PORT + 1)
        s.sendto(b"after close", (LADDR, PORT))
        t.join(5)
        if t.is_alive():
            fail("the reader did not get the datagram sent after close")
        if got != [b"after close"]:
            fail("the reader got %r" % got)
        s.close()
    finally:
        os.close(rd)
        os.close(wr)


def expect_errno(e, fn):
    try:
        fn()
    except OSError as x:
        if x.errno != e:
            fail("%s: %s, expected %s" % (fn, errno.errorcode.get(x.errno), errno.errorcode[e]))
        return
    fail("%s succeeded, expected %s" % (fn, errno.errorcode[e]))


def dup_fd():
    """dup/dup2/F_DUPFD (socket.dup, socket.fromfd, os.dup2) give the same RDS
    socket: options, sends and receives on any of them; it lives until the
    last is closed."""
    a, b = rds_sock(PORT), rds_sock(PORT + 1)
    d = a.dup()
    f = socket.fromfd(a.fileno(), socket.AF_RDS, socket.SOCK_SEQPACKET)
    spare = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    os.dup2(a.fileno(), spare.fileno())
    for n, s in (("dup", d), ("fromfd", f), ("dup2", spare)):
        if s.getsockopt(SOL_RDS, SO_RDS_TRANSPORT) != RDS_TRANS_TCP:
            fail("%s: SO_RDS_TRANSPORT is not TCP" % n)
        s.sendto(n.encode(), (LADDR, PORT + 1))
        b.sendto(b"to " + n.encode(), (LADDR, PORT))
    got = [b.recv(100) for _ in range(3)]
    if got != [b"dup", b"fromfd", b"dup2"]:
        fail("sends on the duplicates arrived as %r" % got)
    a.close()
    got = [d.recv(100), f.recv(100), spare.recv(100)]
    if got != [b"to dup", b"to fromfd", b"to dup2"]:
        fail("receives on the duplicates after closing the original: %r" % got)
    d.close()
    f.close()
    b.sendto(b"last", (LADDR, PORT))
    if spare.recv(100) != b"last":
        fail("the last duplicate does not receive")
    spare.close()
    b.close()


def close_range():
    """close_range (os.closerange) closes an RDS fd as close() does: the
    number's next owner is not taken for the RDS socket."""
    r = rds_sock(PORT)
    fd = r.detach()
    os.closerange(fd, fd + 1)
    spare = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    u = [x for x in spare if x.fileno() == fd]
    if not u:
        fail("the fd number %d was not reused" % fd)
    if u[0].getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_DGRAM:
        fail("the UDP socket that reuses the number answers as the RDS socket")
    for x in spare:
        x.close()
    again = rds_sock(PORT)	# the port was freed with the socket
    again.close()


def unsupported():
    """shutdown, listen: EOPNOTSUPP and the socket keeps working
    (sock_no_shutdown, sock_no_listen); FIONREAD: ENOTTY (rds_ioctl has no
    such command); SIOCRDSSETTOS/GETTOS on a bound socket: the TCP transport
    maps every TOS to 0, and a socket that has sent gets EINVAL."""
    import fcntl
    s, r = rds_sock(PORT), rds_sock(PORT + 1)
    expect_errno(errno.EOPNOTSUPP, lambda: s.shutdown(socket.SHUT_RDWR))
    expect_errno(errno.EOPNOTSUPP, lambda: s.listen(1))
    expect_errno(errno.ENOTTY, lambda: fcntl.ioctl(s.fileno(), 0x541B, b"\0" * 4))
    fcntl.ioctl(s.fileno(), SIOCRDSSETTOS, b"\x07")
    if fcntl.ioctl(s.fileno(), SIOCRDSGETTOS, b"\xff") != b"\x00":
        fail("SIOCRDSGETTOS after setting 7 on TCP is not 0")
    s.sendto(b"still works", (LADDR, PORT + 1))
    if r.recv(100) != b"still works":
        fail("the socket does not work after shutdown")
    expect_errno(errno.EINVAL, lambda: fcntl.ioctl(s.fileno(), SIOCRDSSETTOS, b"\x00"))
    s.close()
    r.close()


def vector_io():
    """write/writev: EOPNOTSUPP (sock_write_iter marks a SOCK_SEQPACKET write
    MSG_EOR, which rds_sendmsg refuses); read/readv: one datagram each."""
    s, r = rds_sock(PORT), rds_sock(PORT + 1)
    s.connect((LADDR, PORT + 1))
    expect_errno(errno.EOPNOTSUPP, lambda: os.writev(s.fileno(), [b"ab", b"", b"cde"]))
    expect_errno(errno.EOPNOTSUPP, lambda: os.write(s.fileno(), b"abcde"))
    s.send(b"abcde")
    s.send(b"xyz")
    a, b = bytearray(2), bytearray(10)
    if os.readv(r.fileno(), [a, b]) != 5 or bytes(a) + bytes(b[:3]) != b"abcde":
        fail("readv got %r %r" % (a, b))
    if os.read(r.fileno(), 100) != b"xyz":
        fail("read of the next datagram")
    s.close()
    r.close()


def datagram(i):
    """Datagram i: its index and a length and content derived from it."""
    body = hashlib.sha256(struct.pack("!I", i)).digest()
    return struct.pack("!I", i) + body * (1 + i % 37)


def fork_readers():
    """Two processes (fork) receiving on one socket: every datagram arrives
    whole at exactly one of them, none lost, none mangled."""
    count = 2000
    r = rds_sock(PORT)
    r.settimeout(3)
    rd, wr = os.pipe()
    pid = os.fork()

    def drain():
        got = []
        try:
            while True:
                d = r.recv(65536)
                i = struct.unpack("!I", d[:4])[0] if len(d) >= 4 else -1
                got.append(i if i < count and d == datagram(i) else -1)
                time.sleep(0.0005)	# the other reader's turn, now and then
        except socket.timeout:
            pass
        return got
    if pid == 0:
        os.close(rd)
        os.write(wr, b" ".join(b"%d" % i for i in drain()))
        os._exit(0)
    os.close(wr)
    s = rds_sock(PORT + 1)
    t = threading.Thread(target=lambda: [s.sendto(datagram(i), (LADDR, PORT)) for i in range(count)])
    t.start()
    mine = drain()
    t.join()
    child = b""
    while True:
        b = os.read(rd, 65536)
        if not b:
            break
        child += b
    os.waitpid(pid, 0)
    theirs = [int(x) for x in child.split()]
    if -1 in mine or -1 in theirs:
        fail("mangled datagrams: %d here, %d in the child" % (mine.count(-1), theirs.count(-1)))
    if sorted(mine + theirs) != list(range(count)):
        fail("%d + %d datagrams received, %d distinct, of %d" % (len(mine), len(theirs), len(set(mine + theirs)), count))
    if not mine or not theirs:
        fail("one reader got nothing (%d, %d): the test shows no sharing" % (len(mine), len(theirs)))
    if mine != sorted(mine) or theirs != sorted(theirs):
        fail("a reader got datagrams out of order")


def big_datagram(who, i):
    """Datagram i of sender who: 4 KiB to 44 KiB, its content derived from both."""
    head = struct.pack("!II", who, i)
    body = hashlib.sha256(head).digest()
    n = 4096 + (i * 997 + who * 7919) % 40000
    return (head + body * (n // 32 + 1))[:n]


def check_senders(r, count, senders):
    """Read 2 x count datagrams of big_datagram on r: each whole, once, each
    sender's in order."""
    got = {0: [], 1: []}
    try:
        while len(got[0]) + len(got[1]) < 2 * count:
            d = r.recv(65536)
            w, i = struct.unpack("!II", d[:8]) if len(d) >= 8 else (9, 0)
            if w not in got or d != big_datagram(w, i):
                fail("a mangled datagram (%d bytes)" % len(d))
            got[w].append(i)
    except socket.timeout:
        fail("%d + %d of %d datagrams" % (len(got[0]), len(got[1]), count))
    for w in got:
        if got[w] != list(range(count)):
            fail("%s %d: %d datagrams, %s in order" % (senders, w, len(got[w]), "not" if got[w] != sorted(got[w]) else ""))


def fork_senders():
    """Two processes (fork) sending on one socket, with payloads large enough
    to go to the engine in the socket's copy ring: every datagram arrives
    whole, once, each process's in the order it sent them."""
    count = 300
    r = rds_sock(PORT)
    r.settimeout(10)
    s = rds_sock(PORT + 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    pid = os.fork()

    def send(who):
        for i in range(count):
            s.sendto(big_datagram(who, i), (LADDR, PORT))
    if pid == 0:
        r.close()
        send(1)
        os._exit(0)
    t = threading.Thread(target=send, args=(0,))
    t.start()
    check_senders(r, count, "sender")
    t.join()
    os.waitpid(pid, 0)


def children_leave_sockets():
    """subprocess (vfork, its child closing every fd with close_range) and
    posix_spawn (also with close actions on the RDS fds) leave the parent's
    RDS sockets and epoll registrations as they were; a child of fork that
    closes its copies leaves the parent's registration too, as the kernel
    does (the file stays open there)."""
    import subprocess
    r = rds_sock(PORT)
    s = rds_sock(PORT + 1)
    ep = select.epoll()
    ep.register(r.fileno(), select.EPOLLIN)

    def one(tag):
        s.sendto(tag, (LADDR, PORT))
        ev = ep.poll(5)
        if ev != [(r.fileno(), select.EPOLLIN)]:
            fail("%s: epoll says %r" % (tag, ev))
        got = r.recv(100)
        if got != tag:
            fail("%s: received %r" % (tag, got))
    one(b"first")
    subprocess.run(["true"], check=True)
    one(b"after subprocess")
    os.waitpid(os.posix_spawn("/bin/true", ["true"], os.environ), 0)
    one(b"after posix_spawn")
    os.waitpid(os.posix_spawn("/bin/true", ["true"], os.environ,
                              file_actions=[(os.POSIX_SPAWN_CLOSE, r.fileno()),
                                            (os.POSIX_SPAWN_CLOSE, s.fileno())]), 0)
    one(b"after posix_spawn closing both in the child")
    pid = os.fork()
    if pid == 0:
        r.close()
        s.close()
        ep.close()
        os._exit(0)
    os.waitpid(pid, 0)
    one(b"after a child of fork closed its copies")


SENDERS = 300


def exec_sender():
    """The other process of senders-after-reload: argv[4] is the inherited
    fd of the socket; it sends SENDERS datagrams of sender 1 on it."""
    s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0, fileno=int(sys.argv[4]))
    for i in range(SENDERS):
        s.sendto(big_datagram(1, i), (LADDR, PORT))
    os._exit(0)


def reload_engine():
    """RELOAD, the engine's reload command, run without the shim"""
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run(os.environ["RELOAD"].split(), check=True, stdout=subprocess.DEVNULL, env=env)


def local_after_reload():
    """A datagram from a socket of this host to one that has not moved to the
    new engine yet (its process called nothing since the reload) waits for
    it, as one from a peer does, and arrives."""
    r = rds_sock(PORT)
    r.settimeout(10)
    s = rds_sock(PORT + 1)
    s.sendto(b"before", (LADDR, PORT))
    if r.recv(100) != b"before":
        fail("the first datagram")
    reload_engine()
    s.sendto(b"after", (LADDR, PORT))	# s moves; r not yet
    try:
        got = r.recv(100)
    except socket.timeout:
        fail("the datagram sent before its receiver moved was lost")
    if got != b"after":
        fail("received %r" % got)


def senders_after_reload():
    """A socket that moved to a new engine (RELOAD, run here), then given to
    a new process (exec, the fd inherited): both send on it at once, with
    payloads in the copy ring. They share the socket's locks and state as
    two processes before the move do: every datagram arrives whole, once,
    each process's in order."""
    import subprocess
    r = rds_sock(PORT)
    r.settimeout(10)
    s = rds_sock(PORT + 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.sendto(b"before", (LADDR, PORT))
    if r.recv(100) != b"before":
        fail("the first datagram")
    reload_engine()
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)	# r moves first: bound again
    s.sendto(b"after", (LADDR, PORT))	# this process moves the socket
    if r.recv(100) != b"after":
        fail("the datagram after the reload")
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "exec-sender", LADDR, str(PORT),
                              str(s.fileno())], pass_fds=[s.fileno()])
    t = threading.Thread(target=lambda: [s.sendto(big_datagram(0, i), (LADDR, PORT)) for i in range(SENDERS)],
                         daemon=True)
    t.start()
    try:
        check_senders(r, SENDERS, "process")
    finally:
        child.kill()	# one that hangs must not hold the test's output
    t.join()


def queued_reads():
    """Datagrams queued back to back, of 0 B to 4 KiB, read in every way:
    MSG_PEEK then recv, a short buffer (MSG_TRUNC in msg_flags, the rest
    dropped), MSG_TRUNC passed (the full length), a split iovec, recv after
    poll, a zero-length buffer. poll reports POLLIN before each read and not
    after the last, and each datagram is exactly its bytes."""
    count = 120	# about 70 KB: below the receive buffer, the sender never waits
    r, s = rds_sock(PORT), rds_sock(PORT + 1)
    s.settimeout(5)
    sizes = [0, 1, 47, 48, 49, 64, 200, 1000, 1500, 4096]
    want = []
    for i in range(count):
        d = datagram(i)
        n = sizes[i % len(sizes)] if i % 7 else len(d)
        want.append((d * (1 + n // len(d)))[:n])
    for i in range(count):
        s.sendto(want[i], (LADDR, PORT))
    p = select.poll()
    p.register(r.fileno(), select.POLLIN)
    end = time.time() + 5
    while not p.poll(100) and time.time() < end:
        pass
    time.sleep(0.3)	# every datagram in the stream
    for i in range(count):
        d, how = want[i], i % 6
        if p.poll(0) != [(r.fileno(), select.POLLIN)]:
            fail("datagram %d: poll does not report POLLIN: %r" % (i, p.poll(0)))
        if how == 0:
            a = r.recv(16384, socket.MSG_PEEK)
            got = r.recv(16384, socket.MSG_DONTWAIT)
            if a != d:
                fail("datagram %d: MSG_PEEK got %d bytes, not its %d" % (i, len(a), len(d)))
        elif how == 1:
            got, _, flags, _ = r.recvmsg(10)
            if (len(d) > 10) != bool(flags & socket.MSG_TRUNC):
                fail("datagram %d (%d B): msg_flags %#x" % (i, len(d), flags))
            d = d[:10]
        elif how == 2:
            b = bytearray(5)
            n = r.recv_into(b, 0, socket.MSG_TRUNC)
            if n != len(d):
                fail("datagram %d: MSG_TRUNC returned %d, not its length %d" % (i, n, len(d)))
            got, d = bytes(b[:min(n, 5)]), d[:5]
        elif how == 3:
            bufs = [bytearray(3), bytearray(60), bytearray(16384)]
            n, _, _, _ = r.recvmsg_into(bufs)
            got = b"".join(bytes(x) for x in bufs)[:n]
        elif how == 4:
            got = r.recv(16384, socket.MSG_DONTWAIT)
        else:
            b = bytearray(0)
            n, _, flags, _ = r.recvmsg_into([b])
            if n != 0 or bool(flags & socket.MSG_TRUNC) != (len(d) > 0):
                fail("datagram %d (%d B) into no room: %d, msg_flags %#x" % (i, len(d), n, flags))
            got = d = b""
        if got != d:
            fail("datagram %d: got %d bytes, not its %d" % (i, len(got), len(d)))
    if p.poll(0):
        fail("POLLIN after the last datagram: %r" % p.poll(0))
    expect_errno(errno.EAGAIN, lambda: r.recv(100, socket.MSG_DONTWAIT))
    s.close()
    r.close()


def fork_state():
    """A socket is one object whoever holds it: what a forked child does to
    it (bind, SO_RCVBUF) the parent's socket shows."""
    s = rds_sock()
    pid = os.fork()
    if pid == 0:
        s.bind((LADDR, PORT))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 100000)
        os._exit(0)
    os.waitpid(pid, 0)
    if s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) != 200000:
        fail("SO_RCVBUF set in the child is not the parent's")
    t = rds_sock(PORT + 1)
    t.sendto(b"to the bound socket", (LADDR, PORT))
    s.settimeout(5)
    if s.recv(100) != b"to the bound socket":
        fail("the parent's socket did not receive at the port the child bound")
    try:
        s.bind((LADDR, PORT + 2))
        fail("bind of a socket the child bound succeeded")
    except OSError as e:
        if e.errno != errno.EINVAL:
            fail("second bind: %s" % e)
    s.close()
    t.close()


def passed_child():
    """The child side of scm-rights and exec: argv[4] is how it gets the RDS
    socket ("unix:FD": by SCM_RIGHTS on that unix socket, "fd:FD":
    inherited across exec). It receives one datagram on it and answers from
    it, then prints what it got."""
    how, n = sys.argv[4].split(":")
    if how == "unix":
        u = socket.socket(fileno=int(n))
        _, fds, _, _ = socket.recv_fds(u, 10, 1)
        fd = fds[0]
    else:
        fd = int(n)
    s = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0, fileno=fd)
    if s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) != socket.AF_RDS:
        fail("the passed fd is not an RDS socket")
    s.settimeout(10)
    data, addr = s.recvfrom(100)
    s.sendto(b"re: " + data, addr)
    print("child got %r from port %d" % (data, addr[1]))
    sys.stdout.flush()
    os._exit(0)


def pass_and_close(how):
    """The socket bound to PORT goes to another process (how), whose only
    holder it then is: the parent closes its fd at once. The other process
    receives what is sent to PORT and answers from PORT."""
    import subprocess
    r = rds_sock(PORT)
    me = [sys.executable, os.path.abspath(__file__), "passed-child", LADDR, str(PORT)]
    if how == "scm":
        a, b = socket.socketpair()
        child = subprocess.Popen(me + ["unix:%d" % b.fileno()], pass_fds=[b.fileno()], stdout=subprocess.PIPE)
        socket.send_fds(a, [b"x"], [r.fileno()])
        r.close()
        pid = None
    elif how == "popen":
        # subprocess: vfork, close_range of all but pass_fds, exec
        child = subprocess.Popen(me + ["fd:%d" % r.fileno()], pass_fds=[r.fileno()], stdout=subprocess.PIPE)
        r.close()
        pid = None
    elif how == "spawn":
        # posix_spawn execs inside libc; the socket (FD_CLOEXEC, as
        # Python makes it) goes to fd 5 by a file action
        rd, wr = os.pipe()
        pid = os.posix_spawn(me[0], me + ["fd:5"], os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, r.fileno(), 5), (os.POSIX_SPAWN_DUP2, wr, 1)])
        os.close(wr)
        r.close()
    else:
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(wr, 1)
            os.set_inheritable(r.fileno(), True)
            os.execv(me[0], me + ["fd:%d" % r.fileno()])
        os.close(wr)
        r.close()
    time.sleep(0.5)
    s = rds_sock(PORT + 1)
    s.settimeout(10)
    s.sendto(b"passed", (LADDR, PORT))
    try:
        reply, addr = s.recvfrom(100)
    except socket.timeout:
        reply, addr = None, None
    if pid is None:
        out = child.communicate(timeout=15)[0]
    else:
        out = os.read(rd, 1000)
        os.waitpid(pid, 0)
    if (reply, addr) != (b"re: passed", (LADDR, PORT)):
        fail("answer %r from %r; the child said %r" % (reply, addr, out))
    if out.strip() != b"child got b'passed' from port %d" % (PORT + 1):
        fail("the child said %r" % out)


def closerange_keeps():
    """A program that closes every fd but its sockets (os.closerange, which
    is close_range(2)) keeps its RDS sockets working: the library's own
    descriptors of them stay open, 6000 of 1000 sockets in one range too (a
    datagram from each, once)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))
    many = []
    for i in range(1000):	# their fds above every library fd, one range below
        s = rds_sock()
        os.dup2(s.fileno(), 10000 + i)
        s.close()
        many.append(socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0, 10000 + i))
    r, w = rds_sock(PORT), rds_sock(PORT + 1)
    keep = sorted([0, 1, 2, r.fileno(), w.fileno()] + [s.fileno() for s in many])
    for lo, hi in zip(keep, keep[1:] + [1 << 20]):
        os.closerange(lo + 1, hi)
    w.sendto(b"after closerange", (LADDR, PORT))
    r.settimeout(10)
    data, addr = r.recvfrom(100)
    if (data, addr) != (b"after closerange", (LADDR, PORT + 1)):
        fail("got %r from %r" % (data, addr))
    for s in many:
        s.bind((LADDR, 0))
        s.sendto(b"from many", (LADDR, PORT))
    got = sorted(r.recvfrom(100) for _ in many)
    want = sorted((b"from many", (LADDR, s.getsockname()[1])) for s in many)
    if got != want:
        fail("the 1000 sockets' datagrams: %d differ" % len(set(want) - set(got)))


def open_fds():
    return sorted(int(f) for f in os.listdir("/proc/self/fd") if is_open(int(f)))


def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def close_each_keeps():
    """A program that closes one by one every fd but stdio and its sockets (a
    daemon, once it opened them): the library's own descriptors of the
    sockets are not the program's, and as on the kernel, where those numbers
    are not open, close() fails with EBADF; they stay open and the sockets
    keep working. dup2 onto one fails with EBUSY and leaves it. They are out
    of the program's way (above its soft RLIMIT_NOFILE, 4096 as servers set
    it), so each socket is the lowest free number, as the kernel gives it:
    fd 0 with stdin closed first, then the next. Once the sockets are
    closed, the library's descriptors of them are closed too."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = max(soft, min(hard, 4096))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    os.close(0)
    r = rds_sock(PORT)
    lowest = os.dup(1)
    os.close(lowest)
    w = rds_sock(PORT + 1)
    if (r.fileno(), w.fileno()) != (0, lowest):
        fail("the sockets are fds %d and %d, not 0 and %d" % (r.fileno(), w.fileno(), lowest))
    mine = {0, 1, 2, r.fileno(), w.fileno()}
    theirs = [fd for fd in open_fds() if fd not in mine]
    refused = []
    for fd in theirs:
        try:
            os.close(fd)
        except OSError as e:
            if e.errno != errno.EBADF:
                fail("close(%d): %s" % (fd, e))
            refused.append(fd)
    if len(refused) < 8 or any(not is_open(fd) or fd < min(limit, 1024) for fd in refused):
        fail("the library's descriptors refused, open, out of the way: %r of %r" % (refused, theirs))
    if any(is_open(fd) for fd in theirs if fd not in refused):
        fail("a close() that returned 0 left its fd open")
    null = os.open("/dev/null", os.O_RDWR)
    if refused[0] < limit:	# dup2 above the limit is EBADF, as on the kernel
        before = os.fstat(refused[0]).st_ino
        expect_errno(errno.EBUSY, lambda: os.dup2(null, refused[0]))
        if os.fstat(refused[0]).st_ino != before:
            fail("dup2 replaced the library's fd %d" % refused[0])
    else:
        expect_errno(errno.EBADF, lambda: os.dup2(null, refused[0]))
    os.close(null)
    for i in range(3):
        w.sendto(b"after closing %d" % i, (LADDR, PORT))
        r.settimeout(10)
        got = r.recvfrom(100)
        if got != (b"after closing %d" % i, (LADDR, PORT + 1)):
            fail("got %r" % (got,))
    r.close()
    w.close()
    # what stays is the library's engine watcher (an eventfd and a pidfd)
    freed = [fd for fd in refused if not is_open(fd)]
    if len(freed) < len(refused) - 2:
        fail("only %r of %r closed with the sockets" % (freed, refused))


def fill(make):
    """Makes sockets until EMFILE; any other error fails."""
    got = []
    while True:
        try:
            got.append(make())
        except OSError as e:
            if e.errno != errno.EMFILE:
                fail("at socket %d: %s" % (len(got) + 1, e))
            return got


def udp_sock():
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def fd_limit():
    """Under RLIMIT_NOFILE a program opens as many RDS sockets as UDP
    sockets, as on the kernel, where each is one fd: the library's own
    descriptors go above the program's soft limit, which the hard limit
    leaves room for, and the limit is the program's again after. Every
    socket works (the first and the last exchange datagrams); once closed,
    they leave nothing open. With the hard limit at the soft one, the
    library's descriptors take the program's numbers, so fewer fit; the one
    that does not fails with EMFILE and leaves nothing behind."""
    import resource
    limit = 200
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard < 4 * 1024:
        fail("the hard RLIMIT_NOFILE is %d: the test needs 4096" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    udp = fill(udp_sock)
    for s in udp:
        s.close()
    rds = fill(lambda: socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0))
    if len(rds) != len(udp) or max(s.fileno() for s in rds) >= limit:
        fail("%d RDS sockets (fds up to %d), %d UDP sockets under a limit of %d" %
             (len(rds), max(s.fileno() for s in rds), len(udp), limit))
    if resource.getrlimit(resource.RLIMIT_NOFILE) != (limit, hard):
        fail("the limit is %r, not the program's %r" % (resource.getrlimit(resource.RLIMIT_NOFILE), (limit, hard)))
    first, last = rds[0], rds[-1]
    first.bind((LADDR, PORT))
    last.bind((LADDR, PORT + 1))
    last.sendto(b"the last socket", (LADDR, PORT))
    first.sendto(b"the first socket", (LADDR, PORT + 1))
    first.settimeout(10)
    last.settimeout(10)
    got = (first.recvfrom(100), last.recvfrom(100))
    if got != ((b"the last socket", (LADDR, PORT + 1)), (b"the first socket", (LADDR, PORT))):
        fail("got %r" % (got,))
    for s in rds:
        s.close()
    again = fill(udp_sock)
    for s in again:
        s.close()
    if len(again) != len(udp):
        fail("%d UDP sockets after the RDS sockets closed, %d before" % (len(again), len(udp)))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    rds = fill(lambda: socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0))
    if not 10 <= len(rds) < len(udp) // 2:
        fail("%d RDS sockets with the library's fds under the limit (%d UDP)" % (len(rds), len(udp)))
    for s in rds:
        s.close()
    again = fill(udp_sock)
    if len(again) != len(udp):
        fail("%d UDP sockets after the failed RDS socket, %d before: it left fds open" % (len(again), len(udp)))


def setns(path):
    import ctypes
    fd = os.open(path, os.O_RDONLY)
    if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:	# CLONE_NEWNET
        fail("setns %s: %s" % (path, os.strerror(ctypes.get_errno())))
    os.close(fd)


def two_namespaces():
    """One process, a socket on each of two hosts' engines (setns between
    the socket() calls, env PEER_NS and PEER_ADDR): each socket sees the
    addresses of its own engine, so the sender's address of what each
    receives is right, both ways."""
    here = rds_sock(PORT)
    home = "/proc/%d/ns/net" % os.getpid()
    home_fd = os.open(home, os.O_RDONLY)
    setns("/run/netns/" + os.environ["PEER_NS"])
    peer_addr = os.environ["PEER_ADDR"]
    there = socket.socket(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
    there.bind((peer_addr, PORT + 1))
    here.settimeout(5)
    there.settimeout(5)
    for i in range(3):
        there.sendto(b"from there %d" % i, (LADDR, PORT))
        here.sendto(b"from here %d" % i, (peer_addr, PORT + 1))
        got = (here.recvfrom(100), there.recvfrom(100))
        want = ((b"from there %d" % i, (peer_addr, PORT + 1)), (b"from here %d" % i, (LADDR, PORT)))
        if got != want:
            fail("got %r, expected %r" % (got, want))
    os.close(home_fd)
    here.close()
    there.close()


def timestamps():
    """SO_TIMESTAMP (at SOL_SOCKET, and at SOL_RDS as rds_setsockopt takes
    it) delivers SCM_TIMESTAMP with the receive time; SO_RDS_MSG_RXPATH_LATENCY
    delivers RDS_CMSG_RXPATH_LATENCY with the traced positions, after
    rds_recv_track_latency's checks (EFAULT)."""
    r, s = rds_sock(PORT), rds_sock(PORT + 1)
    r.settimeout(5)
    for level in (socket.SOL_SOCKET, SOL_RDS):
        r.setsockopt(level, SO_TIMESTAMP, 1)
        if r.getsockopt(socket.SOL_SOCKET, SO_TIMESTAMP) != 1:
            fail("SO_TIMESTAMP does not read back")
        s.sendto(b"stamp", (LADDR, PORT))
        data, anc, flags, _ = r.recvmsg(100, 256)
        now = time.time()
        if data != b"stamp" or len(anc) != 1 or anc[0][:2] != (socket.SOL_SOCKET, SO_TIMESTAMP):
            fail("SO_TIMESTAMP at level %d: %r %r" % (level, data, anc))
        sec, usec = struct.unpack("=qq", anc[0][2])
        if abs(sec + usec / 1e6 - now) > 2:
            fail("SCM_TIMESTAMP %d.%06d is not the receive time %f" % (sec, usec, now))
        r.setsockopt(level, SO_TIMESTAMP, 0)
    expect_errno(errno.EFAULT, lambda: r.setsockopt(SOL_RDS, SO_RDS_MSG_RXPATH_LATENCY, b"\x01\x00\x00"))
    expect_errno(errno.EFAULT, lambda: r.setsockopt(SOL_RDS, SO_RDS_MSG_RXPATH_LATENCY, b"\x04\x00\x00\x00"))
    expect_errno(errno.EFAULT, lambda: r.setsockopt(SOL_RDS, SO_RDS_MSG_RXPATH_LATENCY, b"\x01\x03\x00\x00"))
    r.setsockopt(SOL_RDS, SO_RDS_MSG_RXPATH_LATENCY, b"\x02\x00\x01\x00")
    s.sendto(b"traced", (LADDR, PORT))
    data, anc, flags, _ = r.recvmsg(100, 256)
    if data != b"traced" or len(anc) != 1 or anc[0][:2] != (SOL_RDS, RDS_CMSG_RXPATH_LATENCY):
        fail("RXPATH_LATENCY: %r %r" % (data, anc))
    n, p0, p1, p2 = struct.unpack("=BBBB", anc[0][2][:4])
    if len(anc[0][2]) != 32 or (n, p0, p1) != (2, 0, 1):
        fail("RDS_CMSG_RXPATH_LATENCY %r" % anc[0][2])
    r.close()
    s.close()


SO_TIMESTAMP = 29	# SO_TIMESTAMP_OLD (asm-generic/socket.h)
SOL_RDS = 276
SO_RDS_MSG_RXPATH_LATENCY = 10
RDS_CMSG_RXPATH_LATENCY = 11
SO_RDS_TRANSPORT = 8
RDS_TRANS_TCP = 2
SIOCRDSSETTOS = 0x89E0
SIOCRDSGETTOS = 0x89E1
RDS_CANCEL_SENT_TO = 1


def full_queue(port):
    """A socket whose send queue is full: datagrams to an address nobody
    answers stay queued (the send queue holds them until acknowledged)."""
    s = rds_sock(port)
    s.setblocking(False)
    n = 0
    while True:
        try:
            s.sendto(b"q" * 8192, (UNREACH, 4000))
            n += 1
        except BlockingIOError:
            break
    if n < 2:
        fail("only %d datagrams fit in the send queue" % n)
    return s


def cancel_queued(s):
    """RDS_CANCEL_SENT_TO drops what is queued for UNREACH: space again."""
    sin = struct.pack("=HH4s8x", socket.AF_INET, socket.htons(4000), socket.inet_aton(UNREACH))
    s.setsockopt(SOL_RDS, RDS_CANCEL_SENT_TO, sin)


def cpu_during(fn):
    t0, c0 = time.monotonic(), time.process_time()
    r = fn()
    return r, time.monotonic() - t0, time.process_time() - c0


def pollout_full_queue():
    """rds_poll: POLLOUT only while queued bytes < sndbuf. A settimeout()
    send on a full queue waits its timeout out asleep, and poll/select for
    POLLOUT time out asleep; when the queue drains, a poll waiting for
    POLLOUT wakes with it."""
    s = full_queue(PORT)
    s.settimeout(1.0)

    def timed_send():
        try:
            s.sendto(b"x", (UNREACH, 4000))
        except socket.timeout:
            return "timeout"
        return "sent"
    r, wall, cpu = cpu_during(timed_send)
    if r != "timeout" or wall < 0.9:
        fail("settimeout(1.0) send on a full queue: %s after %.2f s" % (r, wall))
    if cpu > 0.1 * wall:
        fail("settimeout send burned %.3f s CPU in %.2f s" % (cpu, wall))
    p = select.poll()
    p.register(s.fileno(), select.POLLOUT)
    r, wall, cpu = cpu_during(lambda: p.poll(500))
    if r or wall < 0.45 or cpu > 0.05:
        fail("poll(POLLOUT) on a full queue: %r after %.2f s, %.3f s CPU" % (r, wall, cpu))
    r, wall, cpu = cpu_during(lambda: select.select([], [s], [], 0.5))
    if r[1] or wall < 0.45 or cpu > 0.05:
        fail("select(write) on a full queue: %r after %.2f s, %.3f s CPU" % (r, wall, cpu))
    t = threading.Timer(0.3, cancel_queued, (s,))
    t.start()
    r, wall, cpu = cpu_during(lambda: p.poll(5000))
    t.join()
    if r != [(s.fileno(), select.POLLOUT)] or wall > 2:
        fail("poll(POLLOUT) when the queue drained: %r after %.2f s" % (r, wall))
    r = select.select([], [s], [], 0)
    if r[1] != [s]:
        fail("select(write) with room in the queue: %r" % (r,))
    s.close()


def poll_cong_generation():
    """rds_poll: a congestion map update (here: a receiver with a small
    rcvbuf gets congested) shows as POLLIN|POLLRDNORM|POLLWRBAND once to a
    socket that does not monitor congestion, and a fresh socket sees the
    current generation as new: its first poll has it, the next does not."""
    r, s = rds_sock(PORT), rds_sock(PORT + 1)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    s.setblocking(False)
    # the engine marks the port once it has queued more than rcvbuf: each
    # send gets a moment for that, as a kernel sendmsg has it at once
    for _ in range(200):
        try:
            s.sendto(b"c" * 1000, (LADDR, PORT))
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                fail("send to the congested port: %s" % e)
            break
        time.sleep(0.01)
    else:
        fail("the receiver never got congested")
    f = rds_sock()
    p = select.poll()
    ev = select.POLLIN | select.POLLOUT | select.POLLWRBAND | select.POLLRDNORM
    p.register(f.fileno(), ev)
    first, second = p.poll(0), p.poll(0)
    want = select.POLLIN | select.POLLRDNORM | select.POLLWRBAND | select.POLLOUT
    if first != [(f.fileno(), want)] or second != [(f.fileno(), select.POLLOUT)]:
        fail("first poll %r, second %r" % (first, second))
    r.close()
    s.close()
    f.close()


def asyncio_full_queue():
    """asyncio's sock_sendto on a full queue waits for writability through
    epoll: asleep, not spinning; it completes once the queue drains."""
    import asyncio
    s = full_queue(PORT)

    async def send_when_room():
        return await asyncio.wait_for(asyncio.get_running_loop().sock_sendto(s, b"x", (UNREACH, 4000)), 1.0)

    def timed():
        try:
            asyncio.run(send_when_room())
        except asyncio.TimeoutError:
            return "timeout"
        return "sent"
    r, wall, cpu = cpu_during(timed)
    if r != "timeout" or cpu > 0.1 * wall:
        fail("asyncio sock_sendto on a full queue: %s after %.2f s, %.3f s CPU" % (r, wall, cpu))
    t = threading.Timer(0.3, cancel_queued, (s,))
    t.start()
    r, wall, cpu = cpu_during(timed)
    t.join()
    if r != "sent":
        fail("asyncio sock_sendto when the queue drained: %s after %.2f s" % (r, wall))
    s.close()


def epollout_full_queue():
    """The same through epoll, level- and edge-triggered: EPOLLOUT only with
    room in the queue, waited for asleep, and a closed RDS fd leaves the set."""
    s = full_queue(PORT)
    fd = s.fileno()
    ep = select.epoll()
    ep.register(fd, select.EPOLLIN | select.EPOLLOUT)
    r, wall, cpu = cpu_during(lambda: ep.poll(0.5))
    if r or wall < 0.45 or cpu > 0.05:
        fail("epoll EPOLLOUT on a full queue: %r after %.2f s, %.3f s CPU" % (r, wall, cpu))
    t = threading.Timer(0.3, cancel_queued, (s,))
    t.start()
    r, wall, cpu = cpu_during(lambda: ep.poll(5))
    t.join()
    if r != [(fd, select.EPOLLOUT)] or wall > 2:
        fail("epoll when the queue drained: %r after %.2f s" % (r, wall))
    if ep.poll(0) != [(fd, select.EPOLLOUT)]:
        fail("level-triggered EPOLLOUT is not reported again")
    ep.modify(fd, select.EPOLLOUT | select.EPOLLET)
    first, again = ep.poll(0), ep.poll(0)
    if first != [(fd, select.EPOLLOUT)] or again:
        fail("edge-triggered EPOLLOUT: %r then %r" % (first, again))
    s.close()
    if ep.poll(0.1):
        fail("a closed RDS fd still reports events")
    ep.close()


CASES = {"close-while-recv": close_while_recv, "pollout-full-queue": pollout_full_queue,
         "poll-cong-generation": poll_cong_generation, "asyncio-full-queue": asyncio_full_queue,
         "epollout-full-queue": epollout_full_queue, "dup": dup_fd, "close-range": close_range, "unsupported": unsupported,
         "vector-io": vector_io, "fork-readers": fork_readers, "fork-senders": fork_senders,
         "senders-after-reload": senders_after_reload, "exec-sender": exec_sender,
         "children-leave-sockets": children_leave_sockets, "local-after-reload": local_after_reload,
         "queued-reads": queued_reads,
         "two-namespaces": two_namespaces, "timestamps": timestamps,
         "fork-state": fork_state, "passed-child": passed_child,
         "scm-rights": lambda: pass_and_close("scm"), "exec": lambda: pass_and_close("exec"),
         "posix-spawn": lambda: pass_and_close("spawn"), "popen": lambda: pass_and_close("popen"),
         "closerange-keeps": closerange_keeps, "close-each-keeps": close_each_keeps,
         "fd-limit": fd_limit}

if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in CASES:
        sys.exit("usage: rds-shim.py %s LADDR PORT [UNREACH]" % "|".join(CASES))
    CASE, LADDR, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
    UNREACH = sys.argv[4] if len(sys.argv) > 4 else None
    CASES[CASE]()
    print("ok " + CASE)
