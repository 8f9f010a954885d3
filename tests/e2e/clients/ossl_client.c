/*
 * ossl_client: a "legacy" program that talks HTTPS with OpenSSL directly.
 *
 *     ossl_client [-n] [-x] [-c CHUNK] HOST REQUEST_FILE
 *
 * Connects to HOST:443 by name, verifies the peer against the system CAs
 * and HOST's name like any careful program, writes REQUEST_FILE with
 * SSL_write in CHUNK-byte pieces (default: all at once), and prints
 * everything it reads until the server closes. -n: non-blocking socket,
 * connect/handshake/write/read driven by poll(), retrying SSL_write with the
 * same arguments as OpenSSL requires. -x: SSL_write_ex / SSL_read_ex.
 * Exit status 0 on success, 2 on usage, 3 on a TLS or network failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool nonblocking, use_ex;

static void wait_for(int fd, SSL *ssl, int rc)
{
	struct pollfd p = { .fd = fd };
	int err = SSL_get_error(ssl, rc);
	p.events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
	poll(&p, 1, 10000);
}

static bool retryable(SSL *ssl, int rc)
{
	int err = SSL_get_error(ssl, rc);
	return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
}

static int dial(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1;
	int rc = getaddrinfo(host, "443", &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "getaddrinfo %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, 0);
		if (fd < 0)
			continue;
		if (nonblocking)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (nonblocking && errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int soerr = 0;
			socklen_t len = sizeof(soerr);
			poll(&p, 1, 10000);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
			if (soerr == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int write_all(SSL *ssl, int fd, const char *p, size_t n)
{
	while (n > 0) {
		size_t done = 0;
		int rc;
		if (use_ex) {
			rc = SSL_write_ex(ssl, p, n, &done);
			if (rc == 1)
				rc = (int)done;
		} else {
			rc = SSL_write(ssl, p, (int)n);
		}
		if (rc > 0) {
			p += rc;
			n -= (size_t)rc;
			continue;
		}
		if (!nonblocking || !retryable(ssl, rc))
			return -1;
		wait_for(fd, ssl, rc);	/* then retry with the same arguments */
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t chunk = 0;
	int opt;
	while ((opt = getopt(argc, argv, "nxc:")) != -1) {
		if (opt == 'n')
			nonblocking = true;
		else if (opt == 'x')
			use_ex = true;
		else if (opt == 'c')
			chunk = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: ossl_client [-n] [-x] [-c CHUNK] HOST REQUEST_FILE\n");
		return 2;
	}
	const char *host = argv[optind];
	FILE *f = fopen(argv[optind + 1], "rb");
	if (f == NULL)
		return 2;
	static char req[4 << 20];
	size_t req_len = fread(req, 1, sizeof(req), f);
	fclose(f);

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_default_verify_paths(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int fd = dial(host);
	if (fd < 0)
		return 3;
	SSL *ssl = SSL_new(ctx);
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
	SSL_set_fd(ssl, fd);
	int rc;
	while ((rc = SSL_connect(ssl)) != 1) {
		if (!nonblocking || !retryable(ssl, rc)) {
			ERR_print_errors_fp(stderr);
			fprintf(stderr, "handshake failed: %ld\n", SSL_get_verify_result(ssl));
			return 3;
		}
		wait_for(fd, ssl, rc);
	}
	size_t step = chunk ? chunk : req_len;
	for (size_t off = 0; off < req_len; off += step) {
		size_t n = req_len - off < step ? req_len - off : step;
		if (write_all(ssl, fd, req + off, n) < 0) {
			ERR_print_errors_fp(stderr);
			return 3;
		}
	}
	char buf[16384];
	for (;;) {
		size_t got = 0;
		if (use_ex) {
			rc = SSL_read_ex(ssl, buf, sizeof(buf), &got);
			if (rc == 1)
				rc = (int)got;
		} else {
			rc = SSL_read(ssl, buf, sizeof(buf));
		}
		if (rc > 0) {
			fwrite(buf, 1, (size_t)rc, stdout);
			continue;
		}
		if (nonblocking && retryable(ssl, rc)) {
			wait_for(fd, ssl, rc);
			continue;
		}
		break;
	}
	fflush(stdout);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return 0;
}
