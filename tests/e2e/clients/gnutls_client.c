/*
 * gnutls_client: a "legacy" program that speaks HTTPS with GnuTLS directly.
 *
 *     gnutls_client [-n] [-c N] [-V] [-2] [-P] [-C CAFILE] [-O PORT] HOST[:PORT] REQUEST_FILE
 *
 * Connects to HOST:443 (or PORT; getaddrinfo), verifies the peer with the system CAs
 * (plus CAFILE) for HOST, writes the raw request bytes of REQUEST_FILE and
 * prints everything it reads until the server closes. The name is checked
 * with gnutls_certificate_verify_peers3(session, HOST) after the handshake,
 * or with -V by gnutls_session_set_verify_cert(session, HOST) before it.
 * -n: a non-blocking socket with a 4 KiB send buffer, every call retried on
 * GNUTLS_E_AGAIN (with the same arguments, as GnuTLS requires). -c N: the
 * request is written N bytes per gnutls_record_send. -2 writes with
 * gnutls_record_send2 (no padding), -P reads with gnutls_record_recv_packet.
 * -O PORT: afterwards, on the same credentials, a second session to
 * 127.0.0.1:PORT for the name other.test, verified like the first; prints
 * "other: trusted" or "other: refused".
 * Reports on stderr
 * "writes: S short, R retried". Exit status 0, or 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd = -1;

static void wait_io(gnutls_session_t s)
{
	struct pollfd p = { .fd = fd,
			    .events = gnutls_record_get_direction(s) ? POLLOUT : POLLIN };
	poll(&p, 1, 5000);
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "gnutls_client: %s: %s\n", what, gnutls_strerror(rc));
	return 1;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *data = malloc(n > 0 ? (size_t)n : 1);
	*len = data ? fread(data, 1, (size_t)n, f) : 0;
	fclose(f);
	return data;
}

/* A session on cred to 127.0.0.1:port for other.test: is it verified? */
static const char *other_session(gnutls_certificate_credentials_t cred, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo("127.0.0.1", port, &hints, &ai) != 0)
		return "unreachable";
	int ofd = socket(ai->ai_family, SOCK_STREAM, 0);
	int rc = ofd < 0 ? -1 : connect(ofd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc != 0) {
		if (ofd >= 0)
			close(ofd);
		return "unreachable";
	}
	gnutls_session_t o;
	gnutls_init(&o, GNUTLS_CLIENT);
	gnutls_set_default_priority(o);
	gnutls_credentials_set(o, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(o, GNUTLS_NAME_DNS, "other.test", strlen("other.test"));
	gnutls_session_set_verify_cert(o, "other.test", 0);
	gnutls_transport_set_int(o, ofd);
	do {
		rc = gnutls_handshake(o);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	gnutls_deinit(o);
	close(ofd);
	return rc == 0 ? "trusted" : "refused";
}

int main(int argc, char **argv)
{
	int nonblock = 0, early_check = 0, send2 = 0, packets = 0;
	size_t chunk = 0;
	const char *cafile = NULL, *other_port = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "nc:V2PC:O:")) != -1) {
		if (opt == 'n')
			nonblock = 1;
		else if (opt == '2')
			send2 = 1;
		else if (opt == 'P')
			packets = 1;
		else if (opt == 'c')
			chunk = (size_t)atol(optarg);
		else if (opt == 'V')
			early_check = 1;
		else if (opt == 'C')
			cafile = optarg;
		else if (opt == 'O')
			other_port = optarg;
		else
			return 2;
	}
	if (argc - optind != 2)
		return 2;
	char host[256];
	snprintf(host, sizeof(host), "%s", argv[optind]);
	char *colon = strchr(host, ':');
	const char *port = "443";
	if (colon) {
		*colon = '\0';
		port = colon + 1;
	}
	size_t len;
	char *req = read_file(argv[optind + 1], &len);
	if (req == NULL)
		return 2;

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return fail("getaddrinfo", GNUTLS_E_INTERNAL_ERROR);
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		perror("gnutls_client: connect");
		return 1;
	}
	freeaddrinfo(ai);
	if (nonblock) {
		int small = 4096;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}

	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_system_trust(cred);
	if (cafile)
		gnutls_certificate_set_x509_trust_file(cred, cafile, GNUTLS_X509_FMT_PEM);
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host));
	if (early_check)
		gnutls_session_set_verify_cert(s, host, 0);
	gnutls_transport_set_int(s, fd);

	int rc;
	do {
		rc = gnutls_handshake(s);
		if (rc == GNUTLS_E_AGAIN)
			wait_io(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		return fail("handshake", rc);
	unsigned int status = 0;
	if (!early_check &&
	    ((rc = gnutls_certificate_verify_peers3(s, host, &status)) < 0 || status != 0))
		return fail("certificate", rc < 0 ? rc : GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR);

	unsigned long short_writes = 0, retried = 0;
	for (size_t off = 0; off < len;) {
		size_t n = chunk && len - off > chunk ? chunk : len - off;
		ssize_t w = send2 ? gnutls_record_send2(s, req + off, n, 0, 0) :
				    gnutls_record_send(s, req + off, n);
		while (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
			retried++;
			wait_io(s);
			w = send2 ? gnutls_record_send2(s, req + off, n, 0, 0) :
				    gnutls_record_send(s, req + off, n);
		}
		if (w < 0)
			return fail("send", (int)w);
		if ((size_t)w < n)
			short_writes++;
		off += (size_t)w;
	}
	fprintf(stderr, "writes: %lu short, %lu retried\n", short_writes, retried);

	char buf[16384];
	for (;;) {
		gnutls_packet_t packet = NULL;
		ssize_t n = packets ? gnutls_record_recv_packet(s, &packet) :
				      gnutls_record_recv(s, buf, sizeof(buf));
		if (packet) {
			gnutls_datum_t d;
			gnutls_packet_get(packet, &d, NULL);
			fwrite(d.data, 1, d.size, stdout);
			gnutls_packet_deinit(packet);
			continue;
		}
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			wait_io(s);
			continue;
		}
		if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
			break;
		if (n < 0)
			return fail("recv", (int)n);
		fwrite(buf, 1, (size_t)n, stdout);
	}
	gnutls_bye(s, GNUTLS_SHUT_RDWR);
	gnutls_deinit(s);
	if (other_port)
		printf("\nother: %s\n", other_session(cred, other_port));
	gnutls_certificate_free_credentials(cred);
	close(fd);
	free(req);
	return 0;
}
