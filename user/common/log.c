// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include "log.h"

int rdsb_verbosity;
static bool to_syslog;

void rdsb_log_to_syslog(void)
{
	openlog("rds-bpf", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = true;
}

void rdsb_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > rdsb_verbosity)
		return;
	if (to_syslog) {
		va_start(ap, fmt);
		vsyslog(level == 0 ? LOG_WARNING : level == 1 ? LOG_INFO : LOG_DEBUG, fmt, ap);
		va_end(ap);
		return;
	}
	if (rdsb_verbosity >= 2) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		fprintf(stderr, "%5ld.%06ld ", (long)ts.tv_sec % 100000, ts.tv_nsec / 1000);
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
