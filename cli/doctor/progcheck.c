#include "progcheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "clock.h"
#include "envlayer.h"
#include "execenv.h"
#include "pathsearch.h"
#include "reexec.h"

#define SHEBANG_MAX 256		/* the kernel reads this much of a script (BINPRM_BUF_SIZE) */
#define PY_TIMEOUT_MS 10000
#define PY_OUT_MAX 4096

const char *const progcheck_curl_libs[] = { "libcurl.so.", "libcurl-gnutls.so.",
					    "libcurl-nss.so.", NULL };
const char *const progcheck_other_tls[] = { "libgnutls.so.", "libnss3.so", "libwolfssl.so.",
					    "libmbedtls.so.", NULL };

/* ---- finding PROGRAM ------------------------------------------------------- */

/* 1 with the #! line (after "#!", trimmed) in line; 0: no #!; -errno. */
static int read_shebang(const char *path, char *line, size_t size)
{
	char buf[SHEBANG_MAX + 1];
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (n < SHEBANG_MAX) {
		ssize_t r = read(fd, buf + n, SHEBANG_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n < 2 || buf[0] != '#' || buf[1] != '!')
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	char *p = buf + 2 + strspn(buf + 2, " \t");
	size_t len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		p[--len] = '\0';
	snprintf(line, size, "%s", p);
	return 1;
}

/*
 * The command "#!/usr/bin/env REST" runs, into out: REST itself (the kernel
 * passes it as one argument), or with -S the first word that is not an
 * option or an assignment. *drops: env's options remove LD_PRELOAD (-i,
 * -u LD_PRELOAD). Returns 0, or -1 when no command can be told.
 */
static int env_command(const char *rest, char *out, size_t size, bool *drops)
{
	char buf[SHEBANG_MAX];
	const char *arg_of = NULL;

	*drops = false;
	if (rest[0] != '-') {
		snprintf(out, size, "%s", rest);
		return 0;
	}
	if (strncmp(rest, "-S", 2) != 0)
		return -1;
	snprintf(buf, sizeof(buf), "%s", rest + 2);
	for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t;
	     t = strtok_r(NULL, " \t", &save)) {
		if (arg_of) {
			*drops |= strcmp(arg_of, "-u") == 0 && strcmp(t, "LD_PRELOAD") == 0;
			arg_of = NULL;
		} else if (strcmp(t, "-u") == 0 || strcmp(t, "-C") == 0) {
			arg_of = t;
		} else if (t[0] == '-') {
			*drops |= strcmp(t, "-i") == 0 || strcmp(t, "-") == 0 ||
				  strcmp(t, "--ignore-environment") == 0 ||
				  strcmp(t, "-uLD_PRELOAD") == 0 ||
				  strcmp(t, "--unset=LD_PRELOAD") == 0;
		} else if (strchr(t, '=') == NULL) {
			snprintf(out, size, "%s", t);
			return 0;
		}
	}
	return -1;
}

