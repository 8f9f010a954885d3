/*
 * gnutls: the interposed GnuTLS calls (docs/contract.md#layers, layer 5).
 * Each one finds the session (gtls.h decides what it is on first use),
 * lets the engine see or rewrite the bytes (gtlsio.h), and calls the real
 * function.
 *
 * The program's own name check: wget and libcurl-gnutls verify the peer
 * with gnutls_certificate_verify_peers2 (the routed session's credentials
 * are the router's, gtlstrust.h) and then compare the leaf certificate
 * with the name they asked for through gnutls_x509_crt_check_hostname. On a
 * routed session that name is the provider's, the certificate the
 * router's: the check is answered yes for exactly that certificate, the
 * leaf of a live routed session whose router check (chain against the
 * system CAs plus RESPAN_CA_FILE, the router's name, TLS 1.2) succeeded,
 * and that name. Every other certificate and name gets GnuTLS's answer, so
 * a peer that was not verified as the router never passes. A program that
 * gives the provider's name to gnutls_session_set_verify_cert or
 * gnutls_certificate_verify_peers3 on a routed session has the router's
 * name checked there instead.
 *
 * libgnutls calls some of its own exported functions through the PLT
 * (gnutls_record_send calls gnutls_record_send2, gnutls_x509_crt_check_hostname
 * calls _hostname2), so those inner calls reach these hooks too: a
 * thread-local depth per family lets only the outermost one act (a record
 * is rewritten and logged once). It is per family, not the library-wide
 * guard, so that the socket hooks still see what GnuTLS writes.
 */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "gtls.h"
#include "gtlsio.h"
#include "guard.h"
#include "real.h"

static struct {
	int (*init)(gnutls_session_t *, unsigned int);
	void (*deinit)(gnutls_session_t);
	int (*server_name_set)(gnutls_session_t, gnutls_server_name_type_t,
			       const void *, size_t);
	int (*handshake)(gnutls_session_t);
	ssize_t (*send)(gnutls_session_t, const void *, size_t);
	ssize_t (*send2)(gnutls_session_t, const void *, size_t, size_t, unsigned);
	ssize_t (*send_range)(gnutls_session_t, const void *, size_t,
			      const gnutls_range_st *);
	ssize_t (*recv)(gnutls_session_t, void *, size_t);
	ssize_t (*recv_seq)(gnutls_session_t, void *, size_t, unsigned char *);
	ssize_t (*recv_packet)(gnutls_session_t, gnutls_packet_t *);
	void (*packet_get)(gnutls_packet_t, gnutls_datum_t *, unsigned char *);
	int (*alpn_set)(gnutls_session_t, const gnutls_datum_t *, unsigned, unsigned);
	unsigned (*check_hostname)(gnutls_x509_crt_t, const char *);
	unsigned (*check_hostname2)(gnutls_x509_crt_t, const char *, unsigned);
	void (*set_verify_cert)(gnutls_session_t, const char *, unsigned);
	int (*verify_peers3)(gnutls_session_t, const char *, unsigned int *);
} real;

static __thread int in_send, in_recv, in_check;

