/*
 * serve: `respan relay-serve SOCKET EXE`, the relay that librespan.so starts
 * by itself (docs/relay.md, "The relay the library starts"). Not a command
 * for users: the library spawns it with the program's environment, less
 * librespan.so in LD_PRELOAD, the first time a process of the tree connects
 * to the stand-in address in RESPAN_RELAY (relayname.h).
 *
 * It detaches (the spawning process waits only for the first fork), binds
 * SOCKET in the abstract namespace (taken: another process of the tree
 * started the relay first, and this one leaves), starts the same relay as
 * `respan run` does, and answers each process that connects to SOCKET with
 * the relay's port. Such a connection is a lease: the process keeps it
 * open as long as it lives, so the kernel closes it whatever way the
 * process ends (SIGKILL included). When no lease and no program connection
 * is left for RELAY_IDLE_MS, the relay stops and the process exits.
 */
#include "serve.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "ca/ca.h"
#include "exchange.h"
#include "intercept.h"
#include "logfile.h"
#include "proxyurl.h"
#include "redact.h"
#include "relay.h"
#include "relayname.h"

extern char **environ;

#define LEASES_MAX 1024		/* processes of one tree using the relay at once */
#define RELAY_IDLE_MS 1000	/* nothing left: stop after this long */
#define FIRST_LEASE_MS 10000	/* started, but nobody came */
#define POLL_MS 200

static void usage(void)
{
	fputs("usage: respan relay-serve SOCKET EXE\n"
	      "(started by librespan.so itself; not a command for users)\n", stderr);
}

/* Bind the rendezvous socket; -EADDRINUSE when another relay has it. */
static int bind_rendezvous(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	if (n + 1 > sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path + 1, name, n);	/* sun_path[0] == 0: abstract */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	if (bind(fd, (struct sockaddr *)&a, len) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* A new lease: only from a process of our own user; it is told the port. */
static int take_lease(int lfd, unsigned short port)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return -1;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char line[16];
	int n = snprintf(line, sizeof(line), "%u\n", (unsigned)port);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid() ||
	    send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Serve leases until the tree is done with the relay. */
static void lease_loop(int lfd, const struct relay *relay)
{
	static struct pollfd fds[1 + LEASES_MAX];
	size_t n = 1;
	bool leased = false;
	int64_t start = clock_mono_ms(), idle_since = start;
	char sink[256];

	fds[0].fd = lfd;
	fds[0].events = POLLIN;
	for (;;) {
		int ready = poll(fds, (nfds_t)n, POLL_MS);
		if (ready < 0 && errno != EINTR)
			break;
		if (ready > 0 && (fds[0].revents & POLLIN)) {
			int fd = take_lease(lfd, relay_port(relay));
			if (fd >= 0 && n < 1 + LEASES_MAX) {
				fds[n].fd = fd;
				fds[n].events = POLLIN;
				fds[n].revents = 0;
				n++;
				leased = true;
			} else if (fd >= 0) {
				close(fd);
			}
		}
		for (size_t i = 1; ready > 0 && i < n; i++) {
			if (fds[i].revents == 0)
				continue;
			ssize_t got = recv(fds[i].fd, sink, sizeof(sink), 0);
			if (got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR)))
				continue;
			close(fds[i].fd);	/* the process is gone */
			fds[i] = fds[--n];
			i--;
		}
		int64_t now = clock_mono_ms();
		if (n > 1 || relay_open_conns(relay) > 0) {
			idle_since = now;
			continue;
		}
		if (now - idle_since >= (leased ? RELAY_IDLE_MS : FIRST_LEASE_MS))
			break;
	}
	for (size_t i = 1; i < n; i++)
		close(fds[i].fd);
}

static void report_line(const char *line)
{
	(void)line;	/* no terminal: the log's own counters say it */
}

int serve_main(int argc, char **argv)
{
	if (argc != 4) {
		usage();
		return 2;
	}
	const char *sock = argv[2], *exe = argv[3];

	/* The library waits for this process only: the relay lives on in a child. */
	pid_t pid = fork();
	if (pid < 0)
		return 125;
	if (pid > 0)
		_exit(0);
	setsid();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);

	struct config cfg;
	struct relayname name;
	char alias[32], err[1024];
	if (config_load(&cfg, environ) < 0)
		return 125;
	int status = 1;
	struct exchange_ctx ctx = { .cfg = &cfg };
	struct relay *relay = NULL;
	struct intercept *intercept = NULL;
	int lfd = -1;
	if (cfg.mode != RESPAN_MODE_ROUTE || cfg.api_key == NULL ||
	    !relayname_parse(getenv("RESPAN_RELAY"), &name))
		goto out;
	relayname_host(&name, alias, sizeof(alias));
	lfd = bind_rendezvous(sock);
	if (lfd < 0) {
		status = lfd == -EADDRINUSE ? 0 : 1;	/* in use: another serves the tree */
		goto out;
	}
	if ((ctx.red = redact_new()) == NULL)
		goto out;
	redact_add(ctx.red, cfg.api_key, strlen(cfg.api_key));
	struct logfile_owner owner = { .exe = exe, .red = ctx.red, .report = report_line };
	if (cfg.log_path && logfile_open(cfg.log_path, &owner, &ctx.log) < 0)
		ctx.log = NULL;
	if (cfg.intercept == RESPAN_INTERCEPT_AUTO) {
		struct ca ca;
		if (ca_ensure(&cfg, false, &ca, err, sizeof(err)) < 0 ||
		    (intercept = intercept_new(&cfg, &ca, err, sizeof(err))) == NULL) {
			char detail[1200];
			snprintf(detail, sizeof(detail), "no interception: %s", err);
			logfile_event(ctx.log, "relay_error", cfg.router_host, detail);
		}
	}
	if (relay_start(&ctx, alias, intercept, &relay, err, sizeof(err)) < 0) {
		logfile_event(ctx.log, "relay_error", cfg.router_host, err);
		goto out;
	}
	/*
	 * The program's own proxy, for the tunnels this relay does not
	 * intercept when it is a program's HTTPS_PROXY (the Codex CLI's
	 * binary): the library spawned us before it changed the variable.
	 */
	static char upstream[600];
	const char *had = proxyurl_own(environ);
	if (had && proxyurl_authority(had, upstream, sizeof(upstream)))
		relay_chain(relay, upstream);
	lease_loop(lfd, relay);
	relay_stop(relay, "process exited");
	status = 0;
out:
	intercept_free(intercept);
	if (lfd >= 0)
		close(lfd);
	logfile_close(ctx.log);
	redact_free(ctx.red);
	config_free(&cfg);
	return status;
}
