/* replayserve: the stand-in router of `respan replay`; see replayserve.h. */
#include "replayserve.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "ca/ca.h"
#include "http.h"
#include "log/logread.h"
#include "rewriter.h"
#include "route.h"
#include "upstream.h"

#define REPLAY_BODY_MAX (256u << 20)	/* a request body larger is refused (413) */
#define REPLAY_MAX_CONNS 256
#define LIVE_TIMEOUT_MS 60000

struct replayserve {
	struct replayserve_opts o;
	int listen_fd;
	int stop[2];			/* written to stop the acceptor and the conns */
	unsigned short port;
	SSL_CTX *tls;			/* the server side */
	SSL_CTX *live_tls;		/* to the live router, or NULL */
	char dir[64];			/* the private directory of ca.pem */
	char ca_file[96];
	pthread_t acceptor;
	bool started;
	pthread_mutex_t lock;		/* the cassette, the counts, the connections */
	pthread_cond_t idle;
	unsigned conns;
	int fds[REPLAY_MAX_CONNS];
	unsigned long replayed, missed, live;
	struct cassette_key *live_keys;	/* what went to the live router */
	size_t n_live_keys;
};

/* ---- the CA and the certificate ------------------------------------------ */

/* A certificate for key, signed by (issuer, signer); NULL issuer: self-signed. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *signer,
		       bool is_ca)
{
	X509 *c = X509_new();
	bool ok = c && ca_random_serial(c) && X509_set_version(c, 2) == 1 &&
		  X509_gmtime_adj(X509_getm_notBefore(c), -3600) &&
		  X509_gmtime_adj(X509_getm_notAfter(c), 2L * 24 * 3600) &&
		  X509_set_pubkey(c, key) == 1;
	X509_NAME *name = ok ? X509_get_subject_name(c) : NULL;
	ok = ok && name &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
					-1, -1, 0) == 1 &&
	     X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) == 1;
	X509 *iss = issuer ? issuer : c;
	if (is_ca)
		ok = ok && ca_add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
		     ca_add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		     ca_add_ext(c, iss, NID_subject_key_identifier, "hash");
	else
		ok = ok && ca_add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") &&
		     ca_add_ext(c, iss, NID_key_usage, "critical,digitalSignature") &&
		     ca_add_ext(c, iss, NID_ext_key_usage, "serverAuth") &&
		     ca_add_ext(c, iss, NID_subject_alt_name, "IP:127.0.0.1") &&
		     ca_add_ext(c, iss, NID_authority_key_identifier, "keyid");
	ok = ok && X509_sign(c, signer, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

/* The server context: a CA of this run, its certificate in s->ca_file. */
static int make_tls(struct replayserve *s, char *err, size_t errsize)
{
	EVP_PKEY *ca_key = ca_new_key(), *key = ca_new_key();
	X509 *ca = ca_key ? make_cert(ca_key, "respan replay CA (this run only)", NULL,
				      ca_key, true) : NULL;
	X509 *leaf = ca && key ? make_cert(key, "127.0.0.1", ca, ca_key, false) : NULL;
	FILE *f = NULL;
	int rc = -EIO;

	if (leaf == NULL) {
		snprintf(err, errsize, "cannot make the replay certificate");
		goto out;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(s->dir, sizeof(s->dir), "%.30s/respan-replay-XXXXXX",
		 tmp && tmp[0] == '/' && strlen(tmp) < 30 ? tmp : "/tmp");
	if (mkdtemp(s->dir) == NULL) {
		rc = -errno;
		snprintf(err, errsize, "%s: %s", s->dir, strerror(errno));
		s->dir[0] = '\0';
		goto out;
	}
	snprintf(s->ca_file, sizeof(s->ca_file), "%s/ca.pem", s->dir);
	f = fopen(s->ca_file, "wx");
	if (f == NULL || PEM_write_X509(f, ca) != 1 || fclose(f) != 0) {
		if (f == NULL)
			rc = -errno;
		f = NULL;
		snprintf(err, errsize, "%s: cannot write the replay CA", s->ca_file);
		goto out;
	}
	f = NULL;
	s->tls = SSL_CTX_new(TLS_server_method());
	if (s->tls == NULL || SSL_CTX_set_min_proto_version(s->tls, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate(s->tls, leaf) != 1 ||
	    SSL_CTX_add1_chain_cert(s->tls, ca) != 1 ||
	    SSL_CTX_use_PrivateKey(s->tls, key) != 1) {
		snprintf(err, errsize, "cannot set up the replay TLS server");
		goto out;
	}
	SSL_CTX_set_options(s->tls, SSL_OP_NO_TICKET);
	rc = 0;
out:
	if (f)
		fclose(f);
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}

/* ---- one connection ------------------------------------------------------ */

struct conn {
	struct replayserve *s;
	int fd;
	SSL *ssl;
	struct rewriter *rw;
	struct buf wire;		/* the rewriter's output (unused: capture mode) */
	/* The request being read. */
	char method[32];
	struct buf target;
	struct buf headers;		/* "name: value\r\n" of the ones forwarded live */
	struct buf body;
	bool too_big;
	bool bad;			/* not HTTP/1.1: answered 400, then closed */
	bool close_after;		/* Connection: close, HTTP/1.0, a live answer */
};

static bool send_all(struct conn *c, const void *p, size_t n)
{
	const char *b = p;
	while (n > 0) {
		int w = SSL_write(c->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n);
		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
	}
	return true;
}

/* The headers a recorded answer must not carry again: the body is re-framed
 * (and stored decoded), and the connection is the replay's own. */
static bool hop_header(const char *name)
{
	static const char *const drop[] = {
		"content-length", "transfer-encoding", "connection", "keep-alive",
		"content-encoding", "trailer", "upgrade",
	};
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (http_token_is(name, strlen(name), drop[i]))
			return true;
	return false;
}

static const char *reason(long status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* A short answer of the replay's own, in a shape every provider SDK reads. */
static void answer_error(struct conn *c, int status, const char *message)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	cJSON *root = cJSON_CreateObject(), *e = cJSON_CreateObject();
	if (root && e) {
		cJSON_AddStringToObject(root, "type", "error");
		cJSON_AddStringToObject(e, "type", "replay_miss");
		cJSON_AddStringToObject(e, "message", message);
		cJSON_AddNumberToObject(e, "code", status);
		cJSON_AddStringToObject(e, "status", status == 404 ? "NOT_FOUND" : "INVALID_ARGUMENT");
		cJSON_AddItemToObject(root, "error", e);
		e = NULL;
	}
	char *text = root ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	cJSON_Delete(e);
	if (text == NULL)
		text = strdup("{}");
	if (text && buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			       "Content-Length: %zu\r\nX-Respan-Replay: miss\r\n\r\n%s", status,
			       reason(status), strlen(text), text) == 0)
		send_all(c, b.data, b.len);
	free(text);
	buf_free(&b);
}

/* Where the next SSE event ends in (p, n): past its blank line, or n. */
static size_t event_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n')
			return i + 2;
		if (i + 3 < n && memcmp(p + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	}
	return n;
}

/*
 * The recorded answer: status, headers, body. A stream goes out one event
 * per chunk; an answer recorded as cut short (error) is cut short again:
 * its body, then the connection closes without the last chunk. Returns
 * false when it could not be replayed (the caller answers a miss).
 */
static bool answer_recorded(struct conn *c, const struct cassette_entry *e, char *why,
			    size_t whysize)
{
	const cJSON *resp = e->resp;
	double status = 0;
	if (resp == NULL || !logread_num(resp, "status", &status) || status < 100 ||
	    status > 999) {
		snprintf(why, whysize, "the cassette has the request (id %s) but no answer to it",
			 e->id);
		return false;
	}
	if (logread_true(resp, "body_truncated")) {
		snprintf(why, whysize, "the recorded answer (id %s) was cut by RESPAN_LOG_BODY_MAX "
			 "and cannot be replayed: record with `respan run --record`", e->id);
		return false;
	}
	size_t blen;
	char *body = cassette_record_body(resp, &blen);
	if (body == NULL) {
		snprintf(why, whysize, "the recorded answer (id %s) has a body that does not decode",
			 e->id);
		return false;
	}
	bool sse = logread_true(resp, "sse"), cut = logread_str(resp, "error") != NULL;
	bool chunked = sse || cut;
	struct buf h;
	buf_init(&h, SIZE_MAX);
	int rc = buf_printf(&h, "HTTP/1.1 %d %s\r\n", (int)status, reason((long)status));
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(resp, "headers");
	const cJSON *pair;
	if (!cJSON_IsArray(hs))
		hs = NULL;
	cJSON_ArrayForEach(pair, hs) {
		const cJSON *n = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
		if (!cJSON_IsString(n) || !cJSON_IsString(v) || hop_header(n->valuestring) ||
		    strpbrk(n->valuestring, "\r\n:") || strpbrk(v->valuestring, "\r\n"))
			continue;
		if (rc == 0)
			rc = buf_printf(&h, "%s: %s\r\n", n->valuestring, v->valuestring);
	}
	if (rc == 0)
		rc = chunked ? buf_puts(&h, "Transfer-Encoding: chunked\r\n") :
			       buf_printf(&h, "Content-Length: %zu\r\n", blen);
	if (rc == 0)
		rc = buf_puts(&h, "X-Respan-Replay: replayed\r\n\r\n");
	bool ok = rc == 0 && send_all(c, h.data, h.len);
	if (ok && !chunked) {
		ok = send_all(c, body, blen);
	} else if (ok) {
		for (size_t off = 0; ok && off < blen;) {
			size_t n = sse ? event_end(body + off, blen - off) : blen - off;
			char size[24];
			snprintf(size, sizeof(size), "%zx\r\n", n);
			ok = send_all(c, size, strlen(size)) && send_all(c, body + off, n) &&
			     send_all(c, "\r\n", 2);
			off += n;
		}
		if (ok && !cut)
			ok = send_all(c, "0\r\n\r\n", 5);
		if (cut)
			c->close_after = true;
	}
	if (!ok)
		c->close_after = true;
	buf_free(&h);
	free(body);
	return true;
}

/* "host[:port]" of cfg's router, for Host. */
static void authority(const struct config *cfg, char *out, size_t size)
{
	bool v6 = strchr(cfg->router_host, ':') != NULL;
	if (cfg->router_port == 443)
		snprintf(out, size, v6 ? "[%s]" : "%s", cfg->router_host);
	else
		snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", cfg->router_host,
			 (unsigned)cfg->router_port);
}

