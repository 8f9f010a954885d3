/*
 * environ: layer 1, applied in the constructor (see preload/envlayer.h for
 * what is set and why). Runs once, before main(), while the process has one
 * thread: setenv() is safe there and nowhere else, so a late first use of
 * the library (a hook called from another thread) never changes the
 * environment.
 */
#include "environ.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envlayer.h"
#include "pembundle.h"
#include "proxyurl.h"

extern char **environ;

#define CA_FILE_MAX (4u << 20)

/* A private directory for files the library makes: 0700, ours, not a link. */
static int private_dir(char *out, size_t size)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n = run && run[0] == '/' ? snprintf(out, size, "%s/respan", run) :
				       snprintf(out, size, "/tmp/respan-%u",
						(unsigned)getuid());
	if (n < 0 || (size_t)n >= size)
		return -1;
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0)
		return -1;
	return 0;
}

/*
 * node reads one NODE_EXTRA_CA_CERTS file, and a static program one
 * SSL_CERT_FILE: the user's CAs and ours (the router's RESPAN_CA_FILE or
 * the interception CA) in one bundle, in a private directory
 * (pembundle.h). Returns the bundle's path, or NULL.
 */
static char *ca_bundle(const char *user, const char *respan)
{
	char dir[512], path[1024];
	const char *files[2];
	size_t n = 0;
	if (user)
		files[n++] = user;
	files[n++] = respan;
	if (private_dir(dir, sizeof(dir)) < 0 ||
	    pembundle_write(dir, ENVLAYER_BUNDLE_PREFIX, files, n, CA_FILE_MAX, path,
			    sizeof(path)) < 0)
		return NULL;
	return strdup(path);
}

/*
 * The system's CA file, where rustls-native-certs and OpenSSL look when
 * SSL_CERT_FILE is unset (Debian's first). libcrypto is not loaded into
 * every process, so its X509_get_default_cert_file() cannot be asked.
 */
static const char *system_ca_file(void)
{
	static const char *const known[] = {
		"/etc/ssl/certs/ca-certificates.crt",	/* Debian, Ubuntu, Arch */
		"/etc/pki/tls/certs/ca-bundle.crt",	/* Fedora, RHEL */
		"/etc/ssl/ca-bundle.pem",		/* openSUSE */
		"/etc/ssl/cert.pem",			/* Alpine */
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (access(known[i], R_OK) == 0)
			return known[i];
	return NULL;
}

/* Append " NAME" (no space first), or " -NAME" for one unset, to detail. */
static void note(char *detail, size_t size, const char *name, bool unset)
{
	size_t used = strlen(detail);
	if (used < size)
		snprintf(detail + used, size - used, "%s%s%s", used ? " " : "",
			 unset ? "-" : "", name);
}

enum envlayer_client environ_client(const char *exe)
{
	const char *base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	if (strncmp(base, "node", 4) != 0)
		return ENVLAYER_ANY;
	/* The script comes early: a cut command line just finds none. */
	char cmdline[8192], real[PATH_MAX];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ENVLAYER_ANY;
	ssize_t n = read(fd, cmdline, sizeof(cmdline));
	close(fd);
	const char *script = n > 0 ? envlayer_node_script(cmdline, (size_t)n) : NULL;
	if (script == NULL || realpath(script, real) == NULL)
		return ENVLAYER_ANY;
	return envlayer_client_of_script(real);
}

int environ_apply(const struct config *cfg, const char *relay, const char *node_ca,
		  enum envlayer_client client, char *detail, size_t size)
{
	struct envlayer_plan plan;
	detail[0] = '\0';
	/* node_ca also where the relay is inherited: respan run's, whose
	 * layer 1 (applied by respan) could not name the CA. */
	if (envlayer_plan_client(cfg, environ, relay ? relay : envlayer_relay(environ), node_ca,
				 client, &plan) < 0)
		return -1;
	for (size_t i = 0; i < plan.n_ops; i++) {
		const struct envlayer_op *op = &plan.ops[i];
		int rc = op->value ? setenv(op->name, op->value, 1) : unsetenv(op->name);
		if (rc == 0)
			note(detail, size, op->name, op->value == NULL);
	}
	if (plan.ca_merge_user) {
		char *bundle = ca_bundle(plan.ca_merge_user, plan.ca_merge_respan);
		if (bundle && setenv("NODE_EXTRA_CA_CERTS", bundle, 1) == 0)
			note(detail, size, "NODE_EXTRA_CA_CERTS", false);
		free(bundle);
	}
	envlayer_free(&plan);
	return 0;
}

int environ_proxy_for_child(unsigned port, const char *ca, char *detail, size_t size)
{
	char url[700];
	const char *had = proxyurl_own(environ);
	const char *user = getenv("SSL_CERT_FILE");
	char *bundle = ca_bundle(user && user[0] ? user : system_ca_file(), ca);
	/* Without the CA the child would refuse the relay's certificates. */
	if (bundle == NULL || !proxyurl_relay(had, port, url, sizeof(url)) ||
	    setenv("SSL_CERT_FILE", bundle, 1) < 0) {
		free(bundle);
		return -1;
	}
	free(bundle);
	note(detail, size, "SSL_CERT_FILE", false);
	if (setenv("HTTPS_PROXY", url, 1) == 0)
		note(detail, size, "HTTPS_PROXY", false);
	if (setenv("https_proxy", url, 1) == 0)
		note(detail, size, "https_proxy", false);
	return 0;
}
