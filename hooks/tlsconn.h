/*
 * tlsconn: the exchange behind one TLS session of ours, the part the
 * OpenSSL layer (tls.c, tlsio.c) and the GnuTLS layer (gtls.c, gtlsio.c)
 * share: the exchange, the rewritten bytes the TLS library's write has not
 * taken yet, and the program's byte count owed once they are all out.
 *
 * The exchange is used by the program's threads (write, read, free) and
 * ended by the exit destructor, which may run while another thread is still
 * streaming: the lock keeps it alive while it is in use. Every call enters
 * the library's guard around the engine.
 */
#ifndef RESPAN_HOOKS_TLSCONN_H
#define RESPAN_HOOKS_TLSCONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "exchange.h"

struct tlsconn {
	struct exchange *x;	/* NULL before open and once ended */
	struct buf pending;	/* rewritten bytes not yet taken by the TLS write */
	size_t pending_off;
	size_t owed;		/* the program's count to return once sent; 0: none */
	pthread_mutex_t lock;
};

/* Start c with no exchange. */
void tlsconn_init(struct tlsconn *c);

/* Open c's exchange. Returns 0, or -ENOMEM. */
int tlsconn_open(struct tlsconn *c, const struct exchange_ctx *ctx,
		 const struct exchange_info *info);

/*
 * The program's num bytes into the exchange; what goes on the wire is
 * appended to c->pending. Returns exchange_send's result (num, or a
 * negative errno), or 0 with *ended set when the exchange was already
 * ended (at exit): the session is then a plain pipe.
 */
ssize_t tlsconn_send(struct tlsconn *c, const void *buf, size_t num, bool *ended);

/*
 * Hand c->pending to put (the TLS library's write) until all of it is out:
 * returns 1, or put's return when it is not positive (a retry sends the
 * same bytes from the same place).
 */
ssize_t tlsconn_flush(struct tlsconn *c, ssize_t (*put)(void *ctx, const char *p, size_t n),
		      void *ctx);

/* Bytes the program read. */
void tlsconn_recv(struct tlsconn *c, const void *buf, size_t n);

/* End the exchange (writing what it owes to the log); c stays usable as a pipe. */
void tlsconn_close(struct tlsconn *c, const char *why);

/* tlsconn_close, then free what c holds. */
void tlsconn_destroy(struct tlsconn *c);

/* In a forked child: the lock may be held by a thread that is not there. */
void tlsconn_fork_child(struct tlsconn *c);

#endif
