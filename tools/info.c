// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-bpf info: rds-info's sections, titles and columns, read with the
 * RDS_INFO getsockopts on an unbound RDS socket, as rds-info does; then what
 * only rds-bpf has (RDSB_INFO_*): paths, the path each bound port takes,
 * congested ports, drop reasons. Without a section flag it prints them all.
 * The RDS6 variants are read, so IPv4 and IPv6 entries both show.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <rds-bpf/info.h>
#include <rds-bpf/rds.h>
#include "../user/common/addr.h"
#include "../user/common/log.h"
#include "cli.h"
#include "out.h"

struct blob {
	const uint8_t *data;
	size_t each, len;
};

#define for_each_item(var, b)                                                    \
	for (size_t _off = 0; _off + (b)->each <= (b)->len &&                    \
			      (memset(&(var), 0, sizeof(var)),                   \
			       memcpy(&(var), (b)->data + _off,                  \
				      (b)->each < sizeof(var) ? (b)->each : sizeof(var)), 1); \
	     _off += (b)->each)

static bool verbose;
static ino_t own_inode;

/* Like rds-info's paddr(): several in one printf. */
static const char *addr(const void *a16)
{
	static char bufs[4][INET6_ADDRSTRLEN];
	static int which;
	uint8_t a[16];

	memcpy(a, a16, 16);
	which = (which + 1) % 4;
	return rdsb_addr_str(a, bufs[which], sizeof(bufs[which]));
}

static void print_counters(const struct blob *b, const char *prefix)
{
	struct rds_info_counter c;

	out_text("\n%s:\n%25s %16s\n", prefix ? "Drop Reasons" : "Counters", "CounterName", "Value");
	out_open_object(prefix ? "drops" : "counters");
	for_each_item(c, b) {
		char name[sizeof(c.name) + 1] = { 0 };

		memcpy(name, c.name, sizeof(c.name));
		if (prefix && strncmp(name, prefix, strlen(prefix)))
			continue;
		out_text("%25s ", name);
		out_u64(PRINT_ANY, name, "%16llu\n", c.value);
	}
	out_close_object();
}

static void counters(const struct blob *b)
{
	print_counters(b, NULL);
}

static void drops(const struct blob *b)
{
	print_counters(b, "drop_");
}

static void sockets(const struct blob *b)
{
	struct rds6_info_socket s;

	out_text("\nRDS Sockets:\n%15s %5s %15s %5s %10s %10s %8s\n", "BoundAddr", "BPort", "ConnAddr", "CPort",
		 "SndBuf", "RcvBuf", "Inode");
	out_open_array("sockets");
	for_each_item(s, b) {
		if (s.inum == own_inode)	/* this tool's own socket */
			continue;
		out_open_object(NULL);
		out_string(PRINT_ANY, "bound_addr", "%15s ", addr(&s.bound_addr));
		out_u64(PRINT_ANY, "bound_port", "%5llu ", ntohs(s.bound_port));
		/* not connected: the zero address of the bound one's family */
		if (rdsb_addr_is_v4((const uint8_t *)&s.bound_addr) &&
		    !memcmp(&s.connected_addr, &in6addr_any, sizeof(in6addr_any)))
			s.connected_addr.s6_addr[10] = s.connected_addr.s6_addr[11] = 0xff;
		out_string(PRINT_ANY, "conn_addr", "%15s ", addr(&s.connected_addr));
		out_u64(PRINT_ANY, "conn_port", "%5llu ", ntohs(s.connected_port));
		out_u64(PRINT_ANY, "sndbuf", "%10llu ", s.sndbuf);
		out_u64(PRINT_ANY, "rcvbuf", "%10llu ", s.rcvbuf);
		out_u64(PRINT_ANY, "inode", "%8llu\n", s.inum);
		out_close_object();
	}
	out_close_array();
}

