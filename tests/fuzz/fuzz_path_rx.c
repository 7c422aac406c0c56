// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: the byte stream of a path socket through the TCP transport's
 * record parser (transports/tcp/tcp_stream.c, fed with tcp_stream_feed as
 * its sockmap inbox does) and what the core does with each record
 * (user/engine/recv.c, rdsb_recv_msg), in pieces of the size the
 * first byte chooses, so records split anywhere. The rest of the engine is
 * stubbed (engine_stubs.h); a path drop ends the input.
 */
#include "../../transports/tcp/tcp.h"
#include "engine_stubs.h"

int rdsb_records_write(int fd, struct rdsb_writer *w) { (void)fd, (void)w; return 0; }
void tcp_sockmap_inbox_read(struct rdsb_engine *e) { (void)e; }
int tcp_skmsg_begin(struct rdsb_engine *e, struct rdsb_path *p) { (void)e, (void)p; return 0; }
void tcp_skmsg_end(struct rdsb_engine *e, struct rdsb_path *p) { (void)e, (void)p; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rdsb_transport tp = { .name = "fuzz" };
	static struct rdsb_cong_map cong[RDSB_MAX_ADDRS];
	static struct rdsb_engine e = { .tp = &tp, .cong = cong };
	static struct rdsb_conn c;
	struct rdsb_path *p = &c.paths[0];
	struct tcp_reader r = { 0 };
	size_t piece;

	if (!size)
		return 0;
	piece = data[0] % 64 + 1;
	data++;
	size--;
	INIT_LIST_HEAD(&sock.stalled);
	INIT_LIST_HEAD(&p->rx_wait);
	INIT_LIST_HEAD(&p->rx_unwritten);
	p->conn = &c;
	c.eng = &e;
	p->ev.fd = 0;
	p->state = RDSB_PATH_UP;
	while (size && p->ev.fd >= 0 && !p->rx_stalled) {
		size_t n = size < piece ? size : piece;

		tcp_stream_feed(&e, p, &r, data, n);
		data += n;
		size -= n;
	}
	rdsb_path_rx_unstall(&e, p);
	tcp_reader_free(&r);
	memset(p, 0, sizeof(*p));
	return 0;
}
