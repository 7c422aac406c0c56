/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RDSB_LOG_H
#define RDSB_LOG_H

/* 0 = warnings only, 1 = -v, 2 = -vv (libbpf and verifier output too). */
extern int rdsb_verbosity;

/* From now on to syslog (the journal), for a daemon without --log. */
void rdsb_log_to_syslog(void);
void rdsb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define pr_warn(...)  rdsb_log(0, __VA_ARGS__)
#define pr_info(...)  rdsb_log(1, __VA_ARGS__)
#define pr_debug(...) rdsb_log(2, __VA_ARGS__)

#endif
