/* lazyrelay: the relay the library starts itself; see lazyrelay.h. */
#include "lazyrelay.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cold.h"
#include "guard.h"
#include "real.h"
#include "relayname.h"

extern char **environ;

#define RELAY_WAIT_MS 5000	/* for a new relay to answer, and for its port */
#define RETRY_AFTER_MS 10000	/* after a failure, connect() does not wait again before */
#define LEASE_FD_MIN 200	/* out of the way of the program's low numbers */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool have_stand_in;
static struct relayname stand_in;
static char respan_path[PATH_MAX] RESPAN_COLD;	/* found at set-up, in the tree's first process */
static int lease_fd = -1;
static ino_t lease_ino;
static unsigned short relay_port;
static int64_t failed_at = -1;
static bool failure_reported;
static char intercept_ca[4200] RESPAN_COLD;	/* the interception CA's file, when in use */
static char stand_in_ip[16];	/* "127.A.B.C" */
static bool direct;		/* respan run's relay: relay_port known, no lease */

static char **environ_without_us(void);

/*
 * respan beside the library (build/) or in ../bin (PREFIX/lib, PREFIX/bin),
 * into out (PATH_MAX bytes).
 */
static bool find_respan(char out[PATH_MAX])
{
	Dl_info info;
	if (dladdr((void *)find_respan, &info) == 0 || info.dli_fname == NULL)
		return false;
	const char *slash = strrchr(info.dli_fname, '/');
	if (slash == NULL)
		return false;
	int dirlen = (int)(slash - info.dli_fname);
	static const char *const rel[] = { "/respan", "/../bin/respan" };
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		int n = snprintf(path, sizeof(path), "%.*s%s", dirlen, info.dli_fname, rel[i]);
		/* Absolute: LD_PRELOAD may name the library relative to a
		 * directory the program leaves before its first call. */
		if (n > 0 && (size_t)n < sizeof(path) && access(path, X_OK) == 0 &&
		    realpath(path, out) != NULL)
			return true;
	}
	return false;
}

/*
 * A Go program (dynamically linked: cgo) connects with raw system calls, past
 * the connect() hook: it could never reach the stand-in. Its exports say so.
 */
static bool is_go(void)
{
	return dlsym(RTLD_DEFAULT, "_cgo_topofstack") != NULL ||
	       dlsym(RTLD_DEFAULT, "crosscall2") != NULL;
}

