/*
 * The case reporting of the AF_RDS test tools (rds-errno, rds-transport):
 * one line per case, "ok CASE" or "FAIL CASE: why"; failures counts them
 * for the exit code.
 */
#ifndef RDSB_TEST_EXPECT_H
#define RDSB_TEST_EXPECT_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

static int failures, passes;

/* rds_set_transport: a transport other than TCP in a namespace other than
 * the initial one is EPROTOTYPE (only RDS/TCP has namespaces); in the
 * initial one, a transport not loaded is ENOPROTOOPT. */
static int not_tcp_transport_errno(void)
{
	struct stat self, init;

	if (stat("/proc/self/ns/net", &self) || stat("/proc/1/ns/net", &init) || self.st_ino == init.st_ino)
		return ENOPROTOOPT;
	return EPROTOTYPE;
}

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "success";

	return n ? n : "E?";
}

static void ok(const char *name)
{
	passes++;
	printf("ok %s\n", name);
}

static void __attribute__((format(printf, 2, 3))) fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	failures++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* The call returned r with errno as it left it: want -1 and errno exp. */
static void expect_err(const char *name, long r, int exp)
{
	int e = errno;

	if (r == -1 && e == exp)
		ok(name);
	else if (r >= 0)
		fail(name, "expected %s got success (%ld)", ename(exp), r);
	else
		fail(name, "expected %s got %s", ename(exp), ename(e));
}

/* The call must succeed with exactly want. */
static void expect_ret(const char *name, long r, long want)
{
	int e = errno;

	if (r == want)
		ok(name);
	else if (r < 0)
		fail(name, "expected %ld got %s", want, ename(e));
	else
		fail(name, "expected %ld got %ld", want, r);
}

static void expect_true(const char *name, int cond, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	if (cond) {
		ok(name);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fail(name, "%s", buf);
}

/* An AF_RDS socket, or exit 100: without an engine nothing can be tested. */
static int rds_sock_of(const char *tool)
{
	int fd = socket(AF_RDS, SOCK_SEQPACKET, 0);

	if (fd < 0) {
		printf("%s: socket(AF_RDS): %s (is the engine loaded?)\n", tool, ename(errno));
		exit(100);
	}
	return fd;
}

#endif
