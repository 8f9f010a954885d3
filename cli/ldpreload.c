#include "ldpreload.h"

#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == ':';
}

/* The file-name part of (p, len). */
static void base_of(const char *p, size_t len, const char **b, size_t *blen)
{
	size_t i = len;
	while (i > 0 && p[i - 1] != '/')
		i--;
	*b = p + i;
	*blen = len - i;
}

bool ldpreload_is_ours(const char *entry, size_t len)
{
	const char *b;
	size_t bl;
	base_of(entry, len, &b, &bl);
	return bl == strlen(LDPRELOAD_LIB_NAME) && memcmp(b, LDPRELOAD_LIB_NAME, bl) == 0;
}

/* ASan/TSan/UBSan runtimes (gcc's libasan.so.8, clang's libclang_rt.asan-x86_64.so). */
static bool is_sanitizer(const char *entry, size_t len)
{
	static const char *const names[] = { "libasan.so", "libtsan.so", "libubsan.so",
					     "libclang_rt." };
	const char *b;
	size_t bl;
	base_of(entry, len, &b, &bl);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (bl >= n && memcmp(b, names[i], n) == 0)
			return true;
	}
	return false;
}

/* Appends with a sticky overflow flag. */
struct out {
	char *p;
	size_t size, len;
	bool over;
};

static void add(struct out *o, const char *s, size_t n)
{
	if (o->over)
		return;
	size_t need = n + (o->len ? 1 : 0);
	if (o->len + need >= o->size) {
		o->over = true;
		return;
	}
	if (o->len)
		o->p[o->len++] = ':';
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* The next entry of list at *pos; false at the end. */
static bool next_entry(const char *list, size_t *pos, const char **e, size_t *len)
{
	size_t i = *pos;
	while (list[i] && is_sep(list[i]))
		i++;
	if (!list[i])
		return false;
	size_t start = i;
	while (list[i] && !is_sep(list[i]))
		i++;
	*e = list + start;
	*len = i - start;
	*pos = i;
	return true;
}

int ldpreload_compose(const char *lib, const char *existing, char *out, size_t size)
{
	struct out o = { out, size, 0, false };
	const char *e;
	size_t n, pos = 0;

	if (size == 0)
		return -1;
	out[0] = '\0';
	for (const char *c = lib; *c; c++)
		if (is_sep(*c))
			return -1;
	if (existing == NULL)
		existing = "";
	/* Leading sanitizer runtimes first. */
	size_t after = 0;
	while (next_entry(existing, &pos, &e, &n) && is_sanitizer(e, n)) {
		add(&o, e, n);
		after = pos;
	}
	add(&o, lib, strlen(lib));
	pos = after;
	while (next_entry(existing, &pos, &e, &n))
		if (!ldpreload_is_ours(e, n))
			add(&o, e, n);
	return o.over ? -1 : 0;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

#ifdef SANITIZER_BUILD
/* The ASan or TSan runtime among the loaded objects (what respan runs on). */
static int find_runtime(struct dl_phdr_info *info, size_t size, void *arg)
{
	static const char *const names[] = { "libasan.so", "libtsan.so",
					     "libclang_rt.asan", "libclang_rt.tsan" };
	(void)size;
	const char *name = info->dlpi_name, *b;
	size_t bl;
	if (name == NULL || name[0] != '/')
		return 0;
	base_of(name, strlen(name), &b, &bl);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(b, names[i], strlen(names[i])) == 0) {
			*(const char **)arg = name;
			return 1;
		}
	return 0;
}

const char *ldpreload_own_runtime(const char *existing, char *out, size_t size)
{
	const char *runtime = NULL, *e;
	size_t n, pos = 0;
	if (existing && next_entry(existing, &pos, &e, &n) && is_sanitizer(e, n))
		return existing;
	dl_iterate_phdr(find_runtime, &runtime);
	if (runtime == NULL || snprintf(out, size, "%s:%s", runtime,
					existing ? existing : "") >= (int)size)
		return existing;
	return out;
}
#else
const char *ldpreload_own_runtime(const char *existing, char *out, size_t size)
{
	(void)out;
	(void)size;
	return existing;
}
#endif

int ldpreload_strip(const char *existing, char *out, size_t size)
{
	struct out o = { out, size, 0, false };
	const char *e;
	size_t n, pos = 0;

	if (size == 0)
		return -1;
	out[0] = '\0';
	while (existing && next_entry(existing, &pos, &e, &n))
		if (!ldpreload_is_ours(e, n))
			add(&o, e, n);
	return o.over ? -1 : 0;
}

static bool usable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

int ldpreload_find_library(const char *env_library, char *out, size_t size,
			   char *err, size_t errsize)
{
	char exe[PATH_MAX], path[PATH_MAX + 32], real[PATH_MAX];

	if (env_library && env_library[0]) {
		if (!usable(env_library) || realpath(env_library, real) == NULL) {
			snprintf(err, errsize, "RESPAN_LIBRARY=%.600s: not a readable file",
				 env_library);
			return -1;
		}
		goto found;
	}
	if (realpath("/proc/self/exe", exe) == NULL) {
		snprintf(err, errsize, "cannot find the respan binary (/proc/self/exe)");
		return -1;
	}
	char *slash = strrchr(exe, '/');
	*slash = '\0';
	/* Installed (PREFIX/lib/respan), an older install (PREFIX/lib), build/. */
	snprintf(path, sizeof(path), "%s/../lib/respan/" LDPRELOAD_LIB_NAME, exe);
	if (usable(path) && realpath(path, real))
		goto found;
	snprintf(path, sizeof(path), "%s/../lib/" LDPRELOAD_LIB_NAME, exe);
	if (usable(path) && realpath(path, real))
		goto found;
	snprintf(path, sizeof(path), "%s/" LDPRELOAD_LIB_NAME, exe);
	if (usable(path) && realpath(path, real))
		goto found;
	snprintf(err, errsize,
		 "cannot find " LDPRELOAD_LIB_NAME " in %.400s/../lib/respan, ../lib or %.400s; "
		 "set RESPAN_LIBRARY to its path", exe, exe);
	return -1;
found:
	if (strlen(real) >= size) {
		snprintf(err, errsize, "library path too long");
		return -1;
	}
	memcpy(out, real, strlen(real) + 1);
	return 0;
}
