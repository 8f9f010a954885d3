/* ca: the local interception CA; see ca.h. */
#include "ca.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mkdirs.h"
#include "readfile.h"
#include "route.h"

#define CA_NAMES_MAX 256
#define CA_DAYS 730

/* The names the CA is for, one per line: what "names" beside it holds. */
static void names_text(const struct config *cfg, struct buf *out)
{
	const char *names[CA_NAMES_MAX];
	size_t n = route_intercept_names(cfg, names, CA_NAMES_MAX);
	for (size_t i = 0; i < n; i++) {
		buf_append(out, names[i], strlen(names[i]));
		buf_append(out, "\n", 1);
	}
}

static void reason(char *err, size_t size, const char *what)
{
	unsigned long e = ERR_get_error();
	char detail[256] = "";
	if (e)
		ERR_error_string_n(e, detail, sizeof(detail));
	snprintf(err, size, "%s%s%s", what, detail[0] ? ": " : "", detail);
	ERR_clear_error();
}

EVP_PKEY *ca_new_key(void)
{
	return EVP_EC_gen("P-256");
}

bool ca_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	bool ok = ext && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

bool ca_random_serial(X509 *cert)
{
	BIGNUM *bn = BN_new();
	bool ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
		  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok;
}

/* "critical,permitted;DNS.0:a,permitted;DNS.1:b,...,excluded;IP.0:0.0.0.0/0.0.0.0,..." */
static bool constraints(const struct config *cfg, struct buf *out)
{
	const char *names[CA_NAMES_MAX];
	size_t n = route_intercept_names(cfg, names, CA_NAMES_MAX);
	char item[320];
	buf_append(out, "critical", 8);
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(item, sizeof(item), ",permitted;DNS.%zu:%s", i, names[i]);
		if (k < 0 || (size_t)k >= sizeof(item) || strchr(names[i], ',') != NULL)
			return false;
		buf_append(out, item, (size_t)k);
	}
	/* No address at all: IP names are unconstrained unless excluded. */
	static const char ips[] = ",excluded;IP.0:0.0.0.0/0.0.0.0,excluded;IP.1:::/::";
	buf_append(out, ips, sizeof(ips) - 1);
	return buf_append(out, "", 1) == 0;
}

