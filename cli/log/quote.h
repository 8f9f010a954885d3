/*
 * quote: text from the traffic log made safe for where `respan log` puts
 * it: a shell command line (`respan log curl`), a Markdown table or a JSON
 * document (`respan log summary --format markdown|json`).
 *
 * The log is input: a crafted or corrupt one may hold any bytes in any
 * string. These functions never let those bytes change the structure of
 * what they are written into.
 */
#ifndef RESPAN_CLI_QUOTE_H
#define RESPAN_CLI_QUOTE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Write the n bytes at s to out as one shell word, in single quotes: every
 * byte stands for itself there (POSIX sh, bash), but a single quote, which
 * is written as '\'' (close, an escaped quote, open again). "" gives ''.
 */
void quote_sh(FILE *out, const char *s, size_t n);

/*
 * The inside of such a word: the n bytes at s, each ' written as '\'',
 * for a caller that writes the enclosing quotes itself (a word made of
 * several pieces).
 */
void quote_sh_inner(FILE *out, const char *s, size_t n);

/*
 * Write s to out as inline text of GitHub-flavoured Markdown, fit for a
 * table cell: \ ` * _ [ ] | ~ $ get a backslash (no emphasis, code, link,
 * strikethrough, math, and no cell boundary), < > & become &lt; &gt; &amp;
 * (no HTML), line breaks and tabs become spaces (a row stays one line),
 * other control characters are written \xNN (C1 ones \u00NN), and bytes
 * that are not UTF-8 become U+FFFD.
 */
void quote_md(FILE *out, const char *s);

/*
 * The length (1..4) of the well-formed UTF-8 sequence at the start of the
 * n bytes at s, or 0 when they do not start with one (overlong forms,
 * surrogates and code points past U+10FFFF are not well-formed).
 */
size_t quote_utf8_len(const unsigned char *s, size_t n);

/*
 * A copy of s with every byte that is not part of well-formed UTF-8
 * replaced by U+FFFD, so that a JSON document made with it is UTF-8.
 * malloc'd (the caller frees it); NULL when out of memory.
 */
char *quote_utf8(const char *s);

#endif
