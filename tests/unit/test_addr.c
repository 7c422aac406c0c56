// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for user/common/addr.c: 16-byte addresses (IPv4 v4-mapped, as
 * the kernel keeps them), parsing, unicast checks and sockaddr conversion. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "../../user/common/addr.h"
#include "check.h"

static const uint8_t A_10_1_2_3[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3 };
static const uint8_t A_FD00_1[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t A_FE80_1[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

static bool parse_ok(const char *s, const uint8_t want[16], uint16_t want_port)
{
	uint8_t a[16];
	uint16_t port = 0xbeef;
	int rc;

	memset(a, 0xee, sizeof(a));
	rc = rdsb_addr_parse(s, a, &port);
	if (rc != 0 || memcmp(a, want, 16) != 0 || port != want_port) {
		fprintf(stderr, "    parse \"%s\": rc %d port %u\n", s, rc, port);
		check_hexdump("got ", a, 16);
		check_hexdump("want", want, 16);
		return false;
	}
	return true;
}

static bool parse_bad(const char *s)
{
	uint8_t a[16];
	uint16_t port;
	int rc = rdsb_addr_parse(s, a, &port);

	if (rc == 0)
		fprintf(stderr, "    parse \"%s\" accepted (port %u)\n", s, port);
	return rc != 0;
}

static void test_parse(void)
{
	uint8_t a[16];

	CHECK(parse_ok("10.1.2.3:4000", A_10_1_2_3, 4000));
	CHECK(parse_ok("10.1.2.3", A_10_1_2_3, 0));
	CHECK(parse_ok("[fd00::1]:80", A_FD00_1, 80));
	CHECK(parse_ok("[fd00::1]", A_FD00_1, 0));
	CHECK(parse_ok("fd00::1", A_FD00_1, 0));
	CHECK(parse_ok("fd00:0:0:0:0:0:0:1", A_FD00_1, 0));
	CHECK(parse_ok("fe80::1", A_FE80_1, 0));
	CHECK(parse_ok("10.1.2.3:0", A_10_1_2_3, 0));
	CHECK(parse_ok("10.1.2.3:65535", A_10_1_2_3, 65535));
	CHECK(parse_ok("10.1.2.3:16385", A_10_1_2_3, 16385));
	CHECK(parse_ok("::ffff:10.1.2.3", A_10_1_2_3, 0));
	CHECK(parse_ok("[::ffff:10.1.2.3]:4000", A_10_1_2_3, 4000));

	static const uint8_t any6[16] = { 0 };
	static const uint8_t lo6[16] = { [15] = 1 };
	CHECK(parse_ok("::", any6, 0));
	CHECK(parse_ok("::1", lo6, 0));
	CHECK(parse_ok("[::1]:1", lo6, 1));

	CHECK(parse_bad("1.2.3.4:70000"));
	CHECK(parse_bad("1.2.3.4:65536"));
	CHECK(parse_bad("[fd00::1"));
	CHECK(parse_bad(""));
	CHECK(parse_bad("x"));
	CHECK(parse_bad("x:80"));
	CHECK(parse_bad("1.2.3.4:"));
	CHECK(parse_bad("1.2.3.4:abc"));
	CHECK(parse_bad("1.2.3.4:80x"));
	CHECK(parse_bad("1.2.3.4:80:90"));
	CHECK(parse_bad("256.1.2.3"));
	CHECK(parse_bad("1.2.3"));
	CHECK(parse_bad("[fd00::1]:"));
	CHECK(parse_bad("[fd00::1]:70000"));
	CHECK(parse_bad("[fd00::1]x"));
	CHECK(parse_bad("[fd00::1]80"));
	CHECK(parse_bad("[]:80"));
	CHECK(parse_bad("[10.1.2.3"));
	CHECK(parse_bad("fd00::1::2"));
	CHECK(parse_bad("fd00::g"));
	CHECK(parse_bad(":80"));
	CHECK(parse_bad("1.2.3.4:99999999999999999999"));

	/* Over-long input is refused, not truncated. */
	char longs[300];
	memset(longs, '1', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = 0;
	CHECK(parse_bad(longs));

	/* No port pointer: a port in the string is an error, none is fine. */
	CHECK(rdsb_addr_parse("10.1.2.3:4000", a, NULL) != 0);
	CHECK(rdsb_addr_parse("[fd00::1]:80", a, NULL) != 0);
	memset(a, 0, sizeof(a));
	CHECK(rdsb_addr_parse("10.1.2.3", a, NULL) == 0);
	CHECK_MEM(a, A_10_1_2_3, 16);
	CHECK(rdsb_addr_parse("fd00::1", a, NULL) == 0);
	CHECK_MEM(a, A_FD00_1, 16);
}

static void test_str(void)
{
	char buf[64];

	CHECK(strcmp(rdsb_addr_str(A_10_1_2_3, buf, sizeof(buf)), "10.1.2.3") == 0);
	CHECK(strcmp(rdsb_addr_str(A_FD00_1, buf, sizeof(buf)), "fd00::1") == 0);
	CHECK(strcmp(rdsb_addr_str(A_FE80_1, buf, sizeof(buf)), "fe80::1") == 0);
}

static bool unicast(const char *s)
{
	uint8_t a[16];

	if (rdsb_addr_parse(s, a, NULL) != 0) {
		fprintf(stderr, "    cannot parse %s\n", s);
		return false;
	}
	return rdsb_addr_is_unicast(a);
}

static void test_unicast(void)
{
	CHECK(!unicast("0.0.0.0"));
	CHECK(!unicast("255.255.255.255"));
	CHECK(!unicast("224.0.0.1"));
	CHECK(!unicast("224.0.0.0"));
	CHECK(!unicast("239.255.255.255"));
	CHECK(!unicast("ff02::1"));
	CHECK(!unicast("ff00::"));
	CHECK(!unicast("ff0e::101"));
	CHECK(!unicast("::"));
	CHECK(!unicast("::ffff:0.0.0.0"));
	CHECK(!unicast("::ffff:224.0.0.1"));

	CHECK(unicast("10.0.0.1"));
	CHECK(unicast("127.0.0.1"));
	CHECK(unicast("1.0.0.0"));
	CHECK(unicast("223.255.255.255"));
	CHECK(unicast("192.168.255.255")); /* a subnet broadcast is not knowable here */
	CHECK(unicast("fd00::1"));
	CHECK(unicast("fe80::1"));
	CHECK(unicast("2001:db8::1"));
	CHECK(unicast("::1"));
	CHECK(unicast("feff::1"));

	CHECK(rdsb_addr_is_v4(A_10_1_2_3));
	CHECK(!rdsb_addr_is_v4(A_FD00_1));
	static const uint8_t zero[16] = { 0 };
	CHECK(!rdsb_addr_is_v4(zero));
	static const uint8_t compat[16] = { [12] = 10, 1, 2, 3 }; /* ::10.1.2.3, not mapped */
	CHECK(!rdsb_addr_is_v4(compat));

	CHECK(rdsb_addr_is_linklocal6(A_FE80_1));
	uint8_t a[16];
	CHECK(rdsb_addr_parse("febf::1", a, NULL) == 0 && rdsb_addr_is_linklocal6(a));
	CHECK(rdsb_addr_parse("fec0::1", a, NULL) == 0 && !rdsb_addr_is_linklocal6(a));
	CHECK(!rdsb_addr_is_linklocal6(A_FD00_1));
}

static void test_sockaddr(void)
{
	struct sockaddr_storage ss;
	uint8_t a[16];
	uint16_t port;
	uint32_t scope;
	socklen_t len;

	/* v4 */
	memset(&ss, 0xee, sizeof(ss));
	len = rdsb_addr_to_sa(A_10_1_2_3, 4000, 0, false, &ss);
	CHECK_EQ(len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *sin = (const void *)&ss;
	CHECK_EQ(sin->sin_family, AF_INET);
	CHECK_EQ(sin->sin_port, htons(4000));
	const uint8_t *ip = (const uint8_t *)&sin->sin_addr;
	CHECK(ip[0] == 10 && ip[1] == 1 && ip[2] == 2 && ip[3] == 3);
	memset(a, 0xee, sizeof(a));
	port = 1, scope = 99;
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&ss, len, a, &port, &scope) == 0);
	CHECK_MEM(a, A_10_1_2_3, 16);
	CHECK_EQ(port, 4000);
	CHECK_EQ(scope, 0);

	/* v4 forced to v6: ::ffff:10.1.2.3 in a sockaddr_in6, and back. */
	len = rdsb_addr_to_sa(A_10_1_2_3, 16385, 0, true, &ss);
	CHECK_EQ(len, sizeof(struct sockaddr_in6));
	const struct sockaddr_in6 *sin6 = (const void *)&ss;
	CHECK_EQ(sin6->sin6_family, AF_INET6);
	CHECK_EQ(sin6->sin6_port, htons(16385));
	CHECK_MEM(&sin6->sin6_addr, A_10_1_2_3, 16);
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&ss, len, a, &port, &scope) == 0);
	CHECK_MEM(a, A_10_1_2_3, 16);
	CHECK_EQ(port, 16385);

	/* v6 with scope */
	memset(&ss, 0xee, sizeof(ss));
	len = rdsb_addr_to_sa(A_FE80_1, 80, 3, false, &ss);
	CHECK_EQ(len, sizeof(struct sockaddr_in6));
	CHECK_EQ(sin6->sin6_family, AF_INET6);
	CHECK_EQ(sin6->sin6_port, htons(80));
	CHECK_EQ(sin6->sin6_scope_id, 3);
	CHECK_EQ(sin6->sin6_flowinfo, 0);
	CHECK_MEM(&sin6->sin6_addr, A_FE80_1, 16);
	memset(a, 0xee, sizeof(a));
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&ss, len, a, &port, &scope) == 0);
	CHECK_MEM(a, A_FE80_1, 16);
	CHECK_EQ(port, 80);
	CHECK_EQ(scope, 3);

	/* v6 without scope, high port */
	len = rdsb_addr_to_sa(A_FD00_1, 65535, 0, false, &ss);
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&ss, len, a, &port, &scope) == 0);
	CHECK_MEM(a, A_FD00_1, 16);
	CHECK_EQ(port, 65535);
	CHECK_EQ(scope, 0);

	/* From hand-made sockaddrs. */
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(18634) };
	inet_pton(AF_INET, "10.1.2.3", &in4.sin_addr);
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&in4, sizeof(in4), a, &port, &scope) == 0);
	CHECK_MEM(a, A_10_1_2_3, 16);
	CHECK_EQ(port, 18634);

	/* Bad family / length. */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&un, sizeof(un), a, &port, &scope) != 0);
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&in4, sizeof(in4) - 1, a, &port, &scope) !=
	      0);
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&in4, 0, a, &port, &scope) != 0);
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&in6, sizeof(struct sockaddr_in), a, &port,
				&scope) != 0);
	CHECK(rdsb_addr_from_sa((const struct sockaddr *)&in6, sizeof(in6) - 1, a, &port, &scope) !=
	      0);
	CHECK(rdsb_addr_from_sa(NULL, sizeof(in6), a, &port, &scope) != 0);
}

int main(void)
{
	test_parse();
	test_str();
	test_unicast();
	test_sockaddr();
	return check_done();
}