/* Run `respan ca path` (it makes the CA) and wait for it; true when it did. */
static bool make_ca(void)
{
	char *argv[] = { respan_path, (char *)"ca", (char *)"path", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	pid_t pid;
	char **envp = environ_without_us();
	int rc = envp ? posix_spawn(&pid, respan_path, &fa, NULL, argv, envp) : -1;
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	int status = 0;
	if (rc != 0)
		return false;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * Interception (RESPAN_INTERCEPT=auto) needs the CA before main(): node
 * reads NODE_EXTRA_CA_CERTS once, at start. The tree's first process makes
 * it when there is none (once per user: `respan ca path`); the others find it.
 */
static void ready_interception(const struct respan_state *st, bool first)
{
	struct stat sb;
	if (st->cfg.intercept != RESPAN_INTERCEPT_AUTO || st->cfg.ca_dir == NULL)
		return;
	int n = snprintf(intercept_ca, sizeof(intercept_ca), "%s/ca.pem", st->cfg.ca_dir);
	if (n < 0 || (size_t)n >= sizeof(intercept_ca)) {
		intercept_ca[0] = '\0';
		return;
	}
	if (stat(intercept_ca, &sb) != 0 &&
	    (!first || (respan_path[0] == '\0' && !find_respan(respan_path)) ||
	     !make_ca() || stat(intercept_ca, &sb) != 0))
		intercept_ca[0] = '\0';
	snprintf(stand_in_ip, sizeof(stand_in_ip), "%u.%u.%u.%u", stand_in.addr[0],
		 stand_in.addr[1], stand_in.addr[2], stand_in.addr[3]);
}

const char *lazyrelay_node_ca(void)
{
	return intercept_ca[0] ? intercept_ca : NULL;
}

const char *lazyrelay_intercept_host(void)
{
	return have_stand_in && intercept_ca[0] ? stand_in_ip : NULL;
}

/* 64 random bits, for a stand-in address. */
static uint64_t random_bits(void)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = ((uint64_t)clock_real_ms() * UINT64_C(0x9e3779b97f4a7c15)) ^
		    (uint64_t)getpid();
	return r;
}

const char *lazyrelay_setup(const struct respan_state *st, bool tls_visible)
{
	static char url[600];
	const char *have = getenv("RESPAN_RELAY");
	bool reach = !tls_visible && !is_go();
	if (have == NULL && reach && find_respan(respan_path)) {
		struct relayname n;
		if (relayname_new(random_bits(), st->cfg.router_path, &n, url, sizeof(url)) &&
		    setenv("RESPAN_RELAY", url, 1) == 0) {
			stand_in = n;
			have_stand_in = true;
			ready_interception(st, true);
			return url;
		}
	}
	have_stand_in = relayname_parse(have, &stand_in);
	uint16_t port;
	if (!have_stand_in && reach && relayname_direct(have, &port)) {
		/*
		 * respan run's relay, which intercepts too: a stand-in address
		 * of this process's own, for the provider names the resolver
		 * answers with it, goes straight to its port.
		 */
		char unused[64];
		have_stand_in = relayname_new(random_bits(), "/", &stand_in, unused,
					      sizeof(unused));
		direct = have_stand_in;
		relay_port = port;
	}
	/* A Go child of the tree could not reach the stand-in: no steering there. */
	if (have_stand_in && !is_go())
		ready_interception(st, false);
	return NULL;
}

/* Is a (an AF_INET address) on the stand-in's address? */
static bool is_stand_in(const struct sockaddr_storage *a)
{
	if (!have_stand_in || a->ss_family != AF_INET)
		return false;
	const struct sockaddr_in *in = (const struct sockaddr_in *)a;
	/* Its own port (the base URLs), or any other: a provider name the
	 * resolver answered with it (interception, 443). */
	return memcmp(&in->sin_addr, stand_in.addr, 4) == 0;
}

/* LD_PRELOAD's value without librespan (the relay must not load it). */
static void preload_without_us(const char *v, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	while (v && *v) {
		size_t n = strcspn(v, ": ");
		const char *base = memrchr(v, '/', n);
		base = base ? base + 1 : v;
		bool ours = (size_t)(v + n - base) >= 9 && strncmp(base, "librespan", 9) == 0;
		if (n && !ours && used + n + 2 < size) {
			if (used)
				out[used++] = ':';
			memcpy(out + used, v, n);
			used += n;
			out[used] = '\0';
		}
		v += n;
		v += strspn(v, ": ");
	}
}

/*
 * environ for respan: the same, less librespan in LD_PRELOAD. The array is
 * malloc'ed (free it); its strings are environ's, or one static buffer.
 */
static char **environ_without_us(void)
{
	static char preload[4096 + 16] RESPAN_COLD;
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 1, sizeof(*envp));
	if (envp == NULL)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) {
			envp[k++] = environ[i];
			continue;
		}
		strcpy(preload, "LD_PRELOAD=");
		preload_without_us(environ[i] + 11, preload + 11, sizeof(preload) - 11);
		if (preload[11])
			envp[k++] = preload;
	}
	envp[k] = NULL;
	return envp;
}

