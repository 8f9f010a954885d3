#include "libdeps.h"

#include <elf.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIRS 64
#define CONF_DEPTH 4
#define LD_SO_CONF "/etc/ld.so.conf"

struct dirs {
	char *v[MAX_DIRS];
	size_t n;
};

/* How an object searches for what it needs (the program's, or a library's). */
struct search {
	char *rpath, *runpath;
	char *dollar_origin;	/* ELF's $ORIGIN: the directory the object is in */
};

struct ctx {
	const struct elfinfo *obj;	/* the object resolved: class, machine */
	struct search prog;		/* its own search settings */
	struct search lib[LIBDEPS_MAX];
	struct dirs env, conf, fixed;	/* LD_LIBRARY_PATH, ld.so.conf, defaults */
	int err;
};

static void dirs_add(struct ctx *c, struct dirs *d, const char *s, size_t len)
{
	if (len == 0 || d->n == MAX_DIRS)
		return;
	for (size_t i = 0; i < d->n; i++)
		if (strlen(d->v[i]) == len && memcmp(d->v[i], s, len) == 0)
			return;
	char *copy = strndup(s, len);
	if (copy == NULL) {
		c->err = -ENOMEM;
		return;
	}
	d->v[d->n++] = copy;
}

static void dirs_free(struct dirs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	d->n = 0;
}

/* Multiarch directory name of the object's kind, or NULL. */
static const char *triplet(const struct elfinfo *o)
{
	switch (o->machine) {
	case EM_X86_64:
		return o->bits == 64 ? "x86_64-linux-gnu" : "x86_64-linux-gnux32";
	case EM_386:
		return "i386-linux-gnu";
	case EM_AARCH64:
		return "aarch64-linux-gnu";
	case EM_ARM:
		return "arm-linux-gnueabihf";
	case EM_RISCV:
		return "riscv64-linux-gnu";
	case EM_PPC64:
		return "powerpc64le-linux-gnu";
	case EM_S390:
		return "s390x-linux-gnu";
	}
	return NULL;
}

/* $ORIGIN, $LIB, $PLATFORM (also in braces) of one path element. */
static void expand(const struct ctx *c, const char *dollar_origin, const char *in,
		   size_t len, char *out, size_t size)
{
	static const char *const names[] = { "ORIGIN", "LIB", "PLATFORM" };
	char lib[64];
	const char *t = triplet(c->obj);
	const char *values[3] = { dollar_origin ? dollar_origin : ".", lib,
				  c->obj->machine == EM_X86_64 ? "x86_64" :
				  c->obj->machine == EM_386 ? "i686" :
				  c->obj->machine == EM_AARCH64 ? "aarch64" : "" };
	size_t o = 0;

	if (t)
		snprintf(lib, sizeof(lib), "lib/%s", t);
	else
		snprintf(lib, sizeof(lib), "%s", c->obj->bits == 64 ? "lib64" : "lib");
	for (size_t i = 0; i < len && o + 1 < size;) {
		size_t skip = 0, k = 0;
		for (; in[i] == '$' && k < 3 && !skip; k++) {
			size_t n = strlen(names[k]);
			bool brace = i + 1 < len && in[i + 1] == '{';
			size_t at = i + 1 + (brace ? 1 : 0);
			if (at + n <= len && memcmp(in + at, names[k], n) == 0 &&
			    (!brace || (at + n < len && in[at + n] == '}')))
				skip = at + n + (brace ? 1 : 0) - i;
		}
		if (skip) {
			o += (size_t)snprintf(out + o, size - o, "%s", values[k - 1]);
			if (o >= size)
				o = size - 1;
			i += skip;
		} else {
			out[o++] = in[i++];
		}
	}
	out[o] = '\0';
}

/* Elements of a ':'-separated list (';' too in LD_LIBRARY_PATH), expanded. */
static void dirs_add_list(struct ctx *c, struct dirs *d, const char *list,
			  const char *dollar_origin)
{
	char path[PATH_MAX];
	while (list && *list) {
		size_t n = strcspn(list, ":;");
		expand(c, dollar_origin, list, n, path, sizeof(path));
		dirs_add(c, d, path, strlen(path));
		list += n + (list[n] ? 1 : 0);
	}
}

