// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer: a capture file as rds-dissect reads it: the pcap reader
 * (tools/pcap.c), the Ethernet/IP/TCP headers, and every segment into the
 * TCP reassembly (tools/tcp_reasm.c), whose streams are checked to be
 * delivered within what was captured. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include "../../tools/pcap.h"
#include "reasm_count.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	FILE *f = fmemopen((void *)d, size, "rb");
	struct pcap_file pf;
	struct pcap_pkt pkt;
	struct tcp_seg seg;
	struct reasm r;
	uint64_t delivered = 0, captured = 0;
	const char *why;

	if (!f)
		return 0;
	if (pcap_open(&pf, f)) {
		reasm_init(&r, &count_ops, &delivered);
		while (pcap_next(&pf, &pkt) == 1)
			if (pcap_tcp_segment(&pf, &pkt, &seg, &why) == 1) {
				captured += seg.len;
				reasm_segment(&r, &seg);
			}
		reasm_finish(&r, 0);
		reasm_free(&r);
		pcap_close(&pf);
		if (delivered > captured)
			__builtin_trap();
	}
	fclose(f);
	return 0;
}
