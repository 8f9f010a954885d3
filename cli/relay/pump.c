#include "pump.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "peer.h"
#include "rewriter.h"
#include "upstream.h"
#include "intercept.h"
#include "proxy.h"
#include "route.h"

#define PUMP_CHUNK 16384
/*
 * What one read from the program can become: the rewriters hold a head back
 * until it is complete (at most REWRITE_HEAD_MAX) and let it out rewritten,
 * a little longer. The program is read again only when this has gone out.
 */
#define PUMP_OUT_MAX (4u * REWRITE_HEAD_MAX + 4 * PUMP_CHUNK)
#define PUMP_DRAIN_MS 2000		/* reading after an error answer of ours */
#define PUMP_DRAIN_MAX (1u << 20)

struct pump {
	const struct pump_shared *sh;
	int cfd;
	SSL *cssl;			/* the program's TLS, when intercepted; else NULL */
	SSL *ssl;			/* NULL until the first bytes came */
	int rfd;
	struct rewriter *hostrw;		/* stage 1; NULL when intercepted */
	struct exchange *x;			/* stage 2 and the log */
	struct buf mid;			/* stage 1's output */
	struct buf c2r;			/* bytes for the router */
	size_t c2r_off;
	char r2c[PUMP_CHUNK];		/* bytes for the program */
	size_t r2c_len, r2c_off;
	bool client_eof, router_eof;
	short cwant, rwant;		/* poll events the last attempts need */
	const char *why;		/* set when the connection must end */
	const char *refusal;		/* a head stage 1 saw must not be carried */
	bool done;
};

static void end(struct pump *p, const char *why)
{
	if (!p->done) {
		p->done = true;
		p->why = why;
	}
}

/*
 * The program's side, plain or intercepted TLS: like recv() and send() on a
 * non-blocking socket. -1 with errno EAGAIN asks for *want (POLLIN or
 * POLLOUT) before the next try; 0 from client_recv is the end.
 */
/* An SSL_read/SSL_write result r as recv()/send() would give it (failed: fail). */
static ssize_t ssl_result(SSL *ssl, int r, short *want, int fail)
{
	if (r > 0)
		return r;
	int e = SSL_get_error(ssl, r);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN && fail == ECONNRESET)
		return 0;	/* the program's close_notify: the end of its bytes */
	errno = fail;
	return -1;
}

static ssize_t client_recv(struct pump *p, char *buf, size_t len, short *want)
{
	if (p->cssl == NULL) {
		ssize_t n = recv(p->cfd, buf, len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			*want = POLLIN;
			errno = EAGAIN;
		}
		return n;
	}
	ERR_clear_error();
	return ssl_result(p->cssl, SSL_read(p->cssl, buf, (int)(len > INT_MAX ? INT_MAX : len)),
			  want, ECONNRESET);
}

static ssize_t client_send(struct pump *p, const char *data, size_t len, short *want)
{
	if (p->cssl == NULL) {
		ssize_t n = send(p->cfd, data, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			*want = POLLOUT;
			errno = EAGAIN;
		}
		return n;
	}
	ERR_clear_error();
	return ssl_result(p->cssl, SSL_write(p->cssl, data, (int)(len > INT_MAX ? INT_MAX : len)),
			  want, EPIPE);
}

/* Write all of (data, len) to the program, briefly. */
static void send_all(struct pump *p, const char *data, size_t len, long long deadline)
{
	while (len) {
		short want = 0;
		ssize_t n = client_send(p, data, len, &want);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		long long left = deadline - clock_mono_ms();
		if (n == 0 || errno != EAGAIN || left <= 0)
			return;
		struct pollfd pf = { p->cfd, want, 0 };
		poll(&pf, 1, (int)left);
	}
}

/*
 * Answer the program with an error of ours and close gracefully: read what
 * it still sends, within limits, so that closing does not reset the
 * connection before it has read the answer.
 */