/* Follow one #! line of script into h; false (with f->chain_error) when it breaks. */
static bool follow(struct prog_facts *f, struct prog_hop *h, const char *path_var)
{
	char interp[SHEBANG_MAX], name[SHEBANG_MAX];
	const char *line = h->line;
	size_t n = strcspn(line, " \t");
	const char *rest = line + n + strspn(line + n, " \t");
	bool drops = false;

	snprintf(interp, sizeof(interp), "%.*s", (int)n, line);
	if (interp[0] == '\0') {
		snprintf(f->chain_error, sizeof(f->chain_error),
			 "%s: the #! line names no interpreter", h->script);
		return false;
	}
	if (strchr(line, '\r')) {
		snprintf(f->chain_error, sizeof(f->chain_error), "%s: the #! line ends with a "
			 "carriage return (Windows line endings): the kernel looks for names "
			 "ending in \\r", h->script);
		return false;
	}
	const char *base = strrchr(interp, '/');
	if (strcmp(base ? base + 1 : interp, "env") == 0 && rest[0]) {
		if (env_command(rest, name, sizeof(name), &drops) < 0) {
			snprintf(f->chain_error, sizeof(f->chain_error),
				 "%s: cannot tell which program \"env %s\" runs", h->script, rest);
			return false;
		}
		snprintf(h->env_name, sizeof(h->env_name), "%s", name);
		f->env_drops_preload |= drops;
		int rc = pathsearch_find(name, path_var, h->interp, sizeof(h->interp));
		if (rc < 0) {
			snprintf(f->chain_error, sizeof(f->chain_error),
				 "%s: env finds no program \"%s\" in PATH%s", h->script, name,
				 rc == -EACCES ? " that is executable" : "");
			return false;
		}
	} else {
		snprintf(h->interp, sizeof(h->interp), "%s", interp);
	}
	struct stat st;
	const char *why = stat(h->interp, &st) != 0 ? strerror(errno) :
			  !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
	if (why) {
		snprintf(f->chain_error, sizeof(f->chain_error), "%s: its interpreter %s: %s",
			 h->script, h->interp, why);
		return false;
	}
	return true;
}