static int wait_io(int fd, short events, int stop_fd)
{
	struct pollfd p[2] = { { fd, events, 0 }, { stop_fd, POLLIN, 0 } };
	int n = poll(p, 2, LIVE_TIMEOUT_MS);
	if (n <= 0 || p[1].revents)
		return -1;
	return 0;
}

/*
 * A miss sent to the live router: the request as it came (the library put
 * the Respan key in it), its path moved from the replay's base to the
 * router's, Connection: close; the answer goes back byte for byte and the
 * connection then closes. Returns false with why when it could not be sent.
 */
static bool forward_live(struct conn *c, char *why, size_t whysize)
{
	const struct config *live = c->s->o.live;
	const struct config *cfg = c->s->o.cfg;
	char err[512], auth[600];
	SSL *up = upstream_connect(c->s->live_tls, live, c->s->stop[0], LIVE_TIMEOUT_MS, err,
				   sizeof(err));
	if (up == NULL) {
		snprintf(why, whysize, "the live router could not be reached: %s", err);
		return false;
	}
	const char *t = c->target.data;
	size_t blen = strlen(cfg->router_path);
	if (strncmp(t, cfg->router_path, blen) == 0)
		t += blen;
	else if (*t == '/')
		t++;
	authority(live, auth, sizeof(auth));
	struct buf req;
	buf_init(&req, SIZE_MAX);
	int rc = buf_printf(&req, "%s %s%s HTTP/1.1\r\nHost: %s\r\n", c->method,
			    live->router_path, t, auth);
	if (rc == 0 && c->headers.len)
		rc = buf_append(&req, c->headers.data, c->headers.len);
	if (rc == 0)
		rc = buf_printf(&req, "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				c->body.len);
	if (rc == 0 && c->body.len)
		rc = buf_append(&req, c->body.data, c->body.len);
	bool ok = rc == 0;
	int fd = SSL_get_fd(up);
	for (size_t off = 0; ok && off < req.len;) {
		int w = SSL_write(up, req.data + off, (int)(req.len - off));
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		int e = SSL_get_error(up, w);
		ok = (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) &&
		     wait_io(fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, c->s->stop[0]) == 0;
	}
	buf_free(&req);
	if (!ok) {
		upstream_close(up);
		snprintf(why, whysize, "the request could not be sent to the live router");
		return false;
	}
	char chunk[16384];
	bool any = false;
	for (;;) {
		int n = SSL_read(up, chunk, sizeof(chunk));
		if (n > 0) {
			any = true;
			if (!send_all(c, chunk, (size_t)n))
				break;
			continue;
		}
		int e = SSL_get_error(up, n);
		if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
		    wait_io(fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, c->s->stop[0]) == 0)
			continue;
		break;
	}
	upstream_close(up);
	c->close_after = true;
	if (!any) {
		snprintf(why, whysize, "the live router closed the connection without an answer");
		return false;
	}
	return true;
}

