/*
 * pembundle: several PEM files as one, for runtimes that read one CA file
 * (node's NODE_EXTRA_CA_CERTS, Go's SSL_CERT_FILE). The bundle is named by
 * its content, so every process of a tree that makes the same one shares
 * it, and written through a temporary file and a rename, so no reader sees
 * half of one.
 */
#ifndef RESPAN_PEMBUNDLE_H
#define RESPAN_PEMBUNDLE_H

#include <stddef.h>

/*
 * The files (n of them, at most max bytes each), each followed by a newline
 * when it lacks one, into dir/PREFIX<16 hex digits of FNV-1a>.pem, mode
 * 0600; a bundle already there by that name is taken as it is. Its path in
 * out. Returns 0, or -1 when a file cannot be read or the bundle written.
 */
int pembundle_write(const char *dir, const char *prefix, const char *const *files, size_t n,
		    size_t max, char *out, size_t size);

#endif
