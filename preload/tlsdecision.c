#include "tlsdecision.h"

#include <string.h>

#include "route.h"

/* What each kind means: the rows the table below points at. */
static const struct tlsdecision outcomes[] = {
	[TLS_NOT_OURS] = {
		.kind = TLS_NOT_OURS, .mode = REWRITE_CAPTURE, .label = "not ours",
	},
	[TLS_ROUTED] = {
		.kind = TLS_ROUTED, .mode = REWRITE_ROUTE, .keyed = true,
		.fail_closed = true, .label = "routed",
		.setup_failed = "could not point the TLS session at the router",
	},
	[TLS_ROUTER] = {
		.kind = TLS_ROUTER, .mode = REWRITE_ROUTER, .keyed = true,
		.label = "already to the router",
		/* The key must not go where the router is not checked. */
		.setup_failed = "could not make the session verify the router",
	},
	[TLS_CAPTURE] = {
		.kind = TLS_CAPTURE, .mode = REWRITE_CAPTURE, .label = "captured",
	},
};

#define ANY (-1)

/* First match wins; the header's table, row for row. */
static const struct {
	enum tls_name name;
	signed char routing, to_router_addr;	/* 1, 0 or ANY */
	enum tls_kind kind;
} rules[] = {
	{ TLS_NAME_PROVIDER, 1, 1, TLS_ROUTED },
	{ TLS_NAME_PROVIDER, 1, 0, TLS_CAPTURE },
	{ TLS_NAME_PROVIDER, 0, ANY, TLS_CAPTURE },
	{ TLS_NAME_ROUTER, 1, ANY, TLS_ROUTER },
	{ TLS_NAME_ROUTER, 0, ANY, TLS_CAPTURE },
	{ TLS_NAME_OTHER, ANY, ANY, TLS_NOT_OURS },
};

static bool matches(signed char want, bool have)
{
	return want == ANY || (want == 1) == have;
}

enum tls_name tlsdecision_name(const struct config *cfg, const char *host,
			       enum provider_id *provider)
{
	size_t len = strlen(host);
	*provider = route_lookup_host(cfg, host, len);
	if (*provider != PROVIDER_NONE)
		return TLS_NAME_PROVIDER;
	return route_is_router_host(cfg, host, len) ? TLS_NAME_ROUTER : TLS_NAME_OTHER;
}

const struct tlsdecision *tlsdecision_decide(const struct tlsdecision_facts *f)
{
	if (f->server)
		return &outcomes[TLS_NOT_OURS];
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].name == f->name && matches(rules[i].routing, f->routing) &&
		    matches(rules[i].to_router_addr, f->to_router_addr))
			return &outcomes[rules[i].kind];
	return &outcomes[TLS_NOT_OURS];
}

const struct tlsdecision *tlsdecision_fallback(const struct tlsdecision *d)
{
	return d->fail_closed ? d : &outcomes[TLS_CAPTURE];
}
