#include "assess.h"

#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* What was found about TLS in the program, in one place. */
struct tls {
	const struct libdeps *deps;	/* where ssl was found */
	int ssl;		/* index in deps of libssl, or -1 */
	bool ssl_ok;		/* a libssl the OpenSSL layer hooks, present */
	bool via_python;	/* loaded with Python's _ssl module */
	int gnutls;		/* index in f->deps of libgnutls.so.30, or -1 */
	bool gnutls_ok;		/* the libgnutls the GnuTLS layer hooks, present */
	int curl;		/* index in f->deps of libcurl, or -1 */
	bool inside;		/* TLS compiled into the program */
	bool others;		/* a TLS library the library does not hook */
	int other;		/* index in f->deps of the first of those, or -1 */
	bool go, node, bun;
};

static void put(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(char *dst, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, ASSESS_TEXT, fmt, ap);
	va_end(ap);
}

/* Append "; text" (or text) to dst. */
static void add(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(char *dst, const char *fmt, ...)
{
	size_t len = strlen(dst);
	va_list ap;
	if (len + 3 >= ASSESS_TEXT)
		return;
	if (len)
		len += (size_t)snprintf(dst + len, ASSESS_TEXT - len, "; ");
	va_start(ap, fmt);
	vsnprintf(dst + len, ASSESS_TEXT - len, fmt, ap);
	va_end(ap);
}

static void note(struct assessment *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct assessment *a, const char *fmt, ...)
{
	va_list ap;
	if (a->n_notes == ASSESS_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(a->notes[a->n_notes++], ASSESS_TEXT, fmt, ap);
	va_end(ap);
}

/* "libssl.so.3 (/lib/.../libssl.so.3, via libcurl.so.4)" */
static void describe(const struct libdeps *d, int i, const char *root, char *out, size_t size)
{
	const struct libdep *l = &d->v[i];
	snprintf(out, size, "%.100s (%.240s, %s %.100s)", l->name, l->path ? l->path : "NOT FOUND",
		 l->parent < 0 ? "needed by" : "via",
		 l->parent < 0 ? root : d->v[l->parent].name);
}

/*
 * librespan's dlopen leaves RTLD_DEEPBIND out on x86_64 only (its
 * interposer is a few instructions of x86_64 assembly); elsewhere dlopen is
 * not interposed. respan and librespan.so are built for the same machine.
 */
#if defined(__x86_64__)
#define DEEPBIND_HOOKED true
#define UNLESS_DEEPBIND ""
#else
#define DEEPBIND_HOOKED false
#define UNLESS_DEEPBIND ", unless loaded with RTLD_DEEPBIND"
#endif

static bool is_hooked_ssl(const char *name)
{
	return strcmp(name, "libssl.so.3") == 0 || strcmp(name, "libssl.so.1.1") == 0;
}

static bool hooked_gnutls(const struct libdeps *d, int i)
{
	return i >= 0 && d->v[i].path && strcmp(d->v[i].name, "libgnutls.so.30") == 0;
}

static bool hooked_ssl(const struct libdeps *d, int i)
{
	return i >= 0 && d->v[i].path && is_hooked_ssl(d->v[i].name);
}

/* ---- the facts, in words -------------------------------------------------------- */

static void kind_of(const struct prog_facts *f, struct assessment *a)
{
	const struct elfinfo *e = &f->elf;
	char m[32];
	const char *machine = elfinfo_machine_name(e->machine, m, sizeof(m));

	if (e->type != ET_EXEC && e->type != ET_DYN)
		put(a->kind, "ELF %d-bit %s %s", e->bits, machine,
		    e->type == ET_REL ? "object file" : e->type == ET_CORE ? "core dump" :
		    "file of an unknown type");
	else if (e->interp)
		put(a->kind, "ELF %d-bit %s, dynamically linked%s (interpreter %s)", e->bits,
		    machine, e->pie ? ", PIE" : "", e->interp);
	else if (e->type == ET_EXEC)
		put(a->kind, "ELF %d-bit %s, statically linked", e->bits, machine);
	else if (e->pie)
		put(a->kind, "ELF %d-bit %s, statically linked (static-pie)", e->bits, machine);
	else
		put(a->kind, "ELF %d-bit %s shared library without an interpreter", e->bits,
		    machine);
}

static void tls_facts(const struct prog_facts *f, struct assessment *a, struct tls *t)
{
	const char *const *others = progcheck_other_tls;
	const struct elfinfo *e = &f->elf;
	const struct libdeps *d = f->have_deps ? &f->deps : NULL;
	char text[ASSESS_TEXT];

	t->ssl = d ? libdeps_find(d, "libssl.so") : -1;
	t->deps = d;
	t->curl = d ? libdeps_find_any(d, progcheck_curl_libs) : -1;
	t->go = e->go;
	t->node = (e->syms & ELFSYM_NODE) != 0;
	t->bun = (e->strs & ELFSTR_BUN) != 0;
	if (t->ssl >= 0) {
		describe(d, t->ssl, "the program", text, sizeof(text));
		add(a->tls_libs, "%s", text);
	}
	if (t->ssl < 0 && f->have_py) {
		int i = libdeps_find(&f->py_deps, "libssl.so");
		const char *base = strrchr(f->py_ssl, '/');
		if (i >= 0) {
			t->ssl = i;
			t->deps = &f->py_deps;
			t->via_python = true;
			describe(&f->py_deps, i, base ? base + 1 : f->py_ssl, text, sizeof(text));
			add(a->tls_libs, "%s, loaded when Python imports ssl", text);
		}
	}
	t->ssl_ok = t->ssl >= 0 && hooked_ssl(t->deps, t->ssl);
	t->gnutls = d ? libdeps_find(d, "libgnutls.so.") : -1;
	t->gnutls_ok = hooked_gnutls(d, t->gnutls);
	for (int k = 0; d && others[k]; k++) {
		int i = libdeps_find(d, others[k]);
		if (i < 0)
			continue;
		if (i == t->gnutls && t->gnutls_ok) {	/* layer 5's */
			describe(d, i, "the program", text, sizeof(text));
			add(a->tls_libs, "%s", text);
			continue;
		}
		if (!t->others)
			t->other = i;
		t->others = true;
		describe(d, i, "the program", text, sizeof(text));
		add(a->tls_libs, "%s", text);
	}
	if (a->tls_libs[0] == '\0')
		put(a->tls_libs, "none");

	/* Text markers of a version mean little in a program that links OpenSSL. */
	bool links_ossl = t->ssl >= 0 || (d && libdeps_find(d, "libcrypto.so") >= 0);
	const struct elfinfo *py = f->have_py ? &f->py_elf : NULL;
	if (t->go)
		add(a->tls_inside, "Go's crypto/tls (a Go program)");
	if (t->bun)
		add(a->tls_inside, "looks like BoringSSL inside Bun");
	else if (e->strs & ELFSTR_BORINGSSL)
		add(a->tls_inside, "looks like BoringSSL (its name is in the file)");
	if (!links_ossl && (e->syms & ELFSYM_SSL_EXPORT))
		add(a->tls_inside, "%s (the program exports SSL_write)",
		    e->openssl_text[0] ? e->openssl_text : "OpenSSL");
	else if (!links_ossl && (e->strs & (ELFSTR_OPENSSL | ELFSTR_LIBRESSL)))
		add(a->tls_inside, "looks like %s (its version text is in the file)",
		    e->openssl_text);
	if (py && !t->ssl_ok && (py->strs & ELFSTR_OPENSSL))
		add(a->tls_inside, "looks like %s inside the _ssl module", py->openssl_text);
	if (e->strs & ELFSTR_RUSTLS)
		add(a->tls_inside, "looks like rustls (its name is in the file)");
	if (e->strs & ELFSTR_MBEDTLS)
		add(a->tls_inside, "looks like mbed TLS (its name is in the file)");
	if (e->strs & ELFSTR_WOLFSSL)
		add(a->tls_inside, "looks like wolfSSL (its name is in the file)");
	t->inside = a->tls_inside[0] != '\0';
	if (!t->inside)
		put(a->tls_inside, "none recognised");

	if (f->python)
		put(a->runtime, "Python %s", f->py_version[0] ? f->py_version : "3");
	else if (f->php)
		put(a->runtime, "PHP%s%s (it exports php_module_startup)",
		    e->php_version[0] ? " " : "", e->php_version);
	else if (t->go)
		put(a->runtime, "Go%s%s (%s)", e->go_version[0] ? " " : "", e->go_version,
		    e->go_how);
	else if (t->bun)
		put(a->runtime, "looks like Bun (bun:ffi and bun:jsc are in the file)");
	else if (t->node)
		put(a->runtime, "looks like Node.js (it exports node:: symbols)");
	else if (e->strs & ELFSTR_RUSTLS)
		put(a->runtime, "looks like Rust (rustls is in the file)");
}

/* ---- why librespan.so would never act ------------------------------------------- */

/* The reason (into a->blocked) and a short form for the verdict; false: none. */
static bool blocked(const struct prog_facts *f, const struct elfinfo *lib,
		    struct assessment *a, char *shrt, size_t size)
{
	const struct elfinfo *e = &f->elf;
	char m1[32], m2[32];

	if (f->chain_error[0]) {
		put(a->blocked, "it cannot start: %s", f->chain_error);
		snprintf(shrt, size, "its #! interpreter cannot be run");
	} else if (f->env_drops_preload) {
		put(a->blocked, "its #! line runs env with -i or -u LD_PRELOAD: the program "
		    "starts without LD_PRELOAD");
		snprintf(shrt, size, "env in its #! line removes LD_PRELOAD");
	} else if (f->elf_rc < 0) {
		put(a->blocked, "%s cannot be read: %s", f->exe, e->error);
		snprintf(shrt, size, "unreadable");
	} else if (f->elf_rc != ELF_OK) {
		put(a->blocked, "%s: %s%s", f->exe, e->error,
		    f->elf_rc == ELF_NOT_ELF ? ", and it has no #! line" : "");
		snprintf(shrt, size, "%s", f->elf_rc == ELF_NOT_ELF ? "not an ELF executable" :
			 f->elf_rc == ELF_TRUNCATED ? "truncated ELF file" :
			 f->elf_rc == ELF_CORRUPT ? "corrupt ELF file" : "unsupported ELF file");
	} else if (e->type != ET_EXEC && e->type != ET_DYN) {
		put(a->blocked, "it is not a program (%s)", a->kind);
		snprintf(shrt, size, "not a program");
	} else if (e->interp == NULL && e->type == ET_DYN && !e->pie) {
		put(a->blocked, "a shared library without an interpreter is not a program");
		snprintf(shrt, size, "not a program");
	} else if (e->interp == NULL) {
		put(a->blocked, "a static %sbinary: ld.so is not involved, so LD_PRELOAD is "
		    "never loaded", e->go ? "Go " : "");
		snprintf(shrt, size, "static %sbinary", e->go ? "Go " : "");
	} else if (!f->executable) {
		put(a->blocked, "%s is not executable by you: it cannot be started", f->exe);
		snprintf(shrt, size, "not executable");
	} else if (lib && (lib->bits != e->bits || lib->machine != e->machine)) {
		const char *pm = elfinfo_machine_name(e->machine, m1, sizeof(m1));
		const char *lm = elfinfo_machine_name(lib->machine, m2, sizeof(m2));
		put(a->blocked, "a %d-bit %s program, and librespan.so is %d-bit %s: ld.so skips "
		    "it (\"wrong ELF class\")", e->bits, pm, lib->bits, lm);
		snprintf(shrt, size, "%d-bit %s program, %d-bit %s librespan.so", e->bits, pm,
			 lib->bits, lm);
	} else if (f->secure) {
		const char *what = f->setuid ? "setuid" : f->setgid ? "setgid" :
				   "file capabilities";
		put(a->blocked, "%s: it runs in secure-execution mode, where librespan does "
		    "nothing (and ld.so loads only trusted preloads)", what);
		snprintf(shrt, size, "%s: secure execution, librespan does nothing", what);
	} else {
		return false;
	}
	return true;
}

/* ---- layers and verdict ------------------------------------------------------------ */

static bool is_hooked_tls(const char *name)
{
	return is_hooked_ssl(name) || strcmp(name, "libgnutls.so.30") == 0;
}

/* Its libcurl is one layer 2 acts on: libcurl.so.N on a hooked libssl. */
static bool routes_curl(const struct php_ext *x)
{
	return strncmp(x->curl, "libcurl.so.", 11) == 0 && is_hooked_ssl(x->tls);
}

/*
 * The PHP extension layer 2 (curl) or the TLS layers (!curl) would act on:
 * one whose libcurl and libssl are both hooked first, else the first that
 * brings a libcurl (curl) or a hooked TLS library; NULL: none. Extensions
 * missing a library are left out: they would not load.
 */
static const struct php_ext *php_pick(const struct prog_facts *f, bool curl)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; f->php && i < f->n_php_ext; i++) {
			const struct php_ext *x = &f->php_ext[i];
			if (x->missing[0] == '\0' && (pass == 0 ? routes_curl(x) : curl ?
			    x->curl[0] != '\0' : is_hooked_tls(x->tls)))
				return x;
		}
	}
	return NULL;
}

