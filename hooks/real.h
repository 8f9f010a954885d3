/*
 * real: finding the functions the hooks stand in front of.
 *
 * libc's are found with dlsym(RTLD_NEXT). OpenSSL's may live in a library
 * that was loaded RTLD_LOCAL (Python's _ssl module pulls libssl in that way),
 * where RTLD_NEXT finds nothing: then the library is looked up by handle
 * (dlopen with RTLD_NOLOAD, libssl.so.3 first, then libssl.so.1.1), which
 * never loads anything new. GnuTLS's are found the same way
 * (libgnutls.so.30), and libcurl's (libcurl.so.4, then Debian's
 * libcurl-gnutls.so.4 and libcurl-nss.so.4: a module that links libcurl and
 * is loaded RTLD_LOCAL calls curl_easy_setopt, the hook, which must still
 * find the libcurl it stands in front of). A look-up that hands back librespan's own symbol
 * (a broken link order) is refused and reported once, not followed
 * (proxychains aborts there; we must not).
 */
#ifndef RESPAN_HOOKS_REAL_H
#define RESPAN_HOOKS_REAL_H

#include <stdbool.h>

/* The next definition of a libc symbol after librespan, or NULL. */
void *real_libc(const char *name);

/* The program's libssl / libcrypto symbol, or NULL when none is loaded. */
void *real_ssl(const char *name);
void *real_crypto(const char *name);

/* The program's libgnutls symbol, or NULL when none is loaded. */
void *real_gnutls(const char *name);

/* The program's libcurl symbol, or NULL when none is loaded. */
void *real_curl(const char *name);

/*
 * True when the OpenSSL layer can act in this process: a libssl is loaded
 * dynamically (linked, or dlopen'ed even RTLD_LOCAL). Cheap after the first
 * true answer.
 */
bool real_have_libssl(void);

/* The same for the GnuTLS layer: a libgnutls.so.30 is loaded. */
bool real_have_libgnutls(void);

/*
 * A TLS layer of the library can take a session over: a libssl or a
 * libgnutls is loaded (the resolver hands out the router's addresses only
 * then).
 */
bool real_have_tls_layer(void);

/*
 * Resolve a symbol once into a function pointer variable (thread-safe).
 * Threads may look the same symbol up at once, but the variable is stored
 * only once: the hooks read it again, plainly, to check and call it, and a
 * second thread storing the same pointer would race with those reads
 * (ThreadSanitizer saw it). The store is made under real_store_begin(), a
 * lock held for one load and one store, never across a call (so never
 * across dlsym and the loader's lock). Every later reader has seen the
 * stored value with its acquire load or taken the lock after the store.
 */
#define REAL(var, finder, name)                                                \
	do {                                                                   \
		if (__atomic_load_n(&(var), __ATOMIC_ACQUIRE) == NULL) {       \
			__typeof__(var) found_ = finder(name);                 \
			if (found_ != NULL) {                                  \
				bool locked_ = real_store_begin();             \
				if (__atomic_load_n(&(var), __ATOMIC_RELAXED) == NULL) \
					__atomic_store_n(&(var), found_,       \
							 __ATOMIC_RELEASE);    \
				real_store_end(locked_);                       \
			}                                                      \
		}                                                              \
	} while (0)

/*
 * REAL's lock. real_store_begin returns whether it took it: after a short
 * wait it goes on without (a signal handler that interrupted its own thread
 * inside, a child forked while another thread held it), and the store is
 * then at worst the same pointer twice. Pass its answer to real_store_end.
 */
bool real_store_begin(void);
void real_store_end(bool locked);

#endif
