/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A tiny check harness for the unit tests: CHECK(cond) records file:line on
 * failure, check_done() prints "N passed, M failed" and returns the exit
 * status (1 on any failure). One test program per translation unit. */
#ifndef RDSB_TEST_CHECK_H
#define RDSB_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned long check_passed, check_failed;

static inline int check_record(int ok, const char *file, int line, const char *expr)
{
	if (ok) {
		check_passed++;
	} else {
		check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
	}
	return ok;
}

#define CHECK(cond) check_record(!!(cond), __FILE__, __LINE__, #cond)

/* Equality of two integers, printing both values on failure. */
#define CHECK_EQ(got, want)                                                                   \
	do {                                                                                  \
		unsigned long long g_ = (unsigned long long)(got);                            \
		unsigned long long w_ = (unsigned long long)(want);                           \
		if (!check_record(g_ == w_, __FILE__, __LINE__, #got " == " #want))           \
			fprintf(stderr, "    got 0x%llx (%llu), want 0x%llx (%llu)\n", g_, g_, w_, \
				w_);                                                          \
	} while (0)

static inline void check_hexdump(const char *tag, const void *p, size_t n)
{
	const uint8_t *b = p;

	fprintf(stderr, "    %s:", tag);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", b[i]);
	fprintf(stderr, "\n");
}

/* Byte-for-byte equality, dumping both buffers on failure. */
#define CHECK_MEM(got, want, n)                                                            \
	do {                                                                               \
		if (!check_record(memcmp((got), (want), (n)) == 0, __FILE__, __LINE__,     \
				  "memcmp(" #got ", " #want ", " #n ") == 0")) {           \
			check_hexdump("got ", (got), (n));                                 \
			check_hexdump("want", (want), (n));                                \
		}                                                                          \
	} while (0)

static inline int check_done(void)
{
	printf("%lu passed, %lu failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