/* Layer 2 for a PHP whose libcurl comes with an extension (RTLD_DEEPBIND). */
static void php_curl_layer(const struct config *cfg, const char *off, const struct php_ext *x,
			   struct assessment *a)
{
	char *why = a->layer[LAYER_CURL].why;

	if (off && cfg->mode != RESPAN_MODE_ROUTE) {
		put(why, "%s", off);
	} else if (!DEEPBIND_HOOKED) {
		put(why, "PHP's %s brings %s with RTLD_DEEPBIND, which librespan leaves as it is "
		    "on this machine: its calls go to libcurl directly", x->file, x->curl);
	} else if (off) {
		put(why, "%s (%s, brought by PHP's %s)", off, x->curl, x->file);
	} else if (strncmp(x->curl, "libcurl-gnutls.so.", 18) == 0 &&
		   strcmp(x->tls, "libgnutls.so.30") == 0) {
		put(why, "%s, brought by PHP's %s: its TLS is GnuTLS, so its URLs are left alone "
		    "and the resolver and GnuTLS layers route its connections", x->curl, x->file);
	} else if (!routes_curl(x)) {
		put(why, "%s, brought by PHP's %s: its TLS is not a libssl the OpenSSL layer "
		    "hooks, so its URLs are left alone", x->curl, x->file);
	} else {
		a->layer[LAYER_CURL].can = true;
		put(why, "%s with %s, brought by PHP's %s once PHP loads it (RTLD_DEEPBIND left "
		    "out): provider URLs become router URLs", x->curl, x->tls, x->file);
	}
}

