/*
 * relayname: the address that names the library's own relay before it runs
 * (docs/relay.md, "The relay the library starts").
 *
 * Layer 1 must set the base URLs before main(), but the relay is started
 * only when a program first connects to it. So the URL names a stand-in
 * address, http://127.A.B.C:PORT/ + the router's path, with A from 128 to
 * 255 and B, C, PORT random: an address nothing listens on, which the
 * connect() hook recognises and sends to the relay's real port. The
 * address and port together also name the process tree that shares one
 * relay (children inherit the URL), and the rendezvous socket where the
 * relay says which port it has.
 */
#ifndef RESPAN_RELAYNAME_H
#define RESPAN_RELAYNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct relayname {
	unsigned char addr[4];	/* 127.A.B.C, A >= 128 */
	uint16_t port;		/* host order, 1024 or more */
};

/*
 * The stand-in named by random (any 64 random bits), into *out, and its
 * base URL: "http://127.A.B.C:PORT" + path (the router's base path, "/..."
 * ending in '/'). Returns false when path is not such a path or url is too
 * small.
 */
bool relayname_new(uint64_t random, const char *path, struct relayname *out, char *url,
		   size_t size);

/*
 * Does url (a RESPAN_RELAY value) name a stand-in? Then *out is it. Only
 * "http://127.A.B.C:PORT/..." with A >= 128 and PORT >= 1024 does.
 */
bool relayname_parse(const char *url, struct relayname *out);

/*
 * Does url (a RESPAN_RELAY value) name `respan run`'s relay, which listens
 * on 127.0.0.1 from the start: "http://127.0.0.1:PORT/..."? Then *port is
 * its port (host order). A process whose TLS the library cannot see then
 * gets a stand-in address of its own for the provider connections it
 * intercepts (lazyrelay.h), which go straight to that port.
 */
bool relayname_direct(const char *url, uint16_t *port);

/* "127.A.B.C:PORT", the Host header a program sends to the stand-in. */
void relayname_host(const struct relayname *n, char *out, size_t size);

/*
 * The rendezvous socket's name in the abstract namespace (without the
 * leading NUL): "respan-relay-UID-127.A.B.C-PORT".
 */
void relayname_socket(const struct relayname *n, uid_t uid, char *out, size_t size);

#endif