static void conf_read(struct ctx *c, const char *file, int depth)
{
	char line[4096];
	FILE *f = depth > CONF_DEPTH ? NULL : fopen(file, "re");

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "#\n")] = '\0';
		char *p = line + strspn(line, " \t");
		if (strncmp(p, "include", 7) == 0 && (p[7] == ' ' || p[7] == '\t')) {
			char pattern[PATH_MAX];
			p += 7 + strspn(p + 7, " \t");
			p[strcspn(p, " \t")] = '\0';
			const char *slash = strrchr(file, '/');
			if (p[0] == '/' || slash == NULL)
				snprintf(pattern, sizeof(pattern), "%s", p);
			else
				snprintf(pattern, sizeof(pattern), "%.*s/%s",
					 (int)(slash - file), file, p);
			glob_t g;
			if (glob(pattern, 0, NULL, &g) == 0)
				for (size_t i = 0; i < g.gl_pathc; i++)
					conf_read(c, g.gl_pathv[i], depth + 1);
			globfree(&g);
			continue;
		}
		if (strncmp(p, "hwcap", 5) == 0)
			continue;
		while (*p) {
			size_t n = strcspn(p, " \t:,");
			dirs_add(c, &c->conf, p, n);
			p += n;
			p += strspn(p, " \t:,");
		}
	}
	if (f)
		fclose(f);
}

static void default_dirs(struct ctx *c)
{
	const char *t = triplet(c->obj);
	char dir[128];
	if (t) {
		snprintf(dir, sizeof(dir), "/lib/%s", t);
		dirs_add(c, &c->fixed, dir, strlen(dir));
		snprintf(dir, sizeof(dir), "/usr/lib/%s", t);
		dirs_add(c, &c->fixed, dir, strlen(dir));
	}
	const char *const *more = c->obj->bits == 64 ?
		(const char *const[]){ "/lib64", "/usr/lib64", "/lib", "/usr/lib", NULL } :
		(const char *const[]){ "/lib32", "/usr/lib32", "/lib", "/usr/lib", NULL };
	for (; *more; more++)
		dirs_add(c, &c->fixed, *more, strlen(*more));
}

/*
 * ELF's $ORIGIN for the object at path: the directory of its real
 * location, malloc'ed (NULL when unknown).
 */
static char *dollar_origin_of(const char *path)
{
	char real[PATH_MAX];
	if (realpath(path, real) == NULL)
		return NULL;
	char *slash = strrchr(real, '/');
	if (slash == real)
		slash++;
	*slash = '\0';
	return strdup(real);
}

static void search_set(struct ctx *c, struct search *s, const char *path,
		       const struct elfinfo *info)
{
	s->dollar_origin = dollar_origin_of(path);
	if (info->rpath && (s->rpath = strdup(info->rpath)) == NULL)
		c->err = -ENOMEM;
	if (info->runpath && (s->runpath = strdup(info->runpath)) == NULL)
		c->err = -ENOMEM;
}

static void search_free(struct search *s)
{
	free(s->rpath);
	free(s->runpath);
	free(s->dollar_origin);
}

/* The file name is a library ld.so would take for this object; info filled. */
static bool try_file(const struct ctx *c, const char *path, struct elfinfo *info)
{
	if (elfinfo_load(path, 0, info) == ELF_OK && info->bits == c->obj->bits &&
	    info->machine == c->obj->machine)
		return true;
	elfinfo_free(info);
	return false;
}

/* A copy of path for a file try_file() accepted (info freed when out of memory). */
static char *keep(struct ctx *c, const char *path, struct elfinfo *info)
{
	char *copy = strdup(path);
	if (copy == NULL) {
		elfinfo_free(info);
		c->err = -ENOMEM;
	}
	return copy;
}