static X509 *make_cert(const struct config *cfg, EVP_PKEY *key, char *err, size_t size)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	struct buf nc;
	char cn[200], host[64] = "";
	buf_init(&nc, 64 * 1024);
	gethostname(host, sizeof(host) - 1);
	snprintf(cn, sizeof(cn), "respan local interception CA (%s, uid %lu)", host,
		 (unsigned long)getuid());
	bool ok = cert && name && X509_set_version(cert, 2) == 1 && ca_random_serial(cert) &&
		  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					     (const unsigned char *)cn, -1, -1, 0) == 1 &&
		  X509_set_subject_name(cert, name) == 1 &&
		  X509_set_issuer_name(cert, name) == 1 &&
		  X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL &&
		  X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * CA_DAYS) != NULL &&
		  X509_set_pubkey(cert, key) == 1 &&
		  ca_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
		  ca_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		  ca_add_ext(cert, cert, NID_subject_key_identifier, "hash") &&
		  constraints(cfg, &nc) &&
		  ca_add_ext(cert, cert, NID_name_constraints, nc.data) &&
		  X509_sign(cert, key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	buf_free(&nc);
	if (!ok) {
		reason(err, size, "cannot make the interception CA");
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* Write data to path (mode 0600) through a temporary file and rename. */
static int write_file(const char *path, const char *data, size_t len)
{
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	bool ok = write(fd, data, len) == (ssize_t)len;
	ok = fsync(fd) == 0 && ok;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return -e;
	}
	return 0;
}

/* PEM of a key or certificate into out. */
static bool pem(struct buf *out, X509 *cert, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	bool ok = b && (cert ? PEM_write_bio_X509(b, cert) :
		       PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) == 1;
	char *p;
	long n = ok ? BIO_get_mem_data(b, &p) : 0;
	ok = ok && n > 0 && buf_append(out, p, (size_t)n) == 0;
	BIO_free(b);
	return ok;
}

static int make_ca(const struct config *cfg, const char *dir, const struct buf *names,
		   char *err, size_t size)
{
	char path[4300];
	struct buf kp, cp;
	EVP_PKEY *key = ca_new_key();
	X509 *cert = key ? make_cert(cfg, key, err, size) : NULL;
	int rc = 0;
	buf_init(&kp, 64 * 1024);
	buf_init(&cp, 64 * 1024);
	if (key == NULL)
		reason(err, size, "cannot make a key for the interception CA");
	if (cert == NULL || !pem(&kp, NULL, key) || !pem(&cp, cert, NULL)) {
		rc = -EINVAL;
		goto out;
	}
	/* The key first: a certificate without its key is never left behind. */
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if ((rc = write_file(path, kp.data, kp.len)) < 0)
		goto io;
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if ((rc = write_file(path, cp.data, cp.len)) < 0)
		goto io;
	snprintf(path, sizeof(path), "%s/names", dir);
	if ((rc = write_file(path, names->data ? names->data : "", names->len)) < 0)
		goto io;
	goto out;
io:
	snprintf(err, size, "%s: %s", path, strerror(-rc));
out:
	buf_free(&kp);
	buf_free(&cp);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Does the CA in dir exist, for exactly these names? */
static bool current(const char *dir, const struct buf *names)
{
	char path[4300];
	struct buf have;
	buf_init(&have, 1u << 20);
	snprintf(path, sizeof(path), "%s/names", dir);
	bool same = readfile(path, &have) == 0 && have.len == names->len &&
		    (names->len == 0 || memcmp(have.data, names->data, names->len) == 0);
	buf_free(&have);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	struct stat sb;
	return same && stat(path, &sb) == 0;
}

static int load(const char *dir, struct ca *out, char *err, size_t size)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	FILE *f = fopen(path, "re");
	out->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	snprintf(out->pem_path, sizeof(out->pem_path), "%s/ca.pem", dir);
	f = fopen(out->pem_path, "re");
	out->cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (out->key == NULL || out->cert == NULL || X509_check_private_key(out->cert, out->key) != 1) {
		reason(err, size, "the interception CA in it does not load");
		ca_free(out);
		return -EINVAL;
	}
	return 0;
}

int ca_ensure(const struct config *cfg, bool rotate, struct ca *out, char *err,
	      size_t errsize)
{
	const char *dir = cfg->ca_dir;
	char lockpath[4300];
	struct buf names;
	struct stat sb;
	int rc;

	memset(out, 0, sizeof(*out));
	if (dir == NULL || dir[0] != '/') {
		snprintf(err, errsize, "no directory for the interception CA");
		return -EINVAL;
	}
	snprintf(lockpath, sizeof(lockpath), "%s/lock", dir);
	if ((rc = mkdirs_parents(lockpath)) < 0) {
		snprintf(err, errsize, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	/* Ours and private: a CA key must not sit where others can reach it. */
	if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0) {
		snprintf(err, errsize, "%s: not a directory of ours with mode 0700", dir);
		return -EPERM;
	}
	int lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
		rc = -errno;
		snprintf(err, errsize, "%s: %s", lockpath, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return rc;
	}
	buf_init(&names, 1u << 20);
	names_text(cfg, &names);
	rc = 0;
	if (rotate || !current(dir, &names))
		rc = make_ca(cfg, dir, &names, err, errsize);
	if (rc == 0)
		rc = load(dir, out, err, errsize);
	buf_free(&names);
	close(lfd);		/* and the lock with it */
	if (rc < 0 && err[0] && strncmp(err, dir, strlen(dir)) != 0) {
		char tail[800];
		snprintf(tail, sizeof(tail), "%s", err);
		snprintf(err, errsize, "%s: %s", dir, tail);
	}
	return rc;
}

void ca_free(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	ca->cert = NULL;
	ca->key = NULL;
}

X509 *ca_issue(const struct ca *ca, const struct config *cfg, const char *host,
	       EVP_PKEY *key)
{
	if (route_lookup_host(cfg, host, strlen(host)) == PROVIDER_NONE)
		return NULL;
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	char san[300];
	int n = snprintf(san, sizeof(san), "DNS:%s", host);
	bool ok = cert && name && n > 0 && (size_t)n < sizeof(san) && !strchr(host, ',') &&
		  X509_set_version(cert, 2) == 1 && ca_random_serial(cert) &&
		  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					     (const unsigned char *)host, -1, -1, 0) == 1 &&
		  X509_set_subject_name(cert, name) == 1 &&
		  X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) == 1 &&
		  X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL &&
		  X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * CA_LEAF_DAYS) != NULL &&
		  X509_set_pubkey(cert, key) == 1 &&
		  ca_add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
		  ca_add_ext(cert, ca->cert, NID_key_usage, "critical,digitalSignature") &&
		  ca_add_ext(cert, ca->cert, NID_ext_key_usage, "serverAuth") &&
		  ca_add_ext(cert, ca->cert, NID_subject_alt_name, san) &&
		  ca_add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid") &&
		  X509_sign(cert, ca->key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	if (!ok) {
		ERR_clear_error();
		X509_free(cert);
		return NULL;
	}
	return cert;
}
