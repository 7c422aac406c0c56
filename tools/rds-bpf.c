// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rds-bpf: load, unload and inspect the per-netns RDS engine. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../user/common/ctl_proto.h"
#include "../user/common/log.h"
#include "../user/engine/engine.h"
#include "../user/lib/lib.h"
#include "cli.h"
#include "out.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rds-bpf [-v|-vv] [--timeout SECONDS] COMMAND [OPTIONS]\n"
		"  load [--paths N] [--transport tcp|xdp|ib] [--dev IFACE|RDMADEV] [--mode native|skb] [--bpf|--no-bpf]\n"
		"       [--sk-msg|--no-sk-msg] [--foreground] [--log FILE] [--group NAME]\n"
		"                 start the RDS engine of this network namespace\n"
		"                 (used by root, and by members of NAME if given)\n"
		"                 (tcp: the sockmap data path where it loads, else userspace; --bpf: it or fail;\n"
		"                 --no-bpf: userspace; with it, applications send on the paths too where\n"
		"                 that loads; --sk-msg: that or fail; --no-sk-msg: the engine sends)\n"
		"                 (xdp: RDS in UDP frames over AF_XDP on IFACE, docs/xdp-encap.md)\n"
		"  unload         stop it and remove every pin and socket it made\n"
		"  reload [load options]\n"
		"                 this binary's engine takes over from the running one: that one\n"
		"                 drains as on unload, the applications' sockets move to the new one\n"
		"  status [-j [-p]]  what is loaded: connections, paths, sockets, counters\n"
		"  info [-cknrstTIPCD] [-v] [-j [-p]]\n"
		"                 rds-info: counters, sockets, connections, queues, TCP sockets,\n"
		"                 paths, congested ports, drop reasons\n"
		"  ping [-c count] [-i interval] [-I local_addr] dst\n"
		"                 rds-ping: zero-length datagrams to port 0, answered by the peer's RDS\n"
		"  stress -r LOCAL [-s PEER] [-t tasks] [-d depth] [-q bytes] [-a bytes] [-T secs] [-o]\n"
		"                 rds-stress: passive side, or active side against PEER (stress --help)\n"
		"  features [-j [-p]]  what this kernel offers rds-bpf, and the data path it gets\n"
		"  --version      versions of rds-bpf, libbpf and libxdp\n"
		"--timeout: how long a command waits for the engine to answer (default 10 s).\n"
		"Every command takes --help. Exit codes: 0 ok, 1 failed, 2 bad usage, 3 no engine;\n"
		"load: 4 an engine already runs here, 5 the engine's event loop failed;\n"
		"stress: 4 its drain gave up with messages in flight.\n"
		"See rds-bpf(8).\n");
}

struct ready {
	int fd;
	const char *log;
};

/* Readiness for a service manager (Type=notify): "READY=1" in a datagram
 * to $NOTIFY_SOCKET, a path or, with a leading @, an abstract name. */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = path ? strlen(path) : 0;
	int fd;

	if (!len || len >= sizeof(sun.sun_path) || (path[0] != '/' && path[0] != '@'))
		return;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		pr_warn("rds-bpf: cannot tell the service manager we are ready: %s\n", strerror(errno));
	close(fd);
}

/* The engine serves: tell the service manager, or the waiting parent and
 * then let go of its stderr (a parent's pipe must not stay open behind a
 * daemon): to the --log file, or syslog. */
