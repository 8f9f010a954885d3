/*
 * replayserve: the stand-in router of `respan replay` (docs/replay.md).
 *
 * A TLS server on 127.0.0.1 (an ephemeral port) that answers router
 * requests from a cassette. Its certificate is for 127.0.0.1, from a CA made
 * for this run alone (an EC P-256 key that never touches the disk; the CA's
 * certificate is written to a private directory so the library and the
 * relay can be told to trust it through RESPAN_CA_FILE, and removed at the
 * end). The library routes every LLM call to it as to the router, so every
 * kind of program the library reaches (OpenSSL, libcurl, GnuTLS, the relay)
 * is answered the same way.
 *
 * A request that matches (cassette.h) gets the recorded status, headers
 * and body; an SSE body goes out event by event, one chunk each. A miss, or
 * a recording that cannot be replayed (no response, a body cut by
 * RESPAN_LOG_BODY_MAX), gets a 404 whose JSON body names the request, and
 * a replay_miss event in the log; with a live router (--miss live) a miss
 * goes to it instead and its answer is passed back as it comes.
 *
 * Threads: one acceptor, one per connection; they block every signal.
 */
#ifndef RESPAN_CLI_REPLAYSERVE_H
#define RESPAN_CLI_REPLAYSERVE_H

#include <stddef.h>

#include "cassette.h"
#include "config.h"
#include "logfile.h"

struct replayserve_opts {
	struct cassette *cassette;	/* entries are marked used as they answer */
	const struct config *cfg;	/* matching: the replay router's base path */
	const struct config *live;	/* the router for misses, or NULL: they fail */
	struct logfile *log;		/* replay_miss events; may be NULL */
};

struct replayserve;

/*
 * Bind the port and make the CA and the certificate; no thread runs yet
 * (so the caller may still change its environment). opts and what it points
 * to must outlive the server. Returns 0 and *out, or a negative errno with
 * a one-line reason in err.
 */
int replayserve_new(const struct replayserve_opts *opts, struct replayserve **out,
		    char *err, size_t errsize);

unsigned short replayserve_port(const struct replayserve *s);

/* The CA's certificate (PEM), for RESPAN_CA_FILE. */
const char *replayserve_ca_file(const struct replayserve *s);

/* Start accepting. Returns 0 or a negative errno. */
int replayserve_start(struct replayserve *s);

/* Requests answered from the cassette, missed, and sent to the live router. */
void replayserve_counts(struct replayserve *s, unsigned long *replayed,
			unsigned long *missed, unsigned long *live);

/*
 * The keys of the requests that went to the live router, in the order they
 * went (the server keeps them; valid until replayserve_free).
 */
const struct cassette_key *replayserve_live_keys(struct replayserve *s, size_t *n);

/* Stop, end every connection, wait for the threads, remove the CA file. */
void replayserve_free(struct replayserve *s);

#endif