/*
 * Layers 3 and 4 or 5 for a PHP with no hooked TLS library of its own whose
 * extension x brings one (x86_64 only: elsewhere RTLD_DEEPBIND keeps it
 * from the hooks).
 */
static void php_tls_layers(const struct config *cfg, const char *off, const struct php_ext *x,
			   struct assessment *a)
{
	bool gnutls = strcmp(x->tls, "libgnutls.so.30") == 0;
	int layer = gnutls ? LAYER_GNUTLS : LAYER_OPENSSL;

	if (off) {
		put(a->layer[LAYER_RESOLVER].why, "%s", off);
	} else {
		a->layer[LAYER_RESOLVER].can = true;
		put(a->layer[LAYER_RESOLVER].why, "%s comes with PHP's %s, so provider names "
		    "resolve to the router once PHP loads it", x->tls, x->file);
	}
	a->layer[layer].can = cfg->mode != RESPAN_MODE_OFF;
	if (cfg->mode == RESPAN_MODE_OFF)
		put(a->layer[layer].why, "RESPAN_MODE=off");
	else
		put(a->layer[layer].why, "%s, brought by PHP's %s (RTLD_DEEPBIND left out)%s%s%s",
		    x->tls, x->file, off ? "; it logs, but does not route (" : "",
		    off ? off : "", off ? ")" : "");
}