/* A request is complete: answer it. */
static void answer(struct conn *c)
{
	struct replayserve *s = c->s;
	const struct config *cfg = s->o.cfg;
	char why[700], message[1200];
	struct cassette_key key;

	if (c->too_big) {
		answer_error(c, 413, "respan replay: the request body is too large to match");
		c->close_after = true;
		return;
	}
	if (cassette_key_of(cfg, c->method, c->target.data, c->target.len,
			    c->body.data ? c->body.data : "", c->body.len, &key) < 0) {
		answer_error(c, 500, "respan replay: out of memory");
		c->close_after = true;
		return;
	}
	pthread_mutex_lock(&s->lock);
	struct cassette_entry *e = cassette_match(s->o.cassette, &key);
	pthread_mutex_unlock(&s->lock);

	why[0] = '\0';
	bool done = e && answer_recorded(c, e, why, sizeof(why));
	if (!done && s->o.live && forward_live(c, why, sizeof(why))) {
		pthread_mutex_lock(&s->lock);
		s->live++;
		struct cassette_key *v = realloc(s->live_keys,
						 (s->n_live_keys + 1) * sizeof(*v));
		if (v) {
			s->live_keys = v;
			v[s->n_live_keys++] = key;	/* kept: appended to the cassette later */
			memset(&key, 0, sizeof(key));
		}
		pthread_mutex_unlock(&s->lock);
	} else if (!done) {
		enum provider_id id = route_provider_for_router_path(cfg, c->target.data,
								     c->target.len);
		snprintf(message, sizeof(message), "respan replay: %s %s%s (%s, a %zu-byte body): %s",
			 c->method, cfg->router_path, key.target, route_provider_name(id),
			 c->body.len, why[0] ? why : "no recorded answer matches this request");
		answer_error(c, 404, message);
		logfile_event(s->o.log, "replay_miss", cfg->router_host, message);
		pthread_mutex_lock(&s->lock);
		s->missed++;
		pthread_mutex_unlock(&s->lock);
	} else {
		pthread_mutex_lock(&s->lock);
		s->replayed++;
		pthread_mutex_unlock(&s->lock);
	}
	cassette_key_free(&key);
}

