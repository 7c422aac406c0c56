// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* setsockopt/getsockopt: SOL_SOCKET buffers and timeouts as the kernel keeps
 * them (doubled, capped by [wr]mem_max), and SOL_RDS (af_rds.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rds-bpf/info.h>
#include "lib.h"
#include "../common/addr.h"

#define SOCK_MIN_BUF 4608

static int int_arg(const void *val, socklen_t len, int *out)
{
	if (!val || len < sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

static int set_buf(struct rdsb_lsock *s, int name, int v, bool force)
{
	bool snd = name == SO_SNDBUF || name == SO_SNDBUFFORCE;
	int max = rdsb_sysctl_int(snd ? "wmem_max" : "rmem_max", 212992);
	struct rdsb_ctl_req req = { .op = RDSB_CTL_SET_BUF, .arg = !snd };
	struct rdsb_ctl_rep rep;
	int err;

	if (v < 0)
		v = 0;
	if (!force && v > max)
		v = max;
	/* __sock_set_sndbuf: clamp before doubling, so FORCE cannot overflow */
	if (v > INT_MAX / 2)
		v = INT_MAX / 2;
	v *= 2;
	if (v < SOCK_MIN_BUF)
		v = SOCK_MIN_BUF;
	if (snd)
		s->st->sk_sndbuf = v;
	else
		s->st->sk_rcvbuf = v;
	/* The receive side lives in the engine: it decides congestion. The
	 * send side is accounted here; the engine only reports it. Without
	 * an engine, the next one gets it with the socket (reattach.c). */
	req.val = (uint64_t)v / 2;
	err = rdsb_ctl_call(s, &req, &rep);
	return (err == -EPIPE || err == -ECONNRESET) && s->lost ? 0 : err;
}

/* sock_set_timestamp: SO_TIMESTAMP_NEW chooses the 64-bit format */
static void set_timestamp(struct rdsb_lsock *s, int name, int v)
{
	s->st->timestamp = v != 0;
	s->st->tstamp_new = name == SO_TIMESTAMP_NEW;
}

static int set_sol_socket(struct rdsb_lsock *s, int name, const void *val, socklen_t len)
{
	int v, err;

	switch (name) {
	case SO_SNDBUF:
	case SO_RCVBUF:
	case SO_SNDBUFFORCE:
	case SO_RCVBUFFORCE:
		if ((err = int_arg(val, len, &v)))
			return err;
		return set_buf(s, name, v, name == SO_SNDBUFFORCE || name == SO_RCVBUFFORCE);
	case SO_RCVTIMEO_OLD:
	case SO_SNDTIMEO_OLD:
		if (!val || len < sizeof(struct timeval))
			return -EINVAL;
		memcpy(name == SO_RCVTIMEO_OLD ? &s->st->rcvtimeo : &s->st->sndtimeo, val, sizeof(struct timeval));
		return 0;
	case SO_TIMESTAMP_OLD:
	case SO_TIMESTAMP_NEW:
		if ((err = int_arg(val, len, &v)))
			return err;
		set_timestamp(s, name, v);
		return 0;
	default:
		return sys_setsockopt(s->fd, SOL_SOCKET, name, val, len) < 0 ? -errno : 0;
	}
}

static int set_sol_rds(struct rdsb_lsock *s, int name, const void *val, socklen_t len)
{
	int v, err;

	switch (name) {
	case RDS_CANCEL_SENT_TO: {
		struct rdsb_ctl_req req = { .op = RDSB_CTL_CANCEL_SENT_TO };
		struct rdsb_ctl_rep rep;

		if (!s->st->bound)	/* rds_cancel_sent_to checks this first */
			return -ENOTCONN;
		if (len < sizeof(struct sockaddr_in) ||
		    rdsb_addr_from_sa(val, len, req.addr, &req.port, &req.scope_id) < 0)
			return -EINVAL;
		return rdsb_ctl_call(s, &req, &rep);
	}
	case RDS_RECVERR:
	case RDS_CONG_MONITOR:
		if ((err = int_arg(val, len, &v)))
			return err;
		if (name == RDS_RECVERR)
			s->st->recverr = v != 0;
		else
			s->st->cong_monitor = v != 0;
		return 0;
	case SO_TIMESTAMP_OLD:
	case SO_TIMESTAMP_NEW:
		/* rds_enable_recvtstamp: also at SOL_RDS, exact optlen */
		if (len != sizeof(int))
			return -EFAULT;
		memcpy(&v, val, sizeof(v));
		set_timestamp(s, name, v);
		return 0;
	case SO_RDS_MSG_RXPATH_LATENCY: {
		struct rds_rx_trace_so tr;

		/* rds_recv_track_latency */
		if (len != sizeof(tr))
			return -EFAULT;
		memcpy(&tr, val, sizeof(tr));
		if (tr.rx_traces > RDS_MSG_RX_DGRAM_TRACE_MAX)
			return -EFAULT;
		s->st->rx_traces.rx_traces = 0;
		for (int i = 0; i < tr.rx_traces; i++)
			if (tr.rx_trace_pos[i] >= RDS_MSG_RX_DGRAM_TRACE_MAX)
				return -EFAULT;
		s->st->rx_traces = tr;
		return 0;
	}
	case SO_RDS_TRANSPORT:
		if (s->st->transport != RDS_TRANS_NONE)
			return -EOPNOTSUPP;	/* once, before bind; checked before optlen */
		if (len != sizeof(int))
			return -EINVAL;
		memcpy(&v, val, sizeof(v));
		if ((v < 0 || v >= RDS_TRANS_COUNT) && v != RDS_TRANS_XDP)
			return -EINVAL;
		/* only RDS/TCP has network namespaces other than the initial one */
		if (v != RDS_TRANS_TCP && v != RDS_TRANS_XDP && !rdsb_init_netns(s->em))
			return -EPROTOTYPE;
		if (v != s->st->engine_transport)
			return -ENOPROTOOPT;	/* as rds_trans_get: that transport is not loaded here */
		s->st->transport = v;
		return 0;
	case RDS_GET_MR:
	case RDS_GET_MR_FOR_DEST:
		/* rds_get_mr[_for_dest] then __rds_rdma_map: exact optlen,
		 * bound, and only then "no get_mr on this transport" */
		if (len != (name == RDS_GET_MR ? sizeof(struct rds_get_mr_args)
					       : sizeof(struct rds_get_mr_for_dest_args)))
			return -EINVAL;
		if (!s->st->bound)
			return -ENOTCONN;
		return -EOPNOTSUPP;	/* RDMA needs the IB transport */
	case RDS_FREE_MR:
		return -EOPNOTSUPP;	/* RDMA needs the IB transport */
	default:
		return -ENOPROTOOPT;
	}
}

static int lsock_setsockopt(struct rdsb_lsock *s, int level, int name, const void *val, socklen_t len)
{
	int err;

	if (level == SOL_SOCKET)
		err = set_sol_socket(s, name, val, len);
	else if (level == SOL_RDS)
		err = set_sol_rds(s, name, val, len);
	else
		err = -ENOPROTOOPT;
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

int rdsb_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return RDSB_WITH_SOCK(fd, s, lsock_setsockopt(s, level, name, val, len));
}

static int put_int(void *val, socklen_t *len, int v)
{
	if (!val || !len || *len < sizeof(int))
		return -EINVAL;
	memcpy(val, &v, sizeof(int));
	*len = sizeof(int);
	return 0;
}

/* RDS_INFO_*: ENOSPC with the size needed, else the item size (rds_info_getsockopt). */
static int info(struct rdsb_lsock *s, int name, void *val, socklen_t *len)
{
	struct rdsb_ctl_req req = { .op = RDSB_CTL_INFO, .arg = (uint32_t)name };
	struct rdsb_ctl_rep rep;
	size_t got;
	int err;

	if (!len)
		return -EFAULT;
	req.val = val ? *len : 0;
	err = rdsb_ctl_call_data(s, &req, &rep, val, val ? *len : 0, &got);
	if (err)
		return err;
	if (rep.val > *len || got != rep.val) {
		*len = (socklen_t)rep.val;
		return -ENOSPC;
	}
	*len = (socklen_t)rep.val;
	return (int)rep.arg;
}

static int lsock_getsockopt(struct rdsb_lsock *s, int level, int name, void *val, socklen_t *len)
{
	int err = -ENOPROTOOPT;

	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_SNDBUF:
			err = put_int(val, len, s->st->sk_sndbuf);
			break;
		case SO_RCVBUF:
			err = put_int(val, len, s->st->sk_rcvbuf);
			break;
		case SO_TYPE:
			err = put_int(val, len, SOCK_SEQPACKET);
			break;
		case SO_DOMAIN:
			err = put_int(val, len, AF_RDS);
			break;
		case SO_PROTOCOL:
		case SO_ERROR:
			err = put_int(val, len, 0);
			break;
		case SO_TIMESTAMP_OLD:
		case SO_TIMESTAMP_NEW:
			err = put_int(val, len, s->st->timestamp && s->st->tstamp_new == (name == SO_TIMESTAMP_NEW));
			break;
		case SO_RCVTIMEO_OLD:
		case SO_SNDTIMEO_OLD:
			if (!val || !len || *len < sizeof(struct timeval)) {
				err = -EINVAL;
				break;
			}
			memcpy(val, name == SO_RCVTIMEO_OLD ? &s->st->rcvtimeo : &s->st->sndtimeo, sizeof(struct timeval));
			*len = sizeof(struct timeval);
			err = 0;
			break;
		default:
			err = -ENOPROTOOPT;
		}
	} else if (level == SOL_RDS && ((name >= RDS_INFO_FIRST && name <= RDS_INFO_LAST) ||
				       (name >= RDSB_INFO_FIRST && name <= RDSB_INFO_LAST))) {
		int size = info(s, name, val, len);

		if (size >= 0)
			return size;
		err = size;
	} else if (level == SOL_RDS) {
		switch (name) {
		case SO_RDS_TRANSPORT:
			err = put_int(val, len, s->st->transport);
			break;
		case RDS_RECVERR:
			err = put_int(val, len, s->st->recverr);
			break;
		default:
			err = -ENOPROTOOPT;
		}
	}
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

int rdsb_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return RDSB_WITH_SOCK(fd, s, lsock_getsockopt(s, level, name, val, len));
}