/* Why the library changes nothing under cfg, or NULL when it routes. */
static const char *off_reason(const struct config *cfg)
{
	return cfg->mode == RESPAN_MODE_OFF ? "RESPAN_MODE=off" :
	       cfg->mode == RESPAN_MODE_CAPTURE ? "capture mode changes nothing" :
	       cfg->api_key == NULL ? "RESPAN_API_KEY is not set" : NULL;
}

static void layers(const struct config *cfg, const struct prog_facts *f,
		   const struct tls *t, struct assessment *a)
{
	const char *off = off_reason(cfg);
	bool dl = (f->elf.syms & ELFSYM_DLOPEN) != 0;
	const struct php_ext *x;
	char text[ASSESS_TEXT];

	/* 1: environment */
	if (off) {
		put(a->layer[LAYER_ENV].why, "%s", off);
	} else if (t->go) {
		put(a->layer[LAYER_ENV].why, "only under respan run: Go copies its environment "
		    "from the process's initial stack, so variables librespan.so adds inside "
		    "the process are likely not seen; respan run sets them before PROGRAM "
		    "starts");
	} else {
		a->layer[LAYER_ENV].can = true;
		put(a->layer[LAYER_ENV].why, "the SDK base-URL and key variables are set "
		    "before main(); they matter to programs that read them (OpenAI, "
		    "Anthropic and Google SDKs, Claude Code)");
	}

	/* 2: libcurl */
	if (t->curl >= 0) {
		describe(&f->deps, t->curl, "the program", text, sizeof(text));
		bool plain = strncmp(f->deps.v[t->curl].name, "libcurl.so.", 11) == 0;
		if (off && cfg->mode != RESPAN_MODE_ROUTE) {
			put(a->layer[LAYER_CURL].why, "%s", off);
		} else if (off) {
			put(a->layer[LAYER_CURL].why, "%s (%s)", off, text);
		} else if (!plain && t->gnutls_ok &&
			   strncmp(f->deps.v[t->curl].name, "libcurl-gnutls.so.", 18) == 0) {
			put(a->layer[LAYER_CURL].why, "%s: its TLS is GnuTLS, so its URLs are left "
			    "alone and the resolver and GnuTLS layers route its connections", text);
		} else if (!plain || !t->ssl_ok) {
			put(a->layer[LAYER_CURL].why, "%s: its TLS is not a libssl the OpenSSL layer "
			    "hooks, so its URLs are left alone (nothing could swap the credential or "
			    "log the exchange); a not_routed event says so", text);
		} else {
			a->layer[LAYER_CURL].can = true;
			put(a->layer[LAYER_CURL].why, "%s: provider URLs become router URLs", text);
		}
	} else if (f->elf.syms & ELFSYM_CURL_EXPORT) {
		put(a->layer[LAYER_CURL].why, "libcurl is compiled into the program (it exports "
		    "curl_easy_setopt): its calls do not go through the hook");
	} else if ((x = php_pick(f, true)) != NULL) {
		php_curl_layer(cfg, off, x, a);
	} else {
		put(a->layer[LAYER_CURL].why, "libcurl is not linked%s", dl ?
		    " (a libcurl loaded later with dlopen would be covered" UNLESS_DEEPBIND ")" :
		    "");
	}

	/* 5: GnuTLS */
	if (t->gnutls_ok) {
		describe(&f->deps, t->gnutls, "the program", text, sizeof(text));
		a->layer[LAYER_GNUTLS].can = cfg->mode != RESPAN_MODE_OFF;
		if (cfg->mode == RESPAN_MODE_OFF)
			put(a->layer[LAYER_GNUTLS].why, "RESPAN_MODE=off");
		else
			put(a->layer[LAYER_GNUTLS].why, "%s%s%s%s", text,
			    off ? "; it logs, but does not route (" : "", off ? off : "",
			    off ? ")" : "");
	} else if (t->gnutls >= 0) {
		put(a->layer[LAYER_GNUTLS].why, "%s is not the libgnutls it hooks "
		    "(libgnutls.so.30)%s", f->deps.v[t->gnutls].name,
		    f->deps.v[t->gnutls].path ? "" : ", and ld.so would not find it");
	} else {
		put(a->layer[LAYER_GNUTLS].why, "no libgnutls is linked%s", dl ?
		    " (a libgnutls loaded later with dlopen would be covered" UNLESS_DEEPBIND ")" :
		    "");
	}

	/* 3: resolver, 4: OpenSSL */
	if (t->gnutls_ok && !t->ssl_ok) {
		if (off) {
			put(a->layer[LAYER_RESOLVER].why, "%s", off);
		} else {
			a->layer[LAYER_RESOLVER].can = true;
			put(a->layer[LAYER_RESOLVER].why, "libgnutls is loaded, so provider names "
			    "resolve to the router");
		}
	}
	if (t->ssl_ok) {
		describe(t->deps, t->ssl, t->via_python ? "the _ssl module" : "the program",
			 text, sizeof(text));
		if (off) {
			put(a->layer[LAYER_RESOLVER].why, "%s", off);
		} else {
			a->layer[LAYER_RESOLVER].can = true;
			put(a->layer[LAYER_RESOLVER].why, "libssl is loaded%s%s, so provider names "
			    "resolve to the router", t->gnutls_ok ? " (and libgnutls)" : "",
			    t->via_python ? " once Python imports ssl (http.client, urllib, "
			    "requests, httpx, aiohttp all do)" : "");
		}
		a->layer[LAYER_OPENSSL].can = cfg->mode != RESPAN_MODE_OFF;
		if (cfg->mode == RESPAN_MODE_OFF)
			put(a->layer[LAYER_OPENSSL].why, "RESPAN_MODE=off");
		else
			put(a->layer[LAYER_OPENSSL].why, "%s%s%s%s%s", text, t->via_python ?
			    ": dlopen'ed RTLD_LOCAL with _ssl, found by handle" : "",
			    off ? "; it logs, but does not route (" : "", off ? off : "",
			    off ? ")" : "");
		return;
	}
	if (!t->gnutls_ok)
		put(a->layer[LAYER_RESOLVER].why, "no libssl or libgnutls the TLS layers hook is "
		    "loaded, so provider names resolve as usual");
	if (t->ssl >= 0 && t->deps->v[t->ssl].path == NULL)
		put(a->layer[LAYER_OPENSSL].why, "%s is needed, but ld.so would not find it",
		    t->deps->v[t->ssl].name);
	else if (t->ssl >= 0)
		put(a->layer[LAYER_OPENSSL].why, "%s is not a libssl it hooks (libssl.so.3, "
		    "libssl.so.1.1)", t->deps->v[t->ssl].name);
	else if (t->inside)
		put(a->layer[LAYER_OPENSSL].why, "TLS is compiled in: %s", a->tls_inside);
	else if (t->others || t->gnutls_ok)
		put(a->layer[LAYER_OPENSSL].why, "its TLS library is not OpenSSL: %s",
		    a->tls_libs);
	else
		put(a->layer[LAYER_OPENSSL].why, "no libssl is linked%s", dl ?
		    " (a libssl loaded later with dlopen would be covered" UNLESS_DEEPBIND ")" :
		    "");
	if (!t->gnutls_ok && DEEPBIND_HOOKED && (x = php_pick(f, false)) != NULL)
		php_tls_layers(cfg, off, x, a);

}

