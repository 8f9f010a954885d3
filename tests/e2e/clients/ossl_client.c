/*
 * ossl_client: a "legacy" program that talks HTTPS with OpenSSL directly.
 *
 *     ossl_client [-n] [-x] [-p] [-y] [-k] [-c CHUNK] [-a ADDR:PORT] [-C CAFILE]
 *                 [-e BYTES] [-g 4|6|r|r6|null|0] [-R ADDR:PORT:HOST2]
 *                 HOST REQUEST_FILE
 *
 * Connects to HOST:443 by name, verifies the peer against the system CAs
 * and HOST's name like any careful program, writes REQUEST_FILE with
 * SSL_write in CHUNK-byte pieces (default: all at once), and prints
 * everything it reads until the server closes. -n: non-blocking socket,
 * connect/handshake/write/read driven by poll(), retrying SSL_write with the
 * same arguments as OpenSSL requires. -x: SSL_write_ex / SSL_read_ex.
 * -p: SSL_MODE_ENABLE_PARTIAL_WRITE and ACCEPT_MOVING_WRITE_BUFFER, with a
 * 4 KiB socket send buffer so that writes really stop part-way; the number
 * of SSL_write calls that returned less than asked, or had to be retried,
 * is printed to stderr ("writes: N short, M retried").
 * -a: connect to ADDR:PORT instead (no name lookup), still naming HOST in
 * SNI and verification; -C: trust CAFILE instead of the system CAs (with
 * -a, a test server serving HOST). -e BYTES: once BYTES have been read,
 * exit at once, closing nothing, as a program that stops mid-stream.
 * -g: look HOST up with gethostbyname (4), gethostbyname2 AF_INET6 (6),
 * gethostbyname_r (r) or gethostbyname2_r AF_INET6 (r6), then connect to
 * the address on port 443 as older programs do; or with getaddrinfo and no
 * service (null) or service "0" (0, as Bun does), putting 443 in itself.
 * -y: a careless program: its verify callback says yes to every certificate.
 * -k: with -n, one SSL_read before writing, which finds nothing yet
 * (SSL_ERROR_WANT_READ), as a program that polls both ways does; a write
 * that fails afterwards must not look like WANT_READ again (the client
 * would wait for ever), so it prints the SSL_get_error value it got.
 * -R: after the first connection, SSL_shutdown, SSL_clear and the same SSL
 * object for a second connection to ADDR:PORT named HOST2 (SNI and
 * verification), writing the same request again, as programs that reuse
 * their SSL objects do.
 * Exit status 0 on success, 2 on usage, 3 on a TLS or network failure.
 */
#include <arpa/inet.h>
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

static bool nonblocking, use_ex, partial, read_first;
static unsigned long short_writes, retried_writes;

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

#define MAX_ADDRS 8

