#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""One control request to the namespace's engine, as a program past the
library could send it (user/common/ctl_proto.h: struct rdsb_ctl_req, then
struct rdsb_ctl_rep back, on the abstract SOCK_SEQPACKET "rds-bpf/engine").

  rds-ctlraw.py OP ARG VAL
      prints "err ERRNO val VAL" from the reply (err 0 on success)."""
import socket
import struct
import sys

REQ = struct.Struct("=II16sIHHQ")	# op, arg, addr, scope_id, port, pad, val
REP = struct.Struct("=iIHHIQ")		# err, arg, port, pad, len, val

op, arg, val = (int(x, 0) for x in sys.argv[1:4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect("\0rds-bpf/engine")
s.send(REQ.pack(op, arg, bytes(16), 0, 0, 0, val))
rep = s.recv(REQ.size + 65536)
err, _, _, _, _, rval = REP.unpack_from(rep)
print("err %d val %d" % (err, rval))