/* 6: the library's relay; hooks/lazyrelay.c decides the same at start-up. */
static void relay_layer(const struct config *cfg, const struct tls *t, struct assessment *a)
{
	const char *off = off_reason(cfg);
	bool at_start = (t->ssl_ok && !t->via_python) || t->gnutls_ok;
	if (off) {
		put(a->layer[LAYER_RELAY].why, "%s", off);
	} else if (t->go) {
		put(a->layer[LAYER_RELAY].why, "Go makes its system calls itself, past the "
		    "connect() hook: only respan run's relay reaches it");
	} else if (at_start) {
		put(a->layer[LAYER_RELAY].why, "not needed: %s is loaded from the start, so "
		    "the base URLs name the router and its sessions are logged in process",
		    t->ssl_ok ? "libssl" : "libgnutls");
	} else {
		a->layer[LAYER_RELAY].can = true;
		put(a->layer[LAYER_RELAY].why, "the base URLs name the library's relay by a "
		    "stand-in address (RESPAN_RELAY); the first call starts respan "
		    "relay-serve, which routes and logs the calls (layer relay)%s%s",
		    t->via_python ? "; Python's own HTTPS calls go through the OpenSSL layer" :
		    cfg->intercept == RESPAN_INTERCEPT_AUTO ? "; calls by a provider's own URL "
		    "are intercepted there with the local CA (RESPAN_INTERCEPT=auto)" : "",
		    !t->via_python && cfg->intercept == RESPAN_INTERCEPT_OFF ?
		    "; calls by a provider's own URL are not (RESPAN_INTERCEPT=off)" : "");
	}
}

/* ---- libraries loaded later ------------------------------------------------------- */

