/*
 * edge_client: every function librespan interposes, called with legal NULL
 * and zero arguments, and with bad pointers the kernel answers EFAULT for,
 * as careless programs do. One line per call, "name: result errno", so that
 * a run under the library can be compared with a run without it: the
 * library must give the same answers and never take the program down.
 *
 *     edge_client            the calls above
 *     edge_client HOST       also: HOST looked up with NULL hints, and with
 *                            no service (prints the address family found)
 *     edge_client --short6 HOST
 *                            HOST looked up (under the library: a router
 *                            address), then connect() to an AF_INET6 address
 *                            on 443 with a length of 16, the bytes ending at
 *                            an unreadable page: whoever reads past the
 *                            length faults
 *
 * Sockets are made on loopback to a listener of the program's own, so the
 * egress audit sees fresh TCP connections: each bad-pointer write is the
 * first write of a connection of its own, the one the audit looks at.
 * Exit status 0 when it got to the end.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* NULL, hidden from the compiler's own checks. */
static void *volatile nowhere;
/* Not NULL, and never mapped (page zero): the kernel answers EFAULT. */
static void *volatile wild = (void *)8;

static void say(const char *what, long rc)
{
	printf("%s: %ld %s\n", what, rc, rc < 0 ? strerror(errno) : "-");
	fflush(stdout);
}

/* A listener of our own on loopback, its address in *a; -1 on failure. */
static int listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)a, sizeof(*a)) != 0 ||
	    listen(lfd, 4) != 0 || getsockname(lfd, (struct sockaddr *)a, &len) != 0)
		return -1;
	return lfd;
}

/* A fresh TCP connection to a; -1 on failure. */
static int fresh_connection(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof(*a)) != 0)
		return -1;
	return fd;
}

/* The bad-pointer writes, each made as the first write of a connection. */
static struct iovec wild_base = { 0, 5 };	/* iov_base set to wild in main */
static long w_write(int fd) { return (long)write(fd, wild, 5); }
static long w_send(int fd) { return (long)send(fd, wild, 5, 0); }
static long w_sendto(int fd) { return (long)sendto(fd, wild, 5, 0, NULL, 0); }
static long w_sendmsg_null_iov(int fd)
{
	struct msghdr m = { .msg_iov = nowhere, .msg_iovlen = 1 };
	return (long)sendmsg(fd, &m, 0);
}
static long w_sendmsg_bad_msg(int fd) { return (long)sendmsg(fd, wild, 0); }
static long w_sendmsg_bad_iov(int fd)
{
	struct msghdr m = { .msg_iov = wild, .msg_iovlen = 1 };
	return (long)sendmsg(fd, &m, 0);
}
static long w_sendmsg_bad_base(int fd)
{
	struct msghdr m = { .msg_iov = &wild_base, .msg_iovlen = 1 };
	return (long)sendmsg(fd, &m, 0);
}
static long w_writev_bad_iov(int fd) { return (long)writev(fd, wild, 1); }
static long w_writev_bad_base(int fd) { return (long)writev(fd, &wild_base, 1); }
static long w_writev_bad_second(int fd)
{
	struct iovec two[2] = { { wild, 0 }, wild_base };
	return (long)writev(fd, two, 2);
}

static const struct {
	const char *what;
	long (*call)(int fd);
} first_writes[] = {
	{ "first write: write(8, 5)", w_write },
	{ "first write: send(8, 5)", w_send },
	{ "first write: sendto(8, 5)", w_sendto },
	{ "first write: sendmsg(msg_iov NULL, 1)", w_sendmsg_null_iov },
	{ "first write: sendmsg(msghdr 8)", w_sendmsg_bad_msg },
	{ "first write: sendmsg(msg_iov 8, 1)", w_sendmsg_bad_iov },
	{ "first write: sendmsg({8, 5})", w_sendmsg_bad_base },
	{ "first write: writev(8, 1)", w_writev_bad_iov },
	{ "first write: writev({8, 5})", w_writev_bad_base },
	{ "first write: writev({8, 0}, {8, 5})", w_writev_bad_second },
};

/*
 * Each bad call on a connection of its own, where it is the first write the
 * audit inspects; then a good write, which must still go.
 */