HOOK int gnutls_init(gnutls_session_t *session, unsigned int flags)
{
	REAL(real.init, real_gnutls, "gnutls_init");
	if (real.init == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	int rc = real.init(session, flags);
	if (rc == 0 && session)
		gtls_new(*session, (flags & GNUTLS_SERVER) != 0);
	return rc;
}

HOOK void gnutls_deinit(gnutls_session_t session)
{
	REAL(real.deinit, real_gnutls, "gnutls_deinit");
	if (real.deinit == NULL)
		return;
	gtls_free(session);
	real.deinit(session);
}

HOOK int gnutls_server_name_set(gnutls_session_t session, gnutls_server_name_type_t type,
			   const void *name, size_t name_length)
{
	REAL(real.server_name_set, real_gnutls, "gnutls_server_name_set");
	if (real.server_name_set == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (type == GNUTLS_NAME_DNS && !gtls_server_name(session, name, name_length))
		return 0;
	return real.server_name_set(session, type, name, name_length);
}

HOOK int gnutls_alpn_set_protocols(gnutls_session_t session,
			      const gnutls_datum_t *protocols, unsigned protocols_size,
			      unsigned flags)
{
	REAL(real.alpn_set, real_gnutls, "gnutls_alpn_set_protocols");
	if (real.alpn_set == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	int rc = gtls_alpn(session, protocols, protocols_size, flags);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	return real.alpn_set(session, protocols, protocols_size, flags);
}

HOOK int gnutls_handshake(gnutls_session_t session)
{
	REAL(real.handshake, real_gnutls, "gnutls_handshake");
	if (real.handshake == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	struct gsession *s = gtls_session(session);
	if (s && s->refused)
		return GNUTLS_E_CERTIFICATE_ERROR;
	int rc = real.handshake(session);
	return s ? gtlsio_handshake_done(s, rc) : rc;
}

HOOK ssize_t gnutls_record_send(gnutls_session_t session, const void *data, size_t size)
{
	REAL(real.send, real_gnutls, "gnutls_record_send");
	if (real.send == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (in_send)
		return real.send(session, data, size);
	in_send++;
	struct gsession *s = gtls_session(session);
	ssize_t n = s && (size > 0 || s->conn.owed > 0) ? gtlsio_send(s, data, size) :
		    real.send(session, data, size);
	in_send--;
	return n;
}

/* The padding asked for is not kept on a session of ours. */
HOOK ssize_t gnutls_record_send2(gnutls_session_t session, const void *data,
			    size_t size, size_t pad, unsigned flags)
{
	REAL(real.send2, real_gnutls, "gnutls_record_send2");
	if (real.send2 == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (in_send)
		return real.send2(session, data, size, pad, flags);
	in_send++;
	struct gsession *s = gtls_session(session);
	ssize_t n = s && (size > 0 || s->conn.owed > 0) ? gtlsio_send(s, data, size) :
		    real.send2(session, data, size, pad, flags);
	in_send--;
	return n;
}

HOOK ssize_t gnutls_record_send_range(gnutls_session_t session, const void *data,
				 size_t size, const gnutls_range_st *range)
{
	REAL(real.send_range, real_gnutls, "gnutls_record_send_range");
	if (real.send_range == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (in_send)
		return real.send_range(session, data, size, range);
	in_send++;
	struct gsession *s = gtls_session(session);
	ssize_t n = s && (size > 0 || s->conn.owed > 0) ? gtlsio_send(s, data, size) :
		    real.send_range(session, data, size, range);
	in_send--;
	return n;
}

HOOK ssize_t gnutls_record_recv(gnutls_session_t session, void *data, size_t size)
{
	REAL(real.recv, real_gnutls, "gnutls_record_recv");
	if (real.recv == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (in_recv)
		return real.recv(session, data, size);
	in_recv++;
	struct gsession *s = gtls_session(session);
	ssize_t n = real.recv(session, data, size);
	if (s && n > 0)
		gtlsio_recv(s, data, (size_t)n);
	in_recv--;
	return n;
}

HOOK ssize_t gnutls_record_recv_seq(gnutls_session_t session, void *data, size_t size,
			       unsigned char *seq)
{
	REAL(real.recv_seq, real_gnutls, "gnutls_record_recv_seq");
	if (real.recv_seq == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (in_recv)
		return real.recv_seq(session, data, size, seq);
	in_recv++;
	struct gsession *s = gtls_session(session);
	ssize_t n = real.recv_seq(session, data, size, seq);
	if (s && n > 0)
		gtlsio_recv(s, data, (size_t)n);
	in_recv--;
	return n;
}

HOOK ssize_t gnutls_record_recv_packet(gnutls_session_t session, gnutls_packet_t *packet)
{
	REAL(real.recv_packet, real_gnutls, "gnutls_record_recv_packet");
	REAL(real.packet_get, real_gnutls, "gnutls_packet_get");
	if (real.recv_packet == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	if (in_recv)
		return real.recv_packet(session, packet);
	in_recv++;
	struct gsession *s = gtls_session(session);
	ssize_t n = real.recv_packet(session, packet);
	if (s && n > 0 && packet && *packet && real.packet_get) {
		gnutls_datum_t d = { 0 };
		real.packet_get(*packet, &d, NULL);
		if (d.data && d.size > 0)
			gtlsio_recv(s, d.data, d.size);
	}
	in_recv--;
	return n;
}

/* GnuTLS said no: yes only for a verified router's leaf on a routed session. */
static unsigned routed_name(gnutls_x509_crt_t cert, const char *hostname)
{
	if (guard_busy())
		return 0;
	int saved = guard_enter();
	unsigned ok = gtls_routed_peer(cert, hostname);
	guard_leave(saved);
	return ok;
}

HOOK unsigned gnutls_x509_crt_check_hostname(gnutls_x509_crt_t cert, const char *hostname)
{
	REAL(real.check_hostname, real_gnutls, "gnutls_x509_crt_check_hostname");
	if (real.check_hostname == NULL)
		return 0;
	if (in_check)
		return real.check_hostname(cert, hostname);
	in_check++;
	unsigned ok = real.check_hostname(cert, hostname);
	in_check--;
	return ok ? ok : routed_name(cert, hostname);
}

HOOK unsigned gnutls_x509_crt_check_hostname2(gnutls_x509_crt_t cert, const char *hostname,
					 unsigned flags)
{
	REAL(real.check_hostname2, real_gnutls, "gnutls_x509_crt_check_hostname2");
	if (real.check_hostname2 == NULL)
		return 0;
	if (in_check)
		return real.check_hostname2(cert, hostname, flags);
	in_check++;
	unsigned ok = real.check_hostname2(cert, hostname, flags);
	in_check--;
	return ok ? ok : routed_name(cert, hostname);
}

HOOK void gnutls_session_set_verify_cert(gnutls_session_t session, const char *hostname,
				    unsigned flags)
{
	REAL(real.set_verify_cert, real_gnutls, "gnutls_session_set_verify_cert");
	if (real.set_verify_cert == NULL)
		return;
	const char *router = gtls_router_name_for(session, hostname);
	real.set_verify_cert(session, router ? router : hostname, flags);
}

HOOK int gnutls_certificate_verify_peers3(gnutls_session_t session, const char *hostname,
				     unsigned int *status)
{
	REAL(real.verify_peers3, real_gnutls, "gnutls_certificate_verify_peers3");
	if (real.verify_peers3 == NULL)
		return GNUTLS_E_INTERNAL_ERROR;
	const char *router = gtls_router_name_for(session, hostname);
	return real.verify_peers3(session, router ? router : hostname, status);
}