/* "curl.so (libcurl.so.4 with libssl.so.3)" and what keeps it from the hooks. */
static void php_ext_words(const struct php_ext *x, char *out, size_t size)
{
	const char *tls = x->tls[0] ? x->tls : x->imports_ssl ? "the program's libssl" : "";
	bool unhooked = x->tls[0] && !is_hooked_tls(x->tls);

	snprintf(out, size, "%s (%s%s%s%s%s%s%s)", x->file, x->curl,
		 x->curl[0] && tls[0] ? " with " : "", tls,
		 unhooked ? ", which no layer hooks" : "",
		 x->missing[0] ? "; ld.so would not find " : "", x->missing,
		 x->missing[0] ? ", so it would not load" : "");
}

/*
 * What happens to libraries the program loads with dlopen (a->dlopen), and
 * for PHP, which of its extensions (all loaded RTLD_DEEPBIND) bring libcurl
 * or TLS (a->php_ext).
 */
static void later_loads(const struct config *cfg, const struct prog_facts *f,
			struct assessment *a)
{
	bool off = cfg->mode == RESPAN_MODE_OFF;
	const char *dir = f->elf.php_ext_dir;
	char *out = a->php_ext;
	size_t len;

	if (off)
		put(a->dlopen, "RESPAN_MODE=off: nothing is hooked, libraries loaded later "
		    "included");
	else if (DEEPBIND_HOOKED)
		put(a->dlopen, "libraries it loads later with dlopen are hooked like linked "
		    "ones, RTLD_DEEPBIND ones too: librespan's dlopen leaves that flag out "
		    "(dlmopen's other namespaces are never reached)");
	else
		put(a->dlopen, "libraries it loads later with dlopen are hooked like linked "
		    "ones, except RTLD_DEEPBIND ones: on this machine librespan does not "
		    "interpose dlopen, so they bind to their own libraries first and no hook "
		    "sees their calls (dlmopen's other namespaces are never reached)");
	if (!(f->elf.syms & ELFSYM_DLOPEN))
		a->dlopen[0] = '\0';
	if (!f->php)
		return;

	const char *how = off ? " (RESPAN_MODE=off: not hooked)" : DEEPBIND_HOOKED ?
			  ": hooked all the same, dlopen leaves the flag out" :
			  ": not hooked on this machine (librespan does not interpose dlopen "
			  "here), so no hook sees their calls";
	if (dir[0] == '\0') {
		snprintf(out, ASSESS_LONG, "PHP loads its extensions with RTLD_DEEPBIND%s; no "
			 "extension directory found in the file, so none are listed", how);
		return;
	}
	len = (size_t)snprintf(out, ASSESS_LONG, "PHP loads them from %s (built in; php.ini "
			       "may name another) with RTLD_DEEPBIND%s", dir, how);
	if (f->php_dir_rc < 0) {
		snprintf(out + len, ASSESS_LONG - len, "; the directory cannot be read: %s",
			 strerror(-f->php_dir_rc));
		return;
	}
	size_t with = f->n_php_ext + f->php_ext_more;
	if (with == 0) {
		snprintf(out + len, ASSESS_LONG - len, "; none of its %zu brings libcurl or TLS",
			 f->php_looked);
	} else {
		len += (size_t)snprintf(out + len, ASSESS_LONG - len, "; %zu of %zu bring%s "
					"libcurl or TLS: ", with, f->php_looked,
					with == 1 ? "s" : "");
		for (size_t i = 0; i < f->n_php_ext && len < ASSESS_LONG; i++) {
			char words[300];
			php_ext_words(&f->php_ext[i], words, sizeof(words));
			len += (size_t)snprintf(out + len, ASSESS_LONG - len, "%s%s",
						i ? ", " : "", words);
		}
		if (f->php_ext_more && len < ASSESS_LONG)
			len += (size_t)snprintf(out + len, ASSESS_LONG - len, ", and %zu more",
						f->php_ext_more);
	}
	if (f->php_looked < f->php_files && len < ASSESS_LONG)
		snprintf(out + len, ASSESS_LONG - len, " (%zu of its %zu files looked at)",
			 f->php_looked, f->php_files);
}

/* A shell runs a script's real work as other programs. */
static bool is_shell(const struct prog_facts *f)
{
	static const char *const shells[] = { "sh", "bash", "dash", "zsh", "ksh", "mksh",
					      "ash", "busybox", "fish", NULL };
	const char *path = f->exe_real[0] ? f->exe_real : f->exe;
	const char *base = strrchr(path, '/');
	for (int i = 0; shells[i]; i++)
		if (strcmp(base ? base + 1 : path, shells[i]) == 0)
			return true;
	return false;
}

