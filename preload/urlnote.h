/*
 * urlnote: what a program asked for before a layer rewrote it.
 *
 * The libcurl layer rewrites a provider URL to the router URL before libcurl
 * connects; the request then travels a session whose SNI is the router, so
 * the OpenSSL layer sees only the router URL. The curl layer notes the pair
 * here, and the exchange finds it again when it logs the request, so the
 * record says what the program asked for (url), where it went
 * (routed_url), which provider, and that the curl layer did it. A small
 * table, most recent first, thread-safe.
 */
#ifndef RESPAN_URLNOTE_H
#define RESPAN_URLNOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "forkphase.h"

#define URLNOTE_SLOTS 32
#define URLNOTE_URL_MAX 2048

struct urlnote {
	char url[URLNOTE_URL_MAX];	/* what the program asked for */
	enum provider_id provider;
	char layer[16];
};

/* Note that routed_url stands for url (longer URLs are not noted). */
void urlnote_add(const char *routed_url, const char *url,
		 enum provider_id provider, const char *layer);

/* Find the newest note for routed_url (len bytes). Returns true and a copy. */
bool urlnote_find(const char *routed_url, size_t len, struct urlnote *out);

/* Around fork(): see forkphase.h. */
void urlnote_fork(enum fork_phase phase);

#endif