/* Up to MAX_ADDRS addresses of host:port with getaddrinfo. */
static int lookup_getaddrinfo(const char *host, const char *port,
			      struct sockaddr_storage *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int n = 0;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "getaddrinfo %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai && n < MAX_ADDRS; ai = ai->ai_next)
		if (ai->ai_addrlen <= sizeof(*out))
			memcpy(&out[n++], ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return n;
}

/*
 * The same with the gethostbyname family, as older programs do: HOW is "4"
 * gethostbyname, "6" gethostbyname2(AF_INET6), "r" gethostbyname_r, "r6"
 * gethostbyname2_r(AF_INET6). The port is set by hand.
 */
static int lookup_hostent(const char *host, const char *how, unsigned short port,
			  struct sockaddr_storage *out)
{
	struct hostent *h = NULL, hbuf;
	static char buf[8192];
	int err = 0, n = 0;
	if (strcmp(how, "4") == 0)
		h = gethostbyname(host);
	else if (strcmp(how, "6") == 0)
		h = gethostbyname2(host, AF_INET6);
	else if (strcmp(how, "r") == 0)
		gethostbyname_r(host, &hbuf, buf, sizeof(buf), &h, &err);
	else if (strcmp(how, "r6") == 0)
		gethostbyname2_r(host, AF_INET6, &hbuf, buf, sizeof(buf), &h, &err);
	if (h == NULL) {
		fprintf(stderr, "gethostbyname (%s) %s failed\n", how, host);
		return -1;
	}
	for (char **a = h->h_addr_list; *a && n < MAX_ADDRS; a++, n++) {
		memset(&out[n], 0, sizeof(out[n]));
		if (h->h_addrtype == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out[n];
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(port);
			memcpy(&in6->sin6_addr, *a, 16);
		} else {
			struct sockaddr_in *in = (struct sockaddr_in *)&out[n];
			in->sin_family = AF_INET;
			in->sin_port = htons(port);
			memcpy(&in->sin_addr, *a, 4);
		}
	}
	return n;
}

static int dial(const char *host, const char *port, const char *hostent_how)
{
	struct sockaddr_storage addrs[MAX_ADDRS];
	int fd = -1;
	int n;
	if (hostent_how && (strcmp(hostent_how, "0") == 0 || strcmp(hostent_how, "null") == 0)) {
		n = lookup_getaddrinfo(host, hostent_how[0] == '0' ? "0" : NULL, addrs);
		for (int i = 0; i < n; i++) {
			in_port_t p = htons((unsigned short)atoi(port));
			if (addrs[i].ss_family == AF_INET6)
				((struct sockaddr_in6 *)&addrs[i])->sin6_port = p;
			else
				((struct sockaddr_in *)&addrs[i])->sin_port = p;
		}
	} else if (hostent_how) {
		n = lookup_hostent(host, hostent_how, (unsigned short)atoi(port), addrs);
	} else {
		n = lookup_getaddrinfo(host, port, addrs);
	}
	for (int i = 0; i < n; i++) {
		socklen_t alen = addrs[i].ss_family == AF_INET6
			? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		fd = socket(addrs[i].ss_family, SOCK_STREAM, 0);
		if (fd < 0)
			continue;
		if (nonblocking)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (connect(fd, (struct sockaddr *)&addrs[i], alen) == 0)
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
	return fd;
}

static int yes_to_everything(int preverify_ok, X509_STORE_CTX *ctx)
{
	(void)preverify_ok;
	(void)ctx;
	return 1;
}

/* Split ADDR:PORT (or [V6]:PORT) in place; false when there is no port. */
static bool split_addr(char *arg, char **addr, const char **port)
{
	char *colon = strrchr(arg, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	*port = colon + 1;
	*addr = arg;
	size_t n = strlen(arg);
	if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']') {
		arg[n - 1] = '\0';
		(*addr)++;
	}
	return true;
}

/*
 * With -p, a retry passes the same bytes from another address (what
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows).
 */
static int write_all(SSL *ssl, int fd, const char *p, size_t n)
{
	static char moved[4 << 20];
	bool move = false;
	while (n > 0) {
		const char *arg = move ? moved : p;
		size_t done = 0;
		int rc;
		if (use_ex) {
			rc = SSL_write_ex(ssl, arg, n, &done);
			if (rc == 1)
				rc = (int)done;
		} else {
			rc = SSL_write(ssl, arg, (int)n);
		}
		move = false;
		if (rc > 0) {
			short_writes += (size_t)rc < n;
			p += rc;
			n -= (size_t)rc;
			continue;
		}
		if (!nonblocking || !retryable(ssl, rc)) {
			fprintf(stderr, "SSL_write failed: SSL_get_error %d\n",
				SSL_get_error(ssl, rc));
			return -1;
		}
		retried_writes++;
		if (partial && n <= sizeof(moved)) {
			memcpy(moved, p, n);
			move = true;
		}
		wait_for(fd, ssl, rc);	/* then retry with the same bytes */
	}
	return 0;
}

/*
 * One connection on ssl over fd to host: handshake, the request, and
 * everything the server sends until it closes. Returns the exit status.
 */
static int session(SSL *ssl, int fd, const char *host, const char *req, size_t req_len,
		   size_t chunk, size_t exit_after)
{
	static size_t got_total;
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
	char buf[16384];
	if (read_first && nonblocking) {
		rc = SSL_read(ssl, buf, sizeof(buf));
		fprintf(stderr, "first read: SSL_get_error %d\n", SSL_get_error(ssl, rc));
	}
	size_t step = chunk ? chunk : req_len;
	for (size_t off = 0; off < req_len; off += step) {
		size_t n = req_len - off < step ? req_len - off : step;
		if (write_all(ssl, fd, req + off, n) < 0) {
			ERR_print_errors_fp(stderr);
			return 3;
		}
	}
	if (partial)
		fprintf(stderr, "writes: %lu short, %lu retried\n", short_writes, retried_writes);
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
			got_total += (size_t)rc;
			if (exit_after && got_total >= exit_after) {
				fflush(stdout);
				exit(0);
			}
			continue;
		}
		if (nonblocking && retryable(ssl, rc)) {
			wait_for(fd, ssl, rc);
			continue;
		}
		return 0;
	}
}

