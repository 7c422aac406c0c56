// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool rdsb_addr_is_v4(const uint8_t a[16])
{
	return memcmp(a, v4mapped_prefix, 12) == 0;
}

uint32_t rdsb_addr_v4(const uint8_t a[16])
{
	uint32_t x;

	memcpy(&x, a + 12, 4);
	return x;
}

int rdsb_addr_from_sa(const struct sockaddr *sa, socklen_t len, uint8_t a[16], uint16_t *port,
		      uint32_t *scope)
{
	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const void *)sa;

		memcpy(a, v4mapped_prefix, 12);
		memcpy(a + 12, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
		*scope = 0;
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		memcpy(a, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
		*scope = sin6->sin6_scope_id;
		return 0;
	}
	return -1;
}

socklen_t rdsb_addr_to_sa(const uint8_t a[16], uint16_t port, uint32_t scope, bool force6,
			  struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (rdsb_addr_is_v4(a) && !force6) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a + 12, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (void *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_scope_id = scope;
	memcpy(&sin6->sin6_addr, a, 16);
	return sizeof(*sin6);
}

int rdsb_addr_parse(const char *s, uint8_t a[16], uint16_t *port)
{
	char buf[128], *host = buf, *p = NULL;
	struct in_addr v4;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *end = strchr(buf, ']');

		if (!end)
			return -1;
		*end = 0;
		host = buf + 1;
		if (end[1] == ':')
			p = end + 2;
		else if (end[1])
			return -1;
	} else {
		char *c = strrchr(buf, ':');

		/* one colon: v4:port; several: a bare IPv6 address */
		if (c && c == strchr(buf, ':')) {
			*c = 0;
			p = c + 1;
		}
	}
	if (port) {
		*port = 0;
		if (p) {
			char *end;
			long v = strtol(p, &end, 10);

			if (!*p || *end || v < 0 || v > 65535)
				return -1;
			*port = (uint16_t)v;
		}
	} else if (p) {
		return -1;
	}
	if (inet_pton(AF_INET, host, &v4) == 1) {
		memcpy(a, v4mapped_prefix, 12);
		memcpy(a + 12, &v4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, host, a) == 1 ? 0 : -1;
}

const char *rdsb_addr_str(const uint8_t a[16], char *buf, size_t len)
{
	if (rdsb_addr_is_v4(a))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	return buf;
}

bool rdsb_addr_is_unicast(const uint8_t a[16])
{
	static const uint8_t zero[16];

	if (rdsb_addr_is_v4(a)) {
		uint32_t v = (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15];

		return v != INADDR_ANY && v != INADDR_BROADCAST && !IN_MULTICAST(v);
	}
	return memcmp(a, zero, 16) != 0 && a[0] != 0xff;
}

bool rdsb_addr_is_linklocal6(const uint8_t a[16])
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

bool rdsb_addr_is_loopback(const uint8_t a[16])
{
	static const uint8_t one6[16] = { [15] = 1 };

	return rdsb_addr_is_v4(a) ? a[12] == IN_LOOPBACKNET : !memcmp(a, one6, 16);
}

/* bind() succeeds only for a local address, as the kernel checks it; false
 * with errno 0 when it is not one, with socket()'s errno when it could not
 * ask (out of descriptors: the caller's problem, not the address's). */
bool rdsb_addr_is_local(const uint8_t addr[16], uint32_t scope)
{
	struct sockaddr_storage ss;
	socklen_t len = rdsb_addr_to_sa(addr, 0, scope, false, &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool local;

	if (fd < 0)
		return false;
	local = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	errno = 0;
	return local;
}
