// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rds-bpf features: what this kernel offers rds-bpf, and which data path
 * `rds-bpf load` will get here (like `bpftune -S` and `xdp-loader features`).
 * Every probe is harmless: nothing stays loaded or pinned.
 */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <rds-bpf/maps.h>
#include "../user/common/log.h"
#include "../user/engine/engine.h"
#include "cli.h"
#include "out.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef AF_RDS
#define AF_RDS 21
#endif

#define BPFFS "/sys/fs/bpf"

static struct __user_cap_data_struct caps[2];

static bool has_cap(int cap)
{
	return caps[cap / 32].effective & (1U << (cap % 32));
}

/* One line: "name  yes|no  (detail)", or "key": bool in JSON. */
static void feature(const char *key, const char *what, bool ok, const char *detail)
{
	out_text("  %-50s %s", what, ok ? "yes" : "no");
	out_bool(PRINT_JSON, key, NULL, ok);
	out_text("%s%s%s\n", detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
}

/* A libbpf probe: without the privilege to load BPF a "no" says nothing,
 * so it is "unknown" (JSON null). */
static bool probed(const char *key, const char *what, int r)
{
	if (r != 1 && !has_cap(CAP_BPF) && !has_cap(CAP_SYS_ADMIN)) {
		out_text("  %-50s unknown (needs CAP_BPF or root)\n", what);
		out_null(key);
		return false;
	}
	feature(key, what, r == 1, r < 0 ? strerror(-r) : NULL);
	return r == 1;
}

static bool prog_type(const char *key, const char *what, enum bpf_prog_type t)
{
	return probed(key, what, libbpf_probe_bpf_prog_type(t, NULL));
}

static bool map_type(const char *key, const char *what, enum bpf_map_type t)
{
	return probed(key, what, libbpf_probe_bpf_map_type(t, NULL));
}

static bool socket_family(int family, int type)
{
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return errno != EAFNOSUPPORT && errno != EPROTONOSUPPORT && errno != ESOCKTNOSUPPORT;
	close(fd);
	return true;
}

static void capabilities(void)
{
	static const struct { int cap; const char *key, *why; } list[] = {
		{ CAP_BPF, "cap_bpf", "BPF maps and programs" },
		{ CAP_NET_ADMIN, "cap_net_admin", "sockmap and XDP attach" },
		{ CAP_SYS_ADMIN, "cap_sys_admin", "mounting bpffs; BPF on kernels before 5.8" },
		{ CAP_NET_RAW, "cap_net_raw", "AF_XDP sockets" },
		{ CAP_PERFMON, "cap_perfmon", "BPF pointer reads without CAP_SYS_ADMIN" },
	};
	char what[64];

	out_text("Capabilities (effective):\n");
	out_open_object("capabilities");
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		snprintf(what, sizeof(what), "%s: %s", list[i].key, list[i].why);
		feature(list[i].key, what, has_cap(list[i].cap), NULL);
	}
	out_close_object();
}

/* the RDMA devices there are: load --transport ib needs one */
/* A "load --bpf..." line: whether the transport's programs load here, tried
 * as load does (with SENDS the sk_msg one too), or why not (CANNOT). */
static bool bpf_probe(struct rdsb_transport *tp, bool sends, const char *cannot, const char *what,
		      const char *key, const char *key_detail)
{
	const char *how = NULL, *hint = NULL, *detail = cannot;
	char why[320];
	int err = 0;

	if (!cannot) {
		err = tp->probe_bpf(sends, &how, &hint);
		if (err)
			snprintf(why, sizeof(why), "%s; %s; %s", strerror(-err), how, hint);
		detail = err ? why : how;
	}
	out_text("  %-50s %s (%s)\n", what, !cannot && !err ? "yes" : "no", detail);
	out_bool(PRINT_JSON, key, NULL, !cannot && !err);
	out_string(PRINT_JSON, key_detail, NULL, detail);
	return !cannot && !err;
}

static int rdma_devices(void)
{
	DIR *d = opendir("/sys/class/infiniband");
	struct dirent *de;
	int n = 0;

	out_text("  %-50s ", "RDMA devices (/sys/class/infiniband)");
	out_open_array("rdma_devices");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		out_string(PRINT_ANY, NULL, n ? " %s" : "%s", de->d_name);
		n++;
	}
	out_close_array();
	out_text("%s\n", n ? " (load --transport ib)" : "none (soft-RoCE: rdma link add rxe0 type rxe netdev eth0)");
	if (d)
		closedir(d);
	return n;
}