int main(int argc, char **argv)
{
	size_t chunk = 0;
	char *addr = NULL;
	const char *port = "443", *cafile = NULL;
	int opt;
	size_t exit_after = 0;
	const char *hostent_how = NULL;
	bool careless = false;
	char *addr2 = NULL;
	const char *port2 = NULL, *host2 = NULL;
	while ((opt = getopt(argc, argv, "nxpykc:a:C:e:g:R:")) != -1) {
		if (opt == 'n') {
			nonblocking = true;
		} else if (opt == 'p') {
			partial = true;
		} else if (opt == 'x') {
			use_ex = true;
		} else if (opt == 'c') {
			chunk = strtoul(optarg, NULL, 10);
		} else if (opt == 'a') {
			if (!split_addr(optarg, &addr, &port))
				return 2;
		} else if (opt == 'y') {
			careless = true;
		} else if (opt == 'k') {
			read_first = true;
		} else if (opt == 'R') {
			char *last = strrchr(optarg, ':');	/* ADDR:PORT:HOST2 */
			if (last == NULL)
				return 2;
			*last = '\0';
			host2 = last + 1;
			if (!split_addr(optarg, &addr2, &port2))
				return 2;
		} else if (opt == 'C') {
			cafile = optarg;
		} else if (opt == 'g') {
			hostent_how = optarg;
		} else if (opt == 'e') {
			exit_after = strtoul(optarg, NULL, 10);
		} else {
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: ossl_client [-n] [-x] [-p] [-y] [-k] [-c CHUNK] "
			"[-a ADDR:PORT] [-C CAFILE] [-e BYTES] [-g 4|6|r|r6|null|0] "
			"[-R ADDR:PORT:HOST2] HOST REQUEST_FILE\n");
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
	if (cafile ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1
		   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ERR_print_errors_fp(stderr);
		return 3;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, careless ? yes_to_everything : NULL);
	int fd = dial(addr ? addr : host, port, hostent_how);
	if (fd < 0)
		return 3;
	SSL *ssl = SSL_new(ctx);
	if (partial) {
		int sndbuf = 4096;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	int status = session(ssl, fd, host, req, req_len, chunk, exit_after);
	if (status == 0 && host2) {
		SSL_shutdown(ssl);
		close(fd);
		if (SSL_clear(ssl) != 1)
			return 3;
		fd = dial(addr2, port2, NULL);
		if (fd < 0)
			return 3;
		status = session(ssl, fd, host2, req, req_len, chunk, exit_after);
	}
	fflush(stdout);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return status;
}
