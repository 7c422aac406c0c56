// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer: a frame from the wire as the XDP transport's userspace takes it
 * (transports/xdp/frame.c): Ethernet, IPv4/IPv6, UDP, rds_header; what it
 * accepts lies inside the frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../transports/xdp/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct rdsx_fields f;
	struct rdsx_rx rx;

	memcpy(buf, data, size);
	if (rdsx_frame_parse(buf, size, &rx)) {
		const uint8_t *end = buf + size;

		if ((const uint8_t *)rx.hdr < buf || (const uint8_t *)(rx.hdr + 1) > end ||
		    rx.payload < buf || rx.payload + rx.payload_len > end)
			__builtin_trap();
		rdsx_fields_get(rx.hdr, &f);
	}
	free(buf);
	return 0;
}
