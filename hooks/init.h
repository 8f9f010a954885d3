/*
 * init: the one initialisation path of librespan.so (STYLE: libfaketime's
 * once-guard). It runs from the constructor and, lazily, from every hook that
 * is called before the constructor (another library's constructor may call
 * a hooked function first).
 */
#ifndef RESPAN_HOOKS_INIT_H
#define RESPAN_HOOKS_INIT_H

#include <stdbool.h>

#include "config.h"
#include "exchange.h"

struct respan_state {
	bool active;		/* false: setuid process, RESPAN_MODE=off, or init failed */
	struct config cfg;
	struct redact *red;
	struct logfile *log;
	struct exchange_ctx xctx;
	char exe[4096];
	/*
	 * For each provider, the variable that held the Respan key in this
	 * process's environment, at start-up (a parent's doing) or after
	 * layer 1 (envlayer_keyed), or NULL. Read with respan_keyed().
	 */
	const char *keyed[PROVIDER_COUNT];
};

/*
 * The process-wide state, initialised on first call. Never NULL. While
 * initialisation is under way on this thread (a hook called from inside
 * it), returns a state with active == false.
 */
const struct respan_state *respan_state(void);

/*
 * The process is about to call a provider (it looks a provider's name up,
 * or starts TLS to one). Without a key in route mode, the one line that
 * says so is printed now, once per process: a process that never calls a
 * provider prints nothing (`LD_PRELOAD=librespan.so make`).
 */
void respan_provider_call(const struct respan_state *st);

/*
 * Finish what loading the configuration left for the first call (parsing
 * RESPAN_PARAMS, which needs cJSON), once, printing and logging its
 * warnings. Called by respan_provider_call and before any exchange opens.
 */
void respan_settle(void);

/* Route mode with a key: the library changes traffic, not only logs it. */
bool respan_routing(const struct respan_state *st);

/*
 * The variable through which this process holds the Respan key for provider
 * id, or NULL. An unrouted connection to such a provider is refused whatever
 * RESPAN_FAIL says: the key would reach the provider.
 */
const char *respan_keyed(const struct respan_state *st, enum provider_id id);

/* One "respan: ..." line on stderr when RESPAN_DEBUG=1. errno is kept. */
void respan_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
