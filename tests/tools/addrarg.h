/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* ADDR:PORT (IPv4) on the command line of the test tools. */
#ifndef RDSB_TEST_ADDRARG_H
#define RDSB_TEST_ADDRARG_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *arg, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(arg, ':');

	if (!colon || (size_t)(colon - arg) >= sizeof(host))
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = 0;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 && sin->sin_port ? 0 : -1;
}

#endif
