#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"
#include "pump.h"
#include "upstream.h"

#define RELAY_THREAD_STACK (512u * 1024)
#define RELAY_REAP_MS 2000
#define BUSY_LEN 40
#define RELAY_STR2(x) #x
#define RELAY_STR(x) RELAY_STR2(x)

struct conn {
	struct relay *relay;
	pthread_t thread;
	int fd;
	atomic_bool finished;
};

struct relay {
	struct pump_shared shared;
	int listen_fd;
	int stop_pipe[2];
	pthread_t acceptor;
	char url[400];
	struct conn *conns[RELAY_MAX_CONNS];	/* the acceptor's until it is joined */
	unsigned refused;
	atomic_uint open;		/* connections whose thread has not finished */
};

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	pump_run(&c->relay->shared, c->fd);
	atomic_fetch_sub(&c->relay->open, 1);
	atomic_store(&c->finished, true);
	return NULL;
}

/* Join the connections that have ended; returns how many are still open. */
static size_t reap(struct relay *r, bool all)
{
	size_t open = 0;
	for (size_t i = 0; i < RELAY_MAX_CONNS; i++) {
		struct conn *c = r->conns[i];
		if (c == NULL)
			continue;
		if (!all && !atomic_load(&c->finished)) {
			open++;
			continue;
		}
		pthread_join(c->thread, NULL);
		free(c);
		r->conns[i] = NULL;
	}
	return open;
}

static void refuse(struct relay *r, int fd, const char *why)
{
	close(fd);
	if (r->refused++ < RELAY_MAX_REFUSED_EVENTS)
		logfile_event(r->shared.xctx->log, "relay_refused", "127.0.0.1", why);
}

/* Is the peer of fd a socket of our own user? */
static bool same_user(int fd, char *why, size_t size)
{
	struct sockaddr_storage peer, self;
	socklen_t pl = sizeof(peer), sl = sizeof(self);
	uid_t uid;
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&self, &sl) < 0) {
		snprintf(why, size, "peer unknown: %s", strerror(errno));
		return false;
	}
	int rc = peer_uid((struct sockaddr *)&peer, (struct sockaddr *)&self, &uid);
	if (rc < 0) {
		snprintf(why, size, "owner of the peer socket not found: %s", strerror(-rc));
		return false;
	}
	if (uid != geteuid()) {
		snprintf(why, size, "peer socket owned by uid %lu, not %lu",
			 (unsigned long)uid, (unsigned long)geteuid());
		return false;
	}
	return true;
}

static void start_conn(struct relay *r, int fd)
{
	char why[300];
	if (!same_user(fd, why, sizeof(why))) {
		refuse(r, fd, why);
		return;
	}
	size_t slot = RELAY_MAX_CONNS;
	for (size_t i = 0; i < RELAY_MAX_CONNS && slot == RELAY_MAX_CONNS; i++)
		if (r->conns[i] == NULL)
			slot = i;
	struct conn *c = slot < RELAY_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
	if (c == NULL) {
#define BUSY_BODY "respan relay: too many open connections\n"
		static const char busy[] =
			"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
			"Connection: close\r\nContent-Length: " RELAY_STR(BUSY_LEN)
			"\r\n\r\n" BUSY_BODY;
		_Static_assert(sizeof(BUSY_BODY) - 1 == BUSY_LEN, "503 body length");
		ssize_t ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
		(void)ignored;
		refuse(r, fd, slot == RELAY_MAX_CONNS ? "too many open connections" :
							 "out of memory");
		return;
	}
	c->relay = r;
	c->fd = fd;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, RELAY_THREAD_STACK);
	atomic_fetch_add(&r->open, 1);
	if (pthread_create(&c->thread, &attr, conn_main, c) != 0) {
		atomic_fetch_sub(&r->open, 1);
		free(c);
		refuse(r, fd, "cannot start a thread");
	} else {
		r->conns[slot] = c;
	}
	pthread_attr_destroy(&attr);
}

static void *acceptor_main(void *arg)
{
	struct relay *r = arg;
	for (;;) {
		struct pollfd pf[2] = { { r->listen_fd, POLLIN, 0 },
					{ r->stop_pipe[0], POLLIN, 0 } };
		/* The timeout only reaps ended connections' threads. */
		int n = poll(pf, 2, RELAY_REAP_MS);
		if (n < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		reap(r, false);
		if (n <= 0 || !pf[0].revents)
			continue;
		int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			start_conn(r, fd);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			   errno == ENOMEM) {
			/* Out of descriptors: wait a little rather than spin. */
			struct pollfd s = { r->stop_pipe[0], POLLIN, 0 };
			poll(&s, 1, 100);
		}
	}
	return NULL;
}

static int listen_loopback(unsigned short *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int relay_start(const struct exchange_ctx *ctx, const char *alias,
		struct intercept *intercept, struct relay **out, char *err, size_t errsize)
{
	const struct config *cfg = ctx->cfg;
	struct relay *r = calloc(1, sizeof(*r));
	unsigned short port = 0;
	int rc = -ENOMEM;

	if (r == NULL) {
		snprintf(err, errsize, "out of memory");
		return rc;
	}
	r->listen_fd = r->stop_pipe[0] = r->stop_pipe[1] = -1;
	r->shared.xctx = ctx;
	r->shared.alias = alias;
	r->shared.intercept = intercept;
	r->shared.stop_fd = -1;
	atomic_store(&r->shared.stop_why, "relay stopped");

	r->shared.tls = upstream_tls_new(cfg, err, errsize);
	if (r->shared.tls == NULL) {
		rc = -EINVAL;
		goto fail;
	}
	if (pipe2(r->stop_pipe, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errsize, "pipe: %s", strerror(errno));
		goto fail;
	}
	r->shared.stop_fd = r->stop_pipe[0];
	if ((r->listen_fd = listen_loopback(&port)) < 0) {
		rc = r->listen_fd;
		snprintf(err, errsize, "cannot listen on 127.0.0.1: %s", strerror(-rc));
		goto fail;
	}
	r->shared.port = port;
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%u%s", port, cfg->router_path);

	/* Threads start with every signal blocked, and keep it so. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&r->acceptor, NULL, acceptor_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		rc = -e;
		snprintf(err, errsize, "cannot start a thread: %s", strerror(e));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	if (r->stop_pipe[0] >= 0) {
		close(r->stop_pipe[0]);
		close(r->stop_pipe[1]);
	}
	SSL_CTX_free(r->shared.tls);
	free(r);
	return rc;
}

const char *relay_url(const struct relay *r)
{
	return r->url;
}

void relay_chain(struct relay *r, const char *upstream)
{
	r->shared.upstream_proxy = upstream;	/* set before the program starts */
}

unsigned short relay_port(const struct relay *r)
{
	return r->shared.port;
}

unsigned relay_open_conns(const struct relay *r)
{
	return atomic_load(&((struct relay *)(uintptr_t)r)->open);
}

void relay_stop(struct relay *r, const char *why)
{
	if (r == NULL)
		return;
	atomic_store(&r->shared.stop_why, why ? why : "relay stopped");
	/* Never read: the pipe stays readable for every thread's poll. */
	ssize_t ignored = write(r->stop_pipe[1], "x", 1);
	(void)ignored;
	pthread_join(r->acceptor, NULL);
	close(r->listen_fd);
	reap(r, true);
	close(r->stop_pipe[0]);
	close(r->stop_pipe[1]);
	SSL_CTX_free(r->shared.tls);
	free(r);
}