static void bad_first_writes(int lfd, const struct sockaddr_in *a)
{
	for (size_t i = 0; i < sizeof(first_writes) / sizeof(first_writes[0]); i++) {
		int fd = fresh_connection(a);
		int peer = accept(lfd, NULL, NULL);
		if (fd < 0 || peer < 0) {
			perror("edge_client: loopback");
			exit(1);
		}
		say(first_writes[i].what, first_writes[i].call(fd));
		say("  then write(hello)", (long)write(fd, "hello", 5));
		close(peer);
		close(fd);
	}

	/* MSG_FASTOPEN connects as it writes: a bad address is EFAULT too. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	say("sendto(MSG_FASTOPEN, address 8)",
	    (long)sendto(s, "hello", 5, MSG_FASTOPEN, wild, sizeof(*a)));
	say("sendmsg(MSG_FASTOPEN, msghdr 8)", (long)sendmsg(s, wild, MSG_FASTOPEN));
	char text[] = "hello";
	struct iovec hello = { text, 5 };
	struct msghdr m = { .msg_name = wild, .msg_namelen = sizeof(*a),
			    .msg_iov = &hello, .msg_iovlen = 1 };
	say("sendmsg(MSG_FASTOPEN, msg_name 8)", (long)sendmsg(s, &m, MSG_FASTOPEN));
	close(s);
}

static void sockets(void)
{
	struct sockaddr_in a;
	int lfd = listener(&a);
	int fd = lfd < 0 ? -1 : fresh_connection(&a);
	if (fd < 0) {
		perror("edge_client: loopback");
		return;
	}
	struct msghdr empty = { 0 };
	struct iovec bad = { nowhere, 5 };
	struct msghdr badmsg = { .msg_iov = &bad, .msg_iovlen = 1 };
	/* Legal: nothing to send. The first write of the connection is still to come. */
	say("write(NULL, 0)", (long)write(fd, NULL, 0));
	say("send(NULL, 0)", (long)send(fd, NULL, 0, 0));
	say("sendto(NULL, 0, NULL, 0)", (long)sendto(fd, NULL, 0, 0, NULL, 0));
	say("writev(NULL, 0)", (long)writev(fd, NULL, 0));
	say("sendmsg(empty)", (long)sendmsg(fd, &empty, 0));
	/* Bad pointers: EFAULT from the kernel, not a crash in the library. */
	say("write(NULL, 5)", (long)write(fd, nowhere, 5));
	say("send(NULL, 5)", (long)send(fd, nowhere, 5, 0));
	say("sendto(NULL, 5)", (long)sendto(fd, nowhere, 5, 0, NULL, 0));
	say("writev(NULL, 1)", (long)writev(fd, nowhere, 1));
	say("writev({NULL, 5})", (long)writev(fd, &bad, 1));
	say("sendmsg(NULL)", (long)sendmsg(fd, nowhere, 0));
	say("sendmsg({NULL, 5})", (long)sendmsg(fd, &badmsg, 0));
	/* And the connection still works. */
	say("write(hello)", (long)write(fd, "hello", 5));
	close(fd);

	int s = socket(AF_INET, SOCK_STREAM, 0);
	say("connect(NULL, 0)", (long)connect(s, NULL, 0));
	say("connect(NULL, 16)", (long)connect(s, nowhere, 16));
	say("connect(8, 16)", (long)connect(s, wild, 16));
	struct sockaddr_in tiny = { .sin_family = AF_INET, .sin_port = htons(443) };
	say("connect(short length)", (long)connect(s, (struct sockaddr *)&tiny, 4));
	close(s);
	bad_first_writes(lfd, &a);
	close(lfd);

	say("close(-1)", (long)close(-1));
	say("close_range(10, 5)", (long)close_range(10, 5, 0));
	say("dup2(-1, 100)", (long)dup2(-1, 100));
	say("dup3(1, 1, 0)", (long)dup3(1, 1, 0));
	int d = dup(1);
	say("dup2(d, d)", (long)(dup2(d, d) == d));
	close(d);
}

static void resolver(void)
{
	struct addrinfo passive = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(NULL, "443", &passive, &res);
	say("getaddrinfo(NULL, 443, passive)", rc);
	if (rc == 0)
		freeaddrinfo(res);
	rc = getaddrinfo("localhost", NULL, NULL, &res);
	say("getaddrinfo(localhost, NULL, NULL)", rc);
	if (rc == 0)
		freeaddrinfo(res);
	say("getaddrinfo(NULL, NULL, NULL)", getaddrinfo(NULL, NULL, NULL, &res));

	struct hostent h, *result = NULL;
	char small[8];
	int herr = 0;
	rc = gethostbyname_r("localhost", &h, small, sizeof(small), &result, &herr);
	printf("gethostbyname_r(small buffer): %d %s\n", rc, result ? "result" : "none");
	rc = gethostbyname2_r("localhost", AF_INET6, &h, small, sizeof(small), &result, &herr);
	printf("gethostbyname2_r(small buffer): %d %s\n", rc, result ? "result" : "none");
	printf("gethostbyname2(localhost, AF_UNIX): %s\n",
	       gethostbyname2("localhost", AF_UNIX) ? "result" : "none");
}

