/*
 * gnutlsapi: the program's own GnuTLS functions that the GnuTLS layer calls
 * for itself (gtls.c, gtlsio.c, gtlstrust.c), looked up once, on the first
 * session, from the libgnutls.so.30 the process has loaded (real.h: also one
 * loaded RTLD_LOCAL). librespan never links libgnutls: these pointers are
 * its only way to it.
 *
 * The table is filled once and then only read (no lock). It is "usable"
 * when every function the layer needs was found (all of them are in
 * GnuTLS 3.4 and later). A hooked symbol itself (gnutls_record_send, ...)
 * is looked up here too: these are the real ones, behind librespan's hooks.
 */
#ifndef RESPAN_HOOKS_GNUTLSAPI_H
#define RESPAN_HOOKS_GNUTLSAPI_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct gnutlsapi {
	ssize_t (*record_send)(gnutls_session_t, const void *, size_t);
	int (*server_name_set)(gnutls_session_t, gnutls_server_name_type_t,
			       const void *, size_t);
	int (*credentials_set)(gnutls_session_t, gnutls_credentials_type_t, void *);
	int (*credentials_get)(gnutls_session_t, gnutls_credentials_type_t, void **);
	void (*set_verify_cert)(gnutls_session_t, const char *, unsigned);
	int (*alpn_set)(gnutls_session_t, const gnutls_datum_t *, unsigned, unsigned);
	const gnutls_datum_t *(*get_peers)(gnutls_session_t, unsigned int *);
	gnutls_protocol_t (*protocol_version)(gnutls_session_t);
	gnutls_transport_ptr_t (*transport_ptr)(gnutls_session_t);
	int (*cred_alloc)(gnutls_certificate_credentials_t *);
	void (*cred_free)(gnutls_certificate_credentials_t);
	int (*cred_system_trust)(gnutls_certificate_credentials_t);
	int (*cred_trust_file)(gnutls_certificate_credentials_t, const char *,
			       gnutls_x509_crt_fmt_t);
	void (*cred_trust_list)(gnutls_certificate_credentials_t,
				gnutls_x509_trust_list_t *);
	int (*crt_init)(gnutls_x509_crt_t *);
	void (*crt_deinit)(gnutls_x509_crt_t);
	int (*crt_import)(gnutls_x509_crt_t, const gnutls_datum_t *, gnutls_x509_crt_fmt_t);
	unsigned (*crt_equals2)(gnutls_x509_crt_t, const gnutls_datum_t *);
	unsigned (*crt_check_hostname2)(gnutls_x509_crt_t, const char *, unsigned);
	unsigned (*crt_check_ip)(gnutls_x509_crt_t, const unsigned char *, unsigned,
				 unsigned);
	int (*crt_san)(gnutls_x509_crt_t, unsigned int, void *, size_t *, unsigned int *);
	int (*trust_verify)(gnutls_x509_trust_list_t, gnutls_x509_crt_t *, unsigned int,
			    gnutls_typed_vdata_st *, unsigned int, unsigned int,
			    unsigned int *, gnutls_verify_output_function *);
};

/*
 * The table, looked up on the first call (thread-safe, inside the guard);
 * NULL when the process has no usable libgnutls.
 */
const struct gnutlsapi *gnutlsapi_get(void);

/* The table if gnutlsapi_get() has already filled it, else NULL. */
const struct gnutlsapi *gnutlsapi_loaded(void);

#endif