int progcheck_find(const char *arg, const char *path_var, struct prog_facts *f,
		   char *err, size_t errsize)
{
	struct stat st;
	char cur[PATH_MAX];

	memset(f, 0, sizeof(*f));
	int rc = pathsearch_find(arg, path_var, f->path, sizeof(f->path));
	if (rc == -EACCES) {
		snprintf(err, errsize, "%s: found in PATH, but not executable", arg);
		return rc;
	}
	if (rc == -ENOENT) {
		snprintf(err, errsize, "%s: not found in PATH (%s)", arg,
			 path_var ? path_var : "unset: " PATHSEARCH_DEFAULT);
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errsize, "%s: %s", arg, strerror(-rc));
		return rc;
	}
	if (stat(f->path, &st) != 0) {
		rc = -errno;
		snprintf(err, errsize, "%s: %s", arg, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s: %s", arg,
			 S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	snprintf(cur, sizeof(cur), "%s", f->path);
	for (;;) {
		char line[SHEBANG_MAX];
		int s = read_shebang(cur, line, sizeof(line));
		if (s < 0 && f->n_hops == 0) {
			snprintf(err, errsize, "%s: cannot read it: %s", f->path, strerror(-s));
			return s;
		}
		if (s < 0)
			snprintf(f->chain_error, sizeof(f->chain_error), "%s: cannot read it: %s",
				 cur, strerror(-s));
		if (s <= 0)
			break;
		if (f->n_hops == PROG_MAX_HOPS) {
			snprintf(f->chain_error, sizeof(f->chain_error), "%s: more than %d levels "
				 "of #! interpreters: the kernel refuses it", f->path, PROG_MAX_HOPS);
			break;
		}
		struct prog_hop *h = &f->hops[f->n_hops++];
		snprintf(h->script, sizeof(h->script), "%s", cur);
		snprintf(h->line, sizeof(h->line), "%s", line);
		if (!follow(f, h, path_var))
			break;
		snprintf(cur, sizeof(cur), "%s", h->interp);
	}
	snprintf(f->exe, sizeof(f->exe), "%s", cur);
	if (realpath(f->exe, f->exe_real) == NULL)
		f->exe_real[0] = '\0';
	/* node running the script: which program it is, as the library sees it. */
	const char *base = strrchr(f->exe, '/');
	if (f->n_hops && strncmp(base ? base + 1 : f->exe, "node", 4) == 0 &&
	    realpath(f->hops[f->n_hops - 1].script, f->client_script) != NULL)
		f->client = envlayer_client_of_script(f->client_script);
	return 0;
}

/* ---- secure execution -------------------------------------------------------- */

/* Would the kernel run exe with AT_SECURE for this user? */
static void secure_facts(struct prog_facts *f)
{
	struct statvfs vfs;
	const struct stat *st = &f->st;

	f->setuid = (st->st_mode & S_ISUID) != 0;
	/* Set-group-ID without group execute is mandatory locking, not setgid. */
	f->setgid = (st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP);
	f->caps = getxattr(f->exe, "security.capability", NULL, 0) > 0;
	f->nosuid = statvfs(f->exe, &vfs) == 0 && (vfs.f_flag & ST_NOSUID);
	f->secure = !f->nosuid && ((f->setuid && st->st_uid != getuid()) ||
				   (f->setgid && st->st_gid != getgid()) ||
				   (f->caps && getuid() != 0));
}

/* ---- Python ------------------------------------------------------------------ */

/* "3.11" from "...python3.11..." (or "libpython3.11.so"), into out. */
static bool version_in(const char *s, char *out, size_t size)
{
	const char *p = s ? strstr(s, "python") : NULL;
	if (p == NULL)
		return false;
	p += 6;
	size_t a = strspn(p, "0123456789");
	if (a == 0 || p[a] != '.')
		return false;
	size_t b = strspn(p + a + 1, "0123456789");
	if (b == 0 || a + 1 + b >= size)
		return false;
	snprintf(out, size, "%.*s", (int)(a + 1 + b), p);
	return true;
}

static bool is_python(struct prog_facts *f)
{
	const char *real = f->exe_real[0] ? f->exe_real : f->exe;
	const char *base = strrchr(real, '/');
	base = base ? base + 1 : real;
	bool named = strncmp(base, "python", 6) == 0;
	int lib = f->have_deps ? libdeps_find(&f->deps, "libpython") : -1;

	if (!named && lib < 0 && !(f->elf.syms & ELFSYM_PYTHON))
		return false;
	if (!version_in(base, f->py_version, sizeof(f->py_version)) && lib >= 0)
		version_in(f->deps.v[lib].name, f->py_version, sizeof(f->py_version));
	return true;
}

/* The _ssl extension by a file search below the interpreter's prefix. */
static void py_look(struct prog_facts *f)
{
	char prefix[PATH_MAX], pattern[PATH_MAX + 64];
	static const char *const libs[] = { "lib", "lib64" };

	snprintf(prefix, sizeof(prefix), "%s", f->exe_real[0] ? f->exe_real : f->exe);
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(prefix, '/');
		if (slash)
			*slash = '\0';
	}
	for (size_t i = 0; i < 2 && f->py_ssl[0] == '\0'; i++) {
		glob_t g;
		snprintf(pattern, sizeof(pattern), "%s/%s/python%s/lib-dynload/_ssl.*so", prefix,
			 libs[i], f->py_version[0] ? f->py_version : "3*");
		if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0)
			snprintf(f->py_ssl, sizeof(f->py_ssl), "%s", g.gl_pathv[0]);
		globfree(&g);
	}
	f->py_how = f->py_ssl[0] ? PY_LOOKED : PY_NOT_FOUND;
	snprintf(f->py_note, sizeof(f->py_note), f->py_ssl[0] ?
		 "found by a file search in %s/lib*/python%s/lib-dynload; --run asks the "
		 "interpreter" : "no _ssl module in %s/lib*/python%s/lib-dynload: it may be "
		 "built in or elsewhere; --run asks the interpreter", prefix,
		 f->py_version[0] ? f->py_version : "3*");
}

/* Read the child's output until EOF or the deadline; false on timeout. */
static bool read_all(int fd, char *out, size_t size, long long deadline)
{
	size_t len = 0;
	for (;;) {
		long long left = deadline - clock_mono_ms();
		struct pollfd p = { fd, POLLIN, 0 };
		if (left <= 0)
			return false;
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		char chunk[512];
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return true;
		size_t take = (size_t)r < size - 1 - len ? (size_t)r : size - 1 - len;
		memcpy(out + len, chunk, take);
		len += take;
		out[len] = '\0';
	}
}

