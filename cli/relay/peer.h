/*
 * peer: who is on the other end of a loopback TCP connection.
 *
 * The relay of `respan run` accepts only connections from processes of its
 * own user. A loopback peer is a socket of this machine, so the kernel's
 * socket tables (/proc/net/tcp and /proc/net/tcp6) hold a line for it: the
 * line whose local address is the peer's address and whose remote address
 * is the relay's end. Its uid column is the peer socket's owner.
 *
 * The line parser is pure (unit-tested in tests/unit/test_peer.c); the
 * lookup reads the two files line by line through a fixed buffer.
 *
 * A process of the same user can still be a web browser: a page may post
 * to 127.0.0.1 itself, or through a name it rebinds to 127.0.0.1 (DNS
 * rebinding). peer_request_refusal() tells such requests apart by their
 * headers.
 */
#ifndef RESPAN_CLI_PEER_H
#define RESPAN_CLI_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "rewriter.h"

#define PEER_TCP_TIME_WAIT 0x06	/* "st" of a socket the kernel keeps after close */

/* One socket of /proc/net/tcp{,6}. Addresses as in memory (network order). */
struct peer_tcp_line {
	int family;			/* AF_INET (8 hex digits) or AF_INET6 (32) */
	unsigned char local[16];	/* the first 4 bytes for AF_INET */
	uint16_t local_port;		/* host order */
	unsigned char remote[16];
	uint16_t remote_port;
	unsigned state;			/* "st": 0x01 established, 0x0A listen, ... */
	unsigned long uid;
	unsigned long inode;
};

/*
 * Parse one line of /proc/net/tcp or /proc/net/tcp6 (len bytes; a trailing
 * newline is allowed, no NUL needed, nothing past len is read). Returns 0
 * and fills *out, or -1 for the header line or anything malformed.
 */
int peer_parse_tcp_line(const char *line, size_t len, struct peer_tcp_line *out);

/*
 * True when the parsed line is the peer's socket of the connection between
 * peer (its address) and self (ours): local == peer and remote == self.
 * IPv4 addresses also match their IPv4-mapped IPv6 form (::ffff:a.b.c.d),
 * which is how an AF_INET6 socket talking to 127.0.0.1 is listed.
 */
int peer_line_matches(const struct peer_tcp_line *l, const struct sockaddr *peer,
		      const struct sockaddr *self);

/*
 * The uid owning the socket at peer that is connected to self (both
 * AF_INET or AF_INET6). Returns 0 and *uid, -ENOENT when no such socket is
 * listed (another network namespace, or it is gone), or another negative
 * errno when the tables cannot be read.
 */
int peer_uid(const struct sockaddr *peer, const struct sockaddr *self, uid_t *uid);

/*
 * Whether the relay listening on 127.0.0.1:port may carry a request whose
 * Host header is (host, len) (host NULL: none) and that has an Origin
 * header or not. Refused: a Host that is not the relay's own address
 * (127.0.0.1, localhost or [::1], with this port or none, or exactly
 * alias when it is not NULL: the stand-in address "127.A.B.C:PORT" that
 * programs name the library's relay by; a rebound name cannot pass), and
 * any Origin (browsers send it with every cross-site POST; SDKs and
 * command-line clients do not). Returns NULL, or why not.
 */
const char *peer_request_refusal(const char *host, size_t len, bool has_origin,
				 unsigned port, const char *alias);

/*
 * The same for a whole request head as the relay's first rewriter saw it:
 * its Host, and whether any of its headers is an Origin. NULL, or why not.
 */
const char *peer_head_refusal(const struct rewriter_head *h, unsigned port,
			      const char *alias);

#endif
