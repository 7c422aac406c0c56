// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer: TCP reassembly (tools/tcp_reasm.c) fed segments straight from
 * the input, 12 bytes of header each (flow, flags, seq, length) and then
 * that much payload: retransmissions, overlaps, holes, wrapping sequence
 * numbers, SYN/FIN/RST anywhere. Delivered bytes never exceed those given. */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "../../tools/pcap.h"
#include "reasm_count.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	uint64_t delivered = 0, given = 0;
	struct reasm r;
	int64_t ts = 0;

	reasm_init(&r, &count_ops, &delivered);
	while (size >= 12) {
		struct tcp_seg seg = { .family = AF_INET, .ts_ns = ts++ };
		uint16_t len;

		seg.src[15] = d[0] & 3;		/* a few flows, both directions */
		seg.dst[15] = (d[0] >> 2) & 3;
		seg.sport = 16385;
		seg.dport = (uint16_t)(1000 + (d[0] >> 4));
		seg.syn = d[1] & 1;
		seg.fin = d[1] & 2;
		seg.rst = d[1] & 4;
		memcpy(&seg.seq, d + 2, 4);
		memcpy(&len, d + 6, 2);
		memcpy(&seg.missing, d + 8, 4);
		seg.missing &= 0xffff;
		d += 12;
		size -= 12;
		seg.len = len < size ? len : (uint32_t)size;
		seg.payload = d;
		given += seg.len;
		reasm_segment(&r, &seg);
		d += seg.len;
		size -= seg.len;
	}
	reasm_finish(&r, ts);
	reasm_free(&r);
	if (delivered > given)
		__builtin_trap();
	return 0;
}