/* Start `respan relay-serve SOCKET EXE`; true when its first process ended well. */
static bool spawn_relay(const char *sock, const char *exe)
{
	char **envp = environ_without_us();
	if (envp == NULL)
		return false;

	char *argv[] = { respan_path, (char *)"relay-serve", (char *)sock, (char *)exe, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	/* No terminal, and none of the program's descriptors (a pipe held open
	 * by the relay would keep whoever reads it waiting). */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	pid_t pid;
	int rc = posix_spawn(&pid, respan_path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(envp);
	if (rc != 0)
		return false;
	int status = 0;
	/* The first process forks the relay and exits at once. A program's own
	 * SIGCHLD handler may have reaped it already (ECHILD): that is fine. */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return true;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Connect to the rendezvous; the descriptor, or -1. */
static int rendezvous(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	if (n + 1 > sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path + 1, name, n);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	/* Another user's process could bind the name first: only ours is trusted. */
	if (connect(fd, (struct sockaddr *)&a, len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid()) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read the relay's "PORT\n" from a lease. */
static unsigned short read_port(int fd)
{
	char line[16];
	size_t got = 0;
	int64_t until = clock_mono_ms() + RELAY_WAIT_MS;
	while (got < sizeof(line) - 1 && memchr(line, '\n', got) == NULL) {
		int64_t left = until - clock_mono_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		ssize_t r = read(fd, line + got, sizeof(line) - 1 - got);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	line[got] = '\0';
	char *end;
	unsigned long port = strtoul(line, &end, 10);
	return *end == '\n' && port > 0 && port < 65536 ? (unsigned short)port : 0;
}

/* Is the lease still the socket we opened (the program may close any fd)? */
static bool lease_alive(void)
{
	struct stat sb;
	return lease_fd >= 0 && fstat(lease_fd, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
	       sb.st_ino == lease_ino;
}

/* A lease on the tree's relay, starting it when there is none. lock held. */
static bool lease(const struct respan_state *st, char *why, size_t size)
{
	char name[108];
	relayname_socket(&stand_in, geteuid(), name, sizeof(name));
	int fd = rendezvous(name);
	if (fd < 0) {
		if (respan_path[0] == '\0' && !find_respan(respan_path)) {
			snprintf(why, size, "respan, which runs the relay, is not beside librespan.so "
				 "nor in ../bin");
			return false;
		}
		if (!spawn_relay(name, st->exe)) {
			snprintf(why, size, "%.200s relay-serve could not be started", respan_path);
			return false;
		}
		int64_t until = clock_mono_ms() + RELAY_WAIT_MS;
		while ((fd = rendezvous(name)) < 0 && clock_mono_ms() < until) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (fd < 0) {
			snprintf(why, size, "the relay did not answer (see its relay_error event)");
			return false;
		}
	}
	unsigned short port = read_port(fd);
	if (port == 0) {
		close(fd);
		snprintf(why, size, "the relay did not say its port (see its relay_error event)");
		return false;
	}
	int high = fcntl(fd, F_DUPFD_CLOEXEC, LEASE_FD_MIN);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	struct stat sb;
	if (lease_fd >= 0 && lease_alive())
		close(lease_fd);
	lease_fd = fd;
	lease_ino = fstat(fd, &sb) == 0 ? sb.st_ino : 0;
	relay_port = port;
	return true;
}

bool lazyrelay_retarget(const struct respan_state *st, struct sockaddr_storage *a)
{
	if (!is_stand_in(a))
		return false;
	int saved = guard_enter();
	char why[300] = "";
	pthread_mutex_lock(&lock);
	bool ok = direct || (lease_alive() && relay_port != 0);
	int64_t now = clock_mono_ms();
	if (!ok && (failed_at < 0 || now - failed_at >= RETRY_AFTER_MS)) {
		ok = lease(st, why, sizeof(why));
		failed_at = ok ? -1 : now;
	}
	unsigned short port = relay_port;
	bool report = !ok && why[0] && !failure_reported;
	if (report)
		failure_reported = true;
	pthread_mutex_unlock(&lock);
	if (report)
		logfile_event(st->log, "relay_error", st->cfg.router_host, why);
	guard_leave(saved);
	if (!ok)
		return false;
	struct sockaddr_in *in = (struct sockaddr_in *)a;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(port);
	return true;
}

void lazyrelay_fork(enum fork_phase phase)
{
	fork_phase_lock(&lock, phase);
}

unsigned short lazyrelay_proxy_port(const struct respan_state *st)
{
	if (lazyrelay_intercept_host() == NULL)
		return 0;
	struct sockaddr_storage a = { .ss_family = AF_INET };
	struct sockaddr_in *in = (struct sockaddr_in *)&a;
	memcpy(&in->sin_addr, stand_in.addr, 4);
	in->sin_port = htons(stand_in.port);
	return lazyrelay_retarget(st, &a) ? ntohs(in->sin_port) : 0;
}