static void connections(const struct blob *b)
{
	struct rds6_info_connection c;

	out_text("\nRDS Connections:\n%15s %15s %4s %16s %16s %4s%s\n", "LocalAddr", "RemoteAddr", "Tos", "NextTX",
		 "NextRX", "Flgs", verbose ? " Transport" : "");
	out_open_array("connections");
	for_each_item(c, b) {
		char flags[5], transport[TRANSNAMSIZ + 1] = { 0 };

		snprintf(flags, sizeof(flags), "%c%c%c%c", c.flags & RDS_INFO_CONNECTION_FLAG_SENDING ? 's' : '-',
			 c.flags & RDS_INFO_CONNECTION_FLAG_CONNECTING ? 'c' : '-',
			 c.flags & RDS_INFO_CONNECTION_FLAG_CONNECTED ? 'C' : '-', '-');
		memcpy(transport, c.transport, TRANSNAMSIZ);
		out_open_object(NULL);
		out_string(PRINT_ANY, "laddr", "%15s ", addr(&c.laddr));
		out_string(PRINT_ANY, "faddr", "%15s ", addr(&c.faddr));
		out_u64(PRINT_ANY, "tos", "%4llu ", 0);	/* TCP maps every TOS to 0 */
		out_u64(PRINT_ANY, "next_tx_seq", "%16llu ", c.next_tx_seq);
		out_u64(PRINT_ANY, "next_rx_seq", "%16llu ", c.next_rx_seq);
		out_string(PRINT_ANY, "flags", "%4s", flags);
		out_string(verbose ? PRINT_ANY : PRINT_JSON, "transport", " %s", transport);
		out_text("\n");
		out_bool(PRINT_JSON, "sending", NULL, c.flags & RDS_INFO_CONNECTION_FLAG_SENDING);
		out_bool(PRINT_JSON, "connecting", NULL, c.flags & RDS_INFO_CONNECTION_FLAG_CONNECTING);
		out_bool(PRINT_JSON, "connected", NULL, c.flags & RDS_INFO_CONNECTION_FLAG_CONNECTED);
		out_close_object();
	}
	out_close_array();
}

/* The LocalAddr LPort RemoteAddr RPort columns (ports in network order). */
static void endpoints(const void *laddr, uint16_t lport, const void *faddr, uint16_t fport)
{
	out_string(PRINT_ANY, "laddr", "%15s ", addr(laddr));
	out_u64(PRINT_ANY, "lport", "%5llu ", ntohs(lport));
	out_string(PRINT_ANY, "faddr", "%15s ", addr(faddr));
	out_u64(PRINT_ANY, "fport", "%5llu ", ntohs(fport));
}

static void messages(const struct blob *b, const char *title, const char *key)
{
	struct rds6_info_message m;

	out_text("\n%s Message Queue:\n%15s %5s %15s %5s %4s %16s %10s\n", title, "LocalAddr", "LPort", "RemoteAddr",
		 "RPort", "Tos", "Seq", "Bytes");
	out_open_array(key);
	for_each_item(m, b) {
		out_open_object(NULL);
		endpoints(&m.laddr, m.lport, &m.faddr, m.fport);
		out_u64(PRINT_ANY, "tos", "%4llu ", m.tos);
		out_u64(PRINT_ANY, "seq", "%16llu ", m.seq);
		out_u64(PRINT_ANY, "bytes", "%10llu\n", m.len);
		out_close_object();
	}
	out_close_array();
}

static void recv_queue(const struct blob *b)
{
	messages(b, "Receive", "recv_queue");
}

static void send_queue(const struct blob *b)
{
	messages(b, "Send", "send_queue");
}

static void retrans_queue(const struct blob *b)
{
	messages(b, "Retransmit", "retrans_queue");
}

static void tcp_sockets(const struct blob *b)
{
	struct rds6_info_tcp_socket t;

	out_text("\nTCP Connections:\n%15s %5s %15s %5s %10s %10s %10s %10s %10s\n", "LocalAddr", "LPort",
		 "RemoteAddr", "RPort", "HdrRemain", "DataRemain", "SentNxt", "ExpectUna", "SeenUna");
	out_open_array("tcp_sockets");
	for_each_item(t, b) {
		out_open_object(NULL);
		endpoints(&t.local_addr, t.local_port, &t.peer_addr, t.peer_port);
		out_u64(PRINT_ANY, "hdr_rem", "%10llu ", t.hdr_rem);
		out_u64(PRINT_ANY, "data_rem", "%10llu ", t.data_rem);
		out_u64(PRINT_ANY, "sent_nxt", "%10llu ", t.last_sent_nxt);
		out_u64(PRINT_ANY, "expect_una", "%10llu ", t.last_expected_una);
		out_u64(PRINT_ANY, "seen_una", "%10llu\n", t.last_seen_una);
		out_close_object();
	}
	out_close_array();
}

/* a GID as an IPv6 address, as rds-info prints it (used at once) */
static const char *gid(const uint8_t g[RDS_IB_GID_LEN])
{
	static char buf[INET6_ADDRSTRLEN];

	return inet_ntop(AF_INET6, g, buf, sizeof(buf)) ? buf : "?";
}

