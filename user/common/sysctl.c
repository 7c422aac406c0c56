// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The net.core sysctls that RDS's buffer sizes follow (rmem_default, ...). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "sysctl.h"

int rdsb_sysctl_int(const char *name, int dflt)
{
	char path[64], buf[32] = { 0 };
	int fd, v = dflt;

	snprintf(path, sizeof(path), "/proc/sys/net/core/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0)
			v = atoi(buf);
		syscall(SYS_close, fd);
	}
	return v;
}