/* Ask the interpreter where its _ssl is; false when it did not say. */
static bool py_ask(struct prog_facts *f, char *const *env)
{
	static const char code[] = "import _ssl\n"
				   "print(getattr(_ssl, '__file__', 'built-in'))\n"
				   "print(_ssl.OPENSSL_VERSION)\n";
	char *argv[] = { f->exe, (char *)"-c", (char *)code, NULL };
	char out[PY_OUT_MAX] = "";
	struct execenv e = { NULL, 0, 0 };
	posix_spawn_file_actions_t fa;
	int fds[2], status = 0;
	pid_t pid;
	bool answered = false;

	if (execenv_init(&e, env) < 0 || pipe2(fds, O_CLOEXEC) < 0) {
		execenv_free(&e);
		snprintf(f->py_note, sizeof(f->py_note), "could not ask it: %s", strerror(errno));
		return false;
	}
	execenv_unset(&e, "LD_PRELOAD");
	execenv_unset(&e, REEXEC_MARK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	int rc = posix_spawn(&pid, f->exe, &fa, NULL, argv, e.v);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		snprintf(f->py_note, sizeof(f->py_note), "could not run it: %s", strerror(rc));
	} else {
		bool done = read_all(fds[0], out, sizeof(out), clock_mono_ms() + PY_TIMEOUT_MS);
		if (!done)
			kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		char *nl = strchr(out, '\n');
		if (done && WIFEXITED(status) && WEXITSTATUS(status) == 0 && nl) {
			*nl = '\0';
			snprintf(f->py_ssl, sizeof(f->py_ssl), "%s", out);
			snprintf(f->py_openssl, sizeof(f->py_openssl), "%.*s",
				 (int)strcspn(nl + 1, "\n"), nl + 1);
			snprintf(f->py_note, sizeof(f->py_note), "the interpreter says so (--run)");
			f->py_how = PY_ASKED;
			answered = true;
		} else {
			/* Its last line says why (ModuleNotFoundError: ...). */
			size_t len = strlen(out);
			while (len && out[len - 1] == '\n')
				out[--len] = '\0';
			const char *last = strrchr(out, '\n');
			snprintf(f->py_note, sizeof(f->py_note), "asking it failed (%s): %.200s",
				 !done ? "no answer within 10 s" : WIFEXITED(status) ?
				 "it exited with an error" : "it was killed by a signal",
				 last ? last + 1 : out);
		}
	}
	close(fds[0]);
	execenv_free(&e);
	return answered;
}

static int python_facts(struct prog_facts *f, char *const *env, bool run_python)
{
	char asked[300] = "";

	f->python = true;
	if (run_python && !py_ask(f, env))
		snprintf(asked, sizeof(asked), "%s", f->py_note);
	if (f->py_how != PY_ASKED)
		py_look(f);
	if (asked[0]) {
		char note[sizeof(f->py_note)];
		snprintf(note, sizeof(note), "%.140s; %.150s", asked, f->py_note);
		snprintf(f->py_note, sizeof(f->py_note), "%s", note);
	}
	if (f->py_ssl[0] != '/')
		return 0;
	if (elfinfo_load(f->py_ssl, ELF_SCAN_STRINGS, &f->py_elf) != ELF_OK)
		return 0;
	f->have_py = true;
	return libdeps_resolve(f->py_ssl, &f->py_elf, envget(env, "LD_LIBRARY_PATH"),
			       f->secure, &f->py_deps);
}

/* ---- PHP ---------------------------------------------------------------------- */

/*
 * What the extension at path brings into e; false when it brings neither
 * libcurl nor TLS, or is not for the program's class and machine (dlopen
 * would refuse it). Its libraries are resolved as the program's would be.
 */
