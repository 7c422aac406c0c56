// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: what an RDS/IB peer sends, through the IB transport's own code:
 * its CM private data (transports/ib/ib_wire.c: rds_ib_connect_private or
 * rds6_ib_connect_private, the passive side's version rule and the credit
 * bound, as ib_cm.c's handle_connect and established apply them), then
 * completions on the connection's queue pair through ib_recv_path
 * (transports/ib/ib_ring.c: ib_frame_parse, reassembly, h_ack, h_credit,
 * reposting, acks and credit updates going out) and the core's receive
 * (user/engine/recv.c; the rest of the engine is stubbed, engine_stubs.h).
 *
 * The verbs are a fake device that behaves as an RC queue pair does:
 * receives complete in the order they were posted, into the buffer posted,
 * a frame longer than that buffer completes with IBV_WC_LOC_LEN_ERR, a frame
 * with no receive posted is not received (RNR), sends complete in order.
 * Each frame sent is checked (a whole header with a right checksum, in its
 * send buffer, no more in flight than the send ring holds, counted as the
 * transport counts them), and so is each receive posted (its own buffer,
 * no more than the ring holds).
 *
 * Input: a byte (bit 0: IPv6 CM data; bit 1: ours is the active side, so
 * the data is the accept's), a byte L and L bytes of private data, then
 * completions: a byte, 0 or 1 a receive (a 16-bit little-endian length,
 * then the frame), 2 a send completion, 3 a flushed one (the connection
 * is lost).
 */
#include "engine_stubs.h"
#include "../../transports/ib/ib_ring.c"

void rdsb_path_check_acked(struct rdsb_engine *e, struct rdsb_path *p) { (void)e, (void)p; }
void rdsb_path_xmit(struct rdsb_engine *e, struct rdsb_path *p) { ib_xmit(e, p); }

/* the fake device's queues */
#define CQ_LEN 8
static struct ibv_wc cq_q[CQ_LEN];
static unsigned int cq_head, cq_len;
static uint64_t recv_q[RDS_IB_RECV_WR + 1], send_q[RDS_IB_SEND_WR + 1];
static unsigned int recv_head, recv_len, send_head, send_len;
static struct ib_conn ic;

static void fifo_push(uint64_t *q, unsigned int cap, unsigned int head, unsigned int *len, uint64_t v)
{
	if (*len >= cap)
		__builtin_trap();	/* more posted than the ring has room for */
	q[(head + (*len)++) % cap] = v;
}

static uint64_t fifo_pop(const uint64_t *q, unsigned int cap, unsigned int *head, unsigned int *len)
{
	uint64_t v = q[*head];

	*head = (*head + 1) % cap;
	(*len)--;
	return v;
}

static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	(void)cq, (void)n;
	if (!cq_len)
		return 0;
	*wc = cq_q[cq_head];
	cq_head = (cq_head + 1) % CQ_LEN;
	cq_len--;
	return 1;
}

static int fake_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	(void)cq, (void)solicited_only;
	return 0;
}

static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	(void)qp, (void)bad;
	if (wr->num_sge != 1 || wr->sg_list->length != RDS_IB_BUF ||
	    wr->sg_list->addr != (uintptr_t)recv_buf(&ic, (unsigned int)wr->wr_id))
		__builtin_trap();
	fifo_push(recv_q, RDS_IB_RECV_WR, recv_head, &recv_len, wr->wr_id);
	return 0;
}

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	const uint8_t *frame = (const uint8_t *)(uintptr_t)wr->sg_list->addr;
	uint32_t len = wr->sg_list->length;

	(void)qp, (void)bad;
	/* a whole header with its checksum, within its send buffer */
	if (len < RDS_HEADER_SIZE || len > RDS_IB_BUF || ib_csum(frame) ||
	    frame != send_buf(&ic, (unsigned int)(wr->wr_id & (WR_SEND - 1))))
		__builtin_trap();
	fifo_push(send_q, RDS_IB_SEND_WR, send_head, &send_len, wr->wr_id);
	return 0;
}

static struct ibv_context ctx = { .ops = {
	.poll_cq = fake_poll_cq, .req_notify_cq = fake_req_notify_cq,
	.post_recv = fake_post_recv, .post_send = fake_post_send,
} };
static struct ibv_qp qp = { .context = &ctx };
static struct ibv_cq cq = { .context = &ctx };
static struct ibv_comp_channel cc;	/* fd: /dev/null, no events */
static struct ibv_mr mr;
static struct rdma_cm_id id = { .qp = &qp };

