/*
 * clienthello: the server name (SNI) in the first bytes a client sends, for
 * the egress audit (docs/contract.md#layers: a TLS ClientHello whose SNI is a
 * provider host, on a connection the library did not route).
 *
 * Reads one TLS record (RFC 8446 section 5.1) holding the start of a
 * ClientHello (section 4.1.2) and walks its extensions to server_name
 * (RFC 6066 section 3). Never reads past len; every length is checked
 * against what is there.
 */
#ifndef RESPAN_CLIENTHELLO_H
#define RESPAN_CLIENTHELLO_H

#include <stddef.h>

enum clienthello_result {
	CLIENTHELLO_NOT_TLS,	/* not a TLS handshake record with a ClientHello */
	CLIENTHELLO_NO_SNI,	/* a ClientHello without a host name */
	CLIENTHELLO_SNI,		/* found: the host name is in out */
	CLIENTHELLO_SHORT,	/* a ClientHello, but the bytes end before its SNI */
};

/*
 * Look at data[0..len). On CLIENTHELLO_SNI the name is copied to out (size bytes,
 * NUL-terminated, lower case); a name that does not fit, or holds a NUL or
 * a byte outside printable ASCII, counts as CLIENTHELLO_NO_SNI.
 */
enum clienthello_result clienthello_sni(const unsigned char *data, size_t len, char *out,
			       size_t size);

#endif
