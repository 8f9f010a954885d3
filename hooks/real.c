#include "real.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const libssl_names[] = { "libssl.so.3", "libssl.so.1.1" };
static const char *const libcrypto_names[] = { "libcrypto.so.3", "libcrypto.so.1.1" };
static const char *const libgnutls_names[] = { "libgnutls.so.30" };
static const char *const libcurl_names[] = { "libcurl.so.4", "libcurl-gnutls.so.4",
					     "libcurl-nss.so.4" };

/* Is p one of librespan's own symbols? */
static bool is_ours(void *p)
{
	Dl_info self, other;
	if (p == NULL || dladdr((void *)real_libc, &self) == 0 ||
	    dladdr(p, &other) == 0)
		return false;
	return self.dli_fbase == other.dli_fbase;
}

static void *checked(void *p, const char *name)
{
	static bool reported;
	if (!is_ours(p))
		return p;
	if (!reported) {
		reported = true;
		char msg[200];
		int n = snprintf(msg, sizeof(msg),
				 "respan: %s resolves to librespan itself; that hook is disabled\n",
				 name);
		if (n > 0) {
			ssize_t ignored = write(STDERR_FILENO, msg, (size_t)n);
			(void)ignored;
		}
	}
	return NULL;
}

void *real_libc(const char *name)
{
	return checked(dlsym(RTLD_NEXT, name), name);
}

/* A loaded library of one of these names, never loading one. */
static void *loaded(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		void *h = dlopen(names[i], RTLD_LAZY | RTLD_NOLOAD);
		if (h)
			return h;	/* the reference is kept on purpose */
	}
	return NULL;
}

static void *find_in(const char *const *names, size_t n, const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p)
		return checked(p, name);
	void *h = loaded(names, n);
	return h ? checked(dlsym(h, name), name) : NULL;
}

void *real_ssl(const char *name)
{
	return find_in(libssl_names, 2, name);
}

void *real_crypto(const char *name)
{
	return find_in(libcrypto_names, 2, name);
}

void *real_gnutls(const char *name)
{
	return find_in(libgnutls_names, 1, name);
}

void *real_curl(const char *name)
{
	return find_in(libcurl_names, 3, name);
}

bool real_have_libssl(void)
{
	static int have;
	if (__atomic_load_n(&have, __ATOMIC_RELAXED))
		return true;
	if (dlsym(RTLD_NEXT, "SSL_write") == NULL && loaded(libssl_names, 2) == NULL)
		return false;
	__atomic_store_n(&have, 1, __ATOMIC_RELAXED);
	return true;
}

bool real_have_libgnutls(void)
{
	static int have;
	if (__atomic_load_n(&have, __ATOMIC_RELAXED))
		return true;
	if (dlsym(RTLD_NEXT, "gnutls_record_send") == NULL &&
	    loaded(libgnutls_names, 1) == NULL)
		return false;
	__atomic_store_n(&have, 1, __ATOMIC_RELAXED);
	return true;
}

bool real_have_tls_layer(void)
{
	return real_have_libssl() || real_have_libgnutls();
}
