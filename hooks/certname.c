/*
 * certname: the program's own, second check of the server's name.
 *
 * On a routed session OpenSSL has verified the router's chain against our
 * store and the router's name (routertrust.c sets both before the handshake;
 * the program cannot turn that off). Some programs then check the certificate's
 * names once more themselves, against the name they asked for: urllib3 1.26
 * (requests) turns OpenSSL's check off and runs match_hostname() on
 * getpeercert(), which reads subjectAltName through X509_get_ext_d2i(). For
 * that one certificate, of a routed session whose verification succeeded,
 * the list of names read this way also holds the provider name the program
 * asked for. Ruby (post_connection_check) and Perl (Net::SSLeay's
 * get_subjectAltNames) read the extension itself, through X509_get_ext():
 * for that certificate the subjectAltName extension they get is one made
 * with the same list, kept with the certificate object and freed with it
 * (tls.h). Every
 * other certificate, and every session whose verification failed, is
 * answered as usual, so nothing is weakened: a router that does not verify
 * still fails. A router certificate without subjectAltName gets no name
 * this way (a name only in the subject's CN is not added).
 */
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <string.h>

#include "guard.h"
#include "real.h"
#include "tls.h"

typedef void *(*ext_d2i_fn)(const X509 *, int, int *, int *);
typedef GENERAL_NAME *(*gn_new_fn)(void);
typedef void (*gn_set0_fn)(GENERAL_NAME *, int, void *);
typedef ASN1_STRING *(*ia5_new_fn)(void);
typedef int (*asn1_set_fn)(ASN1_STRING *, const void *, int);
typedef OPENSSL_STACK *(*sk_new_fn)(OPENSSL_sk_compfunc);
typedef int (*sk_push_fn)(OPENSSL_STACK *, const void *);
typedef X509_EXTENSION *(*get_ext_fn)(const X509 *, int);
typedef ASN1_OBJECT *(*ext_object_fn)(X509_EXTENSION *);
typedef int (*ext_critical_fn)(const X509_EXTENSION *);
typedef int (*obj2nid_fn)(const ASN1_OBJECT *);
typedef void *(*ext_d2i_any_fn)(X509_EXTENSION *);
typedef X509_EXTENSION *(*ext_i2d_fn)(int, int, void *);
typedef void (*names_free_fn)(GENERAL_NAMES *);

static struct {
	ext_d2i_fn ext_d2i;
	gn_new_fn gn_new;
	gn_set0_fn gn_set0;
	ia5_new_fn ia5_new;
	asn1_set_fn asn1_set;
	sk_new_fn sk_new;
	sk_push_fn sk_push;
	get_ext_fn get_ext;
	ext_object_fn ext_object;
	ext_critical_fn ext_critical;
	obj2nid_fn obj2nid;
	ext_d2i_any_fn ext_d2i_any;
	ext_i2d_fn ext_i2d;
	names_free_fn names_free;
} real;

/* Add a DNS name to names (creating the list when NULL); returns the list. */
static void *add_dns_name(void *names, const char *host)
{
	REAL(real.gn_new, real_crypto, "GENERAL_NAME_new");
	REAL(real.gn_set0, real_crypto, "GENERAL_NAME_set0_value");
	REAL(real.ia5_new, real_crypto, "ASN1_IA5STRING_new");
	REAL(real.asn1_set, real_crypto, "ASN1_STRING_set");
	REAL(real.sk_new, real_crypto, "OPENSSL_sk_new");
	REAL(real.sk_push, real_crypto, "OPENSSL_sk_push");
	if (!real.gn_new || !real.gn_set0 || !real.ia5_new || !real.asn1_set ||
	    !real.sk_new || !real.sk_push)
		return names;
	if (names == NULL)
		names = real.sk_new(NULL);
	GENERAL_NAME *gn = real.gn_new();
	ASN1_STRING *ia5 = real.ia5_new();
	if (names == NULL || gn == NULL || ia5 == NULL ||
	    real.asn1_set(ia5, host, (int)strlen(host)) != 1)
		return names;	/* a small leak on allocation failure only */
	real.gn_set0(gn, GEN_DNS, ia5);
	real.sk_push(names, gn);
	return names;
}

HOOK void *X509_get_ext_d2i(const X509 *x, int nid, int *crit, int *idx)
{
	REAL(real.ext_d2i, real_crypto, "X509_get_ext_d2i");
	if (real.ext_d2i == NULL)
		return NULL;
	void *names = real.ext_d2i(x, nid, crit, idx);
	if (nid != NID_subject_alt_name || idx != NULL || guard_busy() || !tls_any_routed())
		return names;
	char host[256];
	int saved = guard_enter();
	bool routed = tls_routed_peer_name(x, host, sizeof(host));
	if (routed)
		names = add_dns_name(names, host);
	guard_leave(saved);
	return names;
}

/* orig, a subjectAltName extension, with host added; NULL when it cannot be made. */
static X509_EXTENSION *widen(const X509_EXTENSION *orig, const char *host)
{
	REAL(real.ext_critical, real_crypto, "X509_EXTENSION_get_critical");
	REAL(real.ext_d2i_any, real_crypto, "X509V3_EXT_d2i");
	REAL(real.ext_i2d, real_crypto, "X509V3_EXT_i2d");
	REAL(real.names_free, real_crypto, "GENERAL_NAMES_free");
	if (!real.ext_critical || !real.ext_d2i_any || !real.ext_i2d || !real.names_free)
		return NULL;
	/* X509V3_EXT_d2i only reads the extension, though it is declared to write. */
	void *names = real.ext_d2i_any((X509_EXTENSION *)(uintptr_t)orig);
	if (names == NULL)
		return NULL;
	names = add_dns_name(names, host);
	X509_EXTENSION *ext = real.ext_i2d(NID_subject_alt_name, real.ext_critical(orig), names);
	real.names_free(names);
	return ext;
}

HOOK X509_EXTENSION *X509_get_ext(const X509 *x, int loc)
{
	REAL(real.get_ext, real_crypto, "X509_get_ext");
	REAL(real.ext_object, real_crypto, "X509_EXTENSION_get_object");
	REAL(real.obj2nid, real_crypto, "OBJ_obj2nid");
	if (real.get_ext == NULL)
		return NULL;
	X509_EXTENSION *ext = real.get_ext(x, loc);
	if (ext == NULL || guard_busy() || !real.ext_object || !real.obj2nid ||
	    !tls_any_routed())
		return ext;
	int saved = guard_enter();
	X509_EXTENSION *shown = ext;
	if (real.obj2nid(real.ext_object(ext)) == NID_subject_alt_name) {
		X509_EXTENSION *wide = tls_routed_peer_ext(x, ext, widen);
		if (wide)
			shown = wide;
	}
	guard_leave(saved);
	return shown;
}
