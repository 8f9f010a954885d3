#include "real.h"

#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const libssl_names[] = { "libssl.so.3", "libssl.so.1.1" };
static const char *const libcrypto_names[] = { "libcrypto.so.3", "libcrypto.so.1.1" };
static const char *const libgnutls_names[] = { "libgnutls.so.30" };
static const char *const libcurl_names[] = { "libcurl.so.4", "libcurl-gnutls.so.4",
					     "libcurl-nss.so.4" };

/*
 * The first and the last byte past librespan's own image, from the linker.
 * dladdr() would tell the same, but looks for the nearest symbol in the
 * object holding the address: a walk over libc's whole symbol table (50,000
 * instructions) for every symbol looked up.
 */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

/* Is p one of librespan's own symbols? */
static bool is_ours(void *p)
{
	const char *c = p;
	return c >= __ehdr_start && c < _end;
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

struct wanted {
	const char *const *names;
	size_t n;
	const char *found;	/* the loaded object's path */
};

/* Is base names[i], or its development link ("libssl.so" for "libssl.so.3")? */
static bool same_library(const char *base, const char *name)
{
	const char *so = strstr(name, ".so");
	size_t stem = so ? (size_t)(so - name) + 3 : strlen(name);
	return strcmp(base, name) == 0 || (strlen(base) == stem && strncmp(base, name, stem) == 0);
}

static int match_loaded(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct wanted *w = arg;
	(void)size;
	const char *path = info->dlpi_name;
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	for (size_t i = 0; base && base[0] && i < w->n; i++)
		if (same_library(base, w->names[i])) {
			w->found = path;
			return 1;
		}
	return 0;
}

/*
 * A loaded library of one of these names, never loading one. The loaded
 * objects are looked at first: dlopen(RTLD_NOLOAD) of a name that is not
 * loaded still searches every library directory for it (a hundred system
 * calls, about a millisecond), which every process would pay at start.
 */
static void *loaded(const char *const *names, size_t n)
{
	struct wanted w = { names, n, NULL };
	dl_iterate_phdr(match_loaded, &w);
	if (w.found == NULL)
		return NULL;
	/* By its path: no search. The reference is kept on purpose. */
	return dlopen(w.found, RTLD_LAZY | RTLD_NOLOAD);
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

/* REAL's lock (real.h): one load and one store are all it ever covers. */
static char storing;
static __thread bool storing_here;

bool real_store_begin(void)
{
	if (storing_here)	/* a signal handler, inside on this thread */
		return false;
	for (int i = 0; i < 1000; i++) {
		if (!__atomic_test_and_set(&storing, __ATOMIC_ACQUIRE)) {
			storing_here = true;
			return true;
		}
		sched_yield();
	}
	return false;
}

void real_store_end(bool locked)
{
	if (!locked)
		return;
	storing_here = false;
	__atomic_clear(&storing, __ATOMIC_RELEASE);
}