static void answer(struct pump *p, const char *status, const char *what,
		   const char *reason)
{
	char body[700], msg[1000];
	int bl = snprintf(body, sizeof(body), "respan relay: %s: %.600s\n", what, reason);
	if (bl < 0 || (size_t)bl >= sizeof(body))
		bl = (int)strlen(body);
	int ml = snprintf(msg, sizeof(msg),
			  "HTTP/1.1 %s\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n"
			  "Content-Length: %d\r\n"
			  "Connection: close\r\n\r\n%s", status, bl, body);
	if (ml < 0 || (size_t)ml >= sizeof(msg))
		return;
	long long deadline = clock_mono_ms() + PUMP_DRAIN_MS;
	send_all(p, msg, (size_t)ml, deadline);
	if (p->cssl)
		SSL_shutdown(p->cssl);
	shutdown(p->cfd, SHUT_WR);
	size_t drained = 0;
	char sink[4096];
	while (drained < PUMP_DRAIN_MAX) {
		long long left = deadline - clock_mono_ms();
		if (left <= 0)
			break;
		short want = POLLIN;
		struct pollfd pf[2] = { { p->cfd, want, 0 }, { p->sh->stop_fd, POLLIN, 0 } };
		if (poll(pf, 2, (int)left) <= 0 || pf[1].revents)
			break;
		ssize_t n = client_recv(p, sink, sizeof(sink), &want);
		if (n <= 0 && !(n < 0 && errno == EAGAIN))
			break;
		if (n > 0)
			drained += (size_t)n;
	}
}

/* Stage 1 saw a head: is it one a web page sent? (peer.h) */
static void on_head(void *arg, const struct rewriter_head *h)
{
	struct pump *p = arg;
	const char *why = peer_head_refusal(h, p->sh->port, p->sh->alias);
	if (why && p->refusal == NULL)
		p->refusal = why;
}

static bool stopping(const struct pump_shared *sh)
{
	struct pollfd pf = { sh->stop_fd, POLLIN, 0 };
	return poll(&pf, 1, 0) > 0;
}

/* The program's first bytes are here: open the router connection. */
static bool connect_router(struct pump *p)
{
	char err[600];
	const struct config *cfg = p->sh->xctx->cfg;
	p->ssl = upstream_connect(p->sh->tls, cfg, p->sh->stop_fd,
				  PUMP_CONNECT_TIMEOUT_MS, err, sizeof(err));
	if (p->ssl == NULL && stopping(p->sh)) {
		end(p, NULL);	/* nothing was sent: nothing to log */
		return false;
	}
	if (p->ssl == NULL) {
		char detail[800];
		snprintf(detail, sizeof(detail), "%s: %s", cfg->base_url, err);
		logfile_event(p->sh->xctx->log, "relay_error", cfg->router_host, detail);
		answer(p, "502 Bad Gateway", "cannot reach the router", err);
		end(p, NULL);
		return false;
	}
	p->rfd = SSL_get_fd(p->ssl);
	return true;
}

/* Program -> stage 1 -> stage 2 -> c2r. */
static bool from_client(struct pump *p)
{
	char chunk[PUMP_CHUNK];
	short want = 0;
	ssize_t n = client_recv(p, chunk, sizeof(chunk), &want);
	if (n == 0) {
		p->client_eof = true;
		return true;
	}
	if (n < 0) {
		if (errno == EAGAIN) {
			p->cwant |= want;
			return false;
		}
		/*
		 * Reset: the program closed with our bytes unread, or exited.
		 * Like an end of input: a response under way is still read, so
		 * that its record says why it ended ("process exited" when the
		 * program is gone, else the failed write to it).
		 */
		p->client_eof = true;
		return true;
	}
	buf_reset(&p->mid);
	buf_reset(&p->c2r);
	p->c2r_off = 0;
	/* Intercepted: the program named the provider, stage 2 routes it as is. */
	if ((p->hostrw ? rewriter_feed(p->hostrw, chunk, (size_t)n, &p->mid) :
			 buf_append(&p->mid, chunk, (size_t)n)) < 0) {
		end(p, "relay out of memory");
		return false;
	}
	if (p->refusal) {
		/* Nothing of it has gone anywhere: stage 1 only writes to mid. */
		logfile_event(p->sh->xctx->log, "relay_refused", "127.0.0.1", p->refusal);
		answer(p, "403 Forbidden", "refused", p->refusal);
		end(p, NULL);
		return false;
	}
	if (p->ssl == NULL && !connect_router(p))
		return false;
	if (exchange_send(p->x, p->mid.data, p->mid.len, &p->c2r) < 0)
		end(p, "relay out of memory");
	return true;
}