static void verdict(const struct config *cfg, const struct prog_facts *f,
		    const struct tls *t, struct assessment *a)
{
	bool routing = cfg->mode == RESPAN_MODE_ROUTE && cfg->api_key;
	const char *why = cfg->mode == RESPAN_MODE_CAPTURE ? "RESPAN_MODE=capture" :
			  "RESPAN_API_KEY is not set";
	const struct php_ext *x;

	if (cfg->mode == RESPAN_MODE_OFF) {
		put(a->verdict, "nothing routed or logged (RESPAN_MODE=off)");
	} else if (t->ssl_ok || t->gnutls_ok) {
		/*
		 * GnuTLS is named when the program needs it itself, or has no
		 * libssl: one pulled in by another library next to libssl (curl's
		 * librtmp) is not what its calls go through.
		 */
		bool gt = t->gnutls_ok && (!t->ssl_ok || f->deps.v[t->gnutls].parent < 0);
		const char *names = a->layer[LAYER_CURL].can ?
			(gt ? "libcurl, OpenSSL and GnuTLS layers" : "libcurl and OpenSSL layers") :
			t->ssl_ok && gt ? "OpenSSL and GnuTLS layers" :
			t->ssl_ok ? "OpenSSL layer" : "GnuTLS layer";
		if (!routing)
			put(a->verdict, "logged in-process, not routed (%s)", why);
		else if (t->via_python)
			put(a->verdict, "routed in-process (OpenSSL layer, libssl loaded by "
			    "Python's _ssl module)");
		else
			put(a->verdict, "routed in-process (%s)", names);
	} else if (DEEPBIND_HOOKED && (x = php_pick(f, false)) != NULL) {
		/* No TLS of its own (openssl built as an extension): an extension brings it. */
		bool gnutls = strcmp(x->tls, "libgnutls.so.30") == 0;
		bool curl = a->layer[LAYER_CURL].can;
		if (!routing)
			put(a->verdict, "logged in-process, not routed (%s)", why);
		else
			put(a->verdict, "routed in-process (%s, %s loaded by PHP's %s)",
			    curl ? "libcurl and OpenSSL layers" : gnutls ? "GnuTLS layer" :
			    "OpenSSL layer", curl ? "libcurl and libssl" : gnutls ? "libgnutls" :
			    "libssl", x->file);
	} else if (t->inside || t->others || t->ssl >= 0) {
		const char *what = t->inside ? "TLS compiled in" :
				   "TLS not through a hooked libssl or libgnutls";
		if (routing && t->go)
			put(a->verdict, "routed via environment only, and only under respan run "
			    "(%s; Go does not see variables set inside the process)", what);
		else if (routing)
			put(a->verdict, "routed via environment, logged by the library's relay "
			    "(%s)", what);
		else
			put(a->verdict, "not routed (%s; %s): the environment layer needs route "
			    "mode and a key", what, why);
	} else if (f->n_hops && is_shell(f)) {
		put(a->verdict, "nothing to route in the shell itself: run respan doctor on the "
		    "programs the script starts (LD_PRELOAD reaches them)");
	} else {
		put(a->verdict, "nothing to route found (no TLS library linked, no TLS compiled "
		    "in recognised)%s", (f->elf.syms & ELFSYM_DLOPEN) ?
		    "; a libssl it loads later with dlopen would be covered" UNLESS_DEEPBIND : "");
	}
}

/*
 * The CLIs layer 1 treats apart (envlayer.h): what the library does to them
 * instead of the base URLs, in place of the generic layer 1 and relay rows
 * and verdict. Only where those said the relay acts (node, TLS compiled in).
 */
static void known_client(const struct config *cfg, const struct prog_facts *f,
			 struct assessment *a)
{
	bool gemini = f->client == ENVLAYER_GEMINI_CLI;
	if (f->client == ENVLAYER_ANY)
		return;
	put(a->client, "%s (%s)", gemini ? "the Gemini CLI, @google/gemini-cli" :
	    "the Codex CLI, @openai/codex", f->client_script);
	if (!a->layer[LAYER_RELAY].can || !a->layer[LAYER_ENV].can)
		return;
	bool intercept = cfg->intercept == RESPAN_INTERCEPT_AUTO;
	if (gemini) {
		put(a->layer[LAYER_ENV].why, "the Gemini CLI: GOOGLE_GEMINI_BASE_URL is not set "
		    "(it would switch the CLI to its \"gateway\" auth, which its -p mode refuses "
		    "with exit 41)%s", intercept ? "; GEMINI_API_KEY gets the Respan key" :
		    ", and the Respan key is taken back from GEMINI_API_KEY and GOOGLE_API_KEY");
	} else {
		put(a->layer[LAYER_ENV].why, "the Codex CLI: a node launcher that starts a "
		    "static binary, which reads no OPENAI_* variable; %s", intercept ?
		    "the launcher's environment gets HTTPS_PROXY (the relay) and SSL_CERT_FILE "
		    "(its CAs and the local CA) for it" : "nothing is set");
	}
	if (!intercept) {
		a->layer[LAYER_ENV].can = a->layer[LAYER_RELAY].can = false;
		put(a->layer[LAYER_RELAY].why, "calls by a provider's own URL are not "
		    "intercepted (RESPAN_INTERCEPT=off)");
		put(a->verdict, "not routed (%s; RESPAN_INTERCEPT=off): %s; a not_routed event "
		    "says so", gemini ? "the Gemini CLI: a base URL would change its auth mode" :
		    "the Codex CLI: its binary is static and reads no base-URL variable", gemini ?
		    "nothing is set for Google, so it calls Google with its own key (bypass "
		    "events), or, where a parent's layer 1 had replaced that key, stops asking "
		    "for one" : "its calls go to the provider unseen");
		return;
	}
	put(a->layer[LAYER_RELAY].why, "%s", gemini ?
	    "the CLI calls generativelanguage.googleapis.com by its own URL; the resolver "
	    "sends it to the relay (the library's, started on the first call, or respan "
	    "run's), which answers with the local CA, routes and logs the calls (layer relay)" :
	    "the binary reaches api.openai.com through HTTPS_PROXY, the relay (the "
	    "library's, started when the launcher starts, or respan run's), which answers "
	    "with the local CA, routes and logs the calls (layer relay) and passes other "
	    "hosts on");
	put(a->verdict, "routed by interception, logged by the library's relay (%s)", gemini ?
	    "the Gemini CLI: TLS compiled in, no base URL set" :
	    "the Codex CLI: its static binary uses the relay as HTTPS_PROXY");
}

