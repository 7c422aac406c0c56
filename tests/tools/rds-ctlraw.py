#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""One control request to the namespace's engine, as a program past the
library could send it (user/common/ctl_proto.h: struct rdsb_ctl_req, then
struct rdsb_ctl_rep back, on the abstract SOCK_SEQPACKET "rds-bpf/engine").

  rds-ctlraw.py OP ARG VAL [ABI]
      prints "err ERRNO val VAL abi ABI" from the reply (err 0 on success);
      ABI is the request's socket ABI (default: RDSB_ABI of ctl_proto.h)."""
import os
import re
import socket
import struct
import sys

REQ = struct.Struct("=II16sIHHQ")	# op, arg, addr, scope_id, port, abi, val
REP = struct.Struct("=iIHHIQ")		# err, arg, port, abi, len, val


def rdsb_abi():
    """RDSB_ABI as the tree's ctl_proto.h defines it"""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "../../user/common/ctl_proto.h")) as f:
        return int(re.search(r"#define RDSB_ABI\s+(\d+)", f.read()).group(1))


if __name__ == "__main__":
    op, arg, val = (int(x, 0) for x in sys.argv[1:4])
    abi = int(sys.argv[4], 0) if len(sys.argv) > 4 else rdsb_abi()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    s.connect("\0rds-bpf/engine")
    s.send(REQ.pack(op, arg, bytes(16), 0, 0, abi, val))
    rep = s.recv(REQ.size + 65536)
    err, _, _, rabi, _, rval = REP.unpack_from(rep)
    print("err %d val %d abi %d" % (err, rval, rabi))
