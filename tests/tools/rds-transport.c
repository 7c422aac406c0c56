/*
 * rds-transport: SO_RDS_TRANSPORT against an engine that runs transport
 * TRANS (0 = RDS_TRANS_IB, 2 = RDS_TRANS_TCP, 4 = RDS_TRANS_XDP), with the
 * kernel's rules (rds_set_transport, rds_bind): once and before bind
 * (EOPNOTSUPP), an int (EINVAL), a known value (EINVAL), a loaded transport
 * (ENOPROTOOPT), and a bound socket reports the transport in use. Then a
 * datagram round trip with an echo service on a socket that selected it.
 * IB: run on the kernel's rds_rdma and on rds-bpf alike, so no case that
 * needs RDS/TCP absent (the kernel guest has it); a socket bound without a
 * choice to an address of an RDMA device gets IB, and IB chosen cannot bind
 * an address without one (rds_ib_laddr_check: ENOPROTOOPT), while an
 * unchosen loopback address takes the loopback transport. One case per
 * line (see expect.h); exit code = number of failures.
 *
 *   rds-transport LOCAL4 PEER4 ECHO_PORT TRANS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../../include/rds-bpf/rds.h"
#include "expect.h"

static struct sockaddr_in local4, echo4;
static uint16_t port_seq = 21000;

static int rds_sock(void)
{
	return rds_sock_of("rds-transport");
}

static int set_transport(int fd, int v)
{
	return setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, sizeof(v));
}

static int get_transport(int fd)
{
	int v = -2;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &v, &l) || l != sizeof(v))
		return -3;
	return v;
}

static int bind_local(int fd, const struct sockaddr_in *addr)
{
	struct sockaddr_in a = *addr;

	a.sin_port = htons(port_seq++);
	return bind(fd, (struct sockaddr *)&a, sizeof(a));
}

/* Values the engine's transport refuses, before one it takes. */
static void t_refused(int trans, int other)
{
	int fd = rds_sock();
	long long wide = trans;

	expect_true("get_fresh_none", get_transport(fd) == (int)RDS_TRANS_NONE, "got %d", get_transport(fd));
	expect_err("set_count", set_transport(fd, RDS_TRANS_COUNT), EINVAL);
	expect_err("set_5", set_transport(fd, RDS_TRANS_XDP + 1), EINVAL);
	expect_err("set_none", set_transport(fd, (int)RDS_TRANS_NONE), EINVAL);
	expect_err("set_optlen_8", setsockopt(fd, SOL_RDS, SO_RDS_TRANSPORT, &wide, sizeof(wide)), EINVAL);
	if (trans != RDS_TRANS_IB)
		expect_err("set_ib", set_transport(fd, RDS_TRANS_IB), not_tcp_transport_errno());
	expect_err("set_gap", set_transport(fd, RDS_TRANS_GAP), not_tcp_transport_errno());
	if (other >= 0)
		expect_err("set_other", set_transport(fd, other), ENOPROTOOPT);
	expect_true("get_after_refusals_none", get_transport(fd) == (int)RDS_TRANS_NONE, "got %d",
		    get_transport(fd));
	expect_ret("set_engine", set_transport(fd, trans), 0);
	expect_ret("get_engine", get_transport(fd), trans);
	expect_err("set_twice", set_transport(fd, trans), EOPNOTSUPP);
	expect_ret("bind_after_set", bind_local(fd, &local4), 0);
	expect_ret("get_after_bind", get_transport(fd), trans);
	close(fd);
}

static void t_bound(int trans, const struct sockaddr_in *peer)
{
	int fd = rds_sock();

	expect_ret("bind_without_set", bind_local(fd, &local4), 0);
	expect_ret("get_bound_without_set", get_transport(fd), trans);
	expect_err("set_after_bind", set_transport(fd, trans), EOPNOTSUPP);
	close(fd);
	fd = rds_sock();
	set_transport(fd, trans);
	expect_err("bind_nonlocal_explicit", bind_local(fd, peer), ENOPROTOOPT);
	close(fd);
}

/* IB: an address of no RDMA device (loopback: rxe sits on eth0 only) */
static void t_no_rdma_device(void)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = rds_sock();

	expect_ret("set_ib_for_loopback", set_transport(fd, RDS_TRANS_IB), 0);
	expect_err("bind_loopback_ib", bind_local(fd, &lo), ENOPROTOOPT);
	expect_ret("get_after_refused_bind", get_transport(fd), RDS_TRANS_IB);
	close(fd);
	fd = rds_sock();
	expect_ret("bind_loopback_unchosen", bind_local(fd, &lo), 0);
	close(fd);
}

/* A socket that selected the transport exchanges a datagram with the echo. */
static void t_round_trip(int trans)
{
	static const char msg[] = "rds-transport round trip";
	struct pollfd p = { .events = POLLIN };
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char buf[64];
	ssize_t n;

	p.fd = rds_sock();
	set_transport(p.fd, trans);
	bind_local(p.fd, &local4);
	expect_ret("send_selected", sendto(p.fd, msg, sizeof(msg), 0, (struct sockaddr *)&echo4, sizeof(echo4)),
		   sizeof(msg));
	n = poll(&p, 1, 10000) == 1 ? recvfrom(p.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl) : -1;
	expect_true("echo_selected",
		    n == sizeof(msg) && !memcmp(buf, msg, sizeof(msg)) && from.sin_addr.s_addr == echo4.sin_addr.s_addr &&
			    from.sin_port == echo4.sin_port,
		    "got %zd bytes", n);
	close(p.fd);
}

static int parse4(const char *s, struct sockaddr_in *a)
{
	a->sin_family = AF_INET;
	return inet_pton(AF_INET, s, &a->sin_addr) == 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in peer4;
	int trans;

	if (argc != 5 || !parse4(argv[1], &local4) || !parse4(argv[2], &peer4) ||
	    ((trans = atoi(argv[4])) != RDS_TRANS_TCP && trans != RDS_TRANS_XDP && trans != RDS_TRANS_IB)) {
		fprintf(stderr, "usage: rds-transport LOCAL4 PEER4 ECHO_PORT 0|2|4 (the engine's transport)\n");
		return 100;
	}
	echo4 = peer4;
	echo4.sin_port = htons((uint16_t)atoi(argv[3]));
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_refused(trans, trans == RDS_TRANS_IB ? -1 : trans == RDS_TRANS_TCP ? RDS_TRANS_XDP : RDS_TRANS_TCP);
	t_bound(trans, &peer4);
	if (trans == RDS_TRANS_IB)
		t_no_rdma_device();
	t_round_trip(trans);
	printf("# %d ok, %d failed\n", passes, failures);
	return failures;
}
