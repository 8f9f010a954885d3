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
 * asked for. Every other certificate, and every session whose verification
 * failed, is answered as usual, so nothing is weakened: a router that does
 * not verify still fails.
 */
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
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

static struct {
	ext_d2i_fn ext_d2i;
	gn_new_fn gn_new;
	gn_set0_fn gn_set0;
	ia5_new_fn ia5_new;
	asn1_set_fn asn1_set;
	sk_new_fn sk_new;
	sk_push_fn sk_push;
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
	if (nid != NID_subject_alt_name || idx != NULL || guard_busy())
		return names;
	char host[256];
	int saved = guard_enter();
	bool routed = tls_routed_peer_name(x, host, sizeof(host));
	if (routed)
		names = add_dns_name(names, host);
	guard_leave(saved);
	return names;
}
