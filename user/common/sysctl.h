/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RDSB_SYSCTL_H
#define RDSB_SYSCTL_H

/* /proc/sys/net/core/NAME, or dflt if it cannot be read */
int rdsb_sysctl_int(const char *name, int dflt);

#endif