/* The ib transport's connections (empty on the others), as rds-info -I. */
static void ib_connections(const struct blob *b)
{
	struct rds6_info_rdma_connection c;

	out_text("\nRDS IB Connections:\n%15s %15s %4s %3s %32s %32s\n", "LocalAddr", "RemoteAddr", "Tos", "SL",
		 "LocalDev", "RemoteDev");
	out_open_array("ib_connections");
	for_each_item(c, b) {
		if (!b->each)		/* not the ib transport: no table */
			break;
		out_open_object(NULL);
		out_string(PRINT_ANY, "laddr", "%15s ", addr(&c.src_addr));
		out_string(PRINT_ANY, "faddr", "%15s ", addr(&c.dst_addr));
		out_u64(PRINT_ANY, "tos", "%4llu ", c.tos);
		out_u64(PRINT_ANY, "sl", "%3llu ", c.sl);
		out_string(PRINT_ANY, "src_gid", "%32s ", gid(c.src_gid));
		out_string(PRINT_ANY, "dst_gid", "%32s\n", gid(c.dst_gid));
		out_u64(PRINT_JSON, "max_send_wr", NULL, c.max_send_wr);
		out_u64(PRINT_JSON, "max_recv_wr", NULL, c.max_recv_wr);
		out_u64(PRINT_JSON, "max_send_sge", NULL, c.max_send_sge);
		out_close_object();
	}
	out_close_array();
}

static const char *const state_names[] = { "down", "connecting", "disconnecting", "up", "resetting", "error" };

static void paths(const struct blob *b)
{
	struct rdsb_info_path p;

	out_text("\nRDS Paths:\n%15s %15s %4s %-13s %6s %8s %5s %5s %16s %16s %8s %10s\n", "LocalAddr",
		 "RemoteAddr", "Path", "State", "NPaths", "PeerGen", "LPort", "RPort", "NextTX", "NextRX", "Unacked",
		 "Reconnects");
	out_open_array("paths");
	for_each_item(p, b) {
		const struct rdsb_path_info *i = &p.info;

		out_open_object(NULL);
		out_string(PRINT_ANY, "laddr", "%15s ", addr(p.key.laddr));
		out_string(PRINT_ANY, "faddr", "%15s ", addr(p.key.faddr));
		out_u64(PRINT_ANY, "path", "%4llu ", p.key.path);
		out_string(PRINT_ANY, "state", "%-13s ", i->state < 6 ? state_names[i->state] : "?");
		out_u64(PRINT_ANY, "npaths", "%6llu ", i->npaths);
		out_u64(PRINT_ANY, "peer_gen", "%08llx ", i->peer_gen);
		out_u64(PRINT_ANY, "lport", "%5llu ", i->lport);
		out_u64(PRINT_ANY, "fport", "%5llu ", i->fport);
		out_u64(PRINT_ANY, "next_tx_seq", "%16llu ", i->next_tx_seq);
		out_u64(PRINT_ANY, "next_rx_seq", "%16llu ", i->next_rx_seq);
		out_u64(PRINT_ANY, "unacked", "%8llu ", i->unacked_msgs);
		out_u64(PRINT_ANY, "reconnects", "%10llu", i->reconnects);
		out_u64(verbose ? PRINT_ANY : PRINT_JSON, "tx_msgs", " tx %llu", i->tx_msgs);
		out_u64(verbose ? PRINT_ANY : PRINT_JSON, "rx_msgs", " rx %llu", i->rx_msgs);
		out_u64(verbose ? PRINT_ANY : PRINT_JSON, "tx_bytes", " (%llu", i->tx_bytes);
		out_u64(verbose ? PRINT_ANY : PRINT_JSON, "rx_bytes", "/%llu bytes)", i->rx_bytes);
		out_text("\n");
		out_close_object();
	}
	out_close_array();
}

static void port_paths(const struct blob *b)
{
	struct rdsb_info_port_path p;

	out_text("\nRDS Port Paths:\n%15s %5s %15s %4s %6s\n", "LocalAddr", "LPort", "RemoteAddr", "Path",
		 "NPaths");
	out_open_array("port_paths");
	for_each_item(p, b) {
		out_open_object(NULL);
		out_string(PRINT_ANY, "laddr", "%15s ", addr(p.laddr));
		out_u64(PRINT_ANY, "lport", "%5llu ", p.lport);
		out_string(PRINT_ANY, "faddr", "%15s ", addr(p.faddr));
		out_u64(PRINT_ANY, "path", "%4llu ", p.path);
		out_u64(PRINT_ANY, "npaths", "%6llu\n", p.npaths);
		out_close_object();
	}
	out_close_array();
}

static void cong_ports(const struct blob *b)
{
	struct rdsb_info_cong_port c;

	out_text("\nCongested Ports:\n%15s %5s %5s\n", "Addr", "Port", "Side");
	out_open_array("congested_ports");
	for_each_item(c, b) {
		out_open_object(NULL);
		out_string(PRINT_ANY, "addr", "%15s ", addr(c.addr));
		out_u64(PRINT_ANY, "port", "%5llu ", c.port);
		out_string(PRINT_ANY, "side", "%5s\n", c.kind == RDSB_ADDR_LOCAL ? "local" : "peer");
		out_close_object();
	}
	out_close_array();
}

