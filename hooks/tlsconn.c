/* tlsconn: the exchange behind a TLS session of ours; see tlsconn.h. */
#include "tlsconn.h"

#include <errno.h>
#include <stdint.h>

#include "guard.h"
#include "init.h"

void tlsconn_init(struct tlsconn *c)
{
	c->x = NULL;
	buf_init(&c->pending, SIZE_MAX);
	c->pending_off = 0;
	c->owed = 0;
	pthread_mutex_init(&c->lock, NULL);
}

int tlsconn_open(struct tlsconn *c, const struct exchange_ctx *ctx,
		 const struct exchange_info *info)
{
	respan_settle();		/* RESPAN_PARAMS, before the first request */
	int saved = guard_enter();
	c->x = exchange_new(ctx, info);
	guard_leave(saved);
	return c->x ? 0 : -ENOMEM;
}

ssize_t tlsconn_send(struct tlsconn *c, const void *buf, size_t num, bool *ended)
{
	int saved = guard_enter();
	pthread_mutex_lock(&c->lock);
	*ended = c->x == NULL;
	ssize_t rc = *ended ? 0 : exchange_send(c->x, buf, num, &c->pending);
	pthread_mutex_unlock(&c->lock);
	guard_leave(saved);
	return rc;
}

ssize_t tlsconn_flush(struct tlsconn *c, ssize_t (*put)(void *ctx, const char *p, size_t n),
		      void *ctx)
{
	while (c->pending_off < c->pending.len) {
		ssize_t n = put(ctx, c->pending.data + c->pending_off,
				c->pending.len - c->pending_off);
		if (n <= 0)
			return n;
		c->pending_off += (size_t)n;
	}
	buf_reset(&c->pending);
	c->pending_off = 0;
	return 1;
}

void tlsconn_recv(struct tlsconn *c, const void *buf, size_t n)
{
	int saved = guard_enter();
	pthread_mutex_lock(&c->lock);
	if (c->x)
		exchange_recv(c->x, buf, n);
	pthread_mutex_unlock(&c->lock);
	guard_leave(saved);
}

void tlsconn_close(struct tlsconn *c, const char *why)
{
	int saved = guard_enter();
	pthread_mutex_lock(&c->lock);
	struct exchange *x = c->x;
	c->x = NULL;
	if (x)
		exchange_close(x, why);
	pthread_mutex_unlock(&c->lock);
	guard_leave(saved);
}

void tlsconn_destroy(struct tlsconn *c)
{
	tlsconn_close(c, NULL);
	buf_free(&c->pending);
	pthread_mutex_destroy(&c->lock);
}

void tlsconn_fork_child(struct tlsconn *c)
{
	pthread_mutex_init(&c->lock, NULL);
}