static void on_head(void *arg, const struct rewriter_head *h)
{
	struct conn *c = arg;
	snprintf(c->method, sizeof(c->method), "%.*s", (int)h->method_len, h->method);
	buf_reset(&c->target);
	buf_reset(&c->headers);
	buf_reset(&c->body);
	c->too_big = false;
	if (buf_append(&c->target, h->target, h->target_len) < 0 ||
	    buf_reserve(&c->target, 1) < 0)
		c->too_big = true;
	else
		c->target.data[c->target.len] = '\0';
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *x = &h->headers[i];
		if (http_token_is(x->name, x->name_len, "host") ||
		    http_token_is(x->name, x->name_len, "content-length") ||
		    http_token_is(x->name, x->name_len, "transfer-encoding") ||
		    http_token_is(x->name, x->name_len, "connection") ||
		    http_token_is(x->name, x->name_len, "expect"))
			continue;
		if (buf_printf(&c->headers, "%.*s: %.*s\r\n", (int)x->name_len, x->name,
			       (int)x->value_len, x->value) < 0)
			c->too_big = true;
	}
	for (size_t i = 0; i < h->n_headers; i++)
		if (http_token_is(h->headers[i].name, h->headers[i].name_len, "connection") &&
		    h->headers[i].value_len == 5 &&
		    http_token_is(h->headers[i].value, 5, "close"))
			c->close_after = true;
	if (h->minor_version == 0)
		c->close_after = true;
	if (h->expect_continue)
		send_all(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

static void on_body(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;
	if (!c->too_big && buf_append(&c->body, data, len) < 0)
		c->too_big = true;
}

static void on_end(void *arg)
{
	struct conn *c = arg;
	/* Answered here: a pipelined next head does not overwrite this one. */
	answer(c);
}

static void on_error(void *arg, const char *why)
{
	struct conn *c = arg;
	char message[300];
	snprintf(message, sizeof(message), "respan replay: not an HTTP/1.1 request: %s", why);
	answer_error(c, 400, message);
	c->bad = true;
}

static void conn_forget(struct replayserve *s, int fd)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->conns; i++)
		if (s->fds[i] == fd) {
			s->fds[i] = s->fds[--s->conns];
			break;
		}
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct replayserve *s = c->s;
	static const struct rewriter_callbacks cb = { on_head, on_body, on_end, on_error };
	char in[16384];

	buf_init(&c->wire, SIZE_MAX);
	buf_init(&c->target, SIZE_MAX);
	buf_init(&c->headers, SIZE_MAX);
	buf_init(&c->body, REPLAY_BODY_MAX);
	c->ssl = SSL_new(s->tls);
	c->rw = rewriter_new(s->o.cfg, REWRITE_CAPTURE, PROVIDER_NONE, &cb, c);
	if (c->ssl && c->rw && SSL_set_fd(c->ssl, c->fd) == 1 && SSL_accept(c->ssl) == 1) {
		while (!c->bad && !c->close_after) {
			int n = SSL_read(c->ssl, in, sizeof(in));
			if (n <= 0)
				break;
			buf_reset(&c->wire);
			if (rewriter_feed(c->rw, in, (size_t)n, &c->wire) < 0)
				break;
		}
		SSL_shutdown(c->ssl);
	}
	rewriter_free(c->rw);
	SSL_free(c->ssl);
	conn_forget(s, c->fd);
	close(c->fd);
	buf_free(&c->wire);
	buf_free(&c->target);
	buf_free(&c->headers);
	buf_free(&c->body);
	free(c);
	return NULL;
}

