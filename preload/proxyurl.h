/*
 * proxyurl: HTTPS_PROXY for a program that reaches the relay as its proxy
 * (docs/relay.md: a static program under `respan run`, the Codex CLI's
 * binary). The relay intercepts the tunnels to provider hosts and passes
 * the others on to the program's own proxy, when it had one, as they came:
 * so the URL the program gets keeps that proxy's user:password, which the
 * program then still sends.
 */
#ifndef RESPAN_PROXYURL_H
#define RESPAN_PROXYURL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The program's own proxy URL in env (NULL-terminated "NAME=value"
 * strings): HTTPS_PROXY, else https_proxy; NULL when neither is set or
 * both are empty.
 */
const char *proxyurl_own(char *const *env);

/*
 * "host:port" of a proxy URL ("[scheme://][user[:password]@]host[:port][/...]",
 * port 80 when none is given), into out. False when it names no host or
 * out is too small.
 */
bool proxyurl_authority(const char *url, char *out, size_t size);

/*
 * The relay at 127.0.0.1:port as a proxy URL, "http://[user[:password]@]
 * 127.0.0.1:PORT", the user part taken from had (the program's own proxy
 * URL, or NULL). False when out is too small.
 */
bool proxyurl_relay(const char *had, unsigned port, char *out, size_t size);

#endif
