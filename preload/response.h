/*
 * response: the incremental HTTP/1.1 response parser for the log.
 *
 * One struct response_parser follows one connection in the server-to-program
 * direction. It never changes the bytes (the program reads them as they
 * came); it reports each response's head, its decoded body and its end.
 * Framing: Content-Length, chunked, or until the connection closes; 1xx
 * interim responses are reported and skipped (101 Switching Protocols ends
 * parsing: what follows is not HTTP); responses to HEAD and 204/304 have no
 * body. Bodies are decoded per Content-Encoding (decode.h) before on_body.
 *
 * The parser needs to know which requests were sent, in order, to pair
 * responses and to know which have no body: call response_expect() for each
 * request as it is sent.
 */
#ifndef RESPAN_RESPONSE_H
#define RESPAN_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http.h"

#define RESPONSE_HEAD_MAX (64 * 1024)
#define RESPONSE_MAX_HEADERS 128
#define RESPONSE_MAX_PENDING 64

struct response_head {
	int status;
	int minor_version;
	const char *reason;
	size_t reason_len;
	const struct http_header *headers;	/* as received, in order */
	size_t n_headers;
	bool interim;			/* 1xx */
	bool chunked;
	bool has_length;
	unsigned long long content_length;
	bool no_body;			/* HEAD, 1xx, 204, 304 */
	const char *content_type;	/* view, or NULL */
	size_t content_type_len;
	bool encoded;			/* Content-Encoding other than identity */
	bool encoding_unknown;		/* not decodable: on_body gets it raw */
};

struct response_callbacks {
	/* A head, interim (1xx) or final. Views valid during the call only. */
	void (*on_head)(void *ctx, const struct response_head *head);
	/* Decoded body data of the current final response. */
	void (*on_body)(void *ctx, const char *data, size_t len);
	/* The current final response is complete. error is NULL, or why the
	 * body is known to be cut short or undecodable. */
	void (*on_end)(void *ctx, const char *error);
	/* The stream is not HTTP/1.1 we can follow; parsing stops for good. */
	void (*on_error)(void *ctx, const char *why);
};

struct response_parser;

struct response_parser *response_new(const struct response_callbacks *cb, void *ctx);
void response_free(struct response_parser *p);

/*
 * Tell the parser one more request was sent; is_head when its method was
 * HEAD. Returns 0, or -1 when more than RESPONSE_MAX_PENDING are outstanding.
 */
int response_expect(struct response_parser *p, bool is_head);

/*
 * Feed len bytes the program received. Returns 0, or -1 once the stream is
 * found not to be HTTP (on_error was called; later calls do nothing).
 */
int response_feed(struct response_parser *p, const char *in, size_t len);

/*
 * The connection ended. A close-delimited response ends well here; a
 * response cut short gets on_end with error, which says so.
 */
void response_eof(struct response_parser *p, const char *why);

/* True while a response head has been seen and its end has not. */
bool response_busy(const struct response_parser *p);

#endif