/* What an SSL call that did not complete needs before it is tried again. */
static void ssl_wait(struct pump *p, int r, const char *failed)
{
	int e = SSL_get_error(p->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		p->rwant |= POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		p->rwant |= POLLOUT;
	else if (e == SSL_ERROR_ZERO_RETURN)
		p->router_eof = true;
	else
		end(p, failed);
	ERR_clear_error();
}

static bool to_router(struct pump *p)
{
	ERR_clear_error();
	int r = SSL_write(p->ssl, p->c2r.data + p->c2r_off,
			  (int)(p->c2r.len - p->c2r_off));
	if (r <= 0) {
		ssl_wait(p, r, "the router connection failed while sending");
		return false;
	}
	p->c2r_off += (size_t)r;
	return true;
}

static bool from_router(struct pump *p)
{
	ERR_clear_error();
	int r = SSL_read(p->ssl, p->r2c, sizeof(p->r2c));
	if (r <= 0) {
		bool was_eof = p->router_eof;
		ssl_wait(p, r, "the router connection failed");
		return p->router_eof != was_eof;
	}
	p->r2c_len = (size_t)r;
	p->r2c_off = 0;
	exchange_recv(p->x, p->r2c, (size_t)r);
	return true;
}

static bool to_client(struct pump *p)
{
	short want = 0;
	ssize_t n = client_send(p, p->r2c + p->r2c_off, p->r2c_len - p->r2c_off, &want);
	if (n < 0) {
		if (errno == EAGAIN)
			p->cwant |= want;
		else
			end(p, "the program closed the connection");
		return false;
	}
	p->r2c_off += (size_t)n;
	if (p->r2c_off == p->r2c_len)
		p->r2c_len = p->r2c_off = 0;
	return n > 0;
}

/* One pass over the four directions; true when anything moved. */
static bool step(struct pump *p)
{
	bool moved = false;
	p->cwant = p->rwant = 0;
	bool c2r_empty = p->c2r_off == p->c2r.len;
	if (!p->done && !p->client_eof && c2r_empty)
		moved |= from_client(p);
	if (!p->done && p->ssl && p->c2r_off < p->c2r.len)
		moved |= to_router(p);
	if (!p->done && p->ssl && !p->router_eof && p->r2c_len == 0)
		moved |= from_router(p);
	if (!p->done && p->r2c_len)
		moved |= to_client(p);
	if (p->done)
		return false;
	if (p->router_eof && p->r2c_len == 0)
		end(p, NULL);	/* the router closed: so does the relay */
	else if (p->client_eof && p->c2r_off == p->c2r.len && !exchange_waiting(p->x))
		end(p, NULL);	/* the program closed and is owed nothing */
	return moved && !p->done;
}

static void loop(struct pump *p)
{
	while (!p->done) {
		if (step(p))
			continue;
		if (p->done)
			break;
		if (p->cwant == 0 && p->rwant == 0) {
			end(p, "relay stalled");	/* cannot happen; never spin */
			break;
		}
		struct pollfd pf[3] = {
			{ p->cwant ? p->cfd : -1, p->cwant, 0 },
			{ p->rwant ? p->rfd : -1, p->rwant, 0 },
			{ p->sh->stop_fd, POLLIN, 0 },
		};
		if (poll(pf, 3, -1) < 0 && errno != EINTR) {
			end(p, "relay poll failed");
			break;
		}
		if (pf[2].revents)
			end(p, atomic_load(&p->sh->stop_why));
	}
}

/*
 * A program's own TLS to a provider, sent here by the resolver (intercept.h):
 * the handshake with the interception CA's certificate, then the session is
 * one to route. False when the handshake failed (said in the log).
 */
static bool take_over(struct pump *p, struct exchange_info *info, char *host, size_t size)
{
	char err[600];
	const struct exchange_ctx *xctx = p->sh->xctx;
	p->cssl = intercept_accept(p->sh->intercept, p->cfd, p->sh->stop_fd,
				   PUMP_CONNECT_TIMEOUT_MS, host, size, err, sizeof(err));
	if (p->cssl == NULL) {
		char detail[900];
		snprintf(detail, sizeof(detail), "%s; nothing was sent (a program that pins "
			 "certificates, or does not read NODE_EXTRA_CA_CERTS, refuses the "
			 "interception CA: RESPAN_INTERCEPT=off, or a base URL, for it)", err);
		logfile_event(xctx->log, "relay_error", host[0] ? host : NULL, detail);
		return false;
	}
	info->host = host;
	info->port = 443;
	info->provider = route_lookup_host(xctx->cfg, host, strlen(host));
	info->mode = REWRITE_ROUTE;
	return true;
}

void pump_run(const struct pump_shared *sh, int client_fd)
{
	const struct config *cfg = sh->xctx->cfg;
	struct pump p = { .sh = sh, .cfd = client_fd, .rfd = -1 };
	struct exchange_info info = {
		.layer = "relay", .host = cfg->router_host, .port = cfg->router_port,
		.provider = PROVIDER_NONE, .mode = REWRITE_ROUTER,
	};
	char host[256];
	bool ok = true;

	buf_init(&p.mid, PUMP_OUT_MAX);
	buf_init(&p.c2r, PUMP_OUT_MAX);
	enum proxy_first first = sh->intercept ? proxy_first(client_fd, sh->stop_fd) : FIRST_HTTP;
	if (first == FIRST_CONNECT) {
		/* The relay as HTTPS_PROXY (proxy.h): a provider's tunnel is intercepted. */
		struct tunnel_target t;
		char head[8192];
		size_t len = 0;
		if (proxy_read_head(client_fd, sh->stop_fd, &t, head, sizeof(head), &len) < 0) {
			proxy_answer(client_fd, "400 Bad Request");
			ok = false;
		} else if (proxy_intercepts(cfg, &t)) {
			proxy_answer(client_fd, "200 Connection established");
			ok = take_over(&p, &info, host, sizeof(host));
		} else {
			proxy_tunnel(client_fd, sh->stop_fd, &t, sh->upstream_proxy, head, len);
			ok = false;
		}
	} else if (first == FIRST_TLS) {
		ok = take_over(&p, &info, host, sizeof(host));
	} else if (first == FIRST_NONE) {
		ok = false;
	} else {
		static const struct rewriter_callbacks host_cb = { .on_head = on_head };
		p.hostrw = rewriter_new(cfg, REWRITE_HOST, PROVIDER_NONE, &host_cb, &p);
		ok = p.hostrw != NULL;
	}
	p.x = ok ? exchange_new(sh->xctx, &info) : NULL;
	if (p.x)
		loop(&p);
	else if (ok)
		logfile_event(sh->xctx->log, "relay_error", cfg->router_host, "relay out of memory");
	if (p.x)
		exchange_close(p.x, p.why);
	rewriter_free(p.hostrw);
	buf_free(&p.mid);
	buf_free(&p.c2r);
	upstream_close(p.ssl);
	if (p.cssl) {
		SSL_shutdown(p.cssl);
		SSL_free(p.cssl);
	}
	close(client_fd);
}
