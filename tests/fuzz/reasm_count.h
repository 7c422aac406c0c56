/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Reassembly callbacks for the fuzzers: every delivered byte is read (so
 * the sanitizer sees where it points) and counted in *(uint64_t *)ctx. */
#ifndef RDSB_FUZZ_REASM_COUNT_H
#define RDSB_FUZZ_REASM_COUNT_H

#include <stdint.h>
#include "../../tools/tcp_reasm.h"

static volatile uint8_t reasm_sink;

static void count_start(struct tcp_flow *fl, int64_t ts, void *ctx)
{
	(void)fl, (void)ts, (void)ctx;
}

static void count_data(struct tcp_flow *fl, int64_t ts, const uint8_t *p, uint32_t len, void *ctx)
{
	(void)fl, (void)ts;
	for (uint32_t i = 0; i < len; i++)
		reasm_sink ^= p[i];
	*(uint64_t *)ctx += len;
}

static void count_end(struct tcp_flow *fl, int64_t ts, const char *why, bool lost, void *ctx)
{
	(void)fl, (void)ts, (void)why, (void)lost, (void)ctx;
}

static const struct reasm_ops count_ops = { .start = count_start, .data = count_data, .end = count_end };

#endif
