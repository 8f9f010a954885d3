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
 *
 * Sockets are made on loopback to a listener of the program's own, so the
 * egress audit sees fresh TCP connections. Exit status 0 when it got to the
 * end.
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
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* NULL, hidden from the compiler's own checks. */
static void *volatile nowhere;

static void say(const char *what, long rc)
{
	printf("%s: %ld %s\n", what, rc, rc < 0 ? strerror(errno) : "-");
	fflush(stdout);
}

/* A TCP connection to a listener of our own; *lfd gets the listener. */
static int fresh_connection(int *lfd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (*lfd < 0 || bind(*lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(*lfd, 4) != 0 || getsockname(*lfd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	return fd;
}

static void sockets(void)
{
	int lfd, fd = fresh_connection(&lfd);
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
	struct sockaddr_in tiny = { .sin_family = AF_INET, .sin_port = htons(443) };
	say("connect(short length)", (long)connect(s, (struct sockaddr *)&tiny, 4));
	close(s);
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

int main(int argc, char **argv)
{
	if (argc == 2) {
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(argv[1], "443", NULL, &res);
		printf("getaddrinfo(%s, 443, NULL): %d family %d\n", argv[1], rc,
		       rc == 0 ? res->ai_family : -1);
		if (rc == 0)
			freeaddrinfo(res);
		rc = getaddrinfo(argv[1], NULL, NULL, &res);
		printf("getaddrinfo(%s, NULL, NULL): %d port %d\n", argv[1], rc,
		       rc == 0 ? ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port) : -1);
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
