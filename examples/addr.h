/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* For the examples: an IPv4 or IPv6 address and a port into a sockaddr. */
#ifndef EXAMPLES_ADDR_H
#define EXAMPLES_ADDR_H

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

/* Returns the sockaddr's length, 0 if ip is not an address. */
static inline socklen_t make_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return sizeof(*in);
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return sizeof(*in6);
	}
	return 0;
}

#endif