/* ---- the server ---------------------------------------------------------- */

static void *accept_main(void *arg)
{
	struct replayserve *s = arg;
	for (;;) {
		struct pollfd p[2] = { { s->listen_fd, POLLIN, 0 }, { s->stop[0], POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct conn *c = calloc(1, sizeof(*c));
		pthread_t t;
		pthread_attr_t attr;
		pthread_mutex_lock(&s->lock);
		bool room = s->conns < REPLAY_MAX_CONNS;
		if (room && c)
			s->fds[s->conns++] = fd;
		pthread_mutex_unlock(&s->lock);
		if (!room || c == NULL) {
			free(c);
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			conn_forget(s, fd);
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

int replayserve_new(const struct replayserve_opts *opts, struct replayserve **out,
		    char *err, size_t errsize)
{
	struct replayserve *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int rc;

	if (s == NULL) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	s->o = *opts;
	s->listen_fd = s->stop[0] = s->stop[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	if (pipe2(s->stop, O_CLOEXEC) < 0 ||
	    (s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->listen_fd, 64) < 0 ||
	    getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) < 0) {
		rc = -errno;
		snprintf(err, errsize, "cannot listen on 127.0.0.1: %s", strerror(errno));
		replayserve_free(s);
		return rc;
	}
	s->port = ntohs(a.sin_port);
	if ((rc = make_tls(s, err, errsize)) < 0) {
		replayserve_free(s);
		return rc;
	}
	if (s->o.live && (s->live_tls = upstream_tls_new(s->o.live, err, errsize)) == NULL) {
		replayserve_free(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

unsigned short replayserve_port(const struct replayserve *s)
{
	return s->port;
}

const char *replayserve_ca_file(const struct replayserve *s)
{
	return s->ca_file;
}

int replayserve_start(struct replayserve *s)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&s->acceptor, NULL, accept_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	s->started = true;
	return 0;
}

void replayserve_counts(struct replayserve *s, unsigned long *replayed,
			unsigned long *missed, unsigned long *live)
{
	pthread_mutex_lock(&s->lock);
	*replayed = s->replayed;
	*missed = s->missed;
	*live = s->live;
	pthread_mutex_unlock(&s->lock);
}

const struct cassette_key *replayserve_live_keys(struct replayserve *s, size_t *n)
{
	*n = s->n_live_keys;
	return s->live_keys;
}

void replayserve_free(struct replayserve *s)
{
	if (s == NULL)
		return;
	if (s->stop[1] >= 0) {
		ssize_t ignored = write(s->stop[1], "x", 1);
		(void)ignored;
	}
	if (s->started)
		pthread_join(s->acceptor, NULL);
	/* Wake every connection and wait for it to go. */
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->conns; i++)
		shutdown(s->fds[i], SHUT_RDWR);
	while (s->conns > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop[0] >= 0)
		close(s->stop[0]);
	if (s->stop[1] >= 0)
		close(s->stop[1]);
	SSL_CTX_free(s->tls);
	SSL_CTX_free(s->live_tls);
	if (s->ca_file[0])
		unlink(s->ca_file);
	if (s->dir[0])
		rmdir(s->dir);
	for (size_t i = 0; i < s->n_live_keys; i++)
		cassette_key_free(&s->live_keys[i]);
	free(s->live_keys);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
