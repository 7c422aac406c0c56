// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "log.h"

int rdsb_verbosity;

void rdsb_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > rdsb_verbosity)
		return;
	if (rdsb_verbosity >= 2) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		fprintf(stderr, "%5ld.%06ld ", (long)ts.tv_sec % 100000, ts.tv_nsec / 1000);
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
