/* gtlstrust: the router's certificate check in the GnuTLS layer; see gtlstrust.h. */
#include "gtlstrust.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "routertls.h"

#define MAX_CHAIN 16		/* peer certificates looked at, leaf first */

static gnutls_certificate_credentials_t router_cred;
static pthread_mutex_t cred_lock = PTHREAD_MUTEX_INITIALIZER;

/* The credentials for routed sessions: the system CAs plus RESPAN_CA_FILE. */
static gnutls_certificate_credentials_t get_router_cred(const struct gnutlsapi *api,
							const struct config *cfg)
{
	pthread_mutex_lock(&cred_lock);
	if (router_cred == NULL) {
		gnutls_certificate_credentials_t c = NULL;
		if (api->cred_alloc(&c) == 0 && api->cred_system_trust(c) >= 0 &&
		    (cfg->ca_file == NULL ||
		     api->cred_trust_file(c, cfg->ca_file, GNUTLS_X509_FMT_PEM) > 0))
			router_cred = c;
		else if (c)
			api->cred_free(c);
	}
	pthread_mutex_unlock(&cred_lock);
	return router_cred;
}

static bool set_alpn(gnutls_session_t gs, const struct gnutlsapi *api,
		     const struct routertls *p)
{
	/* The policy's list is in wire form: one length byte, then the name. */
	gnutls_datum_t proto = { .data = (unsigned char *)p->alpn + 1,
				 .size = (unsigned int)p->alpn_len - 1 };
	return api->alpn_set(gs, &proto, 1, 0) == 0;
}

bool gtlstrust_retarget(gnutls_session_t gs, const struct gnutlsapi *api,
			const struct config *cfg)
{
	struct routertls p;
	routertls_policy(cfg, &p);
	gnutls_certificate_credentials_t c = get_router_cred(api, cfg);

	if (c == NULL || p.name == NULL)
		return false;
	/* No SNI for an address (RFC 6066 3): a length of 0 removes it. */
	if (api->server_name_set(gs, GNUTLS_NAME_DNS, p.sni,
				 p.sni ? strlen(p.sni) : 0) != 0 ||
	    api->credentials_set(gs, GNUTLS_CRD_CERTIFICATE, c) != 0)
		return false;
	api->set_verify_cert(gs, p.name, 0);
	return set_alpn(gs, api, &p);
}

bool gtlstrust_verify_router(gnutls_session_t gs, const struct gnutlsapi *api,
			     const struct config *cfg)
{
	struct routertls p;
	routertls_policy(cfg, &p);
	void *cred = NULL;

	if (p.name == NULL)
		return false;
	/*
	 * No certificate credentials of its own, or RESPAN_CA_FILE to trust:
	 * the router's (the system CAs plus the CA file), for this session
	 * only. GnuTLS can neither copy nor share a trust list, and adding the
	 * CA file to the program's credentials would have every session on
	 * them trust it.
	 */
	if (cfg->ca_file != NULL ||
	    api->credentials_get(gs, GNUTLS_CRD_CERTIFICATE, &cred) != 0 || cred == NULL) {
		gnutls_certificate_credentials_t c = get_router_cred(api, cfg);
		if (c == NULL || api->credentials_set(gs, GNUTLS_CRD_CERTIFICATE, c) != 0)
			return false;
	}
	api->set_verify_cert(gs, p.name, 0);
	return set_alpn(gs, api, &p);
}

/*
 * Does any subjectAltName DNS entry of crt read "*." followed by host's
 * parent domain? Then a wildcard match GnuTLS found is a whole-label one.
 */
static bool has_full_label_wildcard(gnutls_x509_crt_t crt, const struct gnutlsapi *api,
				    const char *host)
{
	const char *parent = strchr(host, '.');
	if (parent == NULL)
		return false;
	for (unsigned i = 0;; i++) {
		char name[256];
		size_t size = sizeof(name) - 1;
		int type = api->crt_san(crt, i, name, &size, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return false;
		if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (type < 0)
			return false;
		name[size < sizeof(name) ? size : sizeof(name) - 1] = '\0';
		if (type == GNUTLS_SAN_DNSNAME && strlen(name) == size &&
		    name[0] == '*' && strcasecmp(name + 1, parent) == 0)
			return true;
	}
}

/* The router's name (or address) on the leaf, by the policy. */
static bool name_ok(gnutls_x509_crt_t leaf, const struct gnutlsapi *api,
		    const struct routertls *p)
{
	if (p->is_ip)
		return api->crt_check_ip(leaf, p->addr, p->family == AF_INET ? 4 : 16, 0) != 0;
	if (api->crt_check_hostname2(leaf, p->name, GNUTLS_VERIFY_DO_NOT_ALLOW_WILDCARDS))
		return true;
	/*
	 * GnuTLS takes a leading '*' as matching any part of the first label:
	 * its match counts only when a whole-label wildcard is there.
	 */
	return api->crt_check_hostname2(leaf, p->name, 0) &&
	       has_full_label_wildcard(leaf, api, p->name);
}

bool gtlstrust_check_peer(gnutls_session_t gs, const struct gnutlsapi *api,
			  const struct config *cfg)
{
	struct routertls p;
	routertls_policy(cfg, &p);
	gnutls_certificate_credentials_t c = get_router_cred(api, cfg);
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t chain[MAX_CHAIN];
	unsigned int n = 0, got = 0, status = 1;
	bool ok = false;

	gnutls_protocol_t v = api->protocol_version(gs);
	if (c == NULL || p.name == NULL || v < GNUTLS_TLS1_2 || v >= GNUTLS_DTLS0_9)
		return false;
	api->cred_trust_list(c, &tl);
	const gnutls_datum_t *peers = api->get_peers(gs, &n);
	if (tl == NULL || peers == NULL || n == 0)
		return false;
	if (n > MAX_CHAIN)
		n = MAX_CHAIN;
	for (; got < n; got++) {
		if (api->crt_init(&chain[got]) != 0)
			break;
		if (api->crt_import(chain[got], &peers[got], GNUTLS_X509_FMT_DER) != 0) {
			api->crt_deinit(chain[got]);
			break;
		}
	}
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER,
	};
	if (got == n && api->trust_verify(tl, chain, n, &purpose, 1, 0, &status, NULL) == 0)
		ok = status == 0 && name_ok(chain[0], api, &p);
	for (unsigned i = 0; i < got; i++)
		api->crt_deinit(chain[i]);
	return ok;
}

/* A leaf lock: nothing else is taken while it is held. */
void gtlstrust_fork(enum fork_phase phase)
{
	fork_phase_lock(&cred_lock, phase);
}
