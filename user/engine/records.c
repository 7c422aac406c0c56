// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Writing a queue of [header][payload] records to a stream socket without
 * blocking: many records per call, the first possibly resumed mid-record.
 * The TCP transport's path writer (transports/tcp/tcp_stream.c) and the
 * delivery writer (to an application's stream, sock.c) both use it, so both
 * keep records whole across short writes.
 */
#include <errno.h>
#include <sys/socket.h>
#include "engine.h"

#define BATCH 64

int rdsb_records_write(int fd, struct rdsb_writer *w)
{
	while (!list_empty(w->q)) {
		struct iovec iov[BATCH * 2];
		struct msghdr mh = { .msg_iov = iov };
		size_t off = *w->head_off, total = 0, done;
		struct rdsb_msg *m, *t;
		ssize_t n;
		int cnt = 0;

		list_for_each_entry(m, w->q, item) {
			if (cnt + 2 > BATCH * 2)
				break;
			if (off == 0)
				w->encode(w->ctx, m);
			if (off < RDS_HEADER_SIZE) {
				iov[cnt].iov_base = (uint8_t *)&m->wire + off;
				iov[cnt++].iov_len = RDS_HEADER_SIZE - off;
			}
			if (m->len) {
				size_t doff = off > RDS_HEADER_SIZE ? off - RDS_HEADER_SIZE : 0;

				iov[cnt].iov_base = m->data + doff;
				iov[cnt++].iov_len = m->len - doff;
			}
			total += RDS_HEADER_SIZE + m->len - off;
			off = 0;
		}
		mh.msg_iovlen = (size_t)cnt;
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		done = (size_t)n;
		list_for_each_entry_safe(m, t, w->q, item) {
			size_t left = RDS_HEADER_SIZE + m->len - *w->head_off;

			if (done < left) {
				*w->head_off += done;
				*w->stream_off += done;
				break;
			}
			done -= left;
			*w->head_off = 0;
			*w->stream_off += left;
			list_del_init(&m->item);
			w->done(w->ctx, m);
			if (!done)
				break;
		}
		if ((size_t)n < total)
			return 0;	/* the socket is full: wait for EPOLLOUT */
	}
	return 0;
}
