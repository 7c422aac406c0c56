// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer: a received rds_header as the engine takes it (user/common/wire.c):
 * decode, length and congestion-map checks, the extension headers walked to
 * the end, the NPATHS/generation probe, the sequence check; the rest of the
 * input is a congestion map the ports of the header are tested and set in. */
#include <stdint.h>
#include <string.h>
#include "../../user/common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t map[RDS_CONG_MAP_BYTES];
	struct rds_header in, out;
	struct rdsb_hdr h = { 0 }, again = { 0 };	/* padding compared too */
	struct rdsb_hs hs;
	unsigned int pos = 0, type;
	__u64 next_rx = 0;
	uint8_t val[RDS_HEADER_EXT_SPACE];

	if (size < sizeof(in))
		return 0;
	memcpy(&in, data, sizeof(in));
	rdsb_hdr_decode(&in, &h);
	/* what decodes encodes back to the same header */
	rdsb_hdr_encode(&h, &out);
	rdsb_hdr_decode(&out, &again);
	if (memcmp(&h, &again, sizeof(h)))
		__builtin_trap();
	if (rdsb_h_len_ok(h.flags, h.len) && rdsb_is_cong_map(h.flags)) {
		size_t n = size - sizeof(in) < sizeof(map) ? size - sizeof(in) : sizeof(map);

		memset(map, 0, sizeof(map));
		memcpy(map, data + sizeof(in), n);
	}
	while ((type = rdsb_exthdr_next(in.h_exthdr, &pos, val, sizeof(val))) != RDS_EXTHDR_NONE)
		if (pos > RDS_HEADER_EXT_SPACE)
			__builtin_trap();
	rdsb_hs_decode(in.h_exthdr, &hs);
	(void)rdsb_hs_npaths(&hs);
	memcpy(&next_rx, data + 8, sizeof(next_rx));
	(void)rdsb_seq_accept(&next_rx, h.seq, in.h_flags);
	if (rdsb_cong_test(map, h.dport) != rdsb_cong_test(map, h.dport))
		__builtin_trap();
	rdsb_cong_set(map, h.sport);
	if (!rdsb_cong_test(map, h.sport))
		__builtin_trap();
	rdsb_cong_clear(map, h.sport);
	if (rdsb_cong_test(map, h.sport))
		__builtin_trap();
	return 0;
}