static void complete(uint64_t wr_id, enum ibv_wc_status status, uint32_t len)
{
	cq_q[(cq_head + cq_len++) % CQ_LEN] = (struct ibv_wc){ .wr_id = wr_id, .status = status, .byte_len = len };
}

/* The CM data's checks: handle_connect's on the passive side, established's
 * on the active side; false when the connection would not be made. */
static bool cm_private(struct rdsb_path *p, bool v6, bool active, const uint8_t *priv, size_t len)
{
	struct rds_ib_conn_priv_cmn peer;
	const struct rds_ib_conn_priv_cmn *cmn = ib_private_cmn(len ? priv : NULL, len, v6, &peer) ? &peer : NULL;

	if (active) {
		if (cmn && RDS_IB_PROTO(cmn->major, cmn->minor) < RDS_IB_PROTO_3_1)
			return false;
		return !cmn || ib_ring_peer_credit(p, be32toh(cmn->credit));
	}
	if (!ib_protocol_compatible(len ? priv : NULL, len, v6))
		return false;
	if (cmn && be32toh(cmn->credit) > RDS_IB_MAX_CREDIT)
		return false;
	return ib_ring_peer_credit(p, cmn ? be32toh(cmn->credit) : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rdsb_transport tp = { .name = "fuzz-ib" };
	static struct rdsb_cong_map cong[RDSB_MAX_ADDRS];
	static struct rdsb_ib t;
	static struct rdsb_engine e = { .tp = &tp, .cong = cong, .tp_priv = &t };
	static struct rdsb_conn c = { .t_data = &ic };
	struct rdsb_path *p = &c.paths[0];
	const uint8_t *end = data + size;
	uint8_t flags, plen;

	if (size < 2)
		return 0;
	if (!ic.bufs) {
		ic.bufs = aligned_alloc(4096, (size_t)(RDS_IB_RECV_WR + RDS_IB_SEND_WR) * RDS_IB_BUF);
		cc.fd = open("/dev/null", O_RDONLY);
	}
	flags = *data++;
	plen = *data++;
	if (plen > end - data)
		return 0;
	ic.cm = &id;
	ic.cq = &cq;
	ic.cc = &cc;
	ic.mr = &mr;
	INIT_LIST_HEAD(&sock.stalled);
	INIT_LIST_HEAD(&p->rx_wait);
	INIT_LIST_HEAD(&p->rx_unwritten);
	INIT_LIST_HEAD(&p->send_q);
	p->conn = &c;
	c.eng = &e;
	p->ev.fd = 0;
	p->state = RDSB_PATH_UP;
	p->outgoing = flags & 2;
	for (unsigned int i = 0; i < RDS_IB_RECV_WR; i++)
		post_recv(&ic, i);
	if (!cm_private(p, flags & 1, flags & 2, data, plen))
		goto out;
	data += plen;
	ic.established = true;
	while (data < end && p->ev.fd >= 0) {
		uint8_t op = *data++;

		if (op % 4 < 2) {
			uint16_t len;
			unsigned int idx;

			if (end - data < 2)
				break;
			len = (uint16_t)(data[0] | data[1] << 8);
			data += 2;
			if (len > end - data)
				len = (uint16_t)(end - data);
			if (!recv_len) {
				data += len;	/* nothing posted: RNR, the peer retries */
				continue;
			}
			idx = (unsigned int)fifo_pop(recv_q, RDS_IB_RECV_WR, &recv_head, &recv_len);
			if (len > RDS_IB_BUF) {
				complete(idx, IBV_WC_LOC_LEN_ERR, 0);
			} else {
				memcpy(recv_buf(&ic, idx), data, len);
				complete(idx, IBV_WC_SUCCESS, len);
			}
			data += len;
		} else if (op % 4 == 2) {
			if (!send_len)
				continue;
			complete(fifo_pop(send_q, RDS_IB_SEND_WR, &send_head, &send_len), IBV_WC_SUCCESS, 0);
		} else {
			complete(0, IBV_WC_WR_FLUSH_ERR, 0);
		}
		ib_recv_path(&e, p);
		if (ic.send_used != send_len)
			__builtin_trap();
		/* the socket drained: the engine hands the stalled message on
		 * and reads the path again */
		if (p->rx_stalled) {
			rdsb_path_rx_unstall(&e, p);
			ib_recv_path(&e, p);
		}
	}
out:
	rdsb_path_rx_unstall(&e, p);
	rdsb_msg_free(ic.rx_msg);
	ic = (struct ib_conn){ .bufs = ic.bufs };
	memset(p, 0, sizeof(*p));
	cq_head = cq_len = recv_head = recv_len = send_head = send_len = 0;
	return 0;
}
