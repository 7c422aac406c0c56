// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rdsx-loss: attach the loss injector (tests/bpf/rdsx_loss.bpf.c) to a device's
 * egress, read what it did, detach it.
 *   rdsx-loss attach DEV PIN DROP DUP REORDER   (per mille each)
 *   rdsx-loss stats PIN      -> "seen N dropped N duplicated N reordered N"
 *   rdsx-loss detach DEV PIN
 * Reordering sends the chosen frames through a slow htb class (1:2), set up
 * here with tc, so the frames behind them overtake them.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <rds-bpf/xdp.h>
#include "rdsx_loss.skel.h"

#define SLOW_CLASS 0x00010002	/* htb 1:2 */

static int usage(void)
{
	fprintf(stderr, "usage: rdsx-loss attach DEV PIN DROP DUP REORDER | stats PIN | detach DEV PIN\n"
			"  DROP, DUP, REORDER: per mille of the frames to UDP port 16386\n");
	return 2;
}

static int permille(const char *s, __u32 *v)
{
	char *end;
	long x = strtol(s, &end, 10);

	if (*end || x < 0 || x > 1000)
		return -1;
	*v = (__u32)x;
	return 0;
}

static int slow_lane(const char *dev)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "tc qdisc replace dev %s root handle 1: htb default 1 && "
		 "tc class add dev %s parent 1: classid 1:1 htb rate 10gbit quantum 60000 && "
		 "tc class add dev %s parent 1: classid 1:2 htb rate 4mbit", dev, dev, dev);
	return system(cmd) ? -1 : 0;
}

static int attach(const char *dev, const char *pin, char **pct)
{
	struct rdsx_loss_cfg cfg = { .reorder_classid = SLOW_CLASS };
	int ifindex = (int)if_nametoindex(dev);
	struct rdsx_loss *skel;
	__u32 k = 0;

	if (!ifindex || permille(pct[0], &cfg.drop_permille) || permille(pct[1], &cfg.dup_permille) ||
	    permille(pct[2], &cfg.reorder_permille) ||
	    cfg.drop_permille + cfg.dup_permille + cfg.reorder_permille > 1000)
		return usage();
	skel = rdsx_loss__open_and_load();
	if (!skel) {
		fprintf(stderr, "rdsx-loss: cannot load the program: %s (hint: needs root)\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(skel->progs.rdsx_loss));
	bpf_tc_hook_create(&hook);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.rdsx_loss_cfg), &k, &cfg, BPF_ANY) ||
	    bpf_map__pin(skel->maps.rdsx_loss_cfg, pin) || bpf_tc_attach(&hook, &opts) ||
	    (cfg.reorder_permille && slow_lane(dev))) {
		fprintf(stderr, "rdsx-loss: cannot attach to %s: %s\n", dev, strerror(errno));
		return 1;
	}
	return 0;
}

static int stats(const char *pin)
{
	struct rdsx_loss_cfg c;
	int fd = bpf_obj_get(pin);
	__u32 k = 0;

	if (fd < 0 || bpf_map_lookup_elem(fd, &k, &c)) {
		fprintf(stderr, "rdsx-loss: no injector pinned at %s\n", pin);
		return 1;
	}
	printf("seen %llu dropped %llu duplicated %llu reordered %llu\n", (unsigned long long)c.seen,
	       (unsigned long long)c.dropped, (unsigned long long)c.duplicated,
	       (unsigned long long)c.reordered);
	return 0;
}

static int detach(const char *dev, const char *pin)
{
	int ifindex = (int)if_nametoindex(dev);
	char cmd[256];

	if (!ifindex)
		return usage();
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	bpf_tc_hook_destroy(&hook);
	snprintf(cmd, sizeof(cmd), "tc qdisc del dev %s root 2>/dev/null", dev);
	(void)!system(cmd);
	unlink(pin);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "attach"))
		return attach(argv[2], argv[3], argv + 4);
	if (argc == 3 && !strcmp(argv[1], "stats"))
		return stats(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "detach"))
		return detach(argv[2], argv[3]);
	return usage();
}