static void on_ready(void *arg)
{
	struct ready *r = arg;
	int fd;

	notify_ready();
	if (r->fd < 0)
		return;
	(void)!write(r->fd, "R", 1);
	close(r->fd);
	fd = r->log ? open(r->log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640) : -1;
	if (fd < 0) {
		if (r->log)
			pr_warn("rds-bpf: cannot open %s: %s; logging to syslog\n", r->log, strerror(errno));
		rdsb_log_to_syslog();
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

/* The options of every transport, for getopt: their vals index topt[]. */
#define TOPT_BASE 256
static unsigned int transport_options(struct option *o, const struct rdsb_transport_opt **topt,
				      unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int t = 0; rdsb_transports[t]; t++)
		for (const struct rdsb_transport_opt *to = rdsb_transports[t]->opts; to && to->name; to++) {
			unsigned int i;

			for (i = 0; i < n && strcmp(topt[i]->name, to->name); i++)
				;
			if (i < n || n == max)
				continue;
			topt[n] = to;
			o[n] = (struct option){ to->name, to->arg ? required_argument : no_argument, NULL,
						(int)(TOPT_BASE + n) };
			n++;
		}
	return n;
}

/* --NAME was given: is it one of the chosen transport's options? */
static bool transport_has(const struct rdsb_transport *tp, const char *name)
{
	for (const struct rdsb_transport_opt *to = tp->opts; to && to->name; to++)
		if (!strcmp(to->name, name))
			return true;
	return false;
}

static int stop_engine(const char *cmd);
static int request(uint32_t op, uint32_t arg, char **text, uint16_t *abi);

/* reload: the applications' sockets move to this binary's engine, whose
 * library they do not have; with another socket ABI they would fail (or,
 * before the check, read its bytes wrongly), so the running one stays. */
static int reload_compatible(void)
{
	uint16_t abi = RDSB_ABI;

	if (request(RDSB_CTL_STATUS, 0, NULL, &abi) || abi == RDSB_ABI)
		return 0;	/* stop_engine reports what a request finds */
	fprintf(stderr,
		"rds-bpf reload: the running engine is of another build (socket ABI %u, this one's %u): its "
		"applications could not move to this one; hint: stop them, rds-bpf unload, rds-bpf load\n",
		abi, RDSB_ABI);
	return 1;
}

/* load, or reload: the options are checked before the running engine is
 * stopped, so that a mistyped reload leaves it running. */
static int do_load(int argc, char **argv, bool reload)
{
	static const struct option fixed[] = {
		{ "paths", required_argument, NULL, 'p' },
		{ "transport", required_argument, NULL, 't' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'l' },
		{ "group", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
	};
	const unsigned int nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct option opts[nfixed + RDSB_MAX_TRANSPORT_OPTS + 1];
	const struct rdsb_transport_opt *topt[RDSB_MAX_TRANSPORT_OPTS];
	/* the first transport, tcp, is the default */
	struct rdsb_engine_cfg cfg = { .tp = rdsb_transports[0], .max_paths = RDS_MPATH_WORKERS,
				       .ctl_gid = (gid_t)-1 };
	bool fg = false, running;
	struct ready r = { .fd = -1 };
	int c, fd, pipefd[2];
	unsigned int ntopt;
	pid_t pid;
	char ok;

	memcpy(opts, fixed, sizeof(fixed));
	ntopt = transport_options(opts + nfixed, topt, RDSB_MAX_TRANSPORT_OPTS);
	memset(&opts[nfixed + ntopt], 0, sizeof(opts[0]));
	while ((c = getopt_long(argc, argv, "p:t:fl:hv", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			rdsb_verbosity++;
			break;
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > RDS_MPATH_WORKERS) {
				fprintf(stderr, "rds-bpf load: --paths takes 1 to %d\n", RDS_MPATH_WORKERS);
				return EXIT_USAGE;
			}
			cfg.max_paths = (unsigned int)v;
			break;
		}
		case 't':
			cfg.tp = rdsb_transport_find(optarg);
			if (!cfg.tp) {
				fprintf(stderr, "rds-bpf load: unknown transport '%s' (available:", optarg);
				for (unsigned int t = 0; rdsb_transports[t]; t++)
					fprintf(stderr, "%s %s", t ? "," : "", rdsb_transports[t]->name);
				fprintf(stderr, ")\n");
				return EXIT_USAGE;
			}
			break;
		case 'f':
			fg = true;
			break;
		case 'g': {
			struct group *g = getgrnam(optarg);

			if (!g) {
				fprintf(stderr, "rds-bpf load: no group '%s'; hint: getent group %s\n", optarg, optarg);
				return EXIT_USAGE;
			}
			cfg.ctl_gid = g->gr_gid;
			break;
		}
		case 'l':
			r.log = optarg;
			break;
		case 'h':
			if (reload)
				printf("usage: rds-bpf reload [load options]   (load's, in rds-bpf --help)\n");
			else
				usage(stdout);
			return 0;
		default:
			if (c >= TOPT_BASE && c < TOPT_BASE + (int)ntopt && cfg.nopts < RDSB_MAX_TRANSPORT_OPTS) {
				cfg.opts[cfg.nopts].name = topt[c - TOPT_BASE]->name;
				cfg.opts[cfg.nopts++].value = optarg ? optarg : "";
				break;
			}
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (cli_extra_args("load", argc, argv))
		return EXIT_USAGE;
	for (unsigned int i = 0; i < cfg.nopts; i++)
		if (!transport_has(cfg.tp, cfg.opts[i].name)) {
			fprintf(stderr, "rds-bpf load: --%s is not an option of the %s transport\n",
				cfg.opts[i].name, cfg.tp->name);
			return EXIT_USAGE;
		}
	if (cfg.tp->check_opts && cfg.tp->check_opts(&cfg))
		return EXIT_USAGE;
	/* a lock or pipe of whoever started us is not the engine's to keep */
	close_range(3, ~0U, 0);
	if (geteuid() != 0) {
		fprintf(stderr, "rds-bpf load: needs root (CAP_NET_ADMIN and CAP_BPF); hint: sudo rds-bpf load\n");
		return 1;
	}
	/* one that does not take the connection in time (stopped) runs too */
	fd = rdsb_engine_connect();
	running = fd >= 0 || errno == EAGAIN;
	if (fd >= 0)
		close(fd);
	if (reload) {
		int err;

		if (!running)
			return cli_not_loaded("reload", false);
		err = reload_compatible();
		if (!err)
			err = stop_engine("reload");
		if (err)
			return err;
	} else if (running) {
		fprintf(stderr, "rds-bpf load: an engine is already running in this network namespace\n");
		return RDSB_ENGINE_RUNNING;
	}
	if (fg)
		return rdsb_engine_run(&cfg, on_ready, &r);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(pipefd[0]);
		setsid();
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		r.fd = pipefd[1];
		_exit(rdsb_engine_run(&cfg, on_ready, &r));
	}
	close(pipefd[1]);
	if (read(pipefd[0], &ok, 1) != 1) {
		int st;

		waitpid(pid, &st, 0);
		return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : RDSB_ENGINE_SETUP_FAILED;
	}
	close(pipefd[0]);
	printf("rds-bpf: engine loaded (pid %d)\n", pid);
	return 0;
}

/* One request; its reply's text (status) into *text. 0, or -ENOENT (no
 * engine), -ETIMEDOUT (it does not answer) or the engine's -errno. */
static int request(uint32_t op, uint32_t arg, char **text, uint16_t *abi)
{
	struct rdsb_ctl_req req = { .op = op, .arg = arg };
	struct rdsb_ctl_rep rep;
	char *buf = malloc(RDSB_CTL_MAX_REPLY + 1);
	int fd = rdsb_engine_connect();
	size_t got = 0;
	int err;

	if (fd < 0 || !buf) {
		err = fd < 0 && errno == EAGAIN ? -ETIMEDOUT : -ENOENT;
		free(buf);
		if (fd >= 0)
			close(fd);
		return err;
	}
	err = rdsb_ctl_xfer(fd, &req, &rep, buf, RDSB_CTL_MAX_REPLY, &got);
	if (err != -EPIPE && err != -ETIMEDOUT && abi)
		*abi = rep.abi;
	if (!err && text) {
		buf[got] = 0;
		*text = strdup(buf);
	}
	if (!err && op == RDSB_CTL_UNLOAD) {
		/* the engine closes us when it has drained and removed its pins
		 * (or the timeout ends this wait: stop_engine waits on) */
		char c;

		while (recv(fd, &c, 1, 0) > 0)
			;
	}
	close(fd);
	free(buf);
	return err == -EPIPE ? -EIO : err;
}

static int do_unload(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: rds-bpf unload\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "rds-bpf unload: takes no arguments\nusage: rds-bpf unload\n");
		return EXIT_USAGE;
	}
	return stop_engine("unload");
}

