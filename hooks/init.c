#include "init.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "environ.h"
#include "envlayer.h"
#include "gtls.h"
#include "gtlstrust.h"
#include "guard.h"
#include "lazyrelay.h"
#include "logfile.h"
#include "real.h"
#include "reportonce.h"
#include "routeraddr.h"
#include "routertrust.h"
#include "urlnote.h"
#include "redact.h"
#include "tls.h"

extern char **environ;

static struct respan_state state;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static __thread bool initialising;
__thread int respan_inside;

/* One line on stderr; the library never prints anything else unasked. */
static void say(const char *line)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "%s\n", line);
	if (n > 0) {
		ssize_t ignored = write(STDERR_FILENO, msg,
					(size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
		(void)ignored;
	}
}

static void read_exe(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* Note the providers whose key variables now hold the Respan key. */
static void note_keyed(void)
{
	for (int id = 0; id < PROVIDER_COUNT; id++) {
		const char *var = envlayer_keyed(&state.cfg, environ, (enum provider_id)id);
		if (var && __atomic_load_n(&state.keyed[id], __ATOMIC_ACQUIRE) == NULL)
			__atomic_store_n(&state.keyed[id], var, __ATOMIC_RELEASE);
	}
}

static void init_once(void)
{
	int saved = guard_enter();
	initialising = true;

	/* Secure-execution processes (setuid/setgid): do nothing at all. */
	if (getauxval(AT_SECURE))
		goto out;
	if (config_load_deferred(&state.cfg, environ) < 0)
		goto out;
	for (size_t i = 0; i < state.cfg.n_warnings; i++)
		say(state.cfg.warnings[i]);
	if (state.cfg.mode == RESPAN_MODE_OFF)
		goto out;

	read_exe(state.exe, sizeof(state.exe));
	state.red = redact_new();
	if (state.red == NULL)
		goto out;
	if (state.cfg.api_key)
		redact_add(state.red, state.cfg.api_key, strlen(state.cfg.api_key));

	if (state.cfg.log_path) {
		struct logfile_owner owner = { .exe = state.exe, .red = state.red,
					       .report = say };
		/* Opened by its first record: most processes never write one. */
		if (logfile_defer(state.cfg.log_path, &owner, &state.log) < 0)
			state.log = NULL;
	}
	state.xctx.cfg = &state.cfg;
	state.xctx.log = state.log;
	state.xctx.red = state.red;
	for (size_t i = 0; i < state.cfg.n_warnings; i++)
		logfile_event(state.log, "config_error", NULL, state.cfg.warnings[i]);
	if (state.cfg.debug) {
		char line[1200];
		snprintf(line, sizeof(line), "respan: pid %ld %.400s: mode %s, log %.400s",
			 (long)getpid(), state.exe, config_mode_name(state.cfg.mode),
			 state.cfg.log_path ? state.cfg.log_path : "off");
		say(line);
	}
	if (state.cfg.mode == RESPAN_MODE_ROUTE && state.cfg.api_key)
		note_keyed();	/* what a parent's layer 1 left in the environment */
	state.active = true;
out:
	initialising = false;
	guard_leave(saved);
}

const char *respan_keyed(const struct respan_state *st, enum provider_id id)
{
	if (id <= PROVIDER_NONE || id >= PROVIDER_COUNT)
		return NULL;
	return __atomic_load_n(&st->keyed[id], __ATOMIC_ACQUIRE);
}

static pthread_once_t settled = PTHREAD_ONCE_INIT;

static void settle_once(void)
{
	size_t from = state.cfg.n_warnings;
	int added = config_settle(&state.cfg);
	for (size_t i = from; added > 0 && i < state.cfg.n_warnings; i++) {
		say(state.cfg.warnings[i]);
		logfile_event(state.log, "config_error", NULL, state.cfg.warnings[i]);
	}
}

void respan_settle(void)
{
	if (!state.active)
		return;
	int saved = guard_enter();
	pthread_once(&settled, settle_once);
	guard_leave(saved);
}

void respan_provider_call(const struct respan_state *st)
{
	static int said;
	respan_settle();
	if (!st->active || st->cfg.mode != RESPAN_MODE_ROUTE || st->cfg.api_key != NULL ||
	    __atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return;
	int saved = guard_enter();
	say("respan: RESPAN_API_KEY is not set: traffic is logged, not routed");
	guard_leave(saved);
}

bool respan_routing(const struct respan_state *st)
{
	return st->active && st->cfg.mode == RESPAN_MODE_ROUTE &&
	       st->cfg.api_key != NULL;
}

void respan_debug(const char *fmt, ...)
{
	const struct respan_state *st = respan_state();
	if (!st->cfg.debug)
		return;
	int saved_errno = errno;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= 0) {
		char full[1100];
		snprintf(full, sizeof(full), "respan: %s", line);
		int saved = guard_enter();
		say(full);
		guard_leave(saved);
	}
	errno = saved_errno;
}

const struct respan_state *respan_state(void)
{
	static const struct respan_state inactive;
	if (initialising)
		return &inactive;
	int saved = errno;
	pthread_once(&once, init_once);
	errno = saved;
	return &state;
}

/*
 * fork() while another thread holds one of the library's locks would leave
 * the child a lock nobody releases (a hang at its first logged call). All
 * of them are taken before fork, outermost first (the TLS session list,
 * which is held while exchanges are ended and records scrubbed), and
 * released after it on both sides, in the reverse order:
 *   1. tls_fork          the TLS session list
 *   2. gtls_fork         the GnuTLS session table (held while exchanges are
 *                        ended, and while a router is checked: 4's locks)
 *   3. routertrust_fork  the router store
 *   4. gtlstrust_fork    GnuTLS's router credentials, then the credentials
 *                        given RESPAN_CA_FILE
 *   5. reportonce_fork   the once-per-host report memory
 *   6. routeraddr_fork   the router addresses handed out
 *   7. lazyrelay_fork    the lease on the library's relay
 *   8. urlnote_fork, then the log file's lock and the redactor's
 * 3 to 7 are leaf locks (nothing else is taken while one is held), so any
 * fixed place among themselves will do. freshfd (the egress audit's marks)
 * is lock-free and has no part in this.
 */
static void fork_phase(enum fork_phase phase)
{
	if (phase == FORK_PREPARE) {
		tls_fork(phase);
		gtls_fork(phase);
		routertrust_fork(phase);
		gtlstrust_fork(phase);
		reportonce_fork(phase);
		routeraddr_fork(phase);
		lazyrelay_fork(phase);
		urlnote_fork(phase);
		if (state.log)
			logfile_fork(state.log, phase);
		if (state.red)
			redact_fork(state.red, phase);
		return;
	}
	if (state.red)
		redact_fork(state.red, phase);
	if (state.log)
		logfile_fork(state.log, phase);
	urlnote_fork(phase);
	lazyrelay_fork(phase);
	routeraddr_fork(phase);
	reportonce_fork(phase);
	gtlstrust_fork(phase);
	routertrust_fork(phase);
	gtls_fork(phase);
	tls_fork(phase);
}

static void fork_prepare(void)
{
	fork_phase(FORK_PREPARE);
}

static void fork_parent(void)
{
	fork_phase(FORK_PARENT);
}

static void fork_child(void)
{
	fork_phase(FORK_CHILD);
}

/*
 * The Codex CLI's static binary reaches the relay as its proxy (envlayer.h).
 * The library never sees into that binary: when it cannot be given the
 * relay, a not_routed event says why, once per launcher.
 */
static void proxy_for_codex(const struct respan_state *st, char *changed, size_t size)
{
	const char *why = NULL;
	unsigned short port = 0;
	if (st->cfg.intercept == RESPAN_INTERCEPT_OFF)
		why = "RESPAN_INTERCEPT=off";
	else if (lazyrelay_intercept_host() == NULL)
		why = "no interception CA (respan ca path makes it)";
	else if ((port = lazyrelay_proxy_port(st)) == 0)
		why = "no relay (see the relay_error event)";
	else if (environ_proxy_for_child(port, lazyrelay_node_ca(), changed, size) < 0)
		why = "the CA bundle for SSL_CERT_FILE could not be written";
	if (why == NULL)
		return;
	char detail[300];
	snprintf(detail, sizeof(detail), "the Codex CLI's binary is static, so the library "
		 "cannot load into it, and it was not given the relay as HTTPS_PROXY: %s; its "
		 "calls go to the provider unseen", why);
	logfile_event(st->log, "not_routed", "api.openai.com", detail);
}

/*
 * The Gemini CLI where nothing can route it (envlayer.h): a not_routed event
 * says why, once per process of it. keyed: GEMINI_API_KEY held the Respan
 * key before layer 1 took it back.
 */
static void gemini_unrouted(const struct respan_state *st, bool keyed)
{
	if (envlayer_vertex(environ) || lazyrelay_node_ca() != NULL)
		return;
	char detail[500];
	snprintf(detail, sizeof(detail), "the Gemini CLI is not routed: a base URL would switch "
		 "it to its gateway auth (exit 41), and its calls cannot be intercepted (%s); %s",
		 st->cfg.intercept == RESPAN_INTERCEPT_OFF ? "RESPAN_INTERCEPT=off" :
		 "no interception CA or relay", keyed ?
		 "GEMINI_API_KEY held the Respan key (a parent's layer 1, such as the env of its "
		 "#! line, put it there) and was taken back, so the CLI has no key" :
		 "its calls go to Google with its own key");
	logfile_event(st->log, "not_routed", "generativelanguage.googleapis.com", detail);
}

/*
 * The constructor runs before main() while the process has one thread: the
 * only time the environment may be changed (layer 1).
 */
__attribute__((constructor)) static void respan_constructor(void)
{
	const struct respan_state *st = respan_state();
	if (st->active)
		pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (!respan_routing(st))
		return;
	int saved = guard_enter();
	char changed[512];
	const char *relay = lazyrelay_setup(st, real_have_tls_layer());
	enum envlayer_client client = environ_client(st->exe);
	if (client != ENVLAYER_ANY)
		respan_debug("layer 1: %s", client == ENVLAYER_GEMINI_CLI ? "the Gemini CLI" :
						 "the Codex CLI");
	/* Before layer 1 takes it back (gemini_unrouted). */
	const char *gemini = client == ENVLAYER_GEMINI_CLI ? getenv("GEMINI_API_KEY") : NULL;
	bool keyed = gemini && strcmp(gemini, st->cfg.api_key) == 0;
	int rc = environ_apply(&st->cfg, relay, lazyrelay_node_ca(), client, changed,
			       sizeof(changed));
	if (client == ENVLAYER_CODEX_CLI)
		proxy_for_codex(st, changed, sizeof(changed));
	else if (client == ENVLAYER_GEMINI_CLI)
		gemini_unrouted(st, keyed);
	if (rc == 0 && changed[0])
		respan_debug("environment: %s", changed);
	note_keyed();		/* and what layer 1 put there just now */
	guard_leave(saved);
}
