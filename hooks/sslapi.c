/* sslapi: the program's OpenSSL functions, looked up once; see sslapi.h. */
#include "sslapi.h"

#include <pthread.h>

#include "guard.h"
#include "real.h"

static struct sslapi api = { .ex_index = -1, .x509_ex_index = -1 };
static const struct sslapi *usable;	/* &api once it is complete */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The X509 slot's free callback: the extension goes with its certificate. */
static void free_x509_slot(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			   void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr && api.ext_free)
		api.ext_free(ptr);
}

#define FIND(field, finder, name) \
	(api.field = (__typeof__(api.field))finder(name))

static void look_up(void)
{
	int saved = guard_enter();
	FIND(write, real_ssl, "SSL_write");
	FIND(ctrl, real_ssl, "SSL_ctrl");
	FIND(verify_result, real_ssl, "SSL_get_verify_result");
	/* OpenSSL 3 has the non-counting getter; 1.1 only the counting one. */
	if (FIND(peer_cert, real_ssl, "SSL_get0_peer_certificate") == NULL)
		api.peer_cert_counted =
			FIND(peer_cert, real_ssl, "SSL_get_peer_certificate") != NULL;
	FIND(x509_free, real_crypto, "X509_free");
	FIND(ext_free, real_crypto, "X509_EXTENSION_free");
	FIND(x509_cmp, real_crypto, "X509_cmp");
	FIND(x509_get_ex_data, real_crypto, "X509_get_ex_data");
	FIND(x509_set_ex_data, real_crypto, "X509_set_ex_data");
	FIND(do_handshake, real_ssl, "SSL_do_handshake");
	FIND(is_init_finished, real_ssl, "SSL_is_init_finished");
	if (FIND(err_new, real_crypto, "ERR_new") != NULL)
		FIND(err_set_error, real_crypto, "ERR_set_error");
	FIND(err_put_error, real_crypto, "ERR_put_error");
	FIND(get_servername, real_ssl, "SSL_get_servername");
	FIND(get_fd, real_ssl, "SSL_get_fd");
	FIND(is_server, real_ssl, "SSL_is_server");
	FIND(get_ex_data, real_ssl, "SSL_get_ex_data");
	FIND(set_ex_data, real_ssl, "SSL_set_ex_data");
	FIND(get0_param, real_ssl, "SSL_get0_param");
	FIND(set_alpn, real_ssl, "SSL_set_alpn_protos");
	FIND(set_verify, real_ssl, "SSL_set_verify");
	FIND(get_verify_mode, real_ssl, "SSL_get_verify_mode");
	FIND(set1_host, real_crypto, "X509_VERIFY_PARAM_set1_host");
	FIND(set1_ip_asc, real_crypto, "X509_VERIFY_PARAM_set1_ip_asc");
	FIND(set_hostflags, real_crypto, "X509_VERIFY_PARAM_set_hostflags");
	FIND(get_hostflags, real_crypto, "X509_VERIFY_PARAM_get_hostflags");
	FIND(store_new, real_crypto, "X509_STORE_new");
	FIND(store_default_paths, real_crypto, "X509_STORE_set_default_paths");
	FIND(store_load, real_crypto, "X509_STORE_load_locations");
	FIND(store_free, real_crypto, "X509_STORE_free");
	FIND(cert_dir, real_crypto, "X509_get_default_cert_dir");
	FIND(cert_dir_env, real_crypto, "X509_get_default_cert_dir_env");
	FIND(cert_file_env, real_crypto, "X509_get_default_cert_file_env");
	FIND(get_ctx, real_ssl, "SSL_get_SSL_CTX");
	FIND(ctx_get_store, real_ssl, "SSL_CTX_get_cert_store");
	FIND(lookup_meth_new, real_crypto, "X509_LOOKUP_meth_new");
	FIND(lookup_meth_set_get_by_subject, real_crypto, "X509_LOOKUP_meth_set_get_by_subject");
	FIND(lookup_meth_set_free, real_crypto, "X509_LOOKUP_meth_set_free");
	FIND(store_add_lookup, real_crypto, "X509_STORE_add_lookup");
	FIND(lookup_set_method_data, real_crypto, "X509_LOOKUP_set_method_data");
	FIND(lookup_get_method_data, real_crypto, "X509_LOOKUP_get_method_data");
	FIND(store_up_ref, real_crypto, "X509_STORE_up_ref");
	FIND(store_set1_param, real_crypto, "X509_STORE_set1_param");
	FIND(store_get0_param, real_crypto, "X509_STORE_get0_param");
	FIND(store_add_cert, real_crypto, "X509_STORE_add_cert");
	FIND(store_ctx_new, real_crypto, "X509_STORE_CTX_new");
	FIND(store_ctx_init, real_crypto, "X509_STORE_CTX_init");
	FIND(store_ctx_free, real_crypto, "X509_STORE_CTX_free");
	/* Renamed in 3.0; 1.1 has the old name. */
	if (FIND(store_ctx_get1_certs, real_crypto, "X509_STORE_CTX_get1_certs") == NULL)
		FIND(store_ctx_get1_certs, real_crypto, "X509_STORE_get1_certs");
	FIND(object_set1_x509, real_crypto, "X509_OBJECT_set1_X509");
	FIND(sk_num, real_crypto, "OPENSSL_sk_num");
	FIND(sk_value, real_crypto, "OPENSSL_sk_value");
	FIND(sk_pop_free, real_crypto, "OPENSSL_sk_pop_free");
	api.can_borrow = api.lookup_meth_new && api.lookup_meth_set_get_by_subject &&
			 api.lookup_meth_set_free && api.store_add_lookup &&
			 api.lookup_set_method_data && api.lookup_get_method_data &&
			 api.store_up_ref && api.store_set1_param && api.store_get0_param &&
			 api.store_add_cert && api.store_ctx_new && api.store_ctx_init &&
			 api.store_ctx_free && api.store_ctx_get1_certs && api.object_set1_x509 &&
			 api.sk_num && api.sk_value && api.sk_pop_free;
	int (*get_ex_new_index)(int, long, void *, void *, void *, void *) =
		(__typeof__(get_ex_new_index))real_crypto("CRYPTO_get_ex_new_index");
	bool complete = api.write && api.ctrl && api.get_servername && api.get_fd &&
			api.is_server && api.get_ex_data && api.set_ex_data &&
			api.get0_param && api.set_alpn && api.set_verify &&
			get_ex_new_index && api.set1_host && api.set1_ip_asc &&
			api.set_hostflags && api.store_new && api.store_default_paths &&
			api.store_load && api.store_free && api.cert_dir &&
			api.cert_dir_env && api.cert_file_env && api.get_ctx &&
			api.ctx_get_store && api.peer_cert && api.verify_result &&
			api.do_handshake && api.is_init_finished && api.x509_free &&
			api.x509_cmp;
	if (complete)
		api.ex_index = get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL,
						NULL, NULL, NULL);
	if (complete && api.ext_free && api.x509_get_ex_data && api.x509_set_ex_data)
		api.x509_ex_index = get_ex_new_index(CRYPTO_EX_INDEX_X509, 0, NULL, NULL,
						     NULL, (void *)free_x509_slot);
	if (complete && api.ex_index >= 0)
		__atomic_store_n(&usable, &api, __ATOMIC_RELEASE);
	guard_leave(saved);
}

const struct sslapi *sslapi_get(void)
{
	pthread_once(&once, look_up);
	return __atomic_load_n(&usable, __ATOMIC_ACQUIRE);
}

const struct sslapi *sslapi_loaded(void)
{
	return __atomic_load_n(&usable, __ATOMIC_ACQUIRE);
}