void assess_program(const struct config *cfg, const struct prog_facts *f,
		    const struct elfinfo *lib, struct assessment *a)
{
	struct tls t = { NULL, -1, false, false, -1, false, -1, false, false, -1,
			 false, false, false };
	char shrt[200];

	memset(a, 0, sizeof(*a));
	if (f->elf_rc == ELF_OK)
		kind_of(f, a);
	if (blocked(f, lib, a, shrt, sizeof(shrt))) {
		bool routing = cfg->mode == RESPAN_MODE_ROUTE && cfg->api_key;
		for (int i = 0; i < LAYER_COUNT; i++)
			put(a->layer[i].why, "librespan.so never acts here");
		bool is_static = f->elf_rc == ELF_OK && f->elf.interp == NULL &&
				 (f->elf.type == ET_EXEC || f->elf.pie) && !f->chain_error[0] &&
				 !f->env_drops_preload;
		if (is_static && routing)
			put(a->layer[LAYER_ENV].why, "librespan.so is not loaded; respan run sets "
			    "the same variables itself before PROGRAM starts");
		if (is_static)
			put(a->verdict, "cannot be routed (%s): LD_PRELOAD is not loaded%s", shrt,
			    routing ? "; respan run sets the base-URL variables for it" : "");
		else
			put(a->verdict, "cannot be routed (%s)", shrt);
		if (f->elf_rc == ELF_OK)
			tls_facts(f, a, &t);
		return;
	}
	tls_facts(f, a, &t);
	layers(cfg, f, &t, a);
	relay_layer(cfg, &t, a);
	later_loads(cfg, f, a);
	verdict(cfg, f, &t, a);
	known_client(cfg, f, a);

	for (size_t i = 0; f->have_deps && i < f->deps.n; i++)
		if (f->deps.v[i].path == NULL) {
			note(a, "ld.so may not find %s (not in its search path as doctor reads "
			     "it): the program would not start", f->deps.v[i].name);
			break;
		}
	if (f->deps.capped)
		note(a, "more than %d libraries: the rest were not looked at", LIBDEPS_MAX);
	bool hooked = t.ssl_ok || t.gnutls_ok;
	if (cfg->mode == RESPAN_MODE_ROUTE && (t.inside || t.others) && !hooked && t.go)
		note(a, "egress audit: Go writes to sockets with its own system calls, so "
		     "calls that ignore the base URL are likely not seen (no bypass event)");
	else if (cfg->mode == RESPAN_MODE_ROUTE && (t.inside || t.others) && !hooked)
		note(a, "egress audit: a call to a provider that ignores the base URL shows up "
		     "as a bypass event%s", cfg->fail == RESPAN_FAIL_CLOSED ?
		     ", and is refused (RESPAN_FAIL=closed)" : " (refused with RESPAN_FAIL=closed)");
	if (hooked && t.inside)
		note(a, "it also has TLS compiled in, which the library cannot see: %s",
		     a->tls_inside);
	if (!DEEPBIND_HOOKED && f->php && f->n_php_ext && cfg->mode != RESPAN_MODE_OFF)
		note(a, "PHP's extensions keep RTLD_DEEPBIND on this machine: calls made through "
		     "%s%s are neither routed nor logged, and the egress audit does not see them",
		     f->php_ext[0].file, f->n_php_ext + f->php_ext_more > 1 ?
		     " and the others listed" : "");
	if (hooked && t.others) {
		const struct libdep *o = &f->deps.v[t.other];
		note(a, "%s is loaded too (%s %s): connections made through it are not seen, "
		     "only %s", o->name, t.ssl_ok && t.gnutls_ok ? "libssl's and libgnutls's" :
		     t.ssl_ok ? "libssl's" : "libgnutls's", o->parent < 0 ? "needed by" : "via",
		     o->parent < 0 ? "the program" : f->deps.v[o->parent].name);
	}
}

const char *assess_layer_name(int layer)
{
	static const char *const names[] = { "environment", "libcurl", "resolver", "OpenSSL",
					     "GnuTLS", "relay" };
	return layer >= 0 && layer < LAYER_COUNT ? names[layer] : "?";
}
