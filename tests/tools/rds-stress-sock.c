// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-stress-sock: `rds-bpf stress` (same options, same output) on the BSD
 * socket calls: the kernel's AF_RDS where the kernel has RDS, rds-bpf under
 * the shim (LD_PRELOAD=librdsb-preload.so). Built with -include
 * tests/tools/stress-sock.h; the VM suite's kbench scenario runs it.
 */
#include "../../tools/cli.h"

int main(int argc, char **argv)
{
	return rdsb_cmd_stress(argc, argv);
}