struct section {
	int opt;		/* the flag that selects it */
	int optname;		/* 0: no source */
	void (*print)(const struct blob *b);
	const char *help;
	bool given;
};

static struct section sections[] = {
	{ 'c', RDS_INFO_COUNTERS, counters, "statistic counters" },
	{ 'k', RDS6_INFO_SOCKETS, sockets, "sockets" },
	{ 'n', RDS6_INFO_CONNECTIONS, connections, "connections" },
	{ 'r', RDS6_INFO_RECV_MESSAGES, recv_queue, "recv queue messages" },
	{ 's', RDS6_INFO_SEND_MESSAGES, send_queue, "send queue messages" },
	{ 't', RDS6_INFO_RETRANS_MESSAGES, retrans_queue, "retransmit queue messages" },
	{ 'T', RDS6_INFO_TCP_SOCKETS, tcp_sockets, "TCP transport sockets" },
	{ 'I', RDS6_INFO_IB_CONNECTIONS, ib_connections, "IB transport connections (the ib transport)" },
	{ 'P', RDSB_INFO_PATHS, paths, "paths: state, npaths, peer generation (rds-bpf)" },
	{ 'P', RDSB_INFO_PORT_PATHS, port_paths, NULL },
	{ 'C', RDSB_INFO_CONG_PORTS, cong_ports, "congested ports, local and peer (rds-bpf)" },
	{ 'D', RDS_INFO_COUNTERS, drops, "drop reasons (rds-bpf)" },
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: rds-bpf info [-cknrstTIPCD] [-v] [-j [-p]]\n"
		   "The following options limit output to the given sources:\n");
	for (size_t i = 0; i < NSECTIONS; i++)
		if (sections[i].help)
			fprintf(f, "    -%c %s\n", sections[i].opt, sections[i].help);
	fprintf(f, "If no options are given then all sources are used.\n"
		   "    -v verbose (transport, per-path traffic)  -j JSON  -p pretty JSON\n");
}

/* Reads one RDS_INFO source whole: grows the buffer while it gets ENOSPC. */
static int fetch(int fd, int optname, uint8_t **data, struct blob *b)
{
	socklen_t len = 0;
	int each;

	while ((each = rdsb_getsockopt(fd, SOL_RDS, optname, *data, &len)) < 0) {
		uint8_t *n;

		if (errno != ENOSPC)
			return -errno;
		n = realloc(*data, len ? len : 1);
		if (!n)
			return -ENOMEM;
		*data = n;
	}
	b->data = *data;
	b->each = (size_t)each;
	b->len = len;
	return 0;
}

int rdsb_cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' }, { "verbose", no_argument, NULL, 'v' }, { 0 }
	};
	bool json = false, pretty = false, any = false;
	uint8_t *data = NULL;
	struct stat st;
	int c, fd, rc = 0;

	while ((c = getopt_long(argc, argv, "cknrstTIPCDvjph", opts, NULL)) != -1) {
		bool known = false;

		for (size_t i = 0; i < NSECTIONS; i++)
			if (sections[i].opt == c)
				sections[i].given = known = any = true;
		if (known)
			continue;
		switch (c) {
		case 'v':
			verbose = true;
			rdsb_verbosity++;
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			json = pretty = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (cli_extra_args("info", argc, argv)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	fd = rdsb_socket(AF_RDS, SOCK_SEQPACKET, 0);
	if (fd < 0 && errno == EPERM)
		return cli_refused("info", errno);
	if (fd < 0 && errno == ETIMEDOUT)
		return cli_not_answering("info");
	if (fd < 0)
		return cli_not_loaded("info", json);
	if (fstat(fd, &st) == 0)
		own_inode = st.st_ino;
	out_start(json, pretty);
	for (size_t i = 0; i < NSECTIONS; i++) {
		struct blob b = { 0 };
		int err;

		if (any && !sections[i].given)
			continue;
		err = sections[i].optname ? fetch(fd, sections[i].optname, &data, &b) : 0;
		if (err == -ENOPROTOOPT && sections[i].optname == RDS6_INFO_IB_CONNECTIONS)
			err = 0;	/* not the ib transport: no IB connections */
		if (err == -ETIMEDOUT) {
			rc = cli_not_answering("info");
			break;
		}
		if (err) {
			fprintf(stderr, "rds-bpf info: cannot read source %d: %s\n", sections[i].optname,
				strerror(-err));
			rc = 1;
			continue;
		}
		sections[i].print(&b);
	}
	if (out_end())
		rc = 1;
	free(data);
	rdsb_close(fd);
	return rc;
}
