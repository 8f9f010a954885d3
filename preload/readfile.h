/*
 * readfile: read a whole file into a buf, the one way the project does it
 * (the config file, the CA bundles layer 1 merges, /proc/self/environ).
 */
#ifndef RESPAN_READFILE_H
#define RESPAN_READFILE_H

#include "buf.h"

/*
 * Append the whole of path to out, reading until end of file (EINTR is
 * retried). out's cap (buf_init's max) bounds it. Returns 0, or a negative
 * errno: from open/read, -EISDIR when path is not a regular file, -EFBIG
 * when the file is larger than out may grow (out then holds a prefix).
 */
int readfile(const char *path, struct buf *out);

#endif
