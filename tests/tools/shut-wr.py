#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Shut the write side of sockets of another process, as if that process had
called shutdown(fd, SHUT_WR) itself: the descriptors are taken with
pidfd_getfd(2), which needs PTRACE_MODE_ATTACH on the process (root).
Usage: shut-wr.py PID FD... Prints "shut FD" for each."""
import ctypes
import os
import socket
import sys

SYS_PIDFD_OPEN = 434	# the same number on every architecture
SYS_PIDFD_GETFD = 438

libc = ctypes.CDLL(None, use_errno=True)


def syscall(nr, *args):
    r = libc.syscall(nr, *args)
    if r < 0:
        err = ctypes.get_errno()
        sys.exit(f"shut-wr: syscall {nr}{args}: {os.strerror(err)}")
    return r


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: shut-wr.py PID FD...")
    pidfd = syscall(SYS_PIDFD_OPEN, int(sys.argv[1]), 0)
    for arg in sys.argv[2:]:
        sock = socket.socket(fileno=syscall(SYS_PIDFD_GETFD, pidfd, int(arg), 0))
        sock.shutdown(socket.SHUT_WR)	# on the socket: the owner's too
        sock.close()			# our descriptor only
        print("shut", arg)


main()
