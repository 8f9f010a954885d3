/*
 * cacmd: `respan ca path|show|rotate` (docs/relay.md, "Interception").
 *
 *   path    the CA certificate's file, made first if there is none
 *   show    its subject, fingerprint, validity and the names it may vouch for
 *   rotate  a new CA in place of the old one (programs started afterwards
 *           trust the new one; running ones keep the old)
 */
#include "cacmd.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "ca.h"
#include "config.h"

extern char **environ;

void ca_usage(FILE *out)
{
	fputs("usage: respan ca path|show|rotate\n"
	      "\n"
	      "The local interception CA: the relay answers programs with TLS compiled\n"
	      "in, which call a provider host themselves, with a certificate for that\n"
	      "host from this CA. It is made on first need, may vouch for the provider\n"
	      "hosts only (X.509 Name Constraints), and is trusted by the programs\n"
	      "librespan.so is loaded into, never system-wide.\n"
	      "\n"
	      "  path    the CA certificate's file (made first if there is none)\n"
	      "  show    its subject, fingerprint, validity and permitted names\n"
	      "  rotate  make a new CA in place of the old one\n", out);
}

static void print_time(const char *label, const ASN1_TIME *t)
{
	struct tm tm;
	char text[64] = "?";
	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("%-12s%s\n", label, text);
}

static void show(const struct ca *ca)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char subject[512];
	X509_NAME_oneline(X509_get_subject_name(ca->cert), subject, sizeof(subject));
	printf("%-12s%s\n", "file", ca->pem_path);
	printf("%-12s%s\n", "subject", subject);
	if (X509_digest(ca->cert, EVP_sha256(), md, &n) == 1) {
		printf("%-12s", "sha256");
		for (unsigned int i = 0; i < n; i++)
			printf("%02X%s", md[i], i + 1 < n ? ":" : "\n");
	}
	print_time("not before", X509_get0_notBefore(ca->cert));
	print_time("not after", X509_get0_notAfter(ca->cert));
	NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca->cert, NID_name_constraints, NULL, NULL);
	for (int i = 0; nc && i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
		GENERAL_SUBTREE *t = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
		if (t->base->type == GEN_DNS)
			printf("%-12s%s\n", i == 0 ? "permits" : "",
			       (const char *)ASN1_STRING_get0_data(t->base->d.dNSName));
	}
	if (nc && sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) > 0)
		printf("%-12s%s\n", "excludes", "every IP address");
	NAME_CONSTRAINTS_free(nc);
}

int ca_main(int argc, char **argv)
{
	/* respan ca --help, and respan ca SUBCOMMAND --help as well. */
	for (int i = 2; i < argc && i < 4; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ca_usage(stdout);
			return 0;
		}
	if (argc != 3 || (strcmp(argv[2], "path") != 0 && strcmp(argv[2], "show") != 0 &&
			  strcmp(argv[2], "rotate") != 0)) {
		ca_usage(stderr);
		return 2;
	}
	struct config cfg;
	struct ca ca;
	char err[1024] = "";
	if (config_load(&cfg, environ) < 0) {
		fprintf(stderr, "respan: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < cfg.n_warnings; i++)
		fprintf(stderr, "%s\n", cfg.warnings[i]);
	int status = 0;
	if (ca_ensure(&cfg, strcmp(argv[2], "rotate") == 0, &ca, err, sizeof(err)) < 0) {
		fprintf(stderr, "respan: %s\n", err);
		status = 1;
	} else if (strcmp(argv[2], "show") == 0) {
		show(&ca);
	} else {
		printf("%s\n", ca.pem_path);
	}
	ca_free(&ca);
	config_free(&cfg);
	return status;
}
