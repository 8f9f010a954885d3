/* gnutlsapi: the program's GnuTLS functions, looked up once; see gnutlsapi.h. */
#include "gnutlsapi.h"

#include <pthread.h>

#include "guard.h"
#include "real.h"

static struct gnutlsapi api;
static const struct gnutlsapi *usable;	/* &api once it is complete */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define FIND(field, name) (api.field = (__typeof__(api.field))real_gnutls(name))

static void look_up(void)
{
	int saved = guard_enter();
	bool complete =
		FIND(record_send, "gnutls_record_send") &&
		FIND(server_name_set, "gnutls_server_name_set") &&
		FIND(credentials_set, "gnutls_credentials_set") &&
		FIND(credentials_get, "gnutls_credentials_get") &&
		FIND(set_verify_cert, "gnutls_session_set_verify_cert") &&
		FIND(alpn_set, "gnutls_alpn_set_protocols") &&
		FIND(get_peers, "gnutls_certificate_get_peers") &&
		FIND(protocol_version, "gnutls_protocol_get_version") &&
		FIND(transport_ptr, "gnutls_transport_get_ptr") &&
		FIND(cred_alloc, "gnutls_certificate_allocate_credentials") &&
		FIND(cred_free, "gnutls_certificate_free_credentials") &&
		FIND(cred_system_trust, "gnutls_certificate_set_x509_system_trust") &&
		FIND(cred_trust_file, "gnutls_certificate_set_x509_trust_file") &&
		FIND(cred_trust_list, "gnutls_certificate_get_trust_list") &&
		FIND(crt_init, "gnutls_x509_crt_init") &&
		FIND(crt_deinit, "gnutls_x509_crt_deinit") &&
		FIND(crt_import, "gnutls_x509_crt_import") &&
		FIND(crt_equals2, "gnutls_x509_crt_equals2") &&
		FIND(crt_check_hostname2, "gnutls_x509_crt_check_hostname2") &&
		FIND(crt_check_ip, "gnutls_x509_crt_check_ip") &&
		FIND(crt_san, "gnutls_x509_crt_get_subject_alt_name") &&
		FIND(trust_verify, "gnutls_x509_trust_list_verify_crt2");
	if (complete)
		__atomic_store_n(&usable, &api, __ATOMIC_RELEASE);
	guard_leave(saved);
}

const struct gnutlsapi *gnutlsapi_get(void)
{
	pthread_once(&once, look_up);
	return __atomic_load_n(&usable, __ATOMIC_ACQUIRE);
}

const struct gnutlsapi *gnutlsapi_loaded(void)
{
	return __atomic_load_n(&usable, __ATOMIC_ACQUIRE);
}
