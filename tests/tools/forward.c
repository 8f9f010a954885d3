/*
 * respan-forward: push one program's worth of HTTP/1.1 requests through the
 * engine to the router, outside any preloading.
 *
 *     respan-forward HOST < requests > responses
 *
 * It reads raw request bytes (as a program would write them to
 * https://HOST) on stdin, rewrites them with the engine exactly as
 * librespan.so does, sends them over TLS to RESPAN_BASE_URL (certificate
 * verified against the system CAs plus RESPAN_CA_FILE, name checked), copies
 * the router's answer to stdout, and logs the exchange to RESPAN_LOG. It is
 * the engine's demonstration (scripts/demo) and a test tool; it is not
 * installed.
 */
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exchange.h"
#include "route.h"

extern char **environ;

static int tcp_connect(const char *host, unsigned short port)
{
	char service[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1;

	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static SSL *tls_connect(const struct config *cfg, int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	static const unsigned char alpn[] = "\x08http/1.1";

	if (ctx == NULL || SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto fail;
	if (cfg->ca_file && SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		goto fail;
	SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1);
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	if (X509_VERIFY_PARAM_set1_ip_asc(param, cfg->router_host) != 1) {
		SSL_set_tlsext_host_name(ssl, cfg->router_host);
		SSL_set1_host(ssl, cfg->router_host);
	}
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		goto fail;
	SSL_CTX_free(ctx);
	return ssl;
fail:
	ERR_print_errors_fp(stderr);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return NULL;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct buf in, out;
	char chunk[16384];
	int status = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: respan-forward HOST < requests > responses\n");
		return 2;
	}
	config_load(&cfg, environ);
	for (size_t i = 0; i < cfg.n_warnings; i++)
		fprintf(stderr, "%s\n", cfg.warnings[i]);

	struct xchg_ctx ctx = { .cfg = &cfg, .red = redact_new(), .exe = argv[0] };
	if (cfg.api_key)
		redact_add(ctx.red, cfg.api_key, strlen(cfg.api_key));
	if (cfg.log_path && jsonl_open(cfg.log_path, &ctx.log) < 0)
		fprintf(stderr, "respan-forward: cannot open %s\n", cfg.log_path);

	enum provider_id provider = route_lookup_host(&cfg, argv[1], strlen(argv[1]));
	struct xchg_info info = {
		.layer = "forward", .host = argv[1], .port = 443,
		.provider = provider,
		.mode = provider == PROVIDER_NONE ? REQRW_ROUTER : REQRW_ROUTE,
	};
	struct xchg *x = xchg_new(&ctx, &info);
	int fd = tcp_connect(cfg.router_host, cfg.router_port);
	if (x == NULL || fd < 0) {
		fprintf(stderr, "respan-forward: cannot reach %s\n", cfg.base_url);
		return 1;
	}
	SSL *ssl = tls_connect(&cfg, fd);
	if (ssl == NULL) {
		fprintf(stderr, "respan-forward: TLS to %s failed\n", cfg.base_url);
		return 1;
	}

	buf_init(&in, SIZE_MAX);
	buf_init(&out, SIZE_MAX);
	ssize_t n;
	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) > 0) {
		buf_reset(&out);
		if (xchg_send(x, chunk, (size_t)n, &out) < 0)
			goto done;
		if (out.len && SSL_write(ssl, out.data, (int)out.len) <= 0)
			goto done;
	}
	/* Read until every request sent has its whole response. */
	int r = 1;
	while (xchg_waiting(x) && (r = SSL_read(ssl, chunk, sizeof(chunk))) > 0) {
		xchg_recv(x, chunk, (size_t)r);
		fwrite(chunk, 1, (size_t)r, stdout);
	}
	status = r > 0 ? 0 : 1;
done:
	fflush(stdout);
	xchg_close(x, NULL);
	SSL_free(ssl);
	close(fd);
	buf_free(&in);
	buf_free(&out);
	jsonl_close(ctx.log);
	redact_free(ctx.red);
	config_free(&cfg);
	return status;
}
