/*
 * ca: the local interception CA (docs/relay.md, "Interception").
 *
 * The relay answers a program with TLS compiled in, which connects to a
 * provider host itself, with a certificate for that host. It comes from a
 * CA of the user's own: an EC P-256 key and a self-signed certificate in
 * cfg->ca_dir (ca.key mode 0600, ca.pem, the directory 0700), made on first
 * need. Its X.509 Name Constraints (critical) permit only the names of
 * route_intercept_names() and exclude every IP address, so even a stolen
 * key cannot vouch for any other site. It is never installed system-wide:
 * only programs the library is loaded into trust it, through their
 * runtime's own variables (NODE_EXTRA_CA_CERTS). The names it was made for
 * are kept beside it (names); when the configured hosts change, a new CA
 * is made (as `respan ca rotate` does).
 */
#ifndef RESPAN_CLI_CA_H
#define RESPAN_CLI_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct ca {
	X509 *cert;
	EVP_PKEY *key;
	char pem_path[4200];	/* cfg->ca_dir + "/ca.pem" */
};

/*
 * Load the CA for cfg, making it first when there is none, or when it was
 * made for other names (rotate: always make a new one). Returns 0, or a
 * negative errno with a one-line reason in err. Free with ca_free().
 */
int ca_ensure(const struct config *cfg, bool rotate, struct ca *out, char *err,
	      size_t errsize);

void ca_free(struct ca *ca);

/*
 * A certificate for host signed by ca, for key (the relay's leaf key):
 * valid from an hour ago for CA_LEAF_DAYS days, serverAuth, the host as its
 * only subjectAltName. NULL when host is not a name the CA may vouch for
 * (its constraints would make the program refuse it anyway) or on error.
 */
#define CA_LEAF_DAYS 7
X509 *ca_issue(const struct ca *ca, const struct config *cfg, const char *host,
	       EVP_PKEY *key);

/* A new EC P-256 key, or NULL. */
EVP_PKEY *ca_new_key(void);

/* Add the X.509v3 extension nid = value (OpenSSL's config syntax) to cert. */
bool ca_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* A random positive 127-bit serial number for cert. */
bool ca_random_serial(X509 *cert);

#endif
