// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer: a capture file as rds-dissect reads it: pcap or pcapng through
 * libpcap (tools/pcap.c), the Ethernet/IP/TCP headers, and every segment into
 * the TCP reassembly (tools/tcp_reasm.c), whose streams are checked to be
 * delivered within what was captured. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../../tools/pcap.h"
#include "reasm_count.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	int fd = memfd_create("fuzz_pcap", MFD_CLOEXEC);
	uint64_t delivered = 0, captured = 0;
	struct capture_pkt pkt;
	struct capture c = { 0 };
	struct tcp_seg seg;
	struct reasm r;
	const char *why;
	char name[64];

	if (fd < 0)
		return 0;
	if (write(fd, d, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
	if (capture_open_file(&c, name)) {
		reasm_init(&r, &count_ops, &delivered);
		while (capture_next(&c, &pkt) == 1)
			if (capture_tcp_segment(&c, &pkt, &seg, &why) == 1) {
				captured += seg.len;
				reasm_segment(&r, &seg);
			}
		reasm_finish(&r, 0);
		reasm_free(&r);
		capture_close(&c);
		if (delivered > captured)
			__builtin_trap();
	}
	close(fd);
	return 0;
}