static bool php_ext_facts(const struct prog_facts *f, const char *path, const char *name,
			  const char *ld_path, struct php_ext *e, int *err)
{
	struct elfinfo info;
	struct libdeps d;
	bool brings = false;

	memset(e, 0, sizeof(*e));
	if (elfinfo_load(path, 0, &info) != ELF_OK || info.bits != f->elf.bits ||
	    info.machine != f->elf.machine) {
		elfinfo_free(&info);
		return false;
	}
	*err = libdeps_resolve(path, &info, ld_path, f->secure, &d);
	int curl = libdeps_find_any(&d, progcheck_curl_libs);
	int tls = libdeps_find(&d, "libssl.so");
	if (tls < 0)
		tls = libdeps_find_any(&d, progcheck_other_tls);
	if (curl >= 0)
		snprintf(e->curl, sizeof(e->curl), "%s", d.v[curl].name);
	if (tls >= 0)
		snprintf(e->tls, sizeof(e->tls), "%s", d.v[tls].name);
	e->imports_ssl = tls < 0 && (info.syms & ELFSYM_SSL_IMPORT);
	for (size_t i = 0; i < d.n && !e->missing[0]; i++)
		if (d.v[i].path == NULL)
			snprintf(e->missing, sizeof(e->missing), "%s", d.v[i].name);
	brings = curl >= 0 || tls >= 0 || e->imports_ssl;
	if (brings)
		snprintf(e->file, sizeof(e->file), "%s", name);
	libdeps_free(&d);
	elfinfo_free(&info);
	return brings;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.so files of PHP's extension directory, in name order, looked at. */
static int php_facts(struct prog_facts *f, char *const *env)
{
	const char *dir = f->elf.php_ext_dir;
	char *names[PHP_MAX_FILES];
	size_t n = 0;
	int err = 0;

	f->php = true;
	if (dir[0] == '\0')
		return 0;
	DIR *dp = opendir(dir);
	if (dp == NULL) {
		f->php_dir_rc = -errno;
		return 0;
	}
	for (struct dirent *de; (de = readdir(dp)) != NULL;) {
		size_t len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		f->php_files++;
		if (n < PHP_MAX_FILES && (names[n] = strdup(de->d_name)) != NULL)
			n++;
		else if (n < PHP_MAX_FILES)
			err = -ENOMEM;
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), by_name);
	f->php_looked = n;
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct php_ext e;
		int rc = 0;
		int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (len > 0 && (size_t)len < sizeof(path) &&
		    php_ext_facts(f, path, names[i], envget(env, "LD_LIBRARY_PATH"), &e, &rc)) {
			if (f->n_php_ext < PHP_MAX_LISTED)
				f->php_ext[f->n_php_ext++] = e;
			else
				f->php_ext_more++;
		}
		if (rc < 0)
			err = rc;
		free(names[i]);
	}
	return err;
}

/* ---- the interface ------------------------------------------------------------ */

int progcheck_analyse(struct prog_facts *f, char *const *env, bool run_python)
{
	int rc = 0;

	if (stat(f->exe, &f->st) != 0) {
		f->elf_rc = -errno;
		snprintf(f->elf.error, sizeof(f->elf.error), "%s", strerror(errno));
		return 0;
	}
	f->executable = access(f->exe, X_OK) == 0;
	secure_facts(f);
	f->elf_rc = elfinfo_load(f->exe, ELF_SCAN_STRINGS, &f->elf);
	if (f->elf_rc != ELF_OK)
		return 0;
	if (f->elf.interp) {
		f->have_deps = true;
		rc = libdeps_resolve(f->exe, &f->elf, envget(env, "LD_LIBRARY_PATH"),
				     f->secure, &f->deps);
	}
	if (rc == 0 && is_python(f))
		rc = python_facts(f, env, run_python);
	else if (rc == 0 && (f->elf.syms & ELFSYM_PHP))
		rc = php_facts(f, env);
	return rc;
}

void progcheck_free(struct prog_facts *f)
{
	elfinfo_free(&f->elf);
	elfinfo_free(&f->py_elf);
	libdeps_free(&f->deps);
	libdeps_free(&f->py_deps);
}
