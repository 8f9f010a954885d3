/*
 * b64: standard base64 (RFC 4648 section 4, with padding).
 *
 * Written here rather than taken from libcrypto on purpose: librespan.so is
 * loaded into programs that may bring their own libcrypto (1.1 or 3), and
 * linking one into the preload library would put a second copy in their
 * symbol scope. See docs/engine.md.
 */
#ifndef RESPAN_B64_H
#define RESPAN_B64_H

#include <stddef.h>

#include "buf.h"

/* Append the base64 form of (in, len) to out. Returns 0 or buf_append's error. */
int b64_encode(const void *in, size_t len, struct buf *out);

#endif