int rdsb_cmd_features(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' }, { "verbose", no_argument, NULL, 'v' }, { 0 }
	};
	static const char usage[] = "usage: rds-bpf features [-v] [-j [-p]]\n";
	struct __user_cap_header_struct caph = { .version = _LINUX_CAPABILITY_VERSION_3 };
	bool json = false, pretty = false, rdma, bpffs, maps, sockmap, btf, xdp, bpf_path;
	struct rdsb_transport tp;
	struct statfs sfs;
	struct utsname u;
	int c;

	while ((c = getopt_long(argc, argv, "jphv", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'p':
			json = pretty = true;
			break;
		case 'v':
			rdsb_verbosity++;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (cli_extra_args("features", argc, argv)) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (rdsb_verbosity < 2)
		libbpf_set_print(NULL);	/* the probes' failures are the answer */
	syscall(SYS_capget, &caph, caps);
	uname(&u);
	out_start(json, pretty);
	out_string(PRINT_ANY, "kernel", "Kernel %s\n", u.release);
	out_text("BPF:\n");
	bpffs = statfs(BPFFS, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
	feature("bpffs", "bpffs mounted at " BPFFS, bpffs, bpffs ? NULL : "rds-bpf load mounts it");
	btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	feature("btf", "kernel BTF (/sys/kernel/btf/vmlinux)", btf, btf ? NULL : "CONFIG_DEBUG_INFO_BTF is off");
	maps = map_type("bpf_maps", "BPF maps (pinned congestion maps)", BPF_MAP_TYPE_ARRAY);
	sockmap = map_type("sockhash", "BPF_MAP_TYPE_SOCKHASH", BPF_MAP_TYPE_SOCKHASH);
	sockmap &= prog_type("sk_skb", "BPF_PROG_TYPE_SK_SKB (strparser, verdict)", BPF_PROG_TYPE_SK_SKB);
	sockmap &= prog_type("sk_msg", "BPF_PROG_TYPE_SK_MSG", BPF_PROG_TYPE_SK_MSG);
	xdp = prog_type("xdp", "XDP (native on veth, generic anywhere)", BPF_PROG_TYPE_XDP);
	xdp &= map_type("xskmap", "BPF_MAP_TYPE_XSKMAP", BPF_MAP_TYPE_XSKMAP);
	out_text("Sockets:\n");
	xdp &= socket_family(AF_XDP, SOCK_RAW);
	feature("af_xdp", "AF_XDP sockets", socket_family(AF_XDP, SOCK_RAW), NULL);
	feature("kernel_rds", "kernel RDS (AF_RDS)", socket_family(AF_RDS, SOCK_SEQPACKET),
		"rds-bpf does not need it");
	rdma = rdma_devices() > 0;
	capabilities();
	/* what rds-bpf load picks: the sockmap data path where its programs
	 * load (the answer of loading them, as load does), else the userspace
	 * one, with pinned BPF maps when it can make them, else shared memory */
	out_text("rds-bpf here:\n");
	rdsb_transport_fill(&tp, rdsb_transports[0]);	/* tcp, the default */
	bpf_path = bpf_probe(&tp, false, !maps ? "BPF maps unavailable" :
				 !sockmap ? "the kernel lacks sockmap (CONFIG_BPF_STREAM_PARSER)" : NULL,
			     "the sockmap data path (load; load --bpf)", "bpf_data_path", "bpf_data_path_detail");
	bpf_probe(&tp, true, bpf_path ? NULL : "needs the sockmap data path",
		  "the sk_msg send path too (load)", "sk_msg_send_path", "sk_msg_send_path_detail");
	out_string(PRINT_ANY, "data_path", "  data path: %s", bpf_path ? "bpf" : "userspace");
	out_text("%s\n", bpf_path ? " (sockmap receive, pinned maps; load --no-bpf for the userspace one)" :
			  maps ? " (pinned maps; no sockmap data path, above)" :
				 " (congestion maps in shared memory; BPF needs CAP_BPF or root)");
	out_open_array("transports");
	out_string(PRINT_ANY, NULL, "  transports: %s", "tcp");
	/* load --transport xdp --dev IF: an XDP program, an XSKMAP, AF_XDP */
	if (xdp)
		out_string(PRINT_ANY, NULL, ", %s", "xdp");
	if (rdma)	/* load --transport ib: RDMA-CM and verbs on an RDMA device */
		out_string(PRINT_ANY, NULL, ", %s", "ib");
	out_text("\n");
	out_close_array();
	return out_end() ? EXIT_RUNTIME : 0;
}
