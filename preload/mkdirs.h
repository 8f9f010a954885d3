/*
 * mkdirs: `mkdir -p` of a file's directory, for the files librespan and
 * respan make (the log, the interception CA). Directories made here get
 * mode 0700; existing ones are left as they are.
 */
#ifndef RESPAN_MKDIRS_H
#define RESPAN_MKDIRS_H

/* Make the directories above path (a file name). Returns 0 or a negative errno. */
int mkdirs_parents(const char *path);

#endif