static void tls(void)
{
	SSL_free(NULL);
	say("SSL_free(NULL)", 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	char buf[4];
	size_t n = 0;
	/* Not connected, no BIO: errors, as without the library. */
	say("SSL_write(unconnected, 0)", SSL_write(ssl, "", 0));
	say("SSL_read(unconnected, 0)", SSL_read(ssl, buf, 0));
	say("SSL_peek(unconnected, 0)", SSL_peek(ssl, buf, 0));
	say("SSL_write_ex(unconnected, 0)", SSL_write_ex(ssl, "", 0, &n));
	say("SSL_read_ex(unconnected, 0)", SSL_read_ex(ssl, buf, 0, &n));
	say("SSL_peek_ex(unconnected, 0)", SSL_peek_ex(ssl, buf, 0, &n));
	SSL_free(ssl);
	X509 *x = X509_new();
	say("X509_get_ext_d2i(empty, SAN, NULL, NULL)",
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL) != NULL);
	X509_free(x);
	SSL_CTX_free(ctx);
}

static void curl(void)
{
	CURL *h = curl_easy_init();
	say("curl_easy_setopt(NULL handle, URL)",
	    curl_easy_setopt(NULL, CURLOPT_URL, "https://api.openai.com/v1/models"));
	say("curl_easy_setopt(URL, NULL)", curl_easy_setopt(h, CURLOPT_URL, NULL));
	say("curl_easy_setopt(CURLU, NULL)", curl_easy_setopt(h, CURLOPT_CURLU, NULL));
	say("curl_easy_setopt(URL, not a URL)", curl_easy_setopt(h, CURLOPT_URL, "::"));
	curl_easy_cleanup(h);
}

/*
 * connect() to HOST's AF_INET6 address on port 443 with an address length
 * of 16 (short of the 24 the kernel takes for AF_INET6), placed so that its
 * 16 bytes end where an unreadable page begins.
 */
static int short6(const char *host)
{
	struct addrinfo *res = NULL, *ai;
	if (getaddrinfo(host, NULL, NULL, &res) != 0)
		return 3;
	for (ai = res; ai && ai->ai_family != AF_INET6; ai = ai->ai_next)
		;
	if (ai == NULL) {
		printf("%s: no AF_INET6 address\n", host);
		return 3;
	}
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *map = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || mprotect(map + page, (size_t)page, PROT_NONE) != 0)
		return 3;
	struct sockaddr_in6 six;
	memcpy(&six, ai->ai_addr, sizeof(six));
	six.sin6_port = htons(443);
	unsigned char *at = map + page - 16;
	memcpy(at, &six, 16);	/* family, port, flow info, half the address */
	freeaddrinfo(res);
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s < 0)
		s = socket(AF_INET, SOCK_STREAM, 0);
	say("connect(AF_INET6 port 443, 16 bytes at the end of a page)",
	    (long)connect(s, (struct sockaddr *)(void *)at, 16));
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	wild_base.iov_base = wild;
	if (argc == 3 && strcmp(argv[1], "--short6") == 0) {
		int rc = short6(argv[2]);
		fflush(stdout);
		_exit(rc);	/* no library destructors: see the end of main */
	}
	if (argc == 2) {
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(argv[1], "443", NULL, &res);
		printf("getaddrinfo(%s, 443, NULL): %d family %d\n", argv[1], rc,
		       rc == 0 ? res->ai_family : -1);
		if (rc == 0)
			freeaddrinfo(res);
		rc = getaddrinfo(argv[1], NULL, NULL, &res);
		printf("getaddrinfo(%s, NULL, NULL): %d port %d\n", argv[1], rc,
		       rc == 0 ? ntohs(((struct sockaddr_in *)(void *)res->ai_addr)->sin_port) : -1);
		if (rc == 0)
			freeaddrinfo(res);
		return 0;
	}
	if (argc != 1)
		return 2;
	sockets();
	resolver();
	tls();
	curl();
	printf("done\n");
	fflush(stdout);
	/*
	 * Without running library destructors: libcurl pulls in GnuTLS (via
	 * librtmp) and libp11-kit, whose destructor hangs on glibc's setlocale
	 * lock when the ASan runtime is preloaded (the sanitizer run).
	 */
	_exit(0);
}
