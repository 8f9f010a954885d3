/*
 * sslapi: the program's own OpenSSL functions that the TLS layer calls for
 * itself (tls.c, tlsio.c, routertrust.c), looked up once, on the first
 * session, from the libssl/libcrypto the process has loaded (real.h: also
 * one loaded RTLD_LOCAL). librespan never links libssl: these pointers are
 * its only way to it.
 *
 * The table is filled once and then only read (no lock). It is "usable"
 * when every function the layer needs was found, plus librespan's ex_data
 * slot on SSL objects; a few members are optional and said so below. A
 * hooked symbol itself (SSL_write, ...) is looked up here too: these are
 * the real ones, behind librespan's hooks.
 */
#ifndef RESPAN_HOOKS_SSLAPI_H
#define RESPAN_HOOKS_SSLAPI_H

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stddef.h>

struct sslapi {
	int (*write)(SSL *, const void *, int);
	long (*ctrl)(SSL *, int, long, void *);
	X509 *(*peer_cert)(const SSL *);
	bool peer_cert_counted;		/* 1.1's getter: X509_free the result */
	void (*x509_free)(X509 *);
	int (*x509_cmp)(const X509 *, const X509 *);
	void (*ext_free)(X509_EXTENSION *);
	long (*verify_result)(const SSL *);
	int (*do_handshake)(SSL *);
	int (*is_init_finished)(const SSL *);
	void (*err_new)(void);		/* 3.x: ERR_new + ERR_set_error */
	void (*err_set_error)(int, int, const char *, ...);
	void (*err_put_error)(int, int, int, const char *, int);	/* 1.1 */
	const char *(*get_servername)(const SSL *, int);
	int (*get_fd)(const SSL *);
	int (*is_server)(const SSL *);
	void *(*get_ex_data)(const SSL *, int);
	int (*set_ex_data)(SSL *, int, void *);
	X509_VERIFY_PARAM *(*get0_param)(SSL *);
	int (*set1_host)(X509_VERIFY_PARAM *, const char *, size_t);
	int (*set1_ip_asc)(X509_VERIFY_PARAM *, const char *);
	void (*set_hostflags)(X509_VERIFY_PARAM *, unsigned int);
	unsigned int (*get_hostflags)(const X509_VERIFY_PARAM *);	/* optional: 1.1.0i+ */
	int (*set_alpn)(SSL *, const unsigned char *, unsigned int);
	void (*set_verify)(SSL *, int, SSL_verify_cb);
	int (*get_verify_mode)(const SSL *);	/* optional */
	X509_STORE *(*store_new)(void);
	int (*store_default_paths)(X509_STORE *);
	int (*store_load)(X509_STORE *, const char *, const char *);
	const char *(*cert_dir)(void);
	const char *(*cert_dir_env)(void);
	const char *(*cert_file_env)(void);
	void (*store_free)(X509_STORE *);
	SSL_CTX *(*get_ctx)(const SSL *);
	X509_STORE *(*ctx_get_store)(const SSL_CTX *);
	/*
	 * Optional (1.1.0i and later): a session's own trust store that looks
	 * certificates up in another store (routertrust.c's borrowed store).
	 */
	X509_LOOKUP_METHOD *(*lookup_meth_new)(const char *);
	int (*lookup_meth_set_get_by_subject)(X509_LOOKUP_METHOD *, X509_LOOKUP_get_by_subject_fn);
	int (*lookup_meth_set_free)(X509_LOOKUP_METHOD *, void (*)(X509_LOOKUP *));
	X509_LOOKUP *(*store_add_lookup)(X509_STORE *, X509_LOOKUP_METHOD *);
	int (*lookup_set_method_data)(X509_LOOKUP *, void *);
	void *(*lookup_get_method_data)(const X509_LOOKUP *);
	int (*store_up_ref)(X509_STORE *);
	int (*store_set1_param)(X509_STORE *, const X509_VERIFY_PARAM *);
	X509_VERIFY_PARAM *(*store_get0_param)(const X509_STORE *);
	int (*store_add_cert)(X509_STORE *, X509 *);
	X509_STORE_CTX *(*store_ctx_new)(void);
	int (*store_ctx_init)(X509_STORE_CTX *, X509_STORE *, X509 *, STACK_OF(X509) *);
	void (*store_ctx_free)(X509_STORE_CTX *);
	STACK_OF(X509) *(*store_ctx_get1_certs)(X509_STORE_CTX *, const X509_NAME *);
	int (*object_set1_x509)(X509_OBJECT *, X509 *);
	int (*sk_num)(const OPENSSL_STACK *);
	void *(*sk_value)(const OPENSSL_STACK *, int);
	void (*sk_pop_free)(OPENSSL_STACK *, void (*)(void *));
	bool can_borrow;		/* all of the above were found */
	int ex_index;			/* librespan's ex_data slot on SSL objects */
	/*
	 * Its slot on X509 objects (certname.c's widened subjectAltName, freed
	 * with the certificate), or -1 when OpenSSL gave none.
	 */
	int x509_ex_index;
	void *(*x509_get_ex_data)(const X509 *, int);
	int (*x509_set_ex_data)(X509 *, int, void *);
};

/*
 * The table, looked up on the first call (thread-safe, inside the guard);
 * NULL when the process has no usable libssl.
 */
const struct sslapi *sslapi_get(void);

/*
 * The table if sslapi_get() has already filled it, else NULL; never looks
 * anything up (for SSL_free and the certificate-name hook: no session of
 * ours exists before the first look-up).
 */
const struct sslapi *sslapi_loaded(void);

#endif
