/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Included ahead of tools/stress*.c to build rds-stress-sock: the same
 * stress loop on the BSD socket calls instead of librdsb's, so that one
 * binary runs on the kernel's AF_RDS (no shim) and on rds-bpf (the shim,
 * LD_PRELOAD), in the same guest (tests/vm/kbench.sh). The library's header
 * comes first (its include guard keeps its prototypes as they are); only the
 * calls are renamed.
 */
#ifndef RDSB_STRESS_SOCK_H
#define RDSB_STRESS_SOCK_H
#include <sys/socket.h>
#include <unistd.h>
#include <rds-bpf/rds.h>

#define rdsb_socket socket
#define rdsb_bind bind
#define rdsb_setsockopt setsockopt
#define rdsb_sendmsg sendmsg
#define rdsb_recvfrom recvfrom
#define rdsb_close close
#endif
