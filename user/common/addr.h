/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* RDS keeps every address as 16 bytes, IPv4 v4-mapped, as the kernel does. */
#ifndef RDSB_ADDR_H
#define RDSB_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

bool rdsb_addr_is_v4(const uint8_t a[16]);
/* The IPv4 address of a v4-mapped one, in network order. */
uint32_t rdsb_addr_v4(const uint8_t a[16]);
/* sockaddr_in/in6 -> 16 bytes + port (host order) + scope; -1 on a bad family/length. */
int rdsb_addr_from_sa(const struct sockaddr *sa, socklen_t len, uint8_t a[16], uint16_t *port,
		      uint32_t *scope);
/* 16 bytes -> sockaddr_in (if v4-mapped and !force6) or sockaddr_in6; returns its length. */
socklen_t rdsb_addr_to_sa(const uint8_t a[16], uint16_t port, uint32_t scope, bool force6,
			  struct sockaddr_storage *ss);
/* "a.b.c.d" or "x::y" (optionally [x::y]) with optional ":port". */
int rdsb_addr_parse(const char *s, uint8_t a[16], uint16_t *port);
const char *rdsb_addr_str(const uint8_t a[16], char *buf, size_t len);
/* Unicast and usable as an RDS address (not any, broadcast or multicast). */
bool rdsb_addr_is_unicast(const uint8_t a[16]);
bool rdsb_addr_is_linklocal6(const uint8_t a[16]);
/* 127.0.0.0/8 or ::1: the kernel's loopback transport takes these. */
bool rdsb_addr_is_loopback(const uint8_t a[16]);
/* An address of this host (of this network namespace); false with errno set
 * (not 0) if the check itself failed. */
bool rdsb_addr_is_local(const uint8_t addr[16], uint32_t scope);

#endif