/* UNLOAD, and the wait for the engine to drain and exit. */
static int stop_engine(const char *cmd)
{
	int err = request(RDSB_CTL_UNLOAD, 0, NULL, NULL);
	struct timespec t;
	time_t end;

	if (err == -ENOENT) {
		printf("rds-bpf: nothing loaded in this network namespace\n");
		return 0;
	}
	if (err == -ETIMEDOUT)
		return cli_not_answering(cmd);
	if (err)
		return cli_refused(cmd, -err);
	/* wait for the control socket to go: the engine has drained (at most
	 * RDSB_DRAIN_MS) and exited */
	clock_gettime(CLOCK_MONOTONIC, &t);
	end = t.tv_sec + RDSB_DRAIN_MS / 1000 + 5;
	do {
		int fd = rdsb_engine_connect();

		if (fd < 0 && errno != EAGAIN) {
			printf("rds-bpf: engine unloaded\n");
			return 0;
		}
		if (fd >= 0)
			close(fd);
		usleep(10000);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec < end);
	fprintf(stderr, "rds-bpf %s: the engine did not exit within %d s\n", cmd, RDSB_DRAIN_MS / 1000 + 5);
	return 1;
}

static int do_status(int argc, char **argv)
{
	bool json = false, pretty = false;
	char *text = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty")) {
			json = pretty = true;
		} else if (!strcmp(argv[i], "-v")) {
			rdsb_verbosity++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: rds-bpf status [-j [-p]]\n");
			return 0;
		} else {
			fprintf(stderr, "rds-bpf status: unknown option '%s'\nusage: rds-bpf status [-j [-p]]\n",
				argv[i]);
			return EXIT_USAGE;
		}
	}
	int err = request(RDSB_CTL_STATUS, json, &text, NULL);

	if (err == -EPERM)
		return cli_refused("status", -err);
	if (err == -ETIMEDOUT)
		return cli_not_answering("status");
	if (err < 0)
		return cli_not_loaded("status", json);
	if (pretty)
		out_json_pretty(text ? text : "");
	else
		fputs(text ? text : "", stdout);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v"))
			rdsb_verbosity = 1;
		else if (!strcmp(argv[i], "-vv"))
			rdsb_verbosity = 2;
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			char *end;
			double secs = strtod(argv[++i], &end);

			if (*end || !(secs > 0 && secs <= 86400)) {
				fprintf(stderr, "rds-bpf: --timeout takes seconds (more than 0, at most 86400)\n");
				return EXIT_USAGE;
			}
			cli_timeout_ms = (int)(secs * 1000 + 0.5);
		} else if (!strcmp(argv[i], "--version")) {
			cli_version();
			return 0;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "rds-bpf: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	rdsb_ctl_timeout_ms = cli_timeout_ms;
	optind = 1;
	if (!strcmp(argv[i], "load"))
		return do_load(argc - i, argv + i, false);
	if (!strcmp(argv[i], "reload"))
		return do_load(argc - i, argv + i, true);
	if (!strcmp(argv[i], "unload"))
		return do_unload(argc - i, argv + i);
	if (!strcmp(argv[i], "status"))
		return do_status(argc - i, argv + i);
	if (!strcmp(argv[i], "ping"))
		return rdsb_cmd_ping(argc - i, argv + i);
	if (!strcmp(argv[i], "info"))
		return rdsb_cmd_info(argc - i, argv + i);
	if (!strcmp(argv[i], "features"))
		return rdsb_cmd_features(argc - i, argv + i);
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[i], "stress"))
		return rdsb_cmd_stress(argc - i, argv + i);
	fprintf(stderr, "rds-bpf: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