static char *try_dirs(struct ctx *c, const struct dirs *d, const char *name,
		      struct elfinfo *info)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < d->n; i++) {
		int n = snprintf(path, sizeof(path), "%s/%s", d->v[i], name);
		if (n > 0 && (size_t)n < sizeof(path) && try_file(c, path, info))
			return keep(c, path, info);
	}
	return NULL;
}

/* Where the object searching with s finds name (info then filled); NULL
 * when nowhere. */
static char *find(struct ctx *c, const struct search *s, const char *name,
		  struct elfinfo *info)
{
	struct dirs own = { { NULL }, 0 }, prog = { { NULL }, 0 }, run = { { NULL }, 0 };
	char *found = NULL;

	if (strchr(name, '/'))
		return try_file(c, name, info) ? keep(c, name, info) : NULL;
	if (s->runpath == NULL) {
		dirs_add_list(c, &own, s->rpath, s->dollar_origin);
		if (c->prog.runpath == NULL)
			dirs_add_list(c, &prog, c->prog.rpath, c->prog.dollar_origin);
	}
	dirs_add_list(c, &run, s->runpath, s->dollar_origin);
	const struct dirs *order[] = { &own, &prog, &c->env, &run, &c->conf, &c->fixed };
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && !found; i++)
		found = try_dirs(c, order[i], name, info);
	dirs_free(&own);
	dirs_free(&prog);
	dirs_free(&run);
	return found;
}

/* Queue the libraries info needs, as needed by parent. */
static void enqueue(struct ctx *c, struct libdeps *out, const struct elfinfo *info,
		    int parent)
{
	for (size_t i = 0; i < info->n_needed; i++) {
		const char *name = info->needed[i];
		bool seen = false;
		for (size_t k = 0; k < out->n && !seen; k++)
			seen = strcmp(out->v[k].name, name) == 0;
		if (seen)
			continue;
		if (out->n == LIBDEPS_MAX) {
			out->capped = true;
			return;
		}
		if ((out->v[out->n].name = strdup(name)) == NULL) {
			c->err = -ENOMEM;
			return;
		}
		out->v[out->n].parent = parent;
		out->n++;
	}
}

int libdeps_resolve(const char *path, const struct elfinfo *obj,
		    const char *ld_library_path, bool secure, struct libdeps *out)
{
	struct ctx *c = calloc(1, sizeof(*c));

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return -ENOMEM;
	c->obj = obj;
	search_set(c, &c->prog, path, obj);
	if (!secure)
		dirs_add_list(c, &c->env, ld_library_path, c->prog.dollar_origin);
	conf_read(c, LD_SO_CONF, 0);
	default_dirs(c);
	enqueue(c, out, obj, -1);
	for (size_t i = 0; i < out->n && c->err == 0; i++) {
		struct libdep *d = &out->v[i];
		const struct search *s = d->parent < 0 ? &c->prog : &c->lib[d->parent];
		struct elfinfo info;
		d->path = find(c, s, d->name, &info);
		if (d->path == NULL)
			continue;
		search_set(c, &c->lib[i], d->path, &info);
		enqueue(c, out, &info, (int)i);
		elfinfo_free(&info);
	}
	int err = c->err;
	search_free(&c->prog);
	for (size_t i = 0; i < LIBDEPS_MAX; i++)
		search_free(&c->lib[i]);
	dirs_free(&c->env);
	dirs_free(&c->conf);
	dirs_free(&c->fixed);
	free(c);
	return err;
}

void libdeps_free(struct libdeps *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].name);
		free(d->v[i].path);
	}
	memset(d, 0, sizeof(*d));
}

int libdeps_find(const struct libdeps *d, const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < d->n; i++)
		if (strncmp(d->v[i].name, prefix, n) == 0)
			return (int)i;
	return -1;
}

int libdeps_find_any(const struct libdeps *d, const char *const *prefixes)
{
	for (; *prefixes; prefixes++) {
		int i = libdeps_find(d, *prefixes);
		if (i >= 0)
			return i;
	}
	return -1;
}
